"""HTTP API CORS (``x-amazon-apigateway-cors``).

PLACEHOLDER: arrives with the issue "Request and response shaping".
"""

from __future__ import annotations

from fastgw.config.model import ApiDefinition
from fastgw.routing_types import Cors


def build_cors(definition: ApiDefinition) -> Cors | None:
    """The stage's CORS policy, or ``None`` when the API configures none."""
    return None
