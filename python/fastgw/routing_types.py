"""The interfaces the data plane calls per request for the shaping stages (CORS, compression).

Kept apart from :mod:`fastgw.routing` so that the modules implementing them import nothing of the compiler.
"""

from __future__ import annotations

from typing import Protocol

from fastgw.integrations.base import Request, Response


class Cors(Protocol):
    """HTTP API CORS: answers preflight requests and adds headers to responses."""

    def preflight(self, request: Request) -> Response | None:
        """The gateway's own answer to a preflight request, or ``None`` for any other request."""
        ...

    def apply(self, request: Request, response: Response) -> None:
        """Adds (or replaces) the CORS headers of a response to a request with a matching ``Origin``."""
        ...


class Compression(Protocol):
    """Response compression (``x-amazon-apigateway-minimum-compression-size``)."""

    def apply(self, request: Request, response: Response) -> Response: ...
