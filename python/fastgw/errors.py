"""fastgw's exceptions. Load-time problems name the file, the place in it and the reason."""

from __future__ import annotations

from dataclasses import dataclass


class FastgwError(Exception):
    """Base of every error fastgw raises on purpose."""


@dataclass(frozen=True, slots=True)
class Place:
    """Where in which file: a file path and an RFC 6901 JSON pointer into the parsed document."""

    file: str
    pointer: str = ""

    def child(self, *parts: str | int) -> Place:
        """The place of a member below this one (escapes ``~`` and ``/`` as RFC 6901 says)."""
        pointer = self.pointer
        for part in parts:
            pointer += "/" + str(part).replace("~", "~0").replace("/", "~1")
        return Place(self.file, pointer)

    def __str__(self) -> str:
        return f"{self.file}#{self.pointer}" if self.pointer else self.file


@dataclass(frozen=True, slots=True)
class Problem:
    """One finding about a definition: an error, or a warning about something not (yet) supported."""

    place: Place
    message: str

    def __str__(self) -> str:
        return f"{self.place}: {self.message}"


class DefinitionError(FastgwError, ValueError):
    """A definition or gateway config that cannot be served. Carries every problem found."""

    def __init__(self, problems: list[Problem] | Problem) -> None:
        self.problems = problems if isinstance(problems, list) else [problems]
        super().__init__("\n".join(str(p) for p in self.problems))


class GatewayError(FastgwError):
    """A per-request failure that becomes an AWS gateway response (rendered once, in app.py).

    ``detail`` is for logs only; ``message``, when given, is what the client sees instead of the response
    type's default message (AWS builds some per request: ``Missing required request parameters: [a]``)."""

    response_type = "DEFAULT_5XX"

    def __init__(self, detail: str | None = None, *, message: str | None = None) -> None:
        super().__init__(detail or message or self.response_type)
        self.message = message


class IntegrationTimeoutError(GatewayError):
    response_type = "INTEGRATION_TIMEOUT"


class IntegrationFailureError(GatewayError):
    """The backend could not be reached or answered with something that is not HTTP."""

    response_type = "INTEGRATION_FAILURE"


class BadRequestError(GatewayError):
    """A request body the gateway must read and cannot (invalid JSON for a body mapping, as AWS answers)."""

    response_type = "BAD_REQUEST_BODY"


class IntegrationUnreachableError(GatewayError):
    """The backend cannot be connected to. AWS logs "Execution failed due to configuration error: Invalid
    endpoint address" and answers 500 (validated by LocalStack against AWS)."""

    response_type = "API_CONFIGURATION_ERROR"


class ClientDisconnectedError(GatewayError):
    """The client went away before its request was complete; nobody is left to answer."""

    response_type = "BAD_REQUEST_BODY"


class RequestTooLargeError(GatewayError):
    response_type = "REQUEST_TOO_LARGE"


class MissingRequestParametersError(GatewayError):
    """A REST request validator found required method request parameters missing or blank. Raised with AWS's
    message: ``Missing required request parameters: [x-header-param, issuer]``."""

    response_type = "BAD_REQUEST_PARAMETERS"


class InvalidRequestBodyError(GatewayError):
    """A REST request validator refused the body: not JSON, or not matching the method's request model
    (AWS answers ``Invalid request body``; the reason goes to the log only)."""

    response_type = "BAD_REQUEST_BODY"


class UnsupportedMediaTypeError(GatewayError):
    """No request template for the request's Content-Type and ``passthroughBehavior`` forbids passing the body
    through: AWS answers ``415 {"message":"Unsupported Media Type"}``."""

    response_type = "UNSUPPORTED_MEDIA_TYPE"
