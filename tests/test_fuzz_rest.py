"""Faults and hostile input over the real REST channel.

* A fuzz run: more than 1,000 hostile messages (oversized, control characters,
  HTML/script, SQL, FTS5 syntax, Rasa's ``/intent`` syntax, emoji, RTL, lone
  punctuation and seeded random Unicode), sent by 8 threads for 80 senders:
  no HTTP 500, every reply a JSON list of well-formed messages with exactly one
  status message and some text, and no ``Traceback`` or ``ERROR`` in either
  server's log.
* Malformed requests get 4xx, never 500.
* The per-sender rate limit, and other senders not being affected.
* The action server stopped: a polite message and a status instead of
  silence; restarted on the same port: real answers again, without
  restarting Rasa.
* A missing or corrupt knowledge base stops ``rasa run actions`` at start-up
  with a message naming the file and ``python -m knowledge build``.

The servers run closed, as ``make run`` starts them (``bot.servers`` starts
Rasa through ``bot.rasa_run``: HTTP API off, CORS and socket.io only for
``WIDGET_ORIGINS``, on 127.0.0.1); ``test_fuzz_servers_run_closed`` checks it.
"""
from __future__ import annotations

import collections
import json
import os
import random
import re
import subprocess
import time
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from conftest import free_port

from bot.channels.rest import RATE_LIMITED_TEXT, UNAVAILABLE_TEXT
from bot.servers import BIN, ROOT

MODEL = ROOT / "models" / "kuyakusho.tar.gz"
SEED = 20261121
FUZZ_MESSAGES = 1040
SENDERS = 80  # 13 messages each: well under the limit of 20 per 60 s, so none is hidden by it
THREADS = 8
CLIENT_TIMEOUT = 60.0
STATUSES = {"answered", "not_found", "clarify", "smalltalk"}
BAD_LOG_LINE = re.compile(r"Traceback|\bERROR\b|\bCRITICAL\b|\"level\": \"(?:error|critical)\"")


def post(url: str, body: bytes, timeout: float = CLIENT_TIMEOUT) -> tuple[int, object]:
    """(HTTP status, parsed JSON body or the raw text) of a POST."""
    req = urllib.request.Request(url, data=body, headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            status, raw = resp.status, resp.read()
    except urllib.error.HTTPError as err:
        status, raw = err.code, err.read()
    try:
        return status, json.loads(raw.decode("utf-8"))
    except ValueError:
        return status, raw.decode("utf-8", "replace")


def send(url: str, sender: str, message: object) -> tuple[int, object]:
    return post(url, json.dumps({"sender": sender, "message": message}).encode("utf-8"))


class LogMark:
    """Reads what the server logs gained since the mark was taken."""

    def __init__(self, *paths: Path, from_start: bool = False) -> None:
        self.paths = paths
        self.offsets = {p: 0 if from_start or not p.exists() else p.stat().st_size for p in paths}

    def new_text(self) -> dict[str, str]:
        out = {}
        for path in self.paths:
            with path.open("rb") as fh:
                fh.seek(self.offsets[path])
                out[path.name] = fh.read().decode("utf-8", "replace")
        return out

    def bad_lines(self) -> list[str]:
        return [f"{name}: {line}" for name, text in self.new_text().items()
                for line in text.splitlines() if BAD_LOG_LINE.search(line)]


# --------------------------------------------------------------------------- hostile input

def hostile_messages(n: int = FUZZ_MESSAGES, seed: int = SEED) -> list[str]:
    """``n`` hostile messages, the same for a given ``seed``."""
    rng = random.Random(seed)
    fixed = [
        # oversized (the channel cuts at max_message_chars)
        "住民票" * 4000, "x" * 60_000, "😀" * 6000, "あ" * 5001, ("区役所はどこ？" * 900)[:5000],
        "\n".join(["住民票はどこで取れますか"] * 500), " " * 20_000 + "住民票", "ﷺ" * 3000, "㌀" * 5000,
        # control characters
        "\x00", "\x00\x01\x02\x03\x04\x05\x06\x07\x08", "\x1b[31m赤\x1b[0m", "\r\n\r\n", "\t\t\t", "\x7f\x85\x9f",
        "住民票\x00はどこ", "\u2028\u2029", "\x0b\x0c", "\ufffe\uffff",
        # HTML / script
        "<script>alert(1)</script>", "<img src=x onerror=alert(1)>", "<b>住民票</b>はどこ？", "&lt;script&gt;",
        "<br>住民票<br>", "javascript:alert(document.cookie)", "<iframe src='//evil'></iframe>", "<!--",
        "{{7*7}}", "${jndi:ldap://x/a}", "%s%s%s%n", "../../etc/passwd", "<?xml version='1.0'?><!DOCTYPE x>",
        # SQL
        "'; DROP TABLE events; --", "1 OR 1=1", "\" OR \"\"=\"", "' UNION SELECT * FROM sqlite_master --",
        "住民票' OR '1'='1", "Robert'); DELETE FROM facts;--", "\\'; select load_extension('x'); --",
        # FTS5 syntax
        '"', '""', '"""', "NEAR(", "NEAR(住民票 区民課, 2)", "住民票*", "* OR *", "OR", "AND", "NOT", "住民票 OR",
        '"住民票', "^住民票", "body:住民票", "{住民票 区民課}: x", "住民票 NOT 区民課", "(((", ")))", "*", "-住民票",
        "住民票 AND (区民課 OR", "NEAR(\"a\" \"b\"", "col:*", "'", ";", "\\",
        # Rasa's /intent{entities} syntax, which a citizen can type
        "/greet", "/restart", "/session_start", "/ask_counter", '/ask_counter{"service": "住民票"}',
        "/ask_counter{broken json", "/nlu_fallback", "/no_such_intent", "/", "//", "/back", "/stop",
        # emoji, RTL, zero-width
        "😀", "👨\u200d👩\u200d👧\u200d👦" * 50, "🇯🇵🇯🇵🇯🇵", "🙏住民票🙏", "#️⃣*️⃣", "\U0001fae0" * 100,
        "مرحبا أين مكتب البلدية؟", "שלום, איפה העירייה?", "\u202e住民票はどこ\u202c", "\u200f\u200e\u061c",
        "\u200b\u200c\u200d\ufeff", "住\u200b民\u200b票\u200bは\u200dどこ", "\u2066住民票\u2069",
        # lone punctuation and near-empty
        "?", "？", "!", "！", "。", "、", "...", "・", "「」", "()", "-", "~", "〜", "ー", "　", "", " ",
        "ｗ", "w", "草", "0", "０", "١٢٣", "??????????", "？？？", "!!!!!!!!!!",
    ]
    questions = ["住民票はどこで取れますか", "ワークショップの締め切りは？", "国民年金の手続きはどこ",
                 "区役所は土曜日も開いていますか", "保険年金課の電話番号", "生活保護の相談"]
    out = list(fixed)
    pools = [(0x20, 0x7E), (0x80, 0x2FF), (0x300, 0x36F), (0x590, 0x6FF), (0x2000, 0x206F), (0x3000, 0x30FF),
             (0x4E00, 0x9FFF), (0xFF00, 0xFFEF), (0x1F300, 0x1FAFF), (0x20000, 0x2A6DF), (0xE000, 0xF8FF),
             (0xE0000, 0xE007F), (0x0, 0x1F)]
    while len(out) < n:
        kind = rng.random()
        if kind < 0.55:  # random Unicode from a few pools (no surrogates)
            lo, hi = rng.choice(pools)
            text = "".join(chr(rng.randint(lo, hi)) for _ in range(rng.choice([1, 2, 5, 20, 80, 300])))
        elif kind < 0.75:  # any code point at all
            text = "".join(chr(c) for c in (rng.randint(0, 0x10FFFF) for _ in range(rng.randint(1, 60)))
                           if not 0xD800 <= c <= 0xDFFF)
        elif kind < 0.9:  # a real question with something hostile around or inside it
            q = rng.choice(questions)
            junk = rng.choice(fixed[9:])[:200]
            cut = rng.randint(0, len(q))
            text = rng.choice([q + junk, junk + q, q[:cut] + junk + q[cut:]])
        else:  # a mix of fixed pieces
            text = "".join(rng.choice(fixed)[:100] for _ in range(rng.randint(2, 6)))
        out.append(text)
    return out[:n]


def well_formed(sender: str, reply: object) -> list[str]:
    """What is wrong with one turn's reply (empty when nothing is)."""
    if not isinstance(reply, list):
        return [f"not a JSON list: {reply!r:.200}"]
    problems = []
    for message in reply:
        if not isinstance(message, dict) or message.get("recipient_id") != sender:
            problems.append(f"bad recipient: {message!r:.200}")
        elif not any(message.get(k) for k in ("text", "buttons", "custom")):
            problems.append(f"no text, buttons or custom: {message!r:.200}")
    statuses = [m["custom"] for m in reply if isinstance(m, dict) and m.get("custom")]
    if len(statuses) != 1:
        problems.append(f"{len(statuses)} status messages")
    elif statuses[0].get("status") not in STATUSES or not isinstance(statuses[0].get("sources"), list):
        problems.append(f"bad status {statuses[0]!r}")
    if not any(isinstance(m, dict) and m.get("text") for m in reply):
        problems.append("no text (silence)")
    return problems


# --------------------------------------------------------------------------- the servers

@pytest.fixture(scope="module")
def servers(tmp_path_factory, kb_path):
    from bot.servers import started

    if not MODEL.exists():
        pytest.fail(f"no trained model at {MODEL}: run `make train` first")
    logs = tmp_path_factory.mktemp("fuzz-logs")
    with started(free_port(5505), free_port(5555), log_dir=logs,
                 env={"KB_PATH": str(kb_path), "KUYAKUSHO_TODAY": "2026-11-21",
                      "TRACKER_DB": str(logs / "tracker.db")}) as running:
        bad = LogMark(running.rasa_log, running.actions_log, from_start=True).bad_lines()
        assert not bad, "errors while starting:\n" + "\n".join(bad)
        yield running


@pytest.mark.integration
def test_fuzz_servers_run_closed(servers):
    base = servers.url.split("/webhooks")[0]
    for method, path in (("GET", "/conversations/fuzz-00/tracker"), ("DELETE", "/model"), ("GET", "/status")):
        req = urllib.request.Request(base + path, method=method)
        with pytest.raises(urllib.error.HTTPError) as err:
            urllib.request.urlopen(req, timeout=30)
        assert err.value.code == 404, (method, path)


def test_hostile_messages_are_deterministic():
    first, again = hostile_messages(), hostile_messages()
    assert first == again and len(first) == FUZZ_MESSAGES and len(set(first)) > 900


@pytest.mark.integration
def test_fuzz_rest_channel(servers):
    mark = LogMark(servers.rasa_log, servers.actions_log)
    messages = hostile_messages()
    jobs = [(f"fuzz-{i % SENDERS:02d}", text) for i, text in enumerate(messages)]
    started_at = time.monotonic()

    def one(job):
        sender, text = job
        try:
            return sender, text, *send(servers.url, sender, text)
        except Exception as exc:  # a timeout or a dropped connection is a failure too
            return sender, text, None, repr(exc)

    with ThreadPoolExecutor(max_workers=THREADS) as pool:
        results = list(pool.map(one, jobs))
    elapsed = time.monotonic() - started_at
    time.sleep(1.0)  # let the last log lines reach the files

    codes = collections.Counter(code for _, _, code, _ in results)
    statuses = collections.Counter(
        next((m["custom"].get("status") for m in reply if isinstance(m, dict) and m.get("custom")), None)
        for _, _, code, reply in results if code == 200 and isinstance(reply, list))
    print(f"\nfuzz: {len(results)} messages from {SENDERS} senders in {elapsed:.1f} s "
          f"({len(results) / elapsed:.1f}/s); HTTP {dict(codes)}; statuses {dict(statuses)}")
    failures = [f"{code} {text[:60]!r}: {reply!r:.300}" for _, text, code, reply in results if code != 200]
    for sender, text, code, reply in results:
        if code == 200:
            failures += [f"{text[:60]!r}: {p}" for p in well_formed(sender, reply)]
            if any(isinstance(m, dict) and m.get("text") == RATE_LIMITED_TEXT for m in reply):
                failures.append(f"{text[:60]!r}: rate limited (the limit hid a message)")
    assert not failures, f"{len(failures)} bad replies:\n" + "\n".join(failures[:30])
    assert codes == {200: FUZZ_MESSAGES}
    bad = mark.bad_lines()
    assert not bad, "errors in the server logs:\n" + "\n".join(bad[:30])


@pytest.mark.integration
@pytest.mark.parametrize("body, expected", [
    (b"{not json", 400), (b"[]", 400), (b'"text"', 400), (b"null", 400), (b"42", 400),
    (json.dumps({"sender": "m-1", "message": 42}).encode(), 400),
    (json.dumps({"sender": "m-1", "message": ["a"]}).encode(), 400),
    (json.dumps({"sender": {"a": 1}, "message": "住民票"}).encode(), 400),
    (json.dumps({"sender": "s" * 256, "message": "住民票"}).encode(), 400),
    (json.dumps({"sender": "m-2"}).encode(), 200),
    (json.dumps({"sender": "m-3", "message": None}).encode(), 200),
    (json.dumps({"sender": 12345, "message": "住民票はどこ"}).encode(), 200),
    (json.dumps({"message": "住民票はどこ"}).encode(), 200),
    (json.dumps({"sender": "m-4", "message": "住民票", "metadata": {"x": [1, {"y": None}]}}).encode(), 200),
], ids=["not-json", "list", "string", "null", "number", "message-number", "message-list", "sender-object",
        "sender-too-long", "no-message", "message-null", "sender-number", "no-sender", "metadata"])
def test_malformed_requests_are_refused_not_crashed(servers, body, expected):
    code, reply = post(servers.url, body)
    assert code == expected, reply
    if code == 200:
        sender = str(json.loads(body).get("sender", "default"))
        assert not well_formed(sender, reply), reply


@pytest.mark.integration
def test_rate_limit_per_sender(servers):
    replies = [send(servers.url, "rl-1", "こんにちは") for _ in range(22)]
    assert all(code == 200 for code, _ in replies)
    limited = [i for i, (_, reply) in enumerate(replies) if any(m.get("text") == RATE_LIMITED_TEXT for m in reply)]
    assert limited == [20, 21]
    for _, reply in replies[20:]:
        assert [m.get("custom") for m in reply if m.get("custom")] == [
            {"status": "not_found", "intent": "rate_limited", "sources": []}]
        assert RATE_LIMITED_TEXT.startswith("短時間に多くのメッセージを受け付けたため、少し時間をおいてから")
    code, other = send(servers.url, "rl-2", "住民票はどこで取れますか")
    assert code == 200 and "区民課" in "\n".join(m.get("text") or "" for m in other)
    assert [m["custom"]["status"] for m in other if m.get("custom")] == ["answered"]


@pytest.mark.integration
def test_action_server_down_gets_a_polite_reply_then_answers_resume(servers):
    servers.stop_actions()
    try:
        code, reply = send(servers.url, "down-1", "住民票はどこで取れますか")
        assert code == 200, reply
        assert [m.get("text") for m in reply if m.get("text")] == [UNAVAILABLE_TEXT]
        assert "お住まいの区役所の窓口" in UNAVAILABLE_TEXT
        assert [m["custom"] for m in reply if m.get("custom")] == [
            {"status": "not_found", "intent": "unavailable", "sources": []}]
        assert all(m.get("recipient_id") == "down-1" for m in reply)
    finally:
        servers.start_actions()
    code, reply = send(servers.url, "down-1", "住民票はどこで取れますか")
    assert code == 200 and "区民課" in "\n".join(m.get("text") or "" for m in reply)
    assert [m["custom"]["status"] for m in reply if m.get("custom")] == ["answered"]


# --------------------------------------------------------------------------- the knowledge base at start-up

@pytest.mark.parametrize("kind", ["missing", "corrupt", "not-a-kb"])
def test_action_server_refuses_to_start_without_a_usable_knowledge_base(tmp_path, kind):
    path = tmp_path / "kb.sqlite"
    if kind == "corrupt":
        path.write_bytes(b"SQLite format 3\x00" + bytes(range(256)) * 64)
    elif kind == "not-a-kb":
        import sqlite3

        with sqlite3.connect(path) as conn:
            conn.execute("create table unrelated (x)")
    env = {**os.environ, "KB_PATH": str(path), "RASA_TELEMETRY_ENABLED": "false", "PYTHONPATH": str(ROOT)}
    proc = subprocess.run([str(BIN / "rasa"), "run", "actions", "--actions", "bot.actions", "--port",
                           str(free_port(5599))], cwd=ROOT, env=env, capture_output=True, text=True, timeout=180)
    output = proc.stdout + proc.stderr
    assert proc.returncode != 0, output[-2000:]
    assert "KnowledgeBaseError" in output and str(path) in output, output[-2000:]
    assert "python -m knowledge build" in output, output[-2000:]
    assert "Action endpoint is up and running" not in output


# --------------------------------------------------------------------------- the channel without servers

def test_sliding_window_limiter():
    from bot.channels.rest import SlidingWindowLimiter

    now = [0.0]
    limiter = SlidingWindowLimiter(3, 10.0, clock=lambda: now[0], max_keys=2)
    assert [limiter.allow("a") for _ in range(4)] == [True, True, True, False]
    assert limiter.allow("b") and limiter.retry_after("a") == 10.0
    now[0] = 5.0
    assert not limiter.allow("a") and limiter.retry_after("a") == 5.0
    now[0] = 10.0  # a whole window later the first three no longer count
    assert [limiter.allow("a") for _ in range(4)] == [True, True, True, False]
    now[0] = 100.0
    assert limiter.allow("c") and len(limiter._events) <= 2  # idle keys are forgotten, at most max_keys kept
    with pytest.raises(ValueError):
        SlidingWindowLimiter(0, 10.0)


def run_turn(channel, behaviour, sender="u1", text="住民票はどこ"):
    """Reply of ``channel.guarded`` for a fake bot that ``behaviour``s."""
    import asyncio

    from rasa.core.channels.channel import CollectingOutputChannel, UserMessage

    async def bot(message):
        out = message.output_channel
        if behaviour == "raise":
            raise RuntimeError("the action server is down")
        if behaviour in ("text", "text+status"):
            await out.send_response(message.sender_id, {"text": "答え", "buttons": [{"title": "t", "payload": "p"}]})
        if behaviour == "text+status":
            await out.send_response(message.sender_id, {"custom": {"status": "answered", "intent": "x", "sources": []}})

    collector = CollectingOutputChannel()
    asyncio.run(channel.guarded(bot)(UserMessage(text, collector, sender)))
    return collector.messages


def test_channel_never_leaves_a_turn_silent():
    from bot.channels.rest import RestInput

    channel = RestInput(max_messages=100)
    unavailable = [{"recipient_id": "u1", "text": UNAVAILABLE_TEXT},
                   {"recipient_id": "u1", "custom": {"status": "not_found", "intent": "unavailable", "sources": []}}]
    assert run_turn(channel, "nothing") == unavailable
    assert run_turn(channel, "raise") == unavailable
    text_only = run_turn(channel, "text")
    assert text_only[-1] == {"recipient_id": "u1", "custom": {"status": "not_found", "intent": "", "sources": []}}
    assert len(run_turn(channel, "text+status")) == 2
    for behaviour in ("nothing", "raise", "text", "text+status"):
        assert not well_formed("u1", run_turn(channel, behaviour))


def test_channel_rate_limit_reply():
    from bot.channels.rest import RestInput

    now = [0.0]
    channel = RestInput(max_messages=2, per_seconds=60, clock=lambda: now[0])
    assert len(run_turn(channel, "text+status")) == 2 and len(run_turn(channel, "text+status")) == 2
    limited = run_turn(channel, "text+status")
    assert limited == [{"recipient_id": "u1", "text": RATE_LIMITED_TEXT},
                       {"recipient_id": "u1", "custom": {"status": "not_found", "intent": "rate_limited",
                                                         "sources": []}}]
    assert run_turn(channel, "text+status", sender="u2")[0]["text"] == "答え"
    now[0] = 61.0
    assert run_turn(channel, "text+status")[0]["text"] == "答え"


def test_channel_options_from_credentials(monkeypatch):
    from bot.channels.rest import RestInput

    channel = RestInput.from_credentials(None)
    assert (channel.limiter.max_events, channel.limiter.window, channel.max_message_chars) == (20, 60.0, 1000)
    monkeypatch.setenv("REST_MAX", "5")
    channel = RestInput.from_credentials({"max_messages": "${REST_MAX}", "per_seconds": 10, "max_message_chars": 50})
    assert (channel.limiter.max_events, channel.limiter.window, channel.max_message_chars) == (5, 10.0, 50)
    assert RestInput.name() == "rest" and channel.url_prefix() == "rest"


def test_credentials_yml_maps_the_channel_to_the_same_webhook(monkeypatch):
    from rasa.core.run import create_http_input_channels

    from bot.channels.rest import RestInput

    channels = create_http_input_channels(None, str(ROOT / "credentials.yml"))
    (rest,) = [c for c in channels if c.name() == "rest"]
    assert isinstance(rest, RestInput) and rest.limiter.max_events == 20 and rest.limiter.window == 60.0
