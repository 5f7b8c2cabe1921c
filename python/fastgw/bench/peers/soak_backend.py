"""The soak's second backend, for what nginx's `return` cannot do: on `/stream/...` a body of STREAM_BYTES (16 MiB)
sent in 64 KiB chunks, more than the gateway's client window and the kernel's buffers hold, so that a client
that leaves mid-download leaves while the gateway is still sending; on any other path the backend's body after
BENCH_DELAY seconds (default 0.25), a slow backend at no CPU cost. Run: ``granian --interface rsgi
soak_backend:app`` with ``BENCH_DELAY`` set.
"""

from __future__ import annotations

import asyncio
import os
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from granian._granian import RSGIHTTPProtocol as HTTPProtocol  # granian.rsgi re-exports it implicitly only
    from granian.rsgi import Scope

BODY = b'{"id":1,"name":"rex","kind":"dog"}'
HEADERS = [("content-type", "application/json")]
DELAY = float(os.environ.get("BENCH_DELAY", "0.25"))
CHUNK = b"x" * 65536
STREAM_BYTES = 256 * len(CHUNK)


async def app(scope: Scope, protocol: HTTPProtocol) -> None:
    if scope.path.startswith("/stream/"):
        headers = [("content-type", "application/octet-stream"), ("content-length", str(STREAM_BYTES))]
        transport = protocol.response_stream(200, headers)
        for _ in range(STREAM_BYTES // len(CHUNK)):
            await transport.send_bytes(CHUNK)
        return
    await asyncio.sleep(DELAY)
    protocol.response_bytes(200, HEADERS, BODY)
