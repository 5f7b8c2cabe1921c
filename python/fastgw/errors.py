"""fastgw's exceptions. Load-time problems name the file, the place in it and the reason."""

from __future__ import annotations

from dataclasses import dataclass


class FastgwError(Exception):
    """Base of every error fastgw raises on purpose."""


class Place:
    """Where in which file: a file path and an RFC 6901 JSON pointer into the parsed document.

    Reading a definition makes a place for nearly every member it reads, and nearly all of them are never
    shown (they are there for a problem that does not happen). So a child place keeps its parent and its key,
    and its pointer is built (escaping ``~`` and ``/``) the first time it is read. Places compare and hash by
    file and pointer, and do not change once made."""

    __slots__ = ("_file", "_parent", "_pointer", "_token")

    def __init__(self, file: str, pointer: str = "") -> None:
        self._file = file
        self._pointer: str | None = pointer
        self._parent: Place | None = None
        self._token: str | int = ""

    @property
    def file(self) -> str:
        return self._file

    @property
    def pointer(self) -> str:
        if self._pointer is None:
            tokens: list[str | int] = []
            place = self
            while place._pointer is None:  # a loop, not recursion: pointers can be deep
                tokens.append(place._token)
                assert place._parent is not None  # only the places child() makes lack a pointer
                place = place._parent
            pointer = place._pointer
            for token in reversed(tokens):
                pointer += "/" + str(token).replace("~", "~0").replace("/", "~1")
            self._pointer = pointer
        return self._pointer

    def child(self, *parts: str | int) -> Place:
        """The place of a member below this one: ``parts`` are keys and list indexes, one per level."""
        place = self
        for part in parts:
            below = Place.__new__(Place)
            below._file = self._file
            below._pointer = None
            below._parent = place
            below._token = part
            place = below
        return place

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Place):
            return NotImplemented
        return self._file == other._file and self.pointer == other.pointer

    def __hash__(self) -> int:
        return hash((self._file, self.pointer))

    def __repr__(self) -> str:
        return f"Place(file={self._file!r}, pointer={self.pointer!r})"

    def __str__(self) -> str:
        return f"{self._file}#{self.pointer}" if self.pointer else self._file


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
    """The request body ended before it was complete: the client went away (nobody is left to read the answer), or
    its chunked framing is broken (the client reads a 400). Granian reports both alike, so both answer
    ``BAD_REQUEST_BODY``, with one INFO line: neither is the gateway's failure (issue 18, items 5 and 8)."""

    response_type = "BAD_REQUEST_BODY"


class UnsupportedTransferCodingError(GatewayError):
    """A request body with a transfer coding the gateway cannot forward (anything but ``chunked``): RFC 9112 §6.1's
    501, before any of the body goes anywhere (see :func:`fastgw.integrations.base.check_transfer_codings`)."""

    response_type = "NOT_IMPLEMENTED"


class RequestTooLargeError(GatewayError):
    response_type = "REQUEST_TOO_LARGE"


class MissingRequestParametersError(GatewayError):
    """A REST request validator found required method request parameters missing or blank. Raised with AWS's
    message: ``Missing required request parameters: [x-header-param, issuer]``."""

    response_type = "BAD_REQUEST_PARAMETERS"


class InvalidParameterValueError(GatewayError):
    """A mapped value that cannot be sent as it is (a control character for a header): the request is refused
    (issue 18, item 6; see :mod:`fastgw.transforms.wire_values`)."""

    response_type = "BAD_REQUEST_PARAMETERS"


class InvalidRequestBodyError(GatewayError):
    """A REST request validator refused the body: not JSON, or not matching the method's request model
    (AWS answers ``Invalid request body``; the reason goes to the log only)."""

    response_type = "BAD_REQUEST_BODY"


class UnsupportedMediaTypeError(GatewayError):
    """No request template for the request's Content-Type and ``passthroughBehavior`` forbids passing the body
    through: AWS answers ``415 {"message":"Unsupported Media Type"}``."""

    response_type = "UNSUPPORTED_MEDIA_TYPE"
