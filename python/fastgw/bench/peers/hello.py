"""Bare Granian RSGI hello-world: answers the backend's body itself. The ceiling of any Granian app."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from granian._granian import RSGIHTTPProtocol as HTTPProtocol  # granian.rsgi re-exports it implicitly only
    from granian.rsgi import Scope

BODY = b'{"id":1,"name":"rex","kind":"dog"}'
HEADERS = [("content-type", "application/json")]


async def app(scope: Scope, protocol: HTTPProtocol) -> None:
    protocol.response_bytes(200, HEADERS, BODY)
