"""Request ids in AWS's shapes, made cheaply: a random per-process prefix and a counter.

REST: ``x-amzn-RequestId`` is a UUID (``$context.requestId``), ``x-amz-apigw-id`` a short base64-like id ending
in ``=`` (``$context.extendedRequestId``). HTTP APIs send only ``apigw-requestid`` (the short form). A UUID4 from
``os.urandom`` per request would cost more than the rest of a cached response; these are unique per process
(random prefix, re-drawn in each worker) and in sequence within it.
"""

from __future__ import annotations

import secrets
import string

_ALPHABET = string.ascii_letters + string.digits


class RequestIds:
    __slots__ = ("_count", "_short_prefix", "_uuid_prefix")

    def __init__(self) -> None:
        self.reseed()

    def reseed(self) -> None:
        """New random prefixes: call in every worker process after fork."""
        raw = secrets.token_hex(10)
        # 8-4-4-4-12, version 4 and RFC 4122 variant; the last 12 hex digits are the counter.
        self._uuid_prefix = f"{raw[:8]}-{raw[8:12]}-4{raw[12:15]}-{'89ab'[int(raw[15], 16) % 4]}{raw[16:19]}-"
        self._short_prefix = "".join(secrets.choice(_ALPHABET) for _ in range(7))
        self._count = secrets.randbelow(1 << 20)

    def next(self) -> tuple[str, str]:
        """``(request id, extended request id)`` for one request."""
        count = self._count = self._count + 1
        return f"{self._uuid_prefix}{count & 0xFFFFFFFFFFFF:012x}", f"{self._short_prefix}{count & 0xFFFFFFFF:08X}="
