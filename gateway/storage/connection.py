"""redis-py's asyncio connections, packing commands in C and taking replies already read.

Packing: redis-py's asyncio connection packs every command in pure Python (its sync client uses
hiredis when it is installed, the asyncio one does not). The commit script of one change carries
about twenty arguments. `hiredis.pack_command` gives the same bytes in a sixth of the time (2
against 12 µs for one commit), and the API's CPU per event of a `POST /v1/events/batch` falls from
about 100 to about 80 µs.

Reading: redis-py arms its socket timeout (a timer, set and cancelled) around every reply it
reads, even when the reply is already in the parser's buffer, which is the case for all but the
first reply of a pipeline. A reply that is already there is returned at once here: it cannot
wait, so it needs no timer. That is 3 µs of CPU less per command of a pipeline (6.6 against 3.5
µs for a pipeline of 64, `bench`-style loop). A reply still to come is read by redis-py, with its
timeout.

Everything else (connecting, health checks, errors, the replies still to come) is redis-py's.
"""

from __future__ import annotations

from typing import Any

import hiredis
from redis._parsers.hiredis import NOT_ENOUGH_DATA
from redis.asyncio.cluster import RedisCluster
from redis.asyncio.connection import (
    AbstractConnection,
    Connection,
    SSLConnection,
    UnixDomainSocketConnection,
)
from redis.exceptions import ConnectionError as RedisConnectionError, ResponseError

WAIT = object()  # no complete reply in the parser's buffer yet


class FastCommands(AbstractConnection):
    """The packing override, mixed in front of each of redis-py's connection classes."""

    def pack_command(self, *args: Any) -> list[bytes]:
        # As redis-py: a command name with spaces ("SCRIPT LOAD") is sent as separate words.
        head = args[0]
        if isinstance(head, str):
            words = (*head.encode().split(), *args[1:])
        elif b" " in head:
            words = (*head.split(), *args[1:])
        else:
            words = args
        try:
            return [hiredis.pack_command(words)]
        except TypeError:  # a value hiredis does not take: redis-py packs it, or says why not
            return super().pack_command(*args)

    async def read_response(
        self,
        disable_decoding: bool = False,
        timeout: float | None = None,
        *,
        disconnect_on_error: bool = True,
        push_request: bool | None = False,
    ) -> Any:
        reply = self._buffered(disable_decoding) if timeout is None and not push_request else WAIT
        if reply is WAIT:  # still to come (or asked with a timeout of its own): redis-py reads
            return await super().read_response(
                disable_decoding,
                timeout,
                disconnect_on_error=disconnect_on_error,
                push_request=push_request,
            )
        push = getattr(self._parser, "_hiredis_PushNotificationType", None)
        if push is not None and isinstance(reply, push):  # RESP3: as redis-py, then the reply
            await self._parser.handle_push_response(reply)  # type: ignore[attr-defined]
            return await self.read_response(
                disable_decoding, disconnect_on_error=disconnect_on_error
            )
        if isinstance(reply, list) and reply and isinstance(reply[0], RedisConnectionError):
            reply = reply[0]
        if isinstance(reply, RedisConnectionError):
            if disconnect_on_error:
                await self.disconnect(nowait=True)
            raise reply
        if isinstance(reply, ResponseError):
            raise reply from None
        return reply

    def _buffered(self, disable_decoding: bool) -> Any:
        """The next reply if the hiredis parser of a connection without health checks already
        holds all of it, else WAIT."""
        parser: Any = self._parser
        reader = getattr(parser, "_reader", None)
        if (
            reader is None
            or not getattr(parser, "_connected", False)
            or self.health_check_interval
            or not reader.has_data()
        ):
            return WAIT
        reply = reader.gets(False) if disable_decoding else reader.gets()
        return WAIT if reply is NOT_ENOUGH_DATA else reply


class FastConnection(FastCommands, Connection):
    pass


class FastSSLConnection(FastCommands, SSLConnection):
    pass


class FastUnixDomainSocketConnection(FastCommands, UnixDomainSocketConnection):
    pass


FAST: dict[type[AbstractConnection], type[AbstractConnection]] = {
    Connection: FastConnection,
    SSLConnection: FastSSLConnection,
    UnixDomainSocketConnection: FastUnixDomainSocketConnection,
}


def fast(connection_class: type[AbstractConnection]) -> type[AbstractConnection]:
    """The fast variant of one of redis-py's connection classes (any other is kept)."""
    return FAST.get(connection_class, connection_class)


def fast_cluster(client: RedisCluster) -> None:
    """Put a new cluster client on the fast connections: the nodes it starts from, and those it
    discovers (made from the keyword arguments it shares with its nodes manager). Connections
    are opened on first use, so none exists yet."""
    kwargs = client.nodes_manager.connection_kwargs
    kwargs["connection_class"] = fast(kwargs.get("connection_class", Connection))
    for node in client.nodes_manager.startup_nodes.values():
        node.connection_class = fast(node.connection_class)  # type: ignore[assignment]
