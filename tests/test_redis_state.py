"""The REST rate limit and LINE's event dedup, in process and in Redis (bot/channels/redis_state.py).

The Redis tests run against a real ``redis-server`` on a Unix socket (the
``redis_url`` fixture of conftest.py) and are skipped when it is not
installed.  Two limiter or dedup objects stand for two Rasa processes: they
share nothing but Redis.  tests/test_shared_limits.py does the same with two real Rasa servers.
"""
from __future__ import annotations

import asyncio
import logging
import time

import pytest
from conftest import free_port

from bot.channels.line import LineInput
from bot.channels.line_api import RecentIds
from bot.channels.redis_state import RedisRecentIds, RedisSlidingWindowLimiter
from bot.channels.rest import RATE_LIMITED_TEXT, RestInput, SlidingWindowLimiter
from bot.servers import ROOT


def run(coro):
    return asyncio.run(coro)


async def allow_all(limiter, key, n):
    return [await limiter.allow(key) for _ in range(n)]


# --------------------------------------------------------------------------- the limiter

def test_redis_limiter_is_a_sliding_window(redis_url):
    limiter = RedisSlidingWindowLimiter(redis_url, 3, 1.0, prefix="t1")
    assert run(allow_all(limiter, "a", 4)) == [True, True, True, False]
    assert run(limiter.allow("b"))  # other senders are not affected
    time.sleep(1.05)  # a whole window later the first three no longer count
    assert run(allow_all(limiter, "a", 4)) == [True, True, True, False]


def test_redis_limiter_is_shared_and_atomic(redis_url):
    """Two limiters (two processes) share one count; 40 concurrent messages get exactly 5 through."""
    a = RedisSlidingWindowLimiter(redis_url, 5, 60.0, prefix="t2")
    b = RedisSlidingWindowLimiter(redis_url, 5, 60.0, prefix="t2")
    assert run(allow_all(a, "s", 2)) == [True, True]
    assert run(allow_all(b, "s", 4)) == [True, True, True, False]
    assert not run(a.allow("s"))

    async def burst():
        return await asyncio.gather(*[(a if i % 2 else b).allow("burst") for i in range(40)])

    assert sum(run(burst())) == 5


def test_redis_limiter_keys_hide_the_sender_and_expire(redis_url):
    import redis

    limiter = RedisSlidingWindowLimiter(redis_url, 2, 30.0, prefix="t3")
    run(limiter.allow("U4af4980629a0b1c2d3e4f5a6b7c8d9e0"))
    client = redis.Redis.from_url(redis_url)
    keys = client.keys("t3:*")
    assert keys == [limiter.key("U4af4980629a0b1c2d3e4f5a6b7c8d9e0").encode()]
    assert b"U4af49806" not in keys[0]
    assert 0 < client.pttl(keys[0]) <= 30_000


def test_redis_limiter_lets_messages_through_when_redis_is_down(caplog):
    limiter = RedisSlidingWindowLimiter(f"redis://127.0.0.1:{free_port()}/0", 1, 60.0, timeout=0.5)
    with caplog.at_level(logging.DEBUG, logger="bot.channels.redis_state"):
        assert run(allow_all(limiter, "a", 3)) == [True, True, True]
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1 and "rate limit failed" in warnings[0].getMessage()


def test_limiters_refuse_bad_settings():
    for make in (lambda: RedisSlidingWindowLimiter("redis://x", 0, 1.0), lambda: SlidingWindowLimiter(1, 0),
                 lambda: RedisSlidingWindowLimiter("redis://x", 1, 0.0), lambda: RedisSlidingWindowLimiter("", 1, 1)):
        with pytest.raises(ValueError):
            make()


# --------------------------------------------------------------------------- the dedup

def test_redis_recent_ids_are_shared_and_expire(redis_url):
    a, b = RedisRecentIds(redis_url, ttl=1, prefix="t4"), RedisRecentIds(redis_url, ttl=1, prefix="t4")
    assert run(a.seen("ev-1")) is False
    assert run(b.seen("ev-1")) is True and run(a.seen("ev-1")) is True
    assert run(b.seen("ev-2")) is False
    time.sleep(1.1)
    assert run(b.seen("ev-1")) is False


def test_redis_recent_ids_treat_events_as_new_when_redis_is_down():
    ids = RedisRecentIds(f"redis://127.0.0.1:{free_port()}/0", timeout=0.5)
    assert run(ids.seen("ev")) is False and run(ids.seen("ev")) is False
    with pytest.raises(ValueError):
        RedisRecentIds("redis://x", ttl=0.5)


# --------------------------------------------------------------------------- the channels

def test_channels_choose_their_backend(monkeypatch):
    from rasa.core.run import create_http_input_channels

    monkeypatch.delenv("REDIS_URL", raising=False)
    channels = {c.name(): c for c in create_http_input_channels(None, str(ROOT / "credentials.yml"))}
    assert isinstance(channels["rest"].limiter, SlidingWindowLimiter)
    assert isinstance(channels["line"].recent_events, RecentIds)
    monkeypatch.setenv("REDIS_URL", "redis://127.0.0.1:6379/0")
    channels = {c.name(): c for c in create_http_input_channels(None, str(ROOT / "credentials.yml"))}
    assert isinstance(channels["rest"].limiter, RedisSlidingWindowLimiter)
    assert (channels["rest"].limiter.max_events, channels["rest"].limiter.window) == (20, 60.0)
    assert isinstance(channels["line"].recent_events, RedisRecentIds)


def test_rest_channel_limit_holds_across_two_channels(redis_url):
    from test_fuzz_rest import run_turn

    first, second = (RestInput(max_messages=2, per_seconds=60, redis_url=redis_url) for _ in range(2))
    first.limiter.prefix = second.limiter.prefix = "t5"
    assert run_turn(first, "text+status", sender="r1")[0]["text"] == "答え"
    assert run_turn(second, "text+status", sender="r1")[0]["text"] == "答え"
    for channel in (first, second):
        limited = run_turn(channel, "text+status", sender="r1")
        assert limited[0]["text"] == RATE_LIMITED_TEXT
        assert limited[1]["custom"] == {"status": "not_found", "intent": "rate_limited", "sources": []}
    assert run_turn(second, "text+status", sender="r2")[0]["text"] == "答え"


def test_line_channel_drops_an_event_another_channel_saw(redis_url):
    first, second = (LineInput("secret", "token", redis_url=redis_url) for _ in range(2))
    first.recent_events.prefix = second.recent_events.prefix = "t6"
    events = [{"webhookEventId": "01ABC", "type": "message"}, {"webhookEventId": "01DEF", "type": "message"},
              {"type": "message"}]  # no id: never dropped
    assert run(first.new_events(events[:1])) == events[:1]
    assert run(second.new_events(events)) == events[1:]
    assert run(first.new_events(events)) == events[2:]
