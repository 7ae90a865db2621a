"""A scripted HTTP/1.1 server on 127.0.0.1 for the webhook client's and sender's tests: it
records each request and answers with exactly the bytes a test gives (or none)."""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

HANG = b"<hang>"  # a responder's answer meaning: never answer


@dataclass(frozen=True)
class Request:
    connection: int  # which connection it came on, from 1
    line: str
    headers: dict[str, str]
    body: bytes


# the request -> the raw answer, None to close the connection without one, or HANG
Responder = Callable[[Request], bytes | None]


def ok(_request: Request) -> bytes | None:
    return b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"


@dataclass
class Server:
    port: int
    requests: list[Request] = field(default_factory=list)
    connections: int = 0
    open: int = 0
    most_open: int = 0
    closed: int = 0


async def read_request(reader: asyncio.StreamReader, connection: int) -> Request | None:
    try:
        head = await reader.readuntil(b"\r\n\r\n")
    except (asyncio.IncompleteReadError, ConnectionError):
        return None
    line, *rest = head.decode("latin-1").split("\r\n")
    headers = dict(h.split(": ", 1) for h in rest if h)
    length = int(headers.get("content-length", "0"))
    return Request(connection, line, headers, await reader.readexactly(length))


@asynccontextmanager
async def serving(
    responder: Responder = ok,
    *,
    tls: ssl.SSLContext | None = None,
    delay: float = 0.0,
    close_after: bool = False,
) -> AsyncIterator[Server]:
    """A scripted HTTP/1.1 server on 127.0.0.1, in the test's own loop; `close_after` closes
    each connection after its first answer."""
    server = Server(port=0)
    writers: set[asyncio.StreamWriter] = set()

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writers.add(writer)
        server.connections += 1
        server.open += 1
        server.most_open = max(server.most_open, server.open)
        number = server.connections
        try:
            while (request := await read_request(reader, number)) is not None:
                server.requests.append(request)
                answer = responder(request)
                if delay:
                    await asyncio.sleep(delay)
                if answer is None:
                    break
                if answer == HANG:
                    await reader.read()  # until the client gives up and closes
                    break
                writer.write(answer)
                await writer.drain()
                if close_after:
                    break
        except ConnectionError:
            pass
        finally:
            server.open -= 1
            server.closed += 1
            writer.close()

    listener = await asyncio.start_server(handle, "127.0.0.1", 0, ssl=tls)
    server.port = listener.sockets[0].getsockname()[1]
    try:
        yield server
    finally:
        listener.close()
        for writer in writers:
            writer.close()
        for _ in range(100):  # the handlers see their connections end
            if not server.open:
                break
            await asyncio.sleep(0.01)
