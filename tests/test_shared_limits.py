"""Two Rasa processes sharing one Redis (REDIS_URL): the limits hold across both.

* A sender whose messages alternate between server A and server B is limited
  after ``max_messages`` (20 per 60 s, credentials.yml) in total, although
  each server saw only half of them; another sender is not affected.
* A LINE webhook event delivered to both servers (a redelivery reaching
  another replica) is answered once; the LINE API is tests/line_stub.py.

Two model loads plus Redis, so it runs with the scale-out tests
(``SCALEOUT_TEST=1``, ``make scaleout-test``, which installs redis-server).
"""
from __future__ import annotations

import asyncio
import json
import os
import shutil
import threading
import time
import urllib.request
import uuid
from concurrent.futures import ThreadPoolExecutor

import pytest
from conftest import custom, free_port
from line_stub import LineStub

from bot.channels.line_api import compute_signature
from bot.servers import ROOT, Servers, post_message, redis_on_socket

pytestmark = [
    pytest.mark.scaleout,
    pytest.mark.integration,
    pytest.mark.skipif(os.environ.get("SCALEOUT_TEST") != "1",
                       reason="two Rasa servers and Redis (minutes): run `make scaleout-test`"),
]

MODEL = ROOT / "models" / "kuyakusho.tar.gz"
SECRET = "shared-limits-secret"
LIMIT = 20  # credentials.yml: max_messages per per_seconds (60 s)


class StubThread:
    """tests/line_stub.py served from an event loop of its own, in a thread."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.stub = LineStub()

    def call(self, coro, timeout: float = 30.0):
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    def __enter__(self) -> LineStub:
        self.thread.start()
        self.call(self.stub.__aenter__())
        return self.stub

    def __exit__(self, *exc) -> None:
        self.call(self.stub.__aexit__(None, None, None))
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(timeout=10)


@pytest.fixture(scope="module")
def two(tmp_path_factory, kb_path):
    """(server A, server B, the LINE stub's thread): two Rasa servers with their action servers, one Redis."""
    if not shutil.which("redis-server"):
        pytest.fail("redis-server is not installed (make scaleout-test installs it)")
    if not MODEL.exists():
        pytest.fail(f"no trained model at {MODEL}: run `make train` first")
    logs = tmp_path_factory.mktemp("shared-logs")
    line = StubThread()
    with redis_on_socket(logs / "redis") as redis, line as stub:
        env = {"REDIS_URL": redis.url, "KB_PATH": str(kb_path), "KUYAKUSHO_TODAY": "2026-11-21",
               "LINE_CHANNEL_SECRET": SECRET, "LINE_CHANNEL_ACCESS_TOKEN": "token", "LINE_API_BASE_URL": stub.url}
        servers = [Servers(free_port(), free_port(), logs / name, env={**env, "TRACKER_DB": str(logs / f"{name}.db")},
                           timeout=420.0) for name in ("a", "b")]
        try:
            with ThreadPoolExecutor(2) as pool:  # both load their model at the same time
                list(pool.map(lambda s: s.start(), servers))
            yield servers[0], servers[1], line
        finally:
            for server in servers:
                server.stop()
    for server in servers:
        text = server.rasa_log.read_text(errors="replace")
        assert "Traceback" not in text, text[-3000:]


def test_a_sender_is_limited_across_both_servers(two):
    a, b, _ = two
    sender = f"shared-{uuid.uuid4().hex[:8]}"
    statuses = []
    for i in range(LIMIT + 2):  # alternately: each server sees 11 of the 22, under the limit on its own
        reply = post_message((a if i % 2 else b).url, sender, "こんにちは")
        statuses.append(custom(reply)["intent"])
    assert statuses[:LIMIT].count("rate_limited") == 0, statuses
    assert statuses[LIMIT:] == ["rate_limited", "rate_limited"], statuses
    other = post_message(a.url, f"other-{uuid.uuid4().hex[:8]}", "住民票はどこで取れますか")
    assert custom(other)["status"] == "answered"


def post_line(server: Servers, events: list[dict]) -> int:
    body = json.dumps({"destination": "Ubot", "events": events}, ensure_ascii=False).encode("utf-8")
    req = urllib.request.Request(server.base + "/webhooks/line/webhook", data=body, method="POST",
                                 headers={"Content-Type": "application/json",
                                          "X-Line-Signature": compute_signature(SECRET, body)})
    with urllib.request.urlopen(req, timeout=30) as resp:
        return resp.status


def line_event(text: str) -> dict:
    return {"type": "message", "mode": "active", "timestamp": int(time.time() * 1000),
            "source": {"type": "user", "userId": "U" + uuid.uuid4().hex},
            "webhookEventId": "01" + uuid.uuid4().hex.upper()[:24], "deliveryContext": {"isRedelivery": False},
            "replyToken": uuid.uuid4().hex, "message": {"id": "1", "type": "text", "text": text}}


def test_a_line_event_delivered_to_both_servers_is_answered_once(two):
    a, b, line = two
    event = line_event("住民票はどこで取れますか")
    redelivered = {**event, "deliveryContext": {"isRedelivery": True}}
    with ThreadPoolExecutor(2) as pool:  # at the same time, as a redelivery racing the first delivery
        assert list(pool.map(post_line, (a, b), ([event], [redelivered]))) == [200, 200]
    calls = line.call(line.stub.wait_for_calls(1, timeout=60), timeout=90)
    time.sleep(3.0)  # a second answer, if any, would arrive within this
    replies = [c for c in line.stub.calls if c.json and c.json.get("replyToken") == event["replyToken"]]
    assert len(replies) == 1 and len(line.stub.calls) == len(calls) == 1, line.stub.calls
    assert "区民課" in replies[0].json["messages"][0]["text"]
    # another event still reaches either server
    assert post_line(b, [line_event("こんにちは")]) == 200
    assert len(line.call(line.stub.wait_for_calls(2, timeout=60), timeout=90)) == 2
