"""Login for the staff pages (``/staff``, ``/staff/insights`` and ``/staff/api/...``).

The staff pages show what citizens asked (masked) and are for ward-office
staff only.  HTTP Basic authentication (RFC 7617, the browser asks for the
user name and password) against credentials from the environment:

* ``STAFF_PASSWORD``: the password (at least :data:`MIN_PASSWORD_CHARS`
  characters).  There is no default password.
* ``STAFF_USER``: the user name (default ``staff``).

Who must log in (``StaffAuth.from_environment``):

* ``STAFF_PASSWORD`` set, any bind address: user name and password
  required (401 without).
* unset, bound to loopback (127.0.0.1, ::1, localhost): open, as a
  developer's tool, unless the request came through a proxy (a
  ``Forwarded``, ``X-Forwarded-For`` or ``X-Real-IP`` header): then 403.
* unset, bound to any other address (0.0.0.0, a LAN address, a host name):
  refused, 403 with a message naming ``STAFF_PASSWORD``.

The server still starts without a password on a public address, because
the same server serves the citizens' chat widget page (``/``), which needs
no login; only the staff pages are refused.  Basic authentication sends the
password with every request: outside loopback, serve it over HTTPS only
(a reverse proxy that terminates TLS).  Comparisons take constant time
(``hmac.compare_digest``).
"""
from __future__ import annotations

import hmac
import ipaddress
import os
from collections.abc import Mapping
from dataclasses import dataclass

from aiohttp import BasicAuth, hdrs, web

USER_ENV = "STAFF_USER"
PASSWORD_ENV = "STAFF_PASSWORD"  # noqa: S105 -- the name of the variable, not a password
DEFAULT_USER = "staff"
MIN_PASSWORD_CHARS = 12
REALM = "kuyakusho staff"
PROXY_HEADERS = ("Forwarded", "X-Forwarded-For", "X-Real-IP")
NOT_CONFIGURED = ("職員用ページは公開されていません。サーバーを 127.0.0.1 で起動するか、"
                  "環境変数 STAFF_PASSWORD（12文字以上）を設定してから起動し直してください。")
LOGIN_REQUIRED = "職員用ページです。ユーザー名とパスワードを入力してください。"


def is_loopback(host: str) -> bool:
    """Whether ``host`` (a bind address or name) only listens on this machine."""
    name = (host or "").strip().strip("[]")
    if name.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


def is_staff_path(path: str) -> bool:
    """Whether ``path`` is a staff page or its API (``/staff`` and below)."""
    return path == "/staff" or path.startswith("/staff/")


@dataclass(frozen=True)
class StaffAuth:
    """Who may see the staff pages (see the module docstring).

    ``password`` None means no credential is configured; ``loopback`` whether
    the server is bound to a loopback address.
    """

    user: str
    password: str | None
    loopback: bool

    @classmethod
    def from_environment(cls, host: str, environ: Mapping[str, str] | None = None) -> StaffAuth:
        """The rule for a server bound to ``host``, with the credentials in
        ``environ`` (default ``os.environ``).

        Raises:
            ValueError: ``STAFF_PASSWORD`` is set but shorter than
                :data:`MIN_PASSWORD_CHARS` characters, or ``STAFF_USER``
                contains a colon (Basic authentication cannot carry it).
        """
        env = os.environ if environ is None else environ
        password = env.get(PASSWORD_ENV) or None
        user = env.get(USER_ENV) or DEFAULT_USER
        if password is not None and len(password) < MIN_PASSWORD_CHARS:
            raise ValueError(f"{PASSWORD_ENV} must have at least {MIN_PASSWORD_CHARS} characters")
        if ":" in user:
            raise ValueError(f"{USER_ENV} must not contain ':'")
        return cls(user=user, password=password, loopback=is_loopback(host))

    @property
    def open_without_login(self) -> bool:
        """True when staff pages are served to loopback requests without a login."""
        return self.password is None and self.loopback

    def describe(self) -> str:
        """One line for the start-up message."""
        if self.password is not None:
            return f"staff pages: login required (user {self.user!r})"
        if self.loopback:
            return "staff pages: open on loopback (set STAFF_PASSWORD to require a login)"
        return "staff pages: REFUSED (bound to a non-loopback address without STAFF_PASSWORD)"

    def check(self, request: web.Request) -> None:
        """Let ``request`` through to a staff page, or raise.

        Raises:
            web.HTTPForbidden: no credential is configured and the server is
                not on loopback, or the request came through a proxy.
            web.HTTPUnauthorized: a credential is configured and the request
                does not carry it (with ``WWW-Authenticate: Basic``).
        """
        if self.password is None:
            if self.loopback and not any(h in request.headers for h in PROXY_HEADERS):
                return
            raise web.HTTPForbidden(text=NOT_CONFIGURED, content_type="text/plain")
        if not self._valid(request.headers.get(hdrs.AUTHORIZATION, "")):
            raise web.HTTPUnauthorized(
                text=LOGIN_REQUIRED, content_type="text/plain",
                headers={hdrs.WWW_AUTHENTICATE: f'Basic realm="{REALM}", charset="UTF-8"'})

    def _valid(self, header: str) -> bool:
        if not header or self.password is None:
            return False
        try:
            given = BasicAuth.decode(header, encoding="utf-8")
        except ValueError:
            return False
        user_ok = hmac.compare_digest(given.login.encode("utf-8"), self.user.encode("utf-8"))
        password_ok = hmac.compare_digest(given.password.encode("utf-8"), self.password.encode("utf-8"))
        return user_ok & password_ok


def middleware(auth: StaffAuth):
    """An aiohttp middleware that applies ``auth`` to the staff paths only."""

    @web.middleware
    async def staff_login(request: web.Request, handler):
        # the route the request resolved to decides, whatever the URL's spelling (%73taff, ..)
        resource = request.match_info.route.resource
        if is_staff_path(request.path) or (resource is not None and is_staff_path(resource.canonical)):
            auth.check(request)
        return await handler(request)

    return staff_login
