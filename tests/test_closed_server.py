"""Closed by default: the servers as ``make run`` starts them (``scripts/run.sh``).

* Rasa's HTTP API is off (404) without ``RASA_API_TOKEN``, and answers 401
  without the token when it is on; the token never shows on a command line.
* CORS and the socket.io channel grant only ``WIDGET_ORIGINS``.
* Rasa, the action server and the staff page listen on 127.0.0.1 only.
* The reverse proxy of ``deploy/nginx.conf`` (skipped when nginx is missing:
  ``scripts/install_proxy.sh``) passes the webhooks, ``/socket.io/`` and the
  widget's files on HTTPS, and nothing else.
* ``bot.rasa_run`` and ``parse_origins`` without servers.
"""
from __future__ import annotations

import asyncio
import json
import os
import shutil
import signal
import ssl
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from conftest import custom, free_port

from bot.channels.socketio import DEFAULT_WIDGET_ORIGINS, parse_origins
from bot.rasa_run import UsageError, rasa_run_args
from bot.servers import ROOT, answers, post_message

MODEL = ROOT / "models" / "kuyakusho.tar.gz"
KB = ROOT / "knowledge" / "kb.sqlite"
TOKEN = "test-token-" + "x" * 24
EVIL = "https://evil.example"
# the acceptance list of issue #13, plus a few more of Rasa's API routes
API_CALLS = [("GET", "/conversations/x/tracker"), ("PUT", "/conversations/x/tracker/events"),
             ("DELETE", "/model"), ("POST", "/model/train"), ("GET", "/status"), ("POST", "/model/parse"),
             ("GET", "/domain"), ("POST", "/conversations/x/trigger_intent")]


def request(url: str, method: str = "GET", body: bytes | None = None, headers: dict | None = None,
            context: ssl.SSLContext | None = None) -> tuple[int, dict, bytes]:
    """(status, headers, body) of one HTTP request; HTTP errors are answers too."""
    data = body if body is not None or method not in ("POST", "PUT") else b"{}"
    req = urllib.request.Request(url, data=data, method=method,
                                 headers={"Content-Type": "application/json", **(headers or {})})
    try:
        with urllib.request.urlopen(req, timeout=30, context=context) as resp:
            return resp.status, dict(resp.headers), resp.read()
    except urllib.error.HTTPError as err:
        return err.code, dict(err.headers), err.read()


class MadeRun:
    """``scripts/run.sh`` in its own process group, on free ports (stopped by :meth:`stop`)."""

    def __init__(self, log: Path, env: dict | None = None) -> None:
        self.rasa_port, self.actions_port, self.web_port = free_port(), free_port(), free_port()
        self.base = f"http://127.0.0.1:{self.rasa_port}"
        self.demo = f"http://localhost:{self.web_port}"  # the demo page's origin: allowed by default
        self.log = log
        self.env = {**os.environ, "RASA_TELEMETRY_ENABLED": "false", "RASA_PORT": str(self.rasa_port),
                    "ACTIONS_PORT": str(self.actions_port), "WEB_PORT": str(self.web_port),
                    "TRACKER_DB": str(log.parent / f"tracker-{self.rasa_port}.db"), **(env or {})}
        # `make test` exports ACTION_ENDPOINT_URL for port 5055; run.sh derives it from ACTIONS_PORT
        for name in ("ACTION_ENDPOINT_URL", "RASA_API_TOKEN", "WIDGET_ORIGINS", "RASA_INTERFACE",
                     "ACTIONS_INTERFACE", "REDIS_URL"):
            if name not in (env or {}):
                self.env.pop(name, None)
        self.proc: subprocess.Popen | None = None

    def start(self, timeout: float = 300.0) -> MadeRun:
        with self.log.open("wb") as out:
            self.proc = subprocess.Popen(["bash", "scripts/run.sh"], cwd=ROOT, env=self.env, stdout=out,
                                         stderr=subprocess.STDOUT, start_new_session=True)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if (answers(self.base + "/") and answers(f"http://127.0.0.1:{self.actions_port}/health")
                    and answers(f"http://127.0.0.1:{self.web_port}/staff")):
                return self
            if self.proc.poll() is not None:
                break
            time.sleep(1.0)
        self.stop()
        raise TimeoutError(f"scripts/run.sh did not come up:\n{self.log.read_text(errors='replace')[-3000:]}")

    def group(self) -> list[int]:
        """PIDs of every process of the run (its process group)."""
        pids = []
        for entry in Path("/proc").iterdir():
            if entry.name.isdigit():
                try:
                    if os.getpgid(int(entry.name)) == self.proc.pid:
                        pids.append(int(entry.name))
                except OSError:
                    continue
        return pids

    def stop(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        os.killpg(self.proc.pid, signal.SIGTERM)
        try:
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(timeout=30)


def _started(tmp_path_factory, name: str, env: dict | None = None):
    for path, hint in ((MODEL, "make train"), (KB, "make kb")):
        if not path.exists():
            pytest.fail(f"{path} not found: run `{hint}` first")
    run = MadeRun(tmp_path_factory.mktemp(name) / "run.log", env)
    return run.start()


@pytest.fixture(scope="module")
def made_run(tmp_path_factory):
    """The servers exactly as ``make run`` starts them (no secret, default origins)."""
    run = _started(tmp_path_factory, "made-run")
    try:
        yield run
    finally:
        run.stop()
    text = run.log.read_text(errors="replace")
    assert "Traceback" not in text, text[-3000:]


# --------------------------------------------------------------------------- the HTTP API

@pytest.mark.integration
@pytest.mark.parametrize("method, path", API_CALLS)
def test_http_api_is_off_by_default(made_run, method, path):
    status, _, body = request(made_run.base + path, method)
    assert status == 404, body[:300]


@pytest.mark.integration
def test_channels_still_answer(made_run):
    reply = post_message(made_run.base + "/webhooks/rest/webhook", "closed-1", "住民票はどこで取れますか")
    assert custom(reply)["status"] == "answered"
    status, _, body = request(made_run.base + "/webhooks/line/webhook", "POST", b"{}")
    assert status == 401, body  # the LINE channel is there; without LINE_CHANNEL_SECRET nothing verifies
    assert request(made_run.base + "/socket.io/?EIO=4&transport=polling")[0] == 200


@pytest.mark.integration
def test_api_needs_the_token_when_it_is_on(tmp_path_factory):
    run = _started(tmp_path_factory, "with-token", {"RASA_API_TOKEN": TOKEN})
    try:
        for method, path in API_CALLS:
            assert request(run.base + path, method)[0] == 401, (method, path)
            assert request(f"{run.base}{path}?token=wrong-{TOKEN}", method)[0] == 401, (method, path)
        status, _, body = request(f"{run.base}/status?token={TOKEN}")
        assert status == 200 and json.loads(body)["model_file"], body
        post_message(run.base + "/webhooks/rest/webhook", "closed-2", "こんにちは")
        status, _, body = request(f"{run.base}/conversations/closed-2/tracker?token={TOKEN}")
        assert status == 200 and json.loads(body)["sender_id"] == "closed-2"
        for pid in run.group():  # the secret is on no command line (ps shows them to every user)
            assert TOKEN.encode() not in Path(f"/proc/{pid}/cmdline").read_bytes(), pid
    finally:
        run.stop()
    assert TOKEN not in run.log.read_text(errors="replace")


# --------------------------------------------------------------------------- CORS and socket.io origins

@pytest.mark.integration
def test_cors_granted_only_to_widget_origins(made_run):
    url = made_run.base + "/webhooks/rest/webhook"
    preflight = {"Access-Control-Request-Method": "POST", "Access-Control-Request-Headers": "content-type"}
    for origin in (made_run.demo, f"http://127.0.0.1:{made_run.web_port}"):
        _, headers, _ = request(url, "OPTIONS", headers={"Origin": origin, **preflight})
        assert headers.get("Access-Control-Allow-Origin") == origin
    for origin in (EVIL, "null", f"http://localhost:{made_run.rasa_port}", f"{made_run.demo}.evil.example",
                   DEFAULT_WIDGET_ORIGINS):
        _, headers, _ = request(url, "OPTIONS", headers={"Origin": origin, **preflight})
        assert "Access-Control-Allow-Origin" not in headers, (origin, headers)
        _, headers, _ = request(url, "POST", json.dumps({"sender": "cors", "message": "こんにちは"}).encode(),
                                headers={"Origin": origin})
        assert "Access-Control-Allow-Origin" not in headers, (origin, headers)


def _websocket(url: str, origin: str | None, context: ssl.SSLContext | None = None) -> str:
    """The first engine.io packet over a WebSocket from a page at ``origin``,
    or ``"refused NNN"`` when the handshake is refused."""
    import websockets

    async def main() -> str:
        try:
            async with websockets.connect(url, origin=origin, ssl=context, open_timeout=20) as ws:
                return str(await asyncio.wait_for(ws.recv(), 20))
        except websockets.exceptions.InvalidStatusCode as err:
            return f"refused {err.status_code}"

    return asyncio.run(main())


@pytest.mark.integration
def test_socketio_refuses_pages_of_other_origins(made_run):
    ws = f"ws://127.0.0.1:{made_run.rasa_port}/socket.io/?EIO=4&transport=websocket"
    assert _websocket(ws, made_run.demo).startswith("0{")  # engine.io "open"
    assert _websocket(ws, EVIL) == "refused 400"
    assert _websocket(ws, f"https://localhost:{made_run.web_port}") == "refused 400"  # another scheme
    polling = made_run.base + "/socket.io/?EIO=4&transport=polling"
    assert request(polling, headers={"Origin": EVIL})[0] == 400
    status, headers, _ = request(polling, headers={"Origin": made_run.demo})
    assert status == 200 and headers.get("Access-Control-Allow-Origin") == made_run.demo


# --------------------------------------------------------------------------- interfaces

def _listening(port: int) -> set[str]:
    """Local addresses with a TCP socket listening on ``port`` (from /proc/net/tcp and tcp6)."""
    found = set()
    for table, width in (("/proc/net/tcp", 8), ("/proc/net/tcp6", 32)):
        for line in Path(table).read_text().splitlines()[1:]:
            local, state = line.split()[1], line.split()[3]
            address, hex_port = local.split(":")
            if state == "0A" and int(hex_port, 16) == port:  # 0A = LISTEN
                raw = bytes.fromhex(address)
                if width == 8:
                    found.add(".".join(str(b) for b in raw[::-1]))
                else:
                    words = [raw[i:i + 4][::-1].hex() for i in range(0, 16, 4)]
                    found.add(":".join(words))
    return found


@pytest.mark.integration
def test_every_server_listens_on_loopback_only(made_run):
    for port in (made_run.rasa_port, made_run.actions_port, made_run.web_port):
        assert _listening(port) == {"127.0.0.1"}, (port, _listening(port))


# --------------------------------------------------------------------------- the reverse proxy

NGINX = shutil.which("nginx") or ("/usr/sbin/nginx" if Path("/usr/sbin/nginx").exists() else None)


def render_proxy(site: str, rasa_port: int, web_port: int, http_port: int, https_port: int, cert: Path,
                 key: Path) -> str:
    """``deploy/nginx.conf`` with loopback ports and a test certificate in place of the production ones."""
    swaps = [("server 127.0.0.1:5005;", f"server 127.0.0.1:{rasa_port};"),
             ("server 127.0.0.1:8080;", f"server 127.0.0.1:{web_port};"),
             ("    listen 80;\n    listen [::]:80;", f"    listen 127.0.0.1:{http_port};"),
             ("    listen 443 ssl http2;\n    listen [::]:443 ssl http2;",
              f"    listen 127.0.0.1:{https_port} ssl http2;"),
             ("/etc/letsencrypt/live/chat.example.jp/fullchain.pem", str(cert)),
             ("/etc/letsencrypt/live/chat.example.jp/privkey.pem", str(key))]
    for old, new in swaps:
        assert site.count(old) == 1, f"deploy/nginx.conf no longer has {old!r}"
        site = site.replace(old, new)
    return site


@pytest.fixture(scope="module")
def proxy(made_run, tmp_path_factory):
    """nginx with deploy/nginx.conf in front of ``made_run``: (https base URL, SSL context, http base URL)."""
    if NGINX is None:
        pytest.skip("nginx is not installed (scripts/install_proxy.sh)")
    tmp = tmp_path_factory.mktemp("nginx")
    cert, key = tmp / "cert.pem", tmp / "key.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=127.0.0.1",
                    "-addext", "subjectAltName=IP:127.0.0.1", "-keyout", str(key), "-out", str(cert)],
                   check=True, capture_output=True)
    http_port, https_port = free_port(), free_port()
    (tmp / "site.conf").write_text(render_proxy((ROOT / "deploy" / "nginx.conf").read_text(), made_run.rasa_port,
                                                made_run.web_port, http_port, https_port, cert, key))
    (tmp / "nginx.conf").write_text(f"""
user root;
worker_processes 1;
daemon off;
pid {tmp}/nginx.pid;
error_log {tmp}/error.log;
events {{ worker_connections 64; }}
http {{
    access_log {tmp}/access.log;
    client_body_temp_path {tmp}/body;
    proxy_temp_path {tmp}/proxy;
    fastcgi_temp_path {tmp}/fastcgi;
    uwsgi_temp_path {tmp}/uwsgi;
    scgi_temp_path {tmp}/scgi;
    include {tmp}/site.conf;
}}
""")
    args = [NGINX, "-p", str(tmp), "-e", str(tmp / "error.log"), "-c", str(tmp / "nginx.conf")]
    checked = subprocess.run([*args, "-t"], capture_output=True, text=True)
    assert checked.returncode == 0, checked.stderr
    proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
    context = ssl.create_default_context(cafile=str(cert))
    base = f"https://127.0.0.1:{https_port}"
    try:
        deadline = time.monotonic() + 30
        while not (_port_open(https_port) and request(base + "/", context=context)[0] == 404):
            if proc.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"nginx did not start: {(tmp / 'error.log').read_text(errors='replace')[-2000:]}")
            time.sleep(0.2)
        yield base, context, f"http://127.0.0.1:{http_port}"
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def _port_open(port: int) -> bool:
    import socket

    with socket.socket() as sock:
        sock.settimeout(1.0)
        return sock.connect_ex(("127.0.0.1", port)) == 0


@pytest.mark.integration
def test_proxy_passes_the_webhooks_and_the_widget_on_https(proxy, made_run):
    base, context, _ = proxy
    status, _, body = request(base + "/webhooks/rest/webhook", "POST",
                              json.dumps({"sender": "proxy-1", "message": "住民票はどこで取れますか"}).encode(),
                              context=context)
    assert status == 200 and custom(json.loads(body))["status"] == "answered"
    assert request(base + "/webhooks/line/webhook", "POST", b"{}", context=context)[0] == 401  # reached LINE
    wss = f"wss://127.0.0.1:{base.rsplit(':', 1)[1]}/socket.io/?EIO=4&transport=websocket"
    assert _websocket(wss, made_run.demo, context).startswith("0{")
    assert _websocket(wss, EVIL, context) == "refused 400"
    for path in ("/static/chat.js", "/static/chat.css", "/static/vendor/socket.io.min.js"):
        status, headers, _ = request(base + path, context=context)
        assert status == 200 and "Strict-Transport-Security" in headers, path


@pytest.mark.integration
@pytest.mark.parametrize("method, path", [*API_CALLS, ("GET", "/"), ("GET", "/staff"), ("GET", "/staff/api/search?q=a"),
                                          ("GET", "/static/staff.js"), ("GET", "/static/index.html"),
                                          ("GET", "/webhooks/rest/"), ("GET", "/webhooks/line/"),
                                          ("GET", "/webhooks/rest/webhook"), ("GET", "/version"),
                                          ("GET", "/static/../staff"), ("GET", "/health")])
def test_proxy_passes_nothing_else(proxy, method, path):
    base, context, _ = proxy
    status, _, body = request(base + path, method, context=context)
    assert status in (403, 404), (status, body[:200])
    assert b"Hello from Rasa" not in body and b"staff" not in body.lower()


@pytest.mark.integration
def test_proxy_redirects_plain_http_to_https(proxy):
    _, _, http_base = proxy
    req = urllib.request.Request(http_base + "/webhooks/rest/webhook", method="GET")

    class NoRedirect(urllib.request.HTTPRedirectHandler):
        def redirect_request(self, *args, **kwargs):
            return None

    with pytest.raises(urllib.error.HTTPError) as err:
        urllib.request.build_opener(NoRedirect).open(req, timeout=10)
    assert err.value.code == 301 and err.value.headers["Location"].startswith("https://")


# --------------------------------------------------------------------------- without servers

@pytest.mark.parametrize("text, expected", [
    (None, ["http://localhost:8080"]), ("", ["http://localhost:8080"]), ("  ", ["http://localhost:8080"]),
    ("https://www.city.kawasaki.jp", ["https://www.city.kawasaki.jp"]),
    ("HTTPS://WWW.Example.JP:443/, http://localhost:8080 http://127.0.0.1:8080",
     ["https://www.example.jp", "http://localhost:8080", "http://127.0.0.1:8080"]),
    ("http://[::1]:8080,http://[::1]:8080", ["http://[::1]:8080"]),
])
def test_parse_origins(text, expected):
    assert parse_origins(text) == expected


@pytest.mark.parametrize("text", ["*", "https://*.example.jp", "www.example.jp", "ftp://example.jp",
                                  "https://example.jp/path", "https://example.jp:99999", "https://user@example.jp",
                                  "https://example.jp?x=1", "null"])
def test_parse_origins_refuses_what_is_not_an_origin(text):
    with pytest.raises(ValueError, match="not an origin"):
        parse_origins(text)


def test_rasa_run_args_are_closed_by_default():
    args = rasa_run_args(["--port", "5005"], {})
    assert args == ["run", "--port", "5005", "--cors", "http://localhost:8080", "--interface", "127.0.0.1"]
    assert "--enable-api" not in args


def test_rasa_run_args_open_the_api_only_with_a_long_token():
    args = rasa_run_args(["-i", "0.0.0.0"], {"RASA_API_TOKEN": TOKEN, "WIDGET_ORIGINS": "https://a.example"})
    assert args == ["run", "-i", "0.0.0.0", "--cors", "https://a.example", "--enable-api", f"--auth-token={TOKEN}"]
    assert "--enable-api" not in rasa_run_args([], {"RASA_API_TOKEN": "  "})
    with pytest.raises(UsageError, match="at least 16"):
        rasa_run_args([], {"RASA_API_TOKEN": "short"})
    with pytest.raises(UsageError, match="not an origin"):
        rasa_run_args([], {"WIDGET_ORIGINS": "*"})


def test_a_token_that_starts_with_a_dash_reaches_rasa_as_the_token():
    from rasa.__main__ import create_argument_parser

    token = "-" + TOKEN
    parsed = create_argument_parser().parse_args(rasa_run_args(["--port", "5005"], {"RASA_API_TOKEN": token}))
    assert parsed.enable_api and parsed.auth_token == token


@pytest.mark.parametrize("option", ["--enable-api", "--auth-token=x", "-t", "--cors"])
def test_rasa_run_refuses_options_that_open_the_server(option):
    with pytest.raises(UsageError, match="not allowed"):
        rasa_run_args(["--port", "5005", option], {})


def test_rasa_run_exits_2_on_an_opening_option():
    done = subprocess.run([sys.executable, "-m", "bot.rasa_run", "--enable-api"], cwd=ROOT, capture_output=True,
                          text=True, timeout=120, env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert done.returncode == 2 and "RASA_API_TOKEN" in done.stderr


def test_credentials_yml_passes_widget_origins_to_the_socketio_channel(monkeypatch):
    from rasa.core.run import create_http_input_channels

    from bot.channels.socketio import SocketIOInput

    def socketio_channel():
        channels = create_http_input_channels(None, str(ROOT / "credentials.yml"))
        return next(c for c in channels if isinstance(c, SocketIOInput))

    monkeypatch.delenv("WIDGET_ORIGINS", raising=False)
    assert socketio_channel().allowed_origins == [DEFAULT_WIDGET_ORIGINS]
    monkeypatch.setenv("WIDGET_ORIGINS", "https://www.city.kawasaki.jp, https://chat.example.jp")
    assert socketio_channel().allowed_origins == ["https://www.city.kawasaki.jp", "https://chat.example.jp"]
