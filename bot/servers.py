"""Start the action server and the Rasa server as subprocesses (for tests and eval).

``running(rasa_port, actions_port, log_dir)`` is a context manager that starts
both, waits until the Rasa server reports the model loaded (``GET /status``)
and the action server answers ``GET /health``, yields the REST webhook URL,
and stops both on exit.  Raises ``TimeoutError`` (with the log tails) when
they are not up within ``timeout`` seconds.
"""
from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
import time
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


def post_message(url: str, sender: str, message: str, timeout: float = 30.0) -> list[dict]:
    """POST ``{"sender", "message"}`` to the REST webhook; the bot's messages."""
    data = json.dumps({"sender": sender, "message": message}).encode("utf-8")
    req = urllib.request.Request(url, data=data, headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=timeout) as resp:
        return json.loads(resp.read().decode("utf-8"))


def start(cmd: list[str], log: Path, env: dict) -> subprocess.Popen:
    """Start ``cmd`` in ``ROOT`` with output to ``log``."""
    return subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=log.open("wb"), stderr=subprocess.STDOUT)


@contextlib.contextmanager
def running(rasa_port: int = 5005, actions_port: int = 5055, log_dir: Path | None = None,
            model: str = "models/kuyakusho.tar.gz", timeout: float = 240.0, env: dict | None = None):
    """Run both servers for the duration of the ``with`` block (see module doc)."""
    log_dir = Path(log_dir or ROOT / "results" / "logs")
    log_dir.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "RASA_TELEMETRY_ENABLED": "false", "PYTHONPATH": str(ROOT),
           "ACTION_ENDPOINT_URL": f"http://localhost:{actions_port}/webhook", **(env or {})}
    actions_log, rasa_log = log_dir / f"actions-{actions_port}.log", log_dir / f"rasa-{rasa_port}.log"
    procs = [
        start([str(BIN / "rasa"), "run", "actions", "--actions", "bot.actions", "--port", str(actions_port)], actions_log, env),
        start([str(BIN / "rasa"), "run", "--enable-api", "--port", str(rasa_port), "--model", model,
               "--endpoints", "endpoints.yml", "--credentials", "credentials.yml"], rasa_log, env),
    ]
    try:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            status = _get(f"http://localhost:{rasa_port}/status")
            health = _get(f"http://localhost:{actions_port}/health")
            if status and status.get("model_file") and health is not None:
                break
            if any(p.poll() is not None for p in procs):
                break
            time.sleep(1.0)
        else:
            status = None
        if not (status and status.get("model_file")):
            tails = "\n".join(f"--- {p.name}\n" + p.read_text(errors="replace")[-2000:] for p in (actions_log, rasa_log))
            raise TimeoutError(f"servers did not start within {timeout:.0f} s\n{tails}")
        yield f"http://localhost:{rasa_port}/webhooks/rest/webhook"
    finally:
        for proc in procs:
            proc.terminate()
        for proc in procs:
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()
