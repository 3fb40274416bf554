"""Two Sanic workers behind one port, with the Redis lock store (``make run``'s default).

Starts Debian's ``redis-server`` on a Unix socket and the servers of
``bot/servers.py`` with ``REDIS_URL`` and ``SANIC_WORKERS=2``.  HTTP
keep-alive keeps a connection on the worker that accepted it; which worker
that is, is read from ``/proc`` (the worker process holding the server end of
the connection).  One sender's turns then go alternately through a connection
on each worker: the topic carries over, and turns sent to both workers at the
same time are processed one after the other (Redis lock), none lost.
"""
from __future__ import annotations

import http.client
import json
import os
import secrets
import threading
import time
import uuid
from pathlib import Path

import pytest
from conftest import custom, free_port, texts

from bench.memory import descendants
from bot.servers import ROOT, started

pytestmark = pytest.mark.integration
MODEL = ROOT / "models" / "kuyakusho.tar.gz"
WORKERS = 2


@pytest.fixture(scope="module")
def servers(redis_url, kb_path, tmp_path_factory):
    if not MODEL.exists():
        pytest.fail(f"no trained model at {MODEL}: run `make train` first")
    logs = tmp_path_factory.mktemp("logs")
    env = {"KB_PATH": str(kb_path), "KUYAKUSHO_TODAY": "2026-11-21", "REDIS_URL": redis_url,
           "SANIC_WORKERS": str(WORKERS)}
    with started(free_port(), free_port(), log_dir=logs, env=env, timeout=420, api_token=API_TOKEN) as running:
        yield running
    for log in Path(logs).glob("*.log"):
        text = log.read_text(errors="replace")
        assert "Traceback" not in text, f"exception in {log.name}:\n{text[-3000:]}"


API_TOKEN = secrets.token_urlsafe(24)  # the tests read trackers through Rasa's HTTP API


def socket_inodes(pid: int) -> set[str]:
    """Inodes of the sockets process ``pid`` holds open."""
    out = set()
    fd_dir = Path(f"/proc/{pid}/fd")
    for fd in fd_dir.iterdir() if fd_dir.exists() else ():
        try:
            target = os.readlink(fd)
        except OSError:
            continue
        if target.startswith("socket:["):
            out.add(target[8:-1])
    return out


def server_side_inode(server_port: int, client_port: int) -> str | None:
    """Inode of the server end of the TCP connection from ``client_port`` to ``server_port``."""
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            fields = line.split()
            local, remote = int(fields[1].rsplit(":", 1)[1], 16), int(fields[2].rsplit(":", 1)[1], 16)
            if local == server_port and remote == client_port:
                return fields[9]
    return None


class Connection:
    """A keep-alive HTTP connection to the Rasa server, and the worker serving it."""

    def __init__(self, port: int, workers: list[int]):
        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
        self.request("GET", "/")  # a worker has accepted it once this is answered
        inode = server_side_inode(port, self.conn.sock.getsockname()[1])
        self.worker = next((w for w in workers if inode in socket_inodes(w)), None)

    def request(self, method: str, path: str, body: dict | None = None):
        data = json.dumps(body).encode("utf-8") if body is not None else None
        self.conn.request(method, path, body=data, headers={"Content-Type": "application/json"})
        resp = self.conn.getresponse()
        raw = resp.read()
        assert resp.status == 200, raw[:500]
        return json.loads(raw) if raw.startswith((b"[", b"{")) else raw

    def say(self, sender: str, message: str) -> list[dict]:
        return self.request("POST", "/webhooks/rest/webhook", {"sender": sender, "message": message})


@pytest.fixture(scope="module")
def on_each_worker(servers):
    """One keep-alive connection held by each worker: ``[conn_a, conn_b]``."""
    workers = [p for p in descendants(servers.rasa.pid) if p != servers.rasa.pid]
    assert len(workers) == WORKERS, f"expected {WORKERS} worker processes, found {workers}"
    found: dict[int, Connection] = {}
    spare = []
    deadline = time.monotonic() + 180  # a worker still loading the model accepts nothing yet
    while len(found) < WORKERS and time.monotonic() < deadline:
        conn = Connection(servers.rasa_port, workers)
        if conn.worker is not None and conn.worker not in found:
            found[conn.worker] = conn
        else:
            spare.append(conn)
            if len(spare) % 10 == 0:
                time.sleep(1.0)
    assert len(found) == WORKERS, f"connections reached only workers {sorted(found)} of {workers}"
    yield list(found.values())
    for conn in [*found.values(), *spare]:
        conn.conn.close()


def test_consecutive_turns_on_different_workers_keep_the_topic(on_each_worker):
    a, b = on_each_worker
    assert a.worker != b.worker
    sender = f"wk-{uuid.uuid4().hex[:8]}"
    first = a.say(sender, "ミライプロジェクトのワークショップについて知りたい")
    status = custom(first)
    assert status["status"] == "answered", first
    doc = status["sources"][0]["doc"]

    second = b.say(sender, "しめきりはいつ？")  # names no event: worker B must know A's topic
    status = custom(second)
    assert status["status"] == "answered" and status["intent"] == "ask_deadline", second
    assert "7月15日" in texts(second) and status["sources"][0]["doc"] == doc

    third = a.say(sender, "場所は？")
    status = custom(third)
    assert status["status"] == "answered" and status["intent"] == "ask_venue", third
    assert "502会議室" in texts(third) and status["sources"][0]["doc"] == doc

    fourth = b.say(sender, "ありがとう")
    assert custom(fourth)["status"] == "smalltalk"
    for conn in (a, b):  # both workers read the same four turns
        tracker = conn.request("GET", f"/conversations/{sender}/tracker?token={API_TOKEN}")
        assert [e["text"] for e in tracker["events"] if e["event"] == "user"] == \
               ["ミライプロジェクトのワークショップについて知りたい", "しめきりはいつ？", "場所は？", "ありがとう"]
        assert "ミライプロジェクト" in (tracker["slots"].get("topic") or "")


def test_turns_sent_to_both_workers_at_once_run_one_after_the_other(on_each_worker):
    """Without a shared lock both workers would read the same tracker and
    write over each other's turn; with it every turn is stored, each user
    message followed by its own answer."""
    a, b = on_each_worker
    sender = f"wk-race-{uuid.uuid4().hex[:8]}"
    questions = ["住民票はどこで取れますか", "国民年金の手続きはどこでできますか",
                 "生活保護の相談はどこの課ですか", "住民票はどこで取れますか"]
    replies: dict[int, list] = {}

    def ask(conn: Connection, index: int) -> None:
        replies[index] = conn.say(sender, questions[index])

    for round_start in range(0, len(questions), 2):
        threads = [threading.Thread(target=ask, args=(conn, round_start + i)) for i, conn in enumerate((a, b))]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=180)
    assert sorted(replies) == list(range(len(questions)))
    assert all(custom(r)["status"] == "answered" for r in replies.values()), replies
    events = a.request("GET", f"/conversations/{sender}/tracker?token={API_TOKEN}")["events"]
    turns = [e.get("text") if e["event"] == "user" else e.get("name") for e in events
             if e["event"] == "user" or (e["event"] == "action" and e.get("name") == "action_answer")]
    assert sorted(turns[0::2]) == sorted(questions)  # every user turn stored once
    assert turns[1::2] == ["action_answer"] * len(questions)  # each followed by its own answer
