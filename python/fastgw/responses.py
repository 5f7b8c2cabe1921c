"""Gateway responses: every answer the gateway gives on its own (no route, errors, limits), in one place.

A rejection or failure names an AWS gateway response type (``MISSING_AUTHENTICATION_TOKEN``,
``INTEGRATION_TIMEOUT``, ...). REST APIs render it as AWS's default gateway response for that type
(reference §2.2: status, ``{"message": ...}``, ``x-amzn-ErrorType``); HTTP APIs have fixed,
non-customisable bodies (reference §2.3). Per-API customisation (``x-amazon-apigateway-gateway-responses``)
plugs in through :class:`GatewayResponses`.

Where AWS documents no message for a type, fastgw's choice is marked UNVERIFIED below.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Final

import orjson

from fastgw.config.model import ApiDefinition, ApiType

if TYPE_CHECKING:
    from fastgw.integrations.base import Request


@dataclass(frozen=True, slots=True)
class DefaultResponse:
    status: int
    message: str | None
    error_type: str | None = None


#: REST API default gateway responses (reference §2.2).
REST_DEFAULTS: Final[dict[str, DefaultResponse]] = {
    "ACCESS_DENIED": DefaultResponse(403, "User is not authorized to access this resource", "AccessDeniedException"),
    "API_CONFIGURATION_ERROR": DefaultResponse(500, "Internal server error", "InternalServerErrorException"),
    "AUTHORIZER_CONFIGURATION_ERROR": DefaultResponse(500, None, "InternalServerErrorException"),
    "AUTHORIZER_FAILURE": DefaultResponse(500, "Internal server error", "InternalServerErrorException"),
    "BAD_REQUEST_PARAMETERS": DefaultResponse(400, "Bad request parameters", "BadRequestException"),
    "BAD_REQUEST_BODY": DefaultResponse(400, "Invalid request body", "BadRequestException"),
    "DEFAULT_4XX": DefaultResponse(400, "Bad request", None),  # UNVERIFIED: only reached through customisation
    "DEFAULT_5XX": DefaultResponse(500, "Internal server error", "InternalServerErrorException"),
    "EXPIRED_TOKEN": DefaultResponse(403, "The security token included in the request is expired", None),
    # UNVERIFIED: AWS documents 504 and no message for a failed integration (broken backend response).
    "INTEGRATION_FAILURE": DefaultResponse(504, "Internal server error", "InternalServerErrorException"),
    "INTEGRATION_TIMEOUT": DefaultResponse(504, "Endpoint request timed out", "InternalServerErrorException"),
    "INVALID_API_KEY": DefaultResponse(403, "Forbidden", "ForbiddenException"),
    "INVALID_SIGNATURE": DefaultResponse(403, "The request signature we calculated does not match", None),
    "MISSING_AUTHENTICATION_TOKEN": DefaultResponse(
        403, "Missing Authentication Token", "MissingAuthenticationTokenException"
    ),
    "QUOTA_EXCEEDED": DefaultResponse(429, "Limit Exceeded", "LimitExceededException"),
    "REQUEST_TOO_LARGE": DefaultResponse(413, "Request Too Long", None),
    # Not an AWS type: AWS limits headers to 10,240 bytes but documents no response. UNVERIFIED.
    "REQUEST_HEADER_FIELDS_TOO_LARGE": DefaultResponse(431, "Request Header Fields Too Large", None),
    "RESOURCE_NOT_FOUND": DefaultResponse(404, "Not Found", None),
    "THROTTLED": DefaultResponse(429, "Too Many Requests", "TooManyRequestsException"),
    "UNAUTHORIZED": DefaultResponse(401, "Unauthorized", "UnauthorizedException"),
    "UNSUPPORTED_MEDIA_TYPE": DefaultResponse(415, "Unsupported Media Type", "BadRequestException"),
    "WAF_FILTERED": DefaultResponse(403, "Forbidden", None),
    # Unknown stage on an execute-api style URL (reference §1.2, widely observed).
    "FORBIDDEN": DefaultResponse(403, "Forbidden", "ForbiddenException"),
}

#: HTTP API fixed responses (reference §2.3): AWS's reason phrases, never customisable.
_HTTP_NOT_FOUND = DefaultResponse(404, "Not Found")
_HTTP_FORBIDDEN = DefaultResponse(403, "Forbidden")
_HTTP_INTERNAL = DefaultResponse(500, "Internal Server Error")
HTTP_DEFAULTS: Final[dict[str, DefaultResponse]] = {
    "MISSING_AUTHENTICATION_TOKEN": _HTTP_NOT_FOUND,
    "RESOURCE_NOT_FOUND": _HTTP_NOT_FOUND,
    "FORBIDDEN": _HTTP_NOT_FOUND,  # no such stage: HTTP APIs answer 404 (reference §1.1)
    "ACCESS_DENIED": _HTTP_FORBIDDEN,
    "INVALID_API_KEY": _HTTP_FORBIDDEN,
    "WAF_FILTERED": _HTTP_FORBIDDEN,
    "UNAUTHORIZED": DefaultResponse(401, "Unauthorized"),
    "THROTTLED": DefaultResponse(429, "Too Many Requests"),
    "QUOTA_EXCEEDED": DefaultResponse(429, "Too Many Requests"),
    "INTEGRATION_TIMEOUT": DefaultResponse(503, "Service Unavailable"),
    "REQUEST_TOO_LARGE": DefaultResponse(413, "Request Entity Too Large"),  # UNVERIFIED body
    "REQUEST_HEADER_FIELDS_TOO_LARGE": DefaultResponse(431, "Request Header Fields Too Large"),  # UNVERIFIED
    "BAD_REQUEST_PARAMETERS": DefaultResponse(400, "Bad Request"),
    "BAD_REQUEST_BODY": DefaultResponse(400, "Bad Request"),
    "UNSUPPORTED_MEDIA_TYPE": DefaultResponse(415, "Unsupported Media Type"),
}


class RenderedResponse:
    """A gateway response ready to send: status, headers (without the per-request id headers), body."""

    __slots__ = ("body", "headers", "status")

    def __init__(self, status: int, headers: list[tuple[str, str]], body: bytes) -> None:
        self.status = status
        self.headers = headers
        self.body = body


class GatewayResponses:
    """Renders gateway responses for one API stage; the body and headers of each type are built once."""

    def __init__(self, api_type: ApiType) -> None:
        self.api_type = api_type
        self._rendered: dict[tuple[str, str | None], RenderedResponse] = {}

    @classmethod
    def for_definition(cls, definition: ApiDefinition, stage_variables: Mapping[str, str]) -> GatewayResponses:
        """The gateway responses of one API stage (customisations arrive with request and response shaping)."""
        return cls(definition.api_type)

    def default_for(self, response_type: str) -> DefaultResponse:
        if self.api_type == "HTTP":
            found = HTTP_DEFAULTS.get(response_type)
            if found is not None:
                return found
            return _HTTP_INTERNAL if REST_DEFAULTS.get(response_type, _HTTP_INTERNAL).status >= 500 else _HTTP_FORBIDDEN
        return REST_DEFAULTS.get(response_type) or REST_DEFAULTS["DEFAULT_5XX"]

    def render(
        self, response_type: str, message: str | None = None, *, request: Request | None = None
    ) -> RenderedResponse:
        """The response for ``response_type``; ``message`` overrides the default message where AWS
        builds it per request (``Missing required request parameters: [a, b]``). ``request``, when there is
        one, is what customised responses draw ``method.request.*`` and ``$context`` values from."""
        key = (response_type, message)
        rendered = self._rendered.get(key)
        if rendered is None:
            rendered = self._build(response_type, message)
            if message is None:
                self._rendered[key] = rendered
        return rendered

    def _build(self, response_type: str, message: str | None) -> RenderedResponse:
        default = self.default_for(response_type)
        body = orjson.dumps({"message": message if message is not None else default.message})
        headers = [("content-type", "application/json")]
        if self.api_type == "REST" and default.error_type:
            headers.append(("x-amzn-ErrorType", default.error_type))
        return RenderedResponse(default.status, headers, body)
