"""In-process Python handlers: a route answered by a function of the embedding program.

    async def hello(request: fastgw.HandlerRequest) -> dict[str, str]:
        return {"hello": request.params["name"]}

    gateway = fastgw.Gateway.from_document(api, handlers={"GET /hello/{name}": hello})

A handler returns a ``dict``/``list`` (JSON, 200), ``str``/``bytes`` (200), or a
:class:`HandlerResponse` for full control. An exception in a handler answers AWS's 500 for the API type and
is logged with the request id; the gateway goes on serving.
"""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import orjson

from fastgw.integrations.base import Request, Response


@dataclass(frozen=True, slots=True)
class HandlerRequest:
    """What a Python handler sees of a request."""

    method: str
    path: str
    params: Mapping[str, str]
    query: Mapping[str, list[str]]
    headers: list[tuple[str, str]]
    body: bytes
    request_id: str
    stage: str
    stage_variables: Mapping[str, str]

    def header(self, name: str) -> str | None:
        name = name.lower()
        values = [v for n, v in self.headers if n.lower() == name]
        return ",".join(values) if values else None

    def json(self) -> Any:
        return orjson.loads(self.body)


@dataclass(frozen=True, slots=True)
class HandlerResponse:
    status: int = 200
    body: bytes | str | Any = b""
    headers: Mapping[str, str] = field(default_factory=dict)


HandlerResult = HandlerResponse | Mapping[str, Any] | list[Any] | str | bytes | None
Handler = Callable[[HandlerRequest], Awaitable[HandlerResult] | HandlerResult]


def _to_response(result: HandlerResult) -> Response:
    if isinstance(result, HandlerResponse):
        body = result.body
        headers = list(result.headers.items())
        if isinstance(body, str):
            body = body.encode()
        elif not isinstance(body, bytes):
            body = orjson.dumps(body)
            if not any(name.lower() == "content-type" for name, _ in headers):
                headers.append(("content-type", "application/json"))
        return Response(result.status, headers, body)
    if isinstance(result, bytes):
        return Response(200, [("content-type", "application/octet-stream")], result)
    if isinstance(result, str):
        return Response(200, [("content-type", "text/plain; charset=utf-8")], result.encode())
    if result is None:
        return Response(204, [], b"")
    return Response(200, [("content-type", "application/json")], orjson.dumps(result))


class PythonIntegration:
    def __init__(self, handler: Handler) -> None:
        self.handler = handler
        self.name = getattr(handler, "__qualname__", repr(handler))

    def describe(self) -> str:
        return f"PYTHON {self.name}"

    async def invoke(self, request: Request) -> Response:
        body = await request.read_body()  # the engine already refused a declared length over the limit
        handler_request = HandlerRequest(
            method=request.method,
            path=request.path,
            params=request.params,
            query=request.query,
            headers=request.header_list,
            body=body,
            request_id=request.request_id,
            stage=request.stage.stage_name,
            stage_variables=request.stage.stage_variables,
        )
        result = self.handler(handler_request)
        if inspect.isawaitable(result):
            result = await result
        return _to_response(result)
