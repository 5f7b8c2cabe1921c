"""REST request validation (``x-amazon-apigateway-request-validators``): required parameters and body models.

PLACEHOLDER: the validators arrive with the issue "Request and response shaping"; until then no route has one.
"""

from __future__ import annotations

from fastgw.config.model import ApiDefinition, Route
from fastgw.routing_types import RequestValidator


def build_validator(definition: ApiDefinition, route: Route) -> RequestValidator | None:
    """The validator of one route, compiled once at load, or ``None`` when the route validates nothing."""
    return None
