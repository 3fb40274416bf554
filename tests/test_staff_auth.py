"""Who may open the staff pages (bot/staff_auth.py, bot/web.py): open on loopback, a login
(HTTP Basic, STAFF_PASSWORD) or a refusal elsewhere.  The citizen page stays public."""
from __future__ import annotations

import asyncio
import base64
import subprocess
import sys
import urllib.error
import urllib.request

import pytest
from conftest import ROOT, web_server

from bot.staff_auth import StaffAuth, is_loopback

PASSWORD = "correct horse battery staple"
STAFF_PATHS = ["/staff", "/staff/insights", "/staff/api/insights", "/staff/api/search?q=住民票",
               "/staff/api/insights.csv?table=periods", "/%73taff/insights", "/staff/"]
PUBLIC_PATHS = ["/", "/static/chat.js", "/static/staff.css"]


def basic(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode("ascii")


@pytest.mark.parametrize("host, expected", [
    ("127.0.0.1", True), ("127.1.2.3", True), ("::1", True), ("[::1]", True), ("localhost", True),
    ("0.0.0.0", False), ("::", False), ("192.168.1.10", False), ("example.jp", False), ("", False)])
def test_loopback_addresses(host, expected):
    assert is_loopback(host) is expected


@pytest.mark.parametrize("env, message", [({"STAFF_PASSWORD": "short"}, "at least 12"),
                                          ({"STAFF_PASSWORD": PASSWORD, "STAFF_USER": "a:b"}, "':'")])
def test_unusable_credentials_are_refused(env, message):
    with pytest.raises(ValueError, match=message):
        StaffAuth.from_environment("0.0.0.0", env)


def fetch(app, requests):
    """``[(status, headers, text)]`` of ``requests`` = ``[(path, headers)]`` against ``app`` in process."""
    from aiohttp.test_utils import TestClient, TestServer

    async def run():
        async with TestClient(TestServer(app)) as client:
            out = []
            for path, headers in requests:
                async with client.get(path, headers=headers or {}, allow_redirects=False) as resp:
                    out.append((resp.status, dict(resp.headers), await resp.text()))
            return out

    return asyncio.run(run())


@pytest.fixture
def make(kb_path, tmp_path, monkeypatch):
    """``make(host, **env)``: the web app for a server bound to ``host`` with ``env`` set."""
    from bot.web import make_app

    def _make(host, **env):
        for key in ("STAFF_PASSWORD", "STAFF_USER"):
            monkeypatch.delenv(key, raising=False)
        for key, value in env.items():
            monkeypatch.setenv(key, value)
        monkeypatch.setenv("TRACKER_DB", str(tmp_path / "tracker.db"))
        return make_app(kb_path, host=host)

    return _make


def test_loopback_without_a_password_is_open_but_not_through_a_proxy(make):
    app = make("127.0.0.1")
    results = fetch(app, [(p, None) for p in STAFF_PATHS[:4]] +
                    [(p, {"X-Forwarded-For": "203.0.113.7"}) for p in STAFF_PATHS[:2]] +
                    [("/staff", {"Forwarded": "for=203.0.113.7"})])
    assert [r[0] for r in results] == [200, 200, 200, 200, 403, 403, 403]
    assert results[2][2].count("no conversations stored yet") == 1  # the insights API works, the store is empty


def test_a_public_address_without_a_password_refuses_the_staff_pages_only(make):
    app = make("0.0.0.0")
    results = fetch(app, [(p, None) for p in STAFF_PATHS + PUBLIC_PATHS])
    staff, public = results[:len(STAFF_PATHS)], results[len(STAFF_PATHS):]
    assert all(status == 403 and "STAFF_PASSWORD" in text for status, _, text in staff), staff
    assert [status for status, _, _ in public] == [200, 200, 200]


def test_a_password_is_required_and_checked(make):
    app = make("0.0.0.0", STAFF_PASSWORD=PASSWORD, STAFF_USER="kuyakusho")
    results = fetch(app, [
        ("/staff/insights", None),
        ("/staff/insights", {"Authorization": basic("kuyakusho", "wrong password!")}),
        ("/staff/insights", {"Authorization": basic("staff", PASSWORD)}),
        ("/staff/insights", {"Authorization": "Basic !!!not base64"}),
        ("/staff/insights", {"Authorization": "Bearer " + PASSWORD}),
        ("/staff/insights", {"Authorization": basic("kuyakusho", PASSWORD)}),
        ("/staff/api/insights?period=week", {"Authorization": basic("kuyakusho", PASSWORD)}),
        ("/", None),
    ])
    assert [r[0] for r in results] == [401, 401, 401, 401, 401, 200, 200, 200]
    assert results[0][1]["WWW-Authenticate"].startswith('Basic realm="kuyakusho staff"')
    assert "パスワード" in results[0][2] and PASSWORD not in results[0][2]


def test_a_password_also_guards_loopback(make):
    app = make("127.0.0.1", STAFF_PASSWORD=PASSWORD)
    assert [r[0] for r in fetch(app, [("/staff", None), ("/staff", {"Authorization": basic("staff", PASSWORD)})])] \
        == [401, 200]


def status_of(url: str, headers: dict | None = None) -> int:
    try:
        with urllib.request.urlopen(urllib.request.Request(url, headers=headers or {}), timeout=30) as resp:
            return resp.status
    except urllib.error.HTTPError as err:
        return err.code


def test_server_bound_to_a_public_address_refuses_insights_without_credentials(kb_path, tmp_path):
    env = {"TRACKER_DB": str(tmp_path / "tracker.db")}
    with web_server(kb_path, tmp_path / "open.log", host="0.0.0.0", env=env) as base:
        assert status_of(base + "/staff/insights") == 403
        assert status_of(base + "/staff/api/insights") == 403
        assert status_of(base + "/") == 200
    assert "REFUSED" in (tmp_path / "open.log").read_text()
    with web_server(kb_path, tmp_path / "login.log", host="0.0.0.0", env={**env, "STAFF_PASSWORD": PASSWORD}) as base:
        assert status_of(base + "/staff/insights") == 401
        assert status_of(base + "/staff/insights", {"Authorization": basic("staff", PASSWORD)}) == 200
    done = subprocess.run([sys.executable, "-m", "bot.web", "--host", "0.0.0.0", "--port", "0", "--kb", str(kb_path)],
                          cwd=ROOT, capture_output=True, text=True, timeout=60,
                          env={"PATH": "/usr/bin:/bin", "PYTHONPATH": str(ROOT), "STAFF_PASSWORD": "1234"})
    assert done.returncode == 2 and "STAFF_PASSWORD must have at least 12 characters" in done.stderr
