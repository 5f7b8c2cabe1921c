"""Finding a client's socket among the process's descriptors (fastgw.client_window), on real sockets."""

from __future__ import annotations

import socket
from collections.abc import Iterator

import pytest

from fastgw import client_window


@pytest.fixture
def server() -> Iterator[socket.socket]:
    listener = socket.create_server(("127.0.0.1", 0))
    yield listener
    listener.close()


def connect(server: socket.socket) -> tuple[socket.socket, socket.socket]:
    client = socket.create_connection(server.getsockname())
    accepted, _ = server.accept()
    return client, accepted


def text(address: tuple[str, int]) -> str:
    return f"{address[0]}:{address[1]}"


def test_finds_the_accepted_socket_of_a_client_and_no_other(server: socket.socket) -> None:
    pairs = [connect(server) for _ in range(20)]
    try:
        for client, accepted in pairs[::7]:
            found = client_window.find_client_socket(text(client.getsockname()), text(server.getsockname()))
            assert found is not None
            try:
                assert found.fileno() != accepted.fileno()  # a duplicate: closing it leaves Granian's open
                assert (found.getpeername(), found.getsockname()) == (accepted.getpeername(), accepted.getsockname())
            finally:
                found.close()
            accepted.getpeername()  # still open
        assert client_window.find_client_socket("127.0.0.1:1", text(server.getsockname())) is None
        assert client_window.find_client_socket("not an address", "127.0.0.1:80") is None
    finally:
        for client, accepted in pairs:
            client.close()
            accepted.close()


def test_a_reused_descriptor_is_checked_not_trusted(server: socket.socket) -> None:
    """The table remembers descriptor numbers; one closed and reused by another connection is not the client's."""
    first_client, first_accepted = connect(server)
    address = text(first_client.getsockname())
    found = client_window.find_client_socket(address, text(server.getsockname()))
    assert found is not None
    found.close()
    number = first_accepted.fileno()
    first_accepted.close()
    first_client.close()
    second_client, second_accepted = connect(server)  # likely takes the freed descriptor number
    try:
        if second_accepted.fileno() == number:
            assert client_window.find_client_socket(address, text(server.getsockname())) is None
        again = client_window.find_client_socket(text(second_client.getsockname()), text(server.getsockname()))
        assert again is not None
        assert again.getpeername() == second_client.getsockname()
        again.close()
    finally:
        second_client.close()
        second_accepted.close()
