"""The REST rate limit and LINE's seen-event memory in Redis, shared by every Rasa process.

The channels use these when ``REDIS_URL`` is set (``credentials.yml`` passes
it as ``redis_url``); without it they keep the same state in process
(``bot.channels.rest.SlidingWindowLimiter``, ``bot.channels.line_api.RecentIds``).
With several Rasa processes or Sanic workers behind one balancer, only a shared
store makes the limit hold per sender, and a redelivered LINE event be
answered once, whichever process receives it.

* :class:`RedisSlidingWindowLimiter`: a sliding-window log per sender in a
  sorted set (score = time in ms), trimmed, counted and added to by one Lua
  script, so two processes cannot both take the last free slot.  The time is
  Redis's own (``TIME``), so processes on several machines agree.
* :class:`RedisRecentIds`: ``SET key 1 NX EX ttl``: the first process to set
  an event id handles the event; for everyone else the id is already seen.

Keys: ``{prefix}:rate:{sha256(sender)[:32]}`` (the sender id itself is not
stored) and ``{prefix}:line-event:{webhookEventId}``; both expire by
themselves.  When Redis does not answer (within ``timeout`` seconds) the
error is logged and the message goes through: the limiter allows it and the
dedup treats the event as new.  Answering once too often is better than not
answering a citizen at all.
"""
from __future__ import annotations

import asyncio
import hashlib
import logging
import uuid

import redis.asyncio as aioredis
from redis.exceptions import RedisError

logger = logging.getLogger(__name__)

DEFAULT_PREFIX = "kuyakusho"

# KEYS[1] the sender's sorted set; ARGV[1] max events; ARGV[2] window in ms; ARGV[3] a unique member.
# Returns 1 (recorded, allowed) or 0 (the window is full; nothing recorded).
_SLIDING_WINDOW = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local window = tonumber(ARGV[2])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - window)
if redis.call('ZCARD', KEYS[1]) >= tonumber(ARGV[1]) then
  return 0
end
redis.call('ZADD', KEYS[1], now, ARGV[3])
redis.call('PEXPIRE', KEYS[1], window)
return 1
"""


class _RedisClient:
    """One ``redis.asyncio`` client per event loop (created on first use)."""

    def __init__(self, url: str, timeout: float) -> None:
        if not url:
            raise ValueError("a Redis URL is needed, e.g. redis://127.0.0.1:6379/0")
        self.url, self.timeout = url, timeout
        self._client: aioredis.Redis | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._failing = False

    def client(self) -> aioredis.Redis:
        loop = asyncio.get_running_loop()
        if self._client is None or self._loop is not loop:
            self._client = aioredis.Redis.from_url(self.url, socket_timeout=self.timeout,
                                                   socket_connect_timeout=self.timeout)
            self._loop = loop
        return self._client

    def failed(self, what: str, error: Exception) -> None:
        """Log a Redis error: a warning the first time, then debug until Redis answers again."""
        log = logger.debug if self._failing else logger.warning
        log("redis: %s failed (%s: %s); the message goes through", what, type(error).__name__, error)
        self._failing = True

    def answered(self) -> None:
        if self._failing:
            logger.warning("redis: answering again")
        self._failing = False

    async def close(self) -> None:
        """Close the connections (safe to call more than once)."""
        client, self._client = self._client, None
        if client is not None:
            await client.close()


class RedisSlidingWindowLimiter:
    """At most ``max_events`` per key within any ``window`` seconds, counted in Redis.

    Same rule as ``SlidingWindowLimiter`` (an event older than ``window``
    seconds no longer counts; a refused event is not recorded), with the
    times kept in Redis to the millisecond.

    Args:
        url: e.g. ``redis://127.0.0.1:6379/0``.
        max_events: events allowed per window (>= 1).
        window: the window in seconds (> 0; at least 1 ms).
        prefix: key prefix.
        timeout: seconds to wait for Redis before letting the event through.

    Raises:
        ValueError: a bad ``max_events``, ``window`` or an empty ``url``.
    """

    def __init__(self, url: str, max_events: int, window: float, prefix: str = DEFAULT_PREFIX,
                 timeout: float = 1.0) -> None:
        if max_events < 1 or window < 0.001:
            raise ValueError("max_messages must be >= 1 and per_seconds > 0")
        self.max_events, self.window, self.prefix = max_events, window, prefix
        self.redis = _RedisClient(url, timeout)
        self._script = None

    def key(self, key: str) -> str:
        """The Redis key of a sender (a hash: the sender id itself is not stored)."""
        return f"{self.prefix}:rate:{hashlib.sha256(key.encode('utf-8', 'surrogatepass')).hexdigest()[:32]}"

    async def allow(self, key: str) -> bool:
        """Record an event for ``key`` and return True, or False (nothing
        recorded) when ``key`` already had ``max_events`` in the window.
        True as well when Redis does not answer (logged)."""
        try:
            client = self.redis.client()
            if self._script is None or self._script.registered_client is not client:
                self._script = client.register_script(_SLIDING_WINDOW)  # EVALSHA, loaded when missing
            allowed = await self._script(keys=[self.key(key)],
                                         args=[self.max_events, max(1, round(self.window * 1000)), uuid.uuid4().hex])
        except (RedisError, OSError, asyncio.TimeoutError) as error:
            self.redis.failed("rate limit", error)
            return True
        self.redis.answered()
        return bool(allowed)

    async def close(self) -> None:
        """Close the Redis connections."""
        await self.redis.close()


class RedisRecentIds:
    """Event ids seen in the last ``ttl`` seconds, by any process (``SET NX EX``).

    Args:
        url: e.g. ``redis://127.0.0.1:6379/0``.
        ttl: seconds an id is remembered (>= 1; Redis expiry is in whole seconds).
        prefix: key prefix.
        timeout: seconds to wait for Redis before treating the id as new.

    Raises:
        ValueError: ``ttl`` < 1 or an empty ``url``.
    """

    def __init__(self, url: str, ttl: float = 3600.0, prefix: str = DEFAULT_PREFIX, timeout: float = 1.0) -> None:
        if ttl < 1:
            raise ValueError("ttl must be at least 1 second")
        self.ttl, self.prefix = int(ttl), prefix
        self.redis = _RedisClient(url, timeout)

    def key(self, event_id: str) -> str:
        """The Redis key of an event id."""
        return f"{self.prefix}:line-event:{event_id}"

    async def seen(self, event_id: str) -> bool:
        """True when any process recorded ``event_id`` less than ``ttl``
        seconds ago; otherwise record it now and return False.  False as well
        when Redis does not answer (logged)."""
        try:
            created = await self.redis.client().set(self.key(event_id), b"1", nx=True, ex=self.ttl)
        except (RedisError, OSError, asyncio.TimeoutError) as error:
            self.redis.failed("event dedup", error)
            return False
        self.redis.answered()
        return not created

    async def close(self) -> None:
        """Close the Redis connections."""
        await self.redis.close()
