"""Small read-only web server: the staff quick reference (and, later, the citizen widget).

    python -m bot.web --port 8080 --kb knowledge/kb.sqlite [--host 127.0.0.1]

Routes (``make_app(kb_path)`` builds the ``aiohttp.web.Application``):

* ``GET /staff`` -- ``bot/static/staff.html`` (+ ``/static/staff.js``,
  ``/static/staff.css``): search as you type, the source of each answer, and
  browsing tabs.
* ``GET /staff/api/search?q=&limit=`` -> ``{"query", "results": [fact dicts]}``
  (see ``knowledge.staff.search``; ``q`` is cut to 200 characters, ``limit``
  1-100, default 20).
* ``GET /staff/api/source?doc=&first=&last=&context=`` -> ``{"doc", "title",
  "first", "last", "lines": [{"line", "text", "cited"}]}``; for an unknown
  document or bad numbers ``lines`` is empty and ``error`` says why.
* ``GET /staff/api/sections``, ``/staff/api/contacts``, ``/staff/api/events``,
  ``/staff/api/timeline`` -> ``{"sections" | "contacts" | "events" |
  "timeline": [...]}`` (see ``knowledge.staff``).
* ``GET /`` -- ``bot/static/index.html`` when it exists (the citizen chat
  widget, added separately), else 404.

Bad input (empty, huge, FTS5 syntax, odd bytes) gets 200 with an empty or
sensible list, never a 500.  The server only reads the knowledge base: it has
no conversation data, writes nothing, and its access log records the path,
never the query string (what staff type may name a citizen).
"""
from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import functools
import json
import logging
import os
import re
import sys
from pathlib import Path

from aiohttp import web
from aiohttp.abc import AbstractAccessLogger

from knowledge import staff
from knowledge.build import DEFAULT_DB
from knowledge.kb import KnowledgeBase, KnowledgeBaseError

STATIC_DIR = Path(__file__).resolve().parent / "static"
KB = web.AppKey("kb", KnowledgeBase)
MAX_PARAM_CHARS = 200
_UNSAFE = re.compile("[\ud800-\udfff\x00]")

log = logging.getLogger("bot.web")

SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'self'; img-src 'self' data:; object-src 'none'; "
                               "base-uri 'none'; frame-ancestors 'none'; form-action 'self'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
}


class PathOnlyAccessLogger(AbstractAccessLogger):
    """Access log without query strings: method, path, status, time in ms."""

    def log(self, request, response, time):  # noqa: D102 (aiohttp interface)
        self.logger.info("%s %s %s %.1fms", request.method, request.path, response.status, time * 1000)


@web.middleware
async def headers_middleware(request: web.Request, handler):
    """Security headers on every response (errors too); API answers are not cached."""
    try:
        response = await handler(request)
    except web.HTTPException as exc:
        _add_headers(request, exc.headers)
        raise
    _add_headers(request, response.headers)
    return response


def _add_headers(request: web.Request, headers) -> None:
    for key, value in SECURITY_HEADERS.items():
        headers.setdefault(key, value)
    if request.path.startswith("/staff/api/"):
        headers["Cache-Control"] = "no-store"


def _param(request: web.Request, name: str, default: str = "") -> str:
    """Query parameter ``name`` cut to ``MAX_PARAM_CHARS`` characters, without
    lone surrogates and NUL (they cannot be encoded / are never meant)."""
    value = request.query.get(name, default)
    if not isinstance(value, str):
        return default
    return _UNSAFE.sub("", value[:MAX_PARAM_CHARS])


def _int(value: str, default: int) -> int:
    try:
        return int(value.strip()[:12])
    except (ValueError, AttributeError):
        return default


def _json(data: dict) -> web.Response:
    return web.json_response(data, dumps=_dumps)


_dumps = functools.partial(json.dumps, ensure_ascii=False)


async def api_search(request: web.Request) -> web.Response:
    q = _param(request, "q")
    limit = max(1, min(_int(_param(request, "limit", "20"), 20), staff.MAX_LIMIT))
    results = await asyncio.to_thread(staff.search, request.app[KB], q, limit)
    return _json({"query": q, "results": results})


async def api_source(request: web.Request) -> web.Response:
    doc = _param(request, "doc")
    first, last = _param(request, "first"), _param(request, "last")
    context = _int(_param(request, "context", "2"), 2)
    try:
        data = await asyncio.to_thread(staff.source, request.app[KB], doc, first, last or first, context)
    except ValueError as exc:
        data = {"doc": doc, "title": None, "first": None, "last": None, "lines": [], "error": str(exc)}
    return _json(data)


async def api_sections(request: web.Request) -> web.Response:
    return _json({"sections": await asyncio.to_thread(staff.sections, request.app[KB])})


async def api_contacts(request: web.Request) -> web.Response:
    return _json({"contacts": await asyncio.to_thread(staff.contacts, request.app[KB])})


async def api_events(request: web.Request) -> web.Response:
    today = dt.date.today()
    return _json({"today": today.isoformat(), "events": await asyncio.to_thread(staff.events, request.app[KB], today)})


async def api_timeline(request: web.Request) -> web.Response:
    return _json({"timeline": await asyncio.to_thread(staff.timeline, request.app[KB])})


async def staff_page(request: web.Request) -> web.FileResponse:
    return web.FileResponse(STATIC_DIR / "staff.html", headers={"Content-Type": "text/html; charset=utf-8"})


async def staff_slash(request: web.Request):
    raise web.HTTPPermanentRedirect("/staff")


_HOST = re.compile(r"(\[[0-9A-Fa-f:.]{2,45}\]|[A-Za-z0-9.-]{1,253})(?::[0-9]{1,5})?")


def _index_csp(request: web.Request) -> str:
    """The CSP of ``/``: ours, plus ``connect-src`` for the chat server (Rasa's
    socket.io) on this page's host at any port; the widget's ``?server=`` is
    same-host only too."""
    match = _HOST.fullmatch(request.host or "")
    host = match.group(1) if match else "localhost"
    origins = " ".join(f"{scheme}://{host}:*" for scheme in ("http", "https", "ws", "wss"))
    return f"{SECURITY_HEADERS['Content-Security-Policy']}; connect-src 'self' {origins}"


async def index_page(request: web.Request) -> web.FileResponse:
    """The citizen chat widget (``bot/static/index.html``, ``chat.js``), when it exists."""
    path = STATIC_DIR / "index.html"
    if not path.is_file():
        raise web.HTTPNotFound(text="Not Found")
    return web.FileResponse(path, headers={"Content-Type": "text/html; charset=utf-8",
                                           "Content-Security-Policy": _index_csp(request)})


async def _warm_up(app: web.Application) -> None:
    # Load Sudachi's dictionary and build the search structures before the first request.
    await asyncio.to_thread(staff.search, app[KB], "区役所")


def make_app(kb_path: Path | str = DEFAULT_DB) -> web.Application:
    """The application over the knowledge base at ``kb_path`` (opened
    read-only once; raises ``KnowledgeBaseError`` when it is missing)."""
    app = web.Application(middlewares=[headers_middleware], client_max_size=64 * 1024)
    app[KB] = KnowledgeBase(kb_path)
    app.router.add_get("/", index_page)
    app.router.add_get("/staff", staff_page)
    app.router.add_get("/staff/", staff_slash)
    app.router.add_get("/staff/api/search", api_search)
    app.router.add_get("/staff/api/source", api_source)
    app.router.add_get("/staff/api/sections", api_sections)
    app.router.add_get("/staff/api/contacts", api_contacts)
    app.router.add_get("/staff/api/events", api_events)
    app.router.add_get("/staff/api/timeline", api_timeline)
    app.router.add_static("/static/", STATIC_DIR, show_index=False, follow_symlinks=False)
    app.on_startup.append(_warm_up)
    return app


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bot.web", description="staff quick-reference web server")
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=8080)
    parser.add_argument("--kb", default=os.environ.get("KB_PATH", str(DEFAULT_DB)),
                        help="knowledge base (default $KB_PATH or knowledge/kb.sqlite)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    try:
        app = make_app(args.kb)
    except KnowledgeBaseError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(f"staff quick reference: http://{args.host}:{args.port}/staff", flush=True)
    web.run_app(app, host=args.host, port=args.port, access_log_class=PathOnlyAccessLogger,
                access_log=logging.getLogger("bot.web.access"), print=None)
    return 0


if __name__ == "__main__":
    sys.exit(main())
