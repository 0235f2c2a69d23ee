"""The Redis backend: messages travel between processes and hosts through Redis pub/sub.

Each hub keeps two kinds of Redis connections, made by the ``redis`` package (its asyncio
client parses URLs, speaks RESP, does TLS and authentication; see docs/hub.md):

- one *listener* connection, in subscriber mode, owned by one task. Its channels follow the
  local subscribers: ``SUBSCRIBE`` when a channel gets its first local subscriber,
  ``UNSUBSCRIBE`` when it loses its last. When it breaks, the task logs a warning, waits
  (capped exponential backoff with jitter) and reconnects, subscribing again to the channels
  that still have local subscribers. An idle connection is checked with a ``PING``; one that
  stays silent is dropped and reconnected.
- a small bounded pool for ``PUBLISH``, where every call is bounded by ``timeout`` and fails
  with :class:`HubUnavailable` instead of waiting for Redis to come back.
"""

from __future__ import annotations

import asyncio
import logging
import random
from typing import Any

from .backend import Backend, Deliver, HubUnavailable
from .wire import decode_message, encode_message

__all__ = ["RedisBackend"]

logger = logging.getLogger("asgiws.hub")

# Channels per SUBSCRIBE/UNSUBSCRIBE command, so that re-subscribing many channels after a
# reconnection does not make one huge command.
_BATCH = 1000


class _Unresponsive(Exception):
    """The listener connection stayed silent after a PING."""


def _redis() -> Any:
    try:
        import redis.asyncio
        import redis.asyncio.retry
        import redis.backoff
    except ImportError:
        raise ImportError(
            "the Redis backend of asgiws.hub needs the redis package: pip install 'asgiws[redis]'"
        ) from None
    return redis


class RedisBackend(Backend):
    """Publish and subscribe through a Redis server (or a compatible one: Valkey, KeyDB).

    :param url: ``redis://[[user]:password@]host[:port][/db]``, ``rediss://`` for TLS, or
        ``unix:///path/to/redis.sock``.
    :param channel_prefix: prepended to every channel name in Redis, so that the hub's
        channels do not collide with other users of the same server.
    :param timeout: how long connecting and one ``PUBLISH`` may take, in seconds.
    :param health_check_interval: an idle listener connection is sent a ``PING`` after this
        many seconds of silence, and dropped (then reconnected) after twice as many.
    :param min_reconnect_delay: the first delay before reconnecting, in seconds; it doubles
        after each failed attempt, up to ``max_reconnect_delay`` (each delay is drawn between
        half of it and all of it, so that many processes do not reconnect in step).
    :param max_publish_connections: the size of the pool used by :meth:`publish`; more
        concurrent publishers wait for a connection (at most ``timeout``).
    :param redis_options: more keyword arguments for ``redis.asyncio.ConnectionPool.from_url``
        (``ssl_ca_certs``, ``username``, ``password``, ``client_name``, ...).
    """

    def __init__(
        self,
        url: str = "redis://127.0.0.1:6379/0",
        *,
        channel_prefix: str = "asgiws:",
        timeout: float = 5.0,
        health_check_interval: float = 15.0,
        min_reconnect_delay: float = 0.1,
        max_reconnect_delay: float = 10.0,
        max_publish_connections: int = 8,
        **redis_options: Any,
    ) -> None:
        self.url = url
        self.channel_prefix = channel_prefix
        self.timeout = timeout
        self.health_check_interval = health_check_interval
        self.min_reconnect_delay = min_reconnect_delay
        self.max_reconnect_delay = max_reconnect_delay
        self.max_publish_connections = max_publish_connections
        self.redis_options = redis_options
        self._deliver: Deliver | None = None
        self._publisher: Any = None
        self._listener_pool: Any = None
        self._task: asyncio.Task[None] | None = None
        self._closed = False
        # The channels this process needs; the ones the current connection asked for; the
        # ones Redis acknowledged on it.
        self._wanted: set[str] = set()
        self._sent: set[str] = set()
        self._confirmed: set[str] = set()
        self._wakeup = asyncio.Event()
        self._synced = asyncio.Event()
        self._synced.set()
        self._last_seen = 0.0
        self.connected = False
        """Whether the listener connection is up right now."""
        self.reconnections = 0
        """How many times the listener connection was made again after a failure."""

    def __repr__(self) -> str:
        return f"RedisBackend({self._where()!r}, channel_prefix={self.channel_prefix!r})"

    def _where(self) -> str:
        # The URL without its credentials, for log lines and errors.
        scheme, sep, rest = self.url.partition("://")
        return f"{scheme}{sep}{rest.rpartition('@')[2]}" if sep else self.url

    # ------------------------------------------------------------------------ lifecycle

    async def start(self, deliver: Deliver) -> None:
        redis = _redis()
        if self._task is not None or self._closed:
            raise RuntimeError("a RedisBackend starts once")
        self._deliver = deliver
        options = {
            "socket_connect_timeout": self.timeout,
            "health_check_interval": 0,
            **self.redis_options,
        }
        self._publisher = redis.asyncio.Redis(
            connection_pool=redis.asyncio.BlockingConnectionPool.from_url(
                self.url,
                max_connections=self.max_publish_connections,
                timeout=self.timeout,
                socket_timeout=self.timeout,
                # One immediate retry on a fresh connection: a pooled connection may be stale
                # after Redis restarted.
                retry=redis.asyncio.retry.Retry(redis.backoff.NoBackoff(), 1),
                **options,
            )
        )
        # The listener reads without a timeout (it waits for messages); its liveness is
        # checked with PING instead. It reconnects itself, so redis-py must not. RESP2: its
        # messages are plain replies (RESP3 would make them pushes), from any Redis version.
        self._listener_pool = redis.asyncio.ConnectionPool.from_url(
            self.url,
            **{
                **options,
                "socket_timeout": None,
                "retry": redis.asyncio.retry.Retry(redis.backoff.NoBackoff(), 0),
                "protocol": 2,
            },
        )
        try:
            connection = await self._connect()
        except HubUnavailable:
            await self._release_clients()
            raise
        self._task = asyncio.get_running_loop().create_task(
            self._listen(connection), name=f"asgiws hub listener ({self._where()})"
        )

    async def close(self) -> None:
        self._closed = True
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            try:
                await task
            except asyncio.CancelledError:
                if not task.cancelled():  # this coroutine itself was cancelled
                    raise
        self._wanted.clear()
        self._deliver = None
        await self._release_clients()

    async def _release_clients(self) -> None:
        publisher, self._publisher = self._publisher, None
        if publisher is not None:
            await publisher.aclose()
            await publisher.connection_pool.disconnect()
        pool, self._listener_pool = self._listener_pool, None
        if pool is not None:
            await pool.disconnect()

    # ------------------------------------------------------------------------ subscriptions

    def _key(self, channel: str) -> str:
        return self.channel_prefix + channel

    def subscribe(self, channel: str) -> None:
        if channel not in self._wanted:
            self._wanted.add(channel)
            self._changed()

    def unsubscribe(self, channel: str) -> None:
        if channel in self._wanted:
            self._wanted.discard(channel)
            self._changed()

    def _changed(self) -> None:
        self._wakeup.set()
        self._check_synced()

    def _check_synced(self) -> None:
        if self._confirmed == self._wanted:
            self._synced.set()
        else:
            self._synced.clear()

    async def flush(self) -> None:
        """Wait until Redis acknowledged the subscriptions of every local subscriber (and
        the end of those that have none left). While Redis is down, this waits until it is
        back: bound it with :func:`asyncio.timeout` if needed."""
        while not self._synced.is_set():
            await self._synced.wait()

    # ------------------------------------------------------------------------ publishing

    async def publish(self, channel: str, message: str | bytes) -> int:
        publisher = self._publisher
        if publisher is None:
            raise HubUnavailable("the hub is not started" if not self._closed else "closed")
        payload = encode_message(message)
        redis = _redis()
        try:
            return int(
                await asyncio.wait_for(publisher.publish(self._key(channel), payload), self.timeout)
            )
        except (redis.RedisError, OSError, asyncio.TimeoutError) as exc:
            raise HubUnavailable(
                f"cannot publish to Redis at {self._where()}: {exc or type(exc).__name__}"
            ) from exc

    # ------------------------------------------------------------------------ the listener

    async def _connect(self) -> Any:
        """A new listener connection, or :class:`HubUnavailable`."""
        redis = _redis()
        connection = self._listener_pool.make_connection()
        try:
            await asyncio.wait_for(connection.connect(), self.timeout)
        except (redis.RedisError, OSError, asyncio.TimeoutError) as exc:
            await self._drop(connection)
            raise HubUnavailable(
                f"cannot connect to Redis at {self._where()}: {exc or type(exc).__name__}"
            ) from exc
        return connection

    @staticmethod
    async def _drop(connection: Any) -> None:
        try:
            await connection.disconnect(nowait=True)
        except Exception:  # already broken: nothing more to release
            pass

    def _delay(self, attempt: int) -> float:
        delay = min(self.max_reconnect_delay, self.min_reconnect_delay * 2 ** min(attempt, 32))
        return random.uniform(delay / 2, delay)

    async def _listen(self, connection: Any) -> None:
        """Serve the listener connection; reconnect when it breaks, until cancelled."""
        redis = _redis()
        attempt = 0
        try:
            while True:
                if connection is None:
                    delay = self._delay(attempt)
                    attempt += 1
                    await asyncio.sleep(delay)
                    try:
                        connection = await self._connect()
                    except HubUnavailable as exc:
                        logger.warning("hub: %s; next attempt in %.1f s", exc, self._delay(attempt))
                        continue
                    self.reconnections += 1
                    logger.warning(
                        "hub: reconnected to Redis at %s; subscribing again to %d channel(s)",
                        self._where(),
                        len(self._wanted),
                    )
                    attempt = 0
                try:
                    await self._serve(connection)
                except (redis.RedisError, OSError, _Unresponsive) as exc:
                    logger.warning(
                        "hub: lost the connection to Redis at %s (%s); reconnecting",
                        self._where(),
                        exc or type(exc).__name__,
                    )
                finally:
                    self.connected = False
                    self._sent.clear()
                    self._confirmed.clear()
                    self._check_synced()
                    await self._drop(connection)
                connection = None
        finally:
            if connection is not None:
                await self._drop(connection)

    async def _serve(self, connection: Any) -> None:
        """Read and write on one connection until it fails (raises) or the task is cancelled."""
        loop = asyncio.get_running_loop()
        self._last_seen = loop.time()
        self.connected = True
        self._wakeup.set()  # (re)subscribe to every wanted channel
        reader = loop.create_task(self._read(connection))
        writer = loop.create_task(self._write(connection))
        tasks = {reader, writer}
        interval = self.health_check_interval
        try:
            while True:
                done, _ = await asyncio.wait(
                    tasks, timeout=interval, return_when=asyncio.FIRST_COMPLETED
                )
                for task in done:
                    task.result()  # raises what broke the connection
                    raise _Unresponsive("listener stopped")  # pragma: no cover
                if loop.time() - self._last_seen > 2 * interval:
                    raise _Unresponsive(f"no answer to PING in {interval:g} s")
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.wait(tasks)
            for task in tasks:
                if not task.cancelled():
                    task.exception()  # retrieved: reported through done above

    async def _write(self, connection: Any) -> None:
        """Send SUBSCRIBE/UNSUBSCRIBE as local subscribers come and go, and PING when idle."""
        loop = asyncio.get_running_loop()
        interval = self.health_check_interval
        while True:
            self._wakeup.clear()
            added = [channel for channel in self._wanted if channel not in self._sent]
            removed = [channel for channel in self._sent if channel not in self._wanted]
            for command, channels, sent in (
                ("SUBSCRIBE", added, self._sent.add),
                ("UNSUBSCRIBE", removed, self._sent.discard),
            ):
                for start in range(0, len(channels), _BATCH):
                    batch = channels[start : start + _BATCH]
                    for channel in batch:
                        sent(channel)
                    await connection.send_command(
                        command, *(self._key(channel) for channel in batch), check_health=False
                    )
            if self._wakeup.is_set():
                continue
            try:
                await asyncio.wait_for(self._wakeup.wait(), interval)
            except asyncio.TimeoutError:
                if loop.time() - self._last_seen >= interval:
                    await connection.send_command("PING", check_health=False)

    async def _read(self, connection: Any) -> None:
        """Read replies and messages; deliver the messages."""
        loop = asyncio.get_running_loop()
        prefix = self.channel_prefix.encode()
        skip = len(prefix)
        while True:
            reply = await connection.read_response(disconnect_on_error=False)
            self._last_seen = loop.time()
            if not isinstance(reply, list) or len(reply) < 3:
                continue  # PONG outside subscriber mode
            kind, key, data = reply[0], reply[1], reply[2]
            if isinstance(key, bytes) and key.startswith(prefix):
                channel = key[skip:].decode(errors="replace")
            else:
                continue
            if kind == b"message":
                self._received(channel, data)
            elif kind == b"subscribe":
                if channel in self._sent:
                    self._confirmed.add(channel)
                self._check_synced()
            elif kind == b"unsubscribe":
                self._confirmed.discard(channel)
                self._check_synced()

    def _received(self, channel: str, payload: Any) -> None:
        deliver = self._deliver
        if deliver is None or channel not in self._wanted:
            return
        try:
            message = decode_message(bytes(payload))
        except ValueError as exc:
            logger.warning("hub: dropped a message on %r: %s", channel, exc)
            return
        try:
            deliver(channel, message)
        except Exception:
            logger.exception("hub: delivering a message on %r failed", channel)
