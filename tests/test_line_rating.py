"""Acceptance: a rating given on LINE lands in the tracker store as the same event as
one from the widget.  Real Rasa and action servers, the LINE channel pointed at the
stub LINE API (tests/line_stub.py), signed webhooks; everything on loopback."""
from __future__ import annotations

import asyncio
import json
import sqlite3
import threading
import urllib.request
import uuid

import pytest
from conftest import free_port

from bot import insights, ratings, tracker_db
from bot.channels.line_api import compute_signature
from bot.servers import post_message, started
from tests.line_stub import LineStub

SECRET = "kawasaki-rating-test-secret"
USER = "U" + "0123456789abcdef" * 2
QUESTION = "国民年金の手続きはどこですか"

pytestmark = pytest.mark.integration


class StubInThread:
    """The stub LINE API on its own event loop in a thread, for synchronous tests."""

    def __init__(self):
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()
        self.stub = LineStub()
        asyncio.run_coroutine_threadsafe(self.stub.__aenter__(), self.loop).result(10)

    def wait_for_calls(self, count, timeout=120.0):
        return asyncio.run_coroutine_threadsafe(self.stub.wait_for_calls(count, timeout), self.loop).result(
            timeout + 5)

    def close(self):
        asyncio.run_coroutine_threadsafe(self.stub.__aexit__(None, None, None), self.loop).result(10)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)


def line_event(kind, **extra):
    body = {"type": kind, "mode": "active", "timestamp": 1763700000000, "source": {"type": "user", "userId": USER},
            "webhookEventId": "01" + uuid.uuid4().hex.upper()[:24], "deliveryContext": {"isRedelivery": False},
            "replyToken": uuid.uuid4().hex}
    body.update(extra)
    return body


def send_signed(url, events):
    body = json.dumps({"destination": "Ubot", "events": events}, ensure_ascii=False).encode("utf-8")
    request = urllib.request.Request(url, data=body, headers={"Content-Type": "application/json",
                                                              "X-Line-Signature": compute_signature(SECRET, body)})
    with urllib.request.urlopen(request, timeout=30) as resp:
        assert resp.status == 200


def stored_user_events(db, sender):
    with sqlite3.connect(db) as conn:
        rows = conn.execute("select data from events where sender_id = ? and type_name = 'user' order by id",
                            (sender,)).fetchall()
    return [json.loads(data) for (data,) in rows]


def rating_of(event):
    """What a rating event says: its text, intent and entities (not who or when)."""
    parse = event["parse_data"]
    return event["text"], parse["intent"]["name"], [(e["entity"], e["value"]) for e in parse["entities"]]


def test_a_line_postback_rating_is_stored_like_a_widget_rating(kb_path, tmp_path):
    line = StubInThread()
    db = tmp_path / "tracker.db"
    env = {"KB_PATH": str(kb_path), "KUYAKUSHO_TODAY": "2026-11-21", "TRACKER_DB": str(db),
           "LINE_CHANNEL_SECRET": SECRET, "LINE_CHANNEL_ACCESS_TOKEN": "test-token",
           "LINE_API_BASE_URL": line.stub.url}
    try:
        with started(free_port(), free_port(), log_dir=tmp_path / "logs", env=env) as servers:
            webhook = f"http://127.0.0.1:{servers.rasa_port}/webhooks/line/webhook"
            send_signed(webhook, [line_event("message", message={"id": "1", "type": "text", "text": QUESTION})])
            reply = line.wait_for_calls(1)[0]
            assert reply.path == "/v2/bot/message/reply" and reply.status == 200
            items = [i["action"] for i in reply.json["messages"][-1]["quickReply"]["items"]]
            down = next(a for a in items if a.get("label") == "役に立たなかった")
            assert down["type"] == "postback" and down["displayText"] == "役に立たなかった"

            send_signed(webhook, [line_event("postback", postback={"data": down["data"]})])
            thanks = line.wait_for_calls(2)[1]
            assert "ご評価ありがとうございます" in thanks.json["messages"][0]["text"]
            assert "quickReply" not in thanks.json["messages"][-1]  # an acknowledgement is not rated

            # the widget sends the same message over socket.io; the REST channel stands in for it here
            answer_id = json.loads(down["data"][len("/rate_answer"):])["answer"]
            post_message(servers.url, "widget-user", ratings.payload("down", answer_id))
            on_line = stored_user_events(db, USER)
            from_widget = stored_user_events(db, "widget-user")
            assert [e["text"] for e in on_line] == [QUESTION, down["data"]]
            assert rating_of(on_line[1]) == rating_of(from_widget[0]) == (
                down["data"], "rate_answer", [("rating", "down"), ("answer", answer_id)])
            assert on_line[1]["input_channel"] == "line" and on_line[1]["metadata"]["line"]["event_type"] == "postback"

            # the rating is tied to the answer it rates: the insights find it with its question and facts
            result = insights.insights(tracker_db.resolve(db=str(db)))
            assert result["totals"]["ratings_down"] == 1  # the widget-user's copy rates no answer of its own
            (row,) = result["down_rated"]
            assert row["question"] == QUESTION and row["facts"] and row["status"] == "answered"
    finally:
        line.close()
