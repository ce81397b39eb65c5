"""The HTTP servers' listening socket lets asyncio switch Nagle's algorithm off on each connection.

asyncio sets TCP_NODELAY only on sockets whose protocol is ``IPPROTO_TCP``. A
socket made as ``socket(AF_INET, SOCK_STREAM)`` says 0, and then every response
uvicorn writes as headers-then-body waited ~40 ms for the client's delayed ACK
(a witness answered add-checkpoint in 47 ms instead of 4).
"""

from __future__ import annotations

import asyncio
import socket

import pytest

from certlife.services.infra.http_server import bind

pytestmark = pytest.mark.unit


async def test_accepted_connections_get_tcp_nodelay() -> None:
    listener = bind("127.0.0.1", 0)
    seen: list[int] = []

    def connected(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        conn = writer.get_extra_info("socket")
        seen.append(conn.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY))
        writer.close()

    server = await asyncio.start_server(connected, sock=listener)
    try:
        _, writer = await asyncio.open_connection("127.0.0.1", listener.getsockname()[1])
        for _ in range(100):
            if seen:
                break
            await asyncio.sleep(0.01)
        writer.close()
    finally:
        server.close()
        await server.wait_closed()
    assert seen and seen[0] != 0
