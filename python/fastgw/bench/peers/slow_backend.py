"""The soak's slow backend: answers the backend's body after BENCH_DELAY seconds (default 0.25), on any path.

The nginx backend cannot wait before it answers; this Granian RSGI app can, for many requests at once at no CPU
cost. Run: ``granian --interface rsgi slow_backend:app`` with ``BENCH_DELAY`` set.
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


async def app(scope: Scope, protocol: HTTPProtocol) -> None:
    await asyncio.sleep(DELAY)
    protocol.response_bytes(200, HEADERS, BODY)
