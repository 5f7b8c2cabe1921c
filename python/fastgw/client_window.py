"""Backpressure from the client on a streamed response: a worker holds at most a window of it.

Granian's RSGI stream transport queues what ``send_bytes`` is given in an unbounded channel, and the
awaitable it returns is already done (Granian 2.8 bounded that channel for ASGI and WSGI, not RSGI). With
nothing else, a client that reads slower than its backend answers (or not at all) makes the worker hold the
rest of the body: a 1 GiB download to a stalled client is 1 GiB of worker memory, a slow-read attack.

So the gateway measures the client itself. At the start of a streamed response it finds the client's TCP
socket among the worker's file descriptors (the one whose local and peer addresses are the request's) and,
after each chunk, reads from the kernel (``TCP_INFO``) how many bytes the client has acknowledged. While the
response is more than :data:`CLIENT_WINDOW` bytes ahead of the client it waits, polling, until the client
has caught up to half the window. A client that takes nothing for ``limits.clientSendTimeoutSeconds``
(nginx's ``send_timeout``), or whose connection is reset or closed meanwhile, has its response cut. The
backend is held back in turn: the stream stops reading from it (:class:`fastgw.integrations.upstream.BodyStream`
pauses the backend connection).

The count is per connection, so on HTTP/2 other streams' bytes make the client look further along than this
stream is (the window then holds more, never less, than it says); TLS framing does the same by a few
percent. A client on a socket this cannot read (a Unix socket) streams without the window, as before.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import stat
import struct
from typing import Any, Final

log = logging.getLogger("fastgw.stream")

#: A streamed response waits while it is this many bytes ahead of what the client has acknowledged.
CLIENT_WINDOW: Final = 4 * 1024 * 1024
#: ... and resumes once it is no more than this far ahead.
CLIENT_RESUME: Final = CLIENT_WINDOW // 2
#: Polling while the client catches up starts at the first delay and doubles up to the last.
FIRST_POLL_SECONDS: Final = 0.001
LAST_POLL_SECONDS: Final = 0.05

# struct tcp_info (linux/tcp.h): tcpi_bytes_acked is the u64 at byte 120 (Linux 4.1 and later).
_TCP_INFO_SIZE: Final = 232
_BYTES_ACKED: Final = struct.Struct("=Q")
_BYTES_ACKED_OFFSET: Final = 120
_ABORT_ON_CLOSE: Final = struct.pack("ii", 1, 0)  # SO_LINGER on, 0 s: the last close resets the connection
_TCP_FAMILIES: Final = (socket.AF_INET, socket.AF_INET6)
#: tcpi_state values of a connection the client can still read from: ESTABLISHED, and CLOSE_WAIT (the client
#: half-closed: it sent all it will, it may still read). A reset or fully closed connection is neither.
_OPEN_STATES: Final = (1, 8)


class ClientGoneError(Exception):
    """The client of a streamed response closed its connection, or took nothing of it for the send timeout."""


class ClientWindow:
    """How far a streamed response is ahead of its client, and the wait that keeps it within the window."""

    __slots__ = ("_acked_at_start", "_client", "_sent", "_timeout")

    def __init__(self, client: socket.socket, timeout: float) -> None:
        self._client = client
        self._timeout = timeout
        self._acked_at_start = _bytes_acked(client)
        self._sent = 0

    @classmethod
    def open(cls, scope: Any, timeout: float) -> ClientWindow | None:
        """The window for the client of ``scope`` (a Granian RSGI scope), or ``None`` when its socket cannot
        be measured. :meth:`close` it when the response ends."""
        client = find_client_socket(scope.client, scope.server)
        if client is None:
            log.debug("streamed response to %s is not paced: its socket cannot be measured", scope.client)
            return None
        try:
            return cls(client, timeout)
        except OSError:
            client.close()
            return None

    def cut(self) -> None:
        """Aborts the connection (a reset, the kernel's queue dropped): the client sees a truncated response.
        Granian alone would wait forever to write to a client that reads nothing. HTTP/1 only: on HTTP/2 the
        connection carries other requests."""
        try:
            self._client.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, _ABORT_ON_CLOSE)
            self._client.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass  # already gone

    def close(self) -> None:
        """Drops this window's duplicate of the client's file descriptor (the connection stays open)."""
        self._client.close()

    def ahead(self) -> int:
        """Bytes sent on this response that the client has not acknowledged yet."""
        return self._sent - (_bytes_acked(self._client) - self._acked_at_start)

    async def sent(self, length: int) -> None:
        """Counts ``length`` more bytes handed to the client; waits while the response is too far ahead."""
        self._sent += length
        if self.ahead() <= CLIENT_WINDOW:
            return
        loop = asyncio.get_running_loop()
        delay = FIRST_POLL_SECONDS
        acked = _bytes_acked(self._client)
        progress_at = loop.time()
        while self._sent - (acked - self._acked_at_start) > CLIENT_RESUME:
            await asyncio.sleep(delay)
            delay = min(delay * 2, LAST_POLL_SECONDS)
            state, now_acked = _tcp_progress(self._client)
            if state not in _OPEN_STATES:
                raise ClientGoneError("the client closed the connection")
            if now_acked != acked:
                acked, progress_at, delay = now_acked, loop.time(), FIRST_POLL_SECONDS
            elif loop.time() - progress_at > self._timeout:
                raise ClientGoneError(f"the client took nothing for {self._timeout:g} s")


#: The worker's TCP sockets by (peer, local) address, as the last scan of its descriptors found them: a keep-alive
#: client's next download, and every client connected at that scan, skip the scan (a few hundred syscalls).
_sockets_by_address: dict[tuple[tuple[str, int], tuple[str, int]], int] = {}


def find_client_socket(client: str, server: str) -> socket.socket | None:
    """A duplicate of this process's TCP socket connected from ``client`` to ``server`` (Granian's
    ``ip:port`` strings), or ``None``. Only addresses and ``TCP_INFO`` are ever read from it: its file
    status flags are shared with Granian's descriptor and stay as Granian set them."""
    peer = _address(client)
    local = _address(server)
    if peer is None or local is None:
        return None
    known = _sockets_by_address.get((peer, local))
    if known is not None:
        candidate = _tcp_socket(known)
        if candidate is not None and _addresses(candidate) == (peer, local):
            return candidate  # descriptors are reused: the addresses are checked again
        if candidate is not None:
            candidate.close()
    return _scan(peer, local)


def _scan(peer: tuple[str, int], local: tuple[str, int]) -> socket.socket | None:
    """Reads the address pair of every TCP socket of this process (refreshing the table above) and returns a
    duplicate of the one from ``peer`` to ``local``."""
    try:
        names = os.listdir("/proc/self/fd")
    except OSError:
        return None
    # Sockets first, then duplicates: a duplicate may take the number of the directory listing's closed
    # descriptor, and must not be met again as a socket of its own.
    socket_fds = [fd for fd in map(int, names) if _is_socket(fd)]
    found = None
    _sockets_by_address.clear()
    for fd in socket_fds:
        candidate = _tcp_socket(fd)
        if candidate is None:
            continue
        addresses = _addresses(candidate)
        if addresses is not None:
            _sockets_by_address[addresses] = fd
            if found is None and addresses == (peer, local):
                found = candidate
                continue
        candidate.close()
    return found


def _is_socket(fd: int) -> bool:
    try:
        return stat.S_ISSOCK(os.fstat(fd).st_mode)
    except OSError:
        return False


def _tcp_socket(fd: int) -> socket.socket | None:
    """A duplicate of ``fd`` when it is a TCP socket."""
    if not _is_socket(fd):
        return None
    try:
        candidate = socket.socket(fileno=os.dup(fd))
    except OSError:
        return None
    if candidate.family in _TCP_FAMILIES and candidate.type == socket.SOCK_STREAM:
        return candidate
    candidate.close()
    return None


def _addresses(candidate: socket.socket) -> tuple[tuple[str, int], tuple[str, int]] | None:
    """``(peer, local)`` of a connected TCP socket, hosts without the IPv4-mapped prefix; ``None`` if not
    connected."""
    try:
        peer, local = candidate.getpeername(), candidate.getsockname()
    except OSError:
        return None
    return (_plain_host(peer[0]), peer[1]), (_plain_host(local[0]), local[1])


def _address(text: str) -> tuple[str, int] | None:
    host, _, port = text.rpartition(":")
    if not host or not port.isdigit():
        return None
    return _plain_host(host.strip("[]")), int(port)


def _plain_host(host: str) -> str:
    return host.removeprefix("::ffff:")


def _bytes_acked(client: socket.socket) -> int:
    return _tcp_progress(client)[1]


def _tcp_progress(client: socket.socket) -> tuple[int, int]:
    """``(tcpi_state, tcpi_bytes_acked)`` of a TCP socket."""
    info = client.getsockopt(socket.IPPROTO_TCP, socket.TCP_INFO, _TCP_INFO_SIZE)
    if len(info) < _BYTES_ACKED_OFFSET + _BYTES_ACKED.size:
        raise OSError("TCP_INFO has no tcpi_bytes_acked (Linux before 4.1)")
    return info[0], int(_BYTES_ACKED.unpack_from(info, _BYTES_ACKED_OFFSET)[0])
