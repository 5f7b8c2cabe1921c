"""Response compression (``x-amazon-apigateway-minimum-compression-size``).

PLACEHOLDER: arrives with the issue "Request and response shaping".
"""

from __future__ import annotations

from fastgw.config.model import ApiDefinition
from fastgw.routing_types import Compression


def build_compression(definition: ApiDefinition) -> Compression | None:
    """The stage's compression, or ``None`` when the API sets no minimum compression size."""
    return None
