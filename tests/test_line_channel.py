"""The LINE channel (bot/channels/line.py), driven through a real Sanic server.

Everything runs on 127.0.0.1: the channel is mounted by Rasa's own
``register`` on a Sanic app on a free port, the bot is a stub agent, and the
LINE API is ``tests/line_stub.py``.  No test touches the network.
"""
from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import hmac
import json
import socket
import uuid
from pathlib import Path

import aiohttp
import pytest
from rasa.core.channels.channel import UserMessage, register
from sanic import Sanic

from bot import ratings
from bot.channels import line_api
from bot.channels.line import ERROR_REPLY, TEXT_ONLY_REPLY, LineInput, LineOutput
from bot.channels.line_api import (
    MAX_LABEL_LENGTH,
    MAX_MESSAGES,
    MAX_QUICK_REPLY_ITEMS,
    MAX_TEXT_LENGTH,
    TRUNCATION_NOTICE,
    RecentIds,
    build_messages,
    compute_signature,
    fit_texts,
    quick_reply_items,
    resolve_setting,
    split_text,
    utf16_len,
    verify_signature,
)
from tests.line_stub import LineStub

ROOT = Path(__file__).resolve().parent.parent
SECRET = "kawasaki-test-secret"
TOKEN = "test-access-token"
USER = "U4af4980629a0b1c2d3e4f5a6b7c8d9e0"
REPLY, PUSH = "/v2/bot/message/reply", "/v2/bot/message/push"
GREETING = "こんにちは。川崎市の区役所についてのご質問にお答えします。"
ANSWER = "住民票の写しは、各区役所の区民課で取れます。\n出典: 区役所事務分掌 (2015-04-01)"
STATUS = {"status": "answered", "intent": "ask_counter",
          "sources": [{"doc": "001", "lines": [2053, 2053], "as_of": "2015-04-01", "status": "fact"}]}
ANSWER_ID = "kdmhcbpafgjnoeil"
RATEABLE = {"評価できる答え": "answered", "記載なし": "not_found", "聞き返し": "clarify"}
BUTTONS = ([{"title": "場所は？", "payload": "場所は？"},
            {"title": "とても長いボタンの題名で二十文字をこえてしまうもの", "payload": "長い質問"},
            {"title": "あいさつ", "payload": "/greet"}]
           + [{"title": f"質問{i}", "payload": f"質問{i}"} for i in range(15)])


# --------------------------------------------------------------------------- signature

def test_signature_matches_published_and_fixed_vectors():
    # published in line/line-bot-sdk-python tests/test_signature.py
    assert compute_signature("channel_secret", b"bodybodybodybody") == "/gg9a+LvFevTH1sd7XCQycD7tsWclCsInj7MhBHxN7k="
    body = ('{"destination":"Uxxxxxxxx","events":[{"type":"message","message":'
            '{"type":"text","text":"住民票はどこで取れますか"}}]}').encode()
    assert compute_signature(SECRET, body) == "vH2fuP5kgPAgwlFbQpcvR7iz7bpoFHb9qjU6POuLsXk="
    independent = base64.b64encode(hmac.new(SECRET.encode(), body, hashlib.sha256).digest()).decode()
    assert compute_signature(SECRET, body) == independent
    assert verify_signature(SECRET, body, independent)


@pytest.mark.parametrize("signature", [None, "", "invalid_signature", "vH2fuP5kgPAgwlFbQpcvR7iz7bpoFHb9qjU6POuLsXK=",
                                       "署名", compute_signature("other-secret", b"x")])
def test_wrong_or_missing_signature_is_refused(signature):
    assert not verify_signature(SECRET, b"x", signature)


def test_no_secret_means_nothing_verifies():
    assert not verify_signature("", b"x", compute_signature("", b"x"))


# --------------------------------------------------------------------------- messages

def test_split_text_prefers_line_breaks_and_sentence_ends():
    paragraph = "区役所の窓口のご案内です。" * 100  # 1,300 characters, no line break
    text = "\n".join([paragraph] * 9)  # 11,708 characters
    pieces = split_text(text)
    assert len(pieces) == 3 and all(utf16_len(p) <= MAX_TEXT_LENGTH for p in pieces)
    assert all(p.endswith("です。") for p in pieces)
    assert "".join(pieces).replace("\n", "") == text.replace("\n", "")
    sentences = split_text("あいうえお。" * 20, limit=50)
    assert all(len(p) <= 50 and p.endswith("。") for p in sentences)
    assert split_text("   ") == [] and split_text("短い") == ["短い"]


def test_split_text_counts_utf16_units_and_cuts_hard_when_it_must():
    pieces = split_text("😀" * 3000)  # 6,000 UTF-16 units
    assert [utf16_len(p) for p in pieces] == [5000, 1000]
    assert [len(p) for p in split_text("あ" * 12)] == [12]
    assert [len(p) for p in split_text("あ" * 12, limit=5)] == [5, 5, 2]


def test_fit_texts_merges_then_truncates():
    assert fit_texts(["a", "b", "c", "d", "e", "f", "g"]) == ["a\n\nb\n\nc\n\nd\n\ne\n\nf\n\ng"]
    huge = fit_texts(["あいう。\n" * 9000])  # 45,000 characters
    assert len(huge) == MAX_MESSAGES and all(utf16_len(t) <= MAX_TEXT_LENGTH for t in huge)
    assert huge[-1].endswith(TRUNCATION_NOTICE)
    assert fit_texts(["", "  ", None]) == []


def test_quick_replies_respect_line_limits():
    items = quick_reply_items(BUTTONS)
    assert len(items) == MAX_QUICK_REPLY_ITEMS
    actions = [i["action"] for i in items]
    assert len(items) == len(actions)
    assert all(i["type"] == "action" and len(a["label"]) <= MAX_LABEL_LENGTH
               for i, a in zip(items, actions, strict=True))
    assert actions[0] == {"type": "message", "label": "場所は？", "text": "場所は？"}
    assert actions[1]["label"].endswith("…") and actions[1]["text"] == "長い質問"
    assert actions[2] == {"type": "postback", "label": "あいさつ", "data": "/greet", "displayText": "あいさつ"}
    assert quick_reply_items([{"title": "x", "payload": "y" * 301}, {"title": "", "payload": ""},
                              {"title": "地図", "url": "javascript:alert(1)"}]) == []
    assert quick_reply_items([{"title": "地図", "url": "https://example.jp/map"}])[0]["action"]["type"] == "uri"


def test_build_messages_puts_quick_replies_on_the_last_message():
    messages = build_messages(["一つ目", "二つ目"], BUTTONS[:2])
    assert [m["text"] for m in messages] == ["一つ目", "二つ目"]
    assert "quickReply" not in messages[0] and len(messages[1]["quickReply"]["items"]) == 2
    assert build_messages([], BUTTONS[:1])[0]["quickReply"]
    assert build_messages([], []) == []


def test_recent_ids_forget_after_ttl_and_stay_bounded():
    now = [0.0]
    ids = RecentIds(capacity=3, ttl=10, clock=lambda: now[0])
    assert not ids.seen("a") and ids.seen("a")
    now[0] = 11
    assert not ids.seen("a")
    for key in "bcde":
        ids.seen(key)
    assert len(ids) == 3 and not ids.seen("b")


def test_settings_default_to_the_public_api(monkeypatch):
    assert resolve_setting(None, line_api.DEFAULT_API_BASE_URL) == "https://api.line.me"
    assert resolve_setting("", "https://api.line.me") == "https://api.line.me"
    assert resolve_setting("${NOPE_UNSET}", "d", environ={}) == "d"
    assert resolve_setting("${A}/x", environ={"A": "http://h"}) == "http://h/x"
    channel = LineInput.from_credentials({"channel_secret": "s", "channel_access_token": "t", "api_base_url": ""})
    assert channel.client.base_url == "https://api.line.me" and channel.name() == "line"


@pytest.mark.parametrize("env", [{},
                                 {"LINE_CHANNEL_SECRET": "", "LINE_CHANNEL_ACCESS_TOKEN": "", "LINE_API_BASE_URL": ""},
                                 {"LINE_CHANNEL_SECRET": "s3", "LINE_CHANNEL_ACCESS_TOKEN": "t3",
                                  "LINE_API_BASE_URL": "http://127.0.0.1:9/"}],
                         ids=["unset", "empty", "set"])
def test_rasa_loads_the_channel_from_credentials_yml(monkeypatch, env):
    from rasa.core.run import create_http_input_channels

    for key in ("LINE_CHANNEL_SECRET", "LINE_CHANNEL_ACCESS_TOKEN", "LINE_API_BASE_URL"):
        monkeypatch.delenv(key, raising=False)
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    channels = create_http_input_channels(None, str(ROOT / "credentials.yml"))
    assert {"line", "rest"} <= {c.name() for c in channels}
    line = next(c for c in channels if isinstance(c, LineInput))
    assert line.channel_secret == env.get("LINE_CHANNEL_SECRET", "")
    assert line.client.access_token == env.get("LINE_CHANNEL_ACCESS_TOKEN", "")
    assert line.client.base_url == (env.get("LINE_API_BASE_URL") or "https://api.line.me").rstrip("/")


# --------------------------------------------------------------------------- the channel over HTTP

class StubAgent:
    """Stands in for ``rasa.core.agent.Agent``: answers like the real bot does
    (text with buttons, then the custom status JSON) through the output channel."""

    def __init__(self) -> None:
        self.messages: list[UserMessage] = []
        self.release = asyncio.Event()
        self.release.set()

    async def handle_message(self, message: UserMessage) -> None:
        self.messages.append(message)
        await self.release.wait()
        out, sender = message.output_channel, message.sender_id
        if message.text == "/greet":
            await out.send_response(sender, {"text": GREETING, "buttons": BUTTONS[:3]})
            await out.send_response(sender, {"custom": {**STATUS, "status": "smalltalk", "intent": "greet"}})
        elif message.text == "長い答え":
            await out.send_response(sender, {"text": "\n".join(["川崎区役所のご案内です。" * 10] * 100)})  # 12,099
            await out.send_response(sender, {"custom": STATUS})
        elif message.text == "壊れて":
            raise RuntimeError("the bot broke")
        elif message.text in RATEABLE:
            await out.send_response(sender, {"text": ANSWER, "buttons": BUTTONS})
            await out.send_response(sender, {"custom": {**STATUS, "status": RATEABLE[message.text],
                                                        "answer": ANSWER_ID}})
        else:
            await out.send_response(sender, {"text": ANSWER, "buttons": BUTTONS, "image": None, "custom": None})
            await out.send_response(sender, {"text": None, "custom": STATUS})


@pytest.fixture(autouse=True)
def sanic_test_mode():
    """Sanic 21.12 rewrites its HTTP methods in place when an app starts
    ("touch-up"); a second app in the same process then fails unless the
    class-wide test mode (what sanic-testing sets) keeps the originals."""
    before, Sanic.test_mode = Sanic.test_mode, True
    yield
    Sanic.test_mode = before


def free_socket() -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    return sock


@contextlib.asynccontextmanager
async def serve(channel: LineInput, agent: StubAgent):
    """Run a Sanic app with the channel registered as ``rasa run`` does; yields its base URL."""
    app = Sanic(f"line_test_{uuid.uuid4().hex[:12]}", configure_logging=False)
    app.ctx.agent = agent
    register([channel], app, route="/webhooks/")
    sock = free_socket()
    server = await app.create_server(sock=sock, return_asyncio_server=True, access_log=False)
    await server.startup()
    await server.before_start()
    await server.after_start()
    try:
        yield f"http://127.0.0.1:{sock.getsockname()[1]}"
    finally:
        await server.before_stop()
        server.close()
        await server.wait_closed()
        await server.after_stop()
        sock.close()


def event(kind: str = "message", text: str = "住民票はどこで取れますか", **extra) -> dict:
    """A webhook event as LINE sends it (user source, active mode)."""
    body = {"type": kind, "mode": "active", "timestamp": 1763700000000,
            "source": {"type": "user", "userId": USER},
            "webhookEventId": "01" + uuid.uuid4().hex.upper()[:24],
            "deliveryContext": {"isRedelivery": False}, "replyToken": uuid.uuid4().hex}
    if kind == "message":
        body["message"] = {"id": "468789577898262530", "type": "text", "text": text, "quoteToken": "q"}
    body.update(extra)
    return body


def encode(events: list[dict]) -> bytes:
    return json.dumps({"destination": "Ubot", "events": events}, ensure_ascii=False).encode("utf-8")


async def post(base: str, body: bytes, signature: str | None = "sign") -> aiohttp.ClientResponse:
    headers = {"Content-Type": "application/json"}
    if signature == "sign":
        signature = compute_signature(SECRET, body)
    if signature is not None:
        headers["X-Line-Signature"] = signature
    async with aiohttp.ClientSession() as session:
        async with session.post(base + "/webhooks/line/webhook", data=body, headers=headers) as resp:
            await resp.read()
            return resp


def run(scenario, reject_reply_tokens=False):
    """Run ``await scenario(base_url, line_stub, agent, channel)`` with everything up."""
    async def main():
        async with LineStub() as line:
            line.reject_reply_tokens = reject_reply_tokens
            channel = LineInput(SECRET, TOKEN, line.url + "/", request_timeout=5)
            agent = StubAgent()
            try:
                async with serve(channel, agent) as base:
                    await scenario(base, line, agent, channel)
                    assert await channel.wait_idle(5)
            finally:
                await channel.client.close()

    asyncio.run(asyncio.wait_for(main(), 30))


def texts_of(call) -> list[str]:
    return [m["text"] for m in call.json["messages"]]


def test_health():
    async def scenario(base, line, agent, channel):
        async with aiohttp.ClientSession() as session:
            async with session.get(base + "/webhooks/line/") as resp:
                assert resp.status == 200 and (await resp.json()) == {"status": "ok"}

    run(scenario)


@pytest.mark.parametrize("signature", [None, "", "forged", compute_signature("not-the-secret", b"{}")],
                         ids=["missing", "empty", "garbage", "other-secret"])
def test_bad_signature_is_401_and_nothing_happens(signature):
    async def scenario(base, line, agent, channel):
        body = encode([event()])
        resp = await post(base, body, signature)
        assert resp.status == 401
        await asyncio.sleep(0.2)
        assert line.calls == [] and agent.messages == [] and not channel.pending

    run(scenario)


def test_signature_of_another_body_is_refused():
    async def scenario(base, line, agent, channel):
        resp = await post(base, encode([event(text="改ざん")]), compute_signature(SECRET, encode([event()])))
        assert resp.status == 401
        await asyncio.sleep(0.2)
        assert line.calls == [] and agent.messages == []

    run(scenario)


def test_text_message_is_acknowledged_at_once_then_answered_in_one_reply():
    async def scenario(base, line, agent, channel):
        agent.release.clear()  # the bot is "thinking"
        ev = event()
        resp = await asyncio.wait_for(post(base, encode([ev])), 2)
        assert resp.status == 200
        await asyncio.sleep(0.1)
        assert line.calls == [] and len(agent.messages) == 1  # acknowledged before the answer exists
        agent.release.set()
        calls = await line.wait_for_calls(1)
        await asyncio.sleep(0.2)
        assert len(line.calls) == 1
        call = calls[0]
        assert call.path == REPLY and call.status == 200
        assert call.headers["Authorization"] == f"Bearer {TOKEN}"
        assert call.json["replyToken"] == ev["replyToken"]
        messages = call.json["messages"]
        assert 1 <= len(messages) <= MAX_MESSAGES
        assert texts_of(call) == [ANSWER]
        items = messages[-1]["quickReply"]["items"]
        assert len(items) <= MAX_QUICK_REPLY_ITEMS
        assert all(len(i["action"]["label"]) <= MAX_LABEL_LENGTH for i in items)
        assert all(i["action"]["type"] in ("message", "postback") for i in items)
        sent = json.dumps(call.json, ensure_ascii=False)
        assert '"status"' not in sent and '"sources"' not in sent and "answered" not in sent
        message = agent.messages[0]
        assert (message.text, message.sender_id, message.input_channel) == ("住民票はどこで取れますか", USER, "line")
        assert message.metadata["line"]["webhook_event_id"] == ev["webhookEventId"]

    run(scenario)


def test_group_messages_are_one_conversation_per_group():
    async def scenario(base, line, agent, channel):
        ev = event(source={"type": "group", "groupId": "Cgroup1", "userId": USER})
        assert (await post(base, encode([ev]))).status == 200
        await line.wait_for_calls(1)
        assert agent.messages[0].sender_id == "Cgroup1"

    run(scenario)


def test_follow_gets_the_greeting():
    async def scenario(base, line, agent, channel):
        ev = event("follow")
        assert (await post(base, encode([ev]))).status == 200
        call = (await line.wait_for_calls(1))[0]
        assert agent.messages[0].text == "/greet"
        assert call.path == REPLY and call.json["replyToken"] == ev["replyToken"]
        assert texts_of(call) == [GREETING] and len(call.json["messages"][0]["quickReply"]["items"]) == 3

    run(scenario)


@pytest.mark.parametrize("message", [
    {"id": "1", "type": "sticker", "packageId": "446", "stickerId": "1988", "stickerResourceType": "STATIC"},
    {"id": "2", "type": "image", "contentProvider": {"type": "line"}},
    {"id": "3", "type": "location", "title": "川崎区役所", "address": "川崎市川崎区東田町8", "latitude": 35.53,
     "longitude": 139.70},
], ids=["sticker", "image", "location"])
def test_non_text_gets_the_polite_text_only_reply_without_the_bot(message):
    async def scenario(base, line, agent, channel):
        ev = event(message=message)
        assert (await post(base, encode([ev]))).status == 200
        call = (await line.wait_for_calls(1))[0]
        assert call.path == REPLY and call.json["replyToken"] == ev["replyToken"]
        assert texts_of(call) == [TEXT_ONLY_REPLY] and TEXT_ONLY_REPLY.startswith("テキストでご質問ください。")
        assert agent.messages == []

    run(scenario)


def test_postback_data_reaches_the_bot():
    async def scenario(base, line, agent, channel):
        ev = event("postback", postback={"data": "/greet"})
        assert (await post(base, encode([ev]))).status == 200
        call = (await line.wait_for_calls(1))[0]
        assert agent.messages[0].text == "/greet" and texts_of(call) == [GREETING]

    run(scenario)


@pytest.mark.parametrize("text", list(RATEABLE))
def test_answered_and_not_found_replies_offer_ratings_as_postbacks(text):
    async def scenario(base, line, agent, channel):
        assert (await post(base, encode([event(text=text)]))).status == 200
        call = (await line.wait_for_calls(1))[0]
        items = [i["action"] for i in call.json["messages"][-1]["quickReply"]["items"]]
        assert len(items) == MAX_QUICK_REPLY_ITEMS  # the answer's own buttons make room for the two ratings
        rating_items = [a for a in items if a.get("data", "").startswith("/rate_answer")]
        if RATEABLE[text] == "clarify":
            assert rating_items == []
            return
        assert items[-2:] == rating_items == [
            {"type": "postback", "label": "役に立った", "data": ratings.payload("up", ANSWER_ID),
             "displayText": "役に立った"},
            {"type": "postback", "label": "役に立たなかった", "data": ratings.payload("down", ANSWER_ID),
             "displayText": "役に立たなかった"}]
        # the postback LINE sends when the citizen taps one goes to the bot as the rating message
        tap = event("postback", postback={"data": rating_items[1]["data"]})
        assert (await post(base, encode([tap]))).status == 200
        await line.wait_for_calls(2)
        assert agent.messages[-1].text == '/rate_answer{"rating":"down","answer":"kdmhcbpafgjnoeil"}'

    run(scenario)


def test_unfollow_standby_and_verification_requests_are_ignored():
    async def scenario(base, line, agent, channel):
        assert (await post(base, encode([]))).status == 200  # "Verify" button in the LINE console
        unfollow = event("unfollow")
        del unfollow["replyToken"]
        standby = event(mode="standby")
        del standby["replyToken"]
        assert (await post(base, encode([unfollow, standby, event("join")]))).status == 200
        await asyncio.sleep(0.3)
        assert line.calls == [] and agent.messages == []

    run(scenario)


def test_malformed_body_with_valid_signature_is_400():
    async def scenario(base, line, agent, channel):
        assert (await post(base, b"{not json")).status == 400
        assert (await post(base, b'{"events": {}}')).status == 400
        assert line.calls == [] and agent.messages == []

    run(scenario)


def test_redelivered_event_is_answered_once():
    async def scenario(base, line, agent, channel):
        ev = event()
        assert (await post(base, encode([ev]))).status == 200
        await line.wait_for_calls(1)
        again = {**ev, "deliveryContext": {"isRedelivery": True}}
        assert (await post(base, encode([again]))).status == 200
        await asyncio.sleep(0.3)
        assert len(agent.messages) == 1 and len(line.calls) == 1

    run(scenario)


def test_long_answer_is_split_within_line_limits():
    async def scenario(base, line, agent, channel):
        assert (await post(base, encode([event(text="長い答え")]))).status == 200
        call = (await line.wait_for_calls(1))[0]
        texts = texts_of(call)
        assert 3 <= len(texts) <= MAX_MESSAGES
        assert all(utf16_len(t) <= MAX_TEXT_LENGTH for t in texts)
        assert sum(len(t) for t in texts) >= 12_000 - 100  # nothing lost but line breaks at the cuts

    run(scenario)


def test_expired_reply_token_falls_back_to_push():
    async def scenario(base, line, agent, channel):
        ev = event()
        assert (await post(base, encode([ev]))).status == 200
        calls = await line.wait_for_calls(2)
        assert [c.path for c in calls] == [REPLY, PUSH] and calls[0].status == 400
        push = calls[1]
        assert push.status == 200 and push.json["to"] == USER
        assert push.headers["Authorization"] == f"Bearer {TOKEN}" and push.headers.get("X-Line-Retry-Key")
        assert push.json["messages"] == calls[0].json["messages"]

    run(scenario, reject_reply_tokens=True)


def test_bot_failure_gets_an_apology():
    async def scenario(base, line, agent, channel):
        assert (await post(base, encode([event(text="壊れて")]))).status == 200
        call = (await line.wait_for_calls(1))[0]
        assert texts_of(call) == [ERROR_REPLY]

    run(scenario)


def test_several_events_in_one_request_keep_their_order():
    async def scenario(base, line, agent, channel):
        evs = [event(text="一つ目"), event(text="二つ目"), event("follow", source={"type": "user", "userId": "Uother"})]
        assert (await post(base, encode(evs))).status == 200
        calls = await line.wait_for_calls(3)
        assert [m.text for m in agent.messages if m.sender_id == USER] == ["一つ目", "二つ目"]
        assert {c.json["replyToken"] for c in calls} == {e["replyToken"] for e in evs}

    run(scenario)


def test_output_channel_for_bot_initiated_messages_pushes():
    async def main():
        async with LineStub() as line:
            channel = LineInput(SECRET, TOKEN, line.url)
            out = channel.get_output_channel()
            assert isinstance(out, LineOutput)
            await out.send_response(USER, {"text": "お知らせです。"})
            await out.send_response(USER, {"custom": STATUS})
            await channel.client.close()
            assert [(c.path, c.json["to"], texts_of(c)) for c in line.calls] == [(PUSH, USER, ["お知らせです。"])]

    asyncio.run(main())
