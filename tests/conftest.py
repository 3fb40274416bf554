"""Shared fixtures: a knowledge base built once per session from the real sources."""
from __future__ import annotations

import contextlib
import datetime as dt
import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

os.environ.setdefault("RASA_TELEMETRY_ENABLED", "false")

from knowledge.answer import Answerer  # noqa: E402
from knowledge.build import build  # noqa: E402
from knowledge.kb import KnowledgeBase  # noqa: E402

TODAY = dt.date(2026, 11, 21)


@pytest.fixture(scope="session")
def kb_path(tmp_path_factory):
    """Path of a knowledge base built from knowledge/sources and knowledge/facts."""
    path = tmp_path_factory.mktemp("kb") / "kb.sqlite"
    build(path, verbose=False)
    return path


@pytest.fixture(scope="session")
def kb(kb_path):
    return KnowledgeBase(kb_path)


@pytest.fixture(scope="session")
def answerer(kb):
    return Answerer(kb)


@pytest.fixture
def ask(answerer):
    """``ask(question, intent=None, topic=None)`` -> Answer, with today fixed."""

    def _ask(question, intent=None, topic=None, today=TODAY):
        return answerer.answer(question, intent, (), topic, today)

    return _ask


ROOT = Path(__file__).resolve().parent.parent
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]


def custom(messages: list[dict]) -> dict:
    """The one ``custom`` status of a REST reply (asserts there is exactly one)."""
    found = [m["custom"] for m in messages if m.get("custom")]
    assert len(found) == 1, messages
    return found[0]


def texts(messages: list[dict]) -> str:
    """The text of every message of a REST reply, one per line."""
    return "\n".join(m.get("text") or "" for m in messages)


def run_coroutine(coroutine):
    """``asyncio.run(coroutine)`` in a thread of its own: the browser tests keep
    an event loop running in the main thread for the rest of the session."""
    import asyncio
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, coroutine).result()


def free_port(preferred: int = 0) -> int:
    """``preferred`` when it is free on every interface, else any free TCP port."""
    for port in (preferred, 0):
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            try:
                sock.bind(("0.0.0.0", port))
            except OSError:
                continue
            return sock.getsockname()[1]
    raise RuntimeError("no free port")


@contextlib.contextmanager
def web_server(kb_path, log: Path, host: str = "127.0.0.1", env: dict | None = None, args: tuple = ()):
    """Run ``python -m bot.web`` bound to ``host`` on a free port; yields its base URL
    (always reached over 127.0.0.1) and stops it at the end.  ``env`` is added to the
    environment (e.g. ``TRACKER_DB``, ``STAFF_PASSWORD``)."""
    port = free_port()
    full_env = {**os.environ, "PYTHONPATH": str(ROOT), "RASA_TELEMETRY_ENABLED": "false", **(env or {})}
    with log.open("wb") as out:
        proc = subprocess.Popen([sys.executable, "-m", "bot.web", "--host", host, "--port", str(port),
                                 "--kb", str(kb_path), *args], cwd=ROOT, env=full_env, stdout=out,
                                stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                with urllib.request.urlopen(base + "/static/staff.css", timeout=2) as resp:
                    if resp.status == 200:
                        break
            except OSError:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"web server did not start:\n{log.read_text(errors='replace')[-2000:]}")
            time.sleep(0.2)
        yield base
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@pytest.fixture(scope="session")
def web(kb_path, tmp_path_factory):
    """Base URL of ``python -m bot.web`` on a free loopback port (stopped at the end)."""
    with web_server(kb_path, tmp_path_factory.mktemp("web") / "web.log") as base:
        yield base


@pytest.fixture(scope="module")
def redis_url(tmp_path_factory):
    """``REDIS_URL`` (``unix://.../redis.sock?db=0``) of a throw-away
    redis-server on a Unix socket, as ``make run`` starts it
    (``bot.servers.redis_on_socket``), stopped at the end of the module;
    skips when redis-server is not installed (``make test`` installs it)."""
    import shutil

    from bot.servers import redis_on_socket

    if not shutil.which("redis-server"):
        pytest.skip("redis-server not installed: run scripts/install_redis.sh (make test does)")
    with redis_on_socket(tmp_path_factory.mktemp("redis")) as redis:
        yield redis.url


@pytest.fixture(scope="module")
def browser():
    """Debian's Chromium driven by Playwright (never a downloaded browser).

    One per test module: while Playwright's sync API runs, the main thread has
    a running event loop, and ``asyncio.run`` in any later test would fail."""
    sync_api = pytest.importorskip("playwright.sync_api", reason="pip install playwright (Python package only)")
    with sync_api.sync_playwright() as p:
        b = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True)
        try:
            yield b
        finally:
            b.close()
