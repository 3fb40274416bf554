"""Start the action server and the Rasa server as subprocesses (for tests and eval).

``running(rasa_port, actions_port, log_dir)`` is a context manager that starts
both, waits until the Rasa server answers (``GET /``: it listens only once
the model is loaded) and the action server answers ``GET /health``, yields
the REST webhook URL, and stops both on exit.  Raises ``TimeoutError`` (with the log tails) when
they are not up within ``timeout`` seconds.  ``started(...)`` does the same
but yields a :class:`Servers`, which can also stop and restart the action
server alone.  Logs go to ``log_dir/actions-PORT.log`` and
``log_dir/rasa-PORT.log``; unless ``TRACKER_DB`` is set, the conversations
go to ``log_dir/tracker-PORT.db``.  The Rasa server runs one Sanic worker
unless ``env`` sets ``SANIC_WORKERS`` (with ``REDIS_URL``; see
``redis_on_socket``).

The servers are started as ``make run`` starts them: the Rasa server through
``bot.rasa_run`` (HTTP API off, CORS for ``WIDGET_ORIGINS`` only, on
127.0.0.1) and the action server on 127.0.0.1 (``SANIC_HOST``).  A test that
needs Rasa's HTTP API passes ``api_token`` (it becomes ``RASA_API_TOKEN``) and
adds ``?token=`` to its requests.
"""
from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import shutil
import subprocess
import sys
import time
import urllib.parse
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent


def _get(url: str, timeout: float = 2.0) -> dict | None:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as resp:
            return json.loads(resp.read().decode("utf-8") or "{}")
    except Exception:
        return None


def answers(url: str, timeout: float = 2.0) -> bool:
    """Whether ``GET url`` answers 200 within ``timeout`` seconds."""
    try:
        with urllib.request.urlopen(url, timeout=timeout) as resp:
            return resp.status == 200
    except (OSError, ValueError):
        return False


def rasa_command(*args: str) -> list[str]:
    """The command that starts a Rasa server with ``rasa run`` options ``args``
    (through ``bot.rasa_run``, which adds the settings from the environment)."""
    return [sys.executable, "-m", "bot.rasa_run", *args]


def actions_command(port: int) -> list[str]:
    """The command that starts the action server on ``port`` (its interface is ``$SANIC_HOST``)."""
    return [str(BIN / "rasa"), "run", "actions", "--actions", "bot.actions", "--port", str(port)]


def post_message(url: str, sender: str, message: str, timeout: float = 30.0) -> list[dict]:
    """POST ``{"sender", "message"}`` to the REST webhook; the bot's messages."""
    data = json.dumps({"sender": sender, "message": message}).encode("utf-8")
    req = urllib.request.Request(url, data=data, headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=timeout) as resp:
        return json.loads(resp.read().decode("utf-8"))


def start(cmd: list[str], log: Path, env: dict, append: bool = False) -> subprocess.Popen:
    """Start ``cmd`` in ``ROOT`` with output to ``log`` (appended to when ``append``)."""
    return subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=log.open("ab" if append else "wb"), stderr=subprocess.STDOUT)


def _stop(proc: subprocess.Popen | None, timeout: float = 20.0) -> None:
    if proc is None or proc.poll() is not None:
        return
    proc.terminate()
    try:
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(timeout=timeout)


class Servers:
    """The action server and the Rasa server of one ``started()`` block.

    ``url`` is the REST webhook; ``actions_log`` and ``rasa_log`` the log
    files.  ``stop_actions()`` / ``start_actions()`` stop and start only the
    action server (same port, log appended), e.g. to test how Rasa behaves
    while it is down; Rasa calls the action endpoint on every turn, so it
    needs no restart.
    """

    def __init__(self, rasa_port: int = 5005, actions_port: int = 5055, log_dir: Path | None = None,
                 model: str = "models/kuyakusho.tar.gz", timeout: float = 240.0, env: dict | None = None,
                 rasa_args: tuple[str, ...] | list[str] = (), api_token: str | None = None,
                 endpoints: str = "endpoints.yml"):
        self.rasa_port, self.actions_port, self.model, self.timeout = rasa_port, actions_port, model, timeout
        self.endpoints = endpoints
        self.log_dir = Path(log_dir or ROOT / "results" / "logs")
        self.log_dir.mkdir(parents=True, exist_ok=True)
        self.env = {**os.environ, "RASA_TELEMETRY_ENABLED": "false", "PYTHONPATH": str(ROOT),
                    "ACTION_ENDPOINT_URL": f"http://127.0.0.1:{actions_port}/webhook", **(env or {})}
        # the HTTP API is on only for a caller that brings its own secret (see bot/rasa_run.py)
        self.env.pop("RASA_API_TOKEN", None)
        if api_token:
            self.env["RASA_API_TOKEN"] = api_token
        self.api_token = api_token
        # each run keeps its own conversation store unless told otherwise (see endpoints.yml)
        self.env.setdefault("TRACKER_DB", str(self.log_dir / f"tracker-{rasa_port}.db"))
        # one Sanic worker and the in-memory lock store unless told otherwise (not `make run`'s environment)
        self.env.setdefault("SANIC_WORKERS", "1")
        self.env.setdefault("REDIS_URL", "")
        # The action server (Sanic) closes a connection that sends nothing for
        # KEEP_ALIVE_TIMEOUT (default 5 s), also a new one; when the Rasa server
        # is busy for longer between connecting and sending, the action call
        # fails.  Rasa's own server waits 120 s.
        self.env.setdefault("SANIC_KEEP_ALIVE_TIMEOUT", "120")
        self.rasa_args = list(rasa_args)
        self.actions_log = self.log_dir / f"actions-{actions_port}.log"
        self.rasa_log = self.log_dir / f"rasa-{rasa_port}.log"
        self.base = f"http://127.0.0.1:{rasa_port}"
        self.url = f"{self.base}/webhooks/rest/webhook"
        self.actions: subprocess.Popen | None = None
        self.rasa: subprocess.Popen | None = None

    def _tails(self) -> str:
        return "\n".join(f"--- {p.name}\n" + p.read_text(errors="replace")[-2000:]
                         for p in (self.actions_log, self.rasa_log) if p.exists())

    def start(self) -> Servers:
        """Start both and wait until the model is loaded and the action server is healthy.

        Raises:
            TimeoutError: not up within ``timeout`` seconds (or a process
                exited); the message has the log tails.
        """
        self.actions = start(actions_command(self.actions_port), self.actions_log, self._actions_env())
        self.rasa = start(rasa_command("--port", str(self.rasa_port), "--model", self.model,
                                       "--endpoints", self.endpoints, "--credentials", "credentials.yml",
                                       *self.rasa_args), self.rasa_log, self.env)
        deadline = time.monotonic() + self.timeout
        up = False
        while time.monotonic() < deadline:
            up = answers(self.base + "/") and _get(f"http://127.0.0.1:{self.actions_port}/health") is not None
            if up or any(p.poll() is not None for p in (self.actions, self.rasa)):
                break
            time.sleep(1.0)
        if not up or self.actions.poll() is not None or self.rasa.poll() is not None:
            raise TimeoutError(f"servers did not start within {self.timeout:.0f} s\n{self._tails()}")
        return self

    def _actions_env(self) -> dict:
        env = dict(self.env)
        env.setdefault("SANIC_HOST", "127.0.0.1")  # rasa_sdk's interface (its default is 0.0.0.0)
        return env

    def api(self, path: str) -> str:
        """URL of Rasa's HTTP API ``path`` (e.g. ``/conversations/x/tracker``) with ``?token=``.

        Raises:
            RuntimeError: the servers were started without ``api_token``.
        """
        if not self.api_token:
            raise RuntimeError("the HTTP API is off: start the servers with api_token=...")
        sep = "&" if "?" in path else "?"
        return f"{self.base}{path}{sep}{urllib.parse.urlencode({'token': self.api_token})}"

    def stop_actions(self) -> None:
        """Stop the action server (Rasa keeps running)."""
        _stop(self.actions)

    def start_actions(self, timeout: float = 120.0) -> None:
        """(Re)start the action server on the same port and wait for ``/health``.

        Raises:
            TimeoutError: it did not answer within ``timeout`` seconds.
        """
        _stop(self.actions)
        self.actions = start(actions_command(self.actions_port), self.actions_log, self._actions_env(), append=True)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if _get(f"http://127.0.0.1:{self.actions_port}/health") is not None:
                return
            if self.actions.poll() is not None:
                break
            time.sleep(0.5)
        raise TimeoutError(f"the action server did not start within {timeout:.0f} s\n{self._tails()}")

    def stop(self) -> None:
        """Stop both (SIGTERM, then SIGKILL after 20 s)."""
        for proc in (self.actions, self.rasa):
            if proc is not None and proc.poll() is None:
                proc.terminate()
        for proc in (self.actions, self.rasa):
            _stop(proc)


@contextlib.contextmanager
def started(rasa_port: int = 5005, actions_port: int = 5055, log_dir: Path | None = None,
            model: str = "models/kuyakusho.tar.gz", timeout: float = 240.0, env: dict | None = None,
            rasa_args: tuple[str, ...] | list[str] = (), api_token: str | None = None,
            endpoints: str = "endpoints.yml"):
    """Run both servers for the duration of the ``with`` block; yields the
    :class:`Servers` (``.url``, ``.stop_actions()``, ``.start_actions()`` ...).
    ``rasa_args`` are added to the ``rasa run`` command line (e.g. ``["--debug"]``);
    ``api_token`` turns Rasa's HTTP API on with that secret (``.api(path)``);
    ``endpoints`` is the endpoints file (relative to the project root)."""
    servers = Servers(rasa_port, actions_port, log_dir, model, timeout, env, rasa_args, api_token, endpoints)
    try:
        yield servers.start()
    finally:
        servers.stop()


@contextlib.contextmanager
def running(rasa_port: int = 5005, actions_port: int = 5055, log_dir: Path | None = None,
            model: str = "models/kuyakusho.tar.gz", timeout: float = 240.0, env: dict | None = None):
    """Run both servers for the duration of the ``with`` block (see module doc)."""
    with started(rasa_port, actions_port, log_dir, model, timeout, env) as servers:
        yield servers.url


@dataclasses.dataclass(frozen=True)
class RedisServer:
    """A running redis-server: its ``REDIS_URL`` and process id."""

    url: str
    pid: int


@contextlib.contextmanager
def redis_on_socket(base: Path, timeout: float = 20.0):
    """Run Debian's ``redis-server`` listening only on the Unix socket
    ``base/redis.sock`` (mode 0700, no TCP port, nothing saved to disk) for
    the ``with`` block; yields a :class:`RedisServer` (``.url`` is its
    ``REDIS_URL``, ``unix://...?db=0``; ``.pid``).
    ``scripts/run.sh`` starts the same for ``make run``.

    Raises:
        FileNotFoundError: ``redis-server`` is not installed
            (``scripts/install_redis.sh``).
        TimeoutError: it did not answer within ``timeout`` seconds.
    """
    server = shutil.which("redis-server")
    if not server:
        raise FileNotFoundError("redis-server not found: run scripts/install_redis.sh (apt-get install redis-server)")
    base = Path(base)
    base.mkdir(parents=True, exist_ok=True)
    sock = base / "redis.sock"
    sock.unlink(missing_ok=True)
    log = base / "redis.log"
    proc = start([server, "--port", "0", "--unixsocket", str(sock), "--unixsocketperm", "700", "--save", "",
                  "--appendonly", "no", "--dir", str(base), "--daemonize", "no"], log, dict(os.environ))
    url = f"unix://{sock}?db=0"
    try:
        import redis

        deadline = time.monotonic() + timeout
        while True:
            try:
                if redis.Redis.from_url(url, socket_timeout=1).ping():
                    break
            except (redis.exceptions.ConnectionError, FileNotFoundError):
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                raise TimeoutError(f"redis-server did not start:\n{log.read_text(errors='replace')[-2000:]}")
            time.sleep(0.1)
        yield RedisServer(url, proc.pid)
    finally:
        _stop(proc)
