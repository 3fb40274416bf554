"""Small read-only web server: the citizen widget page, the staff quick reference and staff insights.

    python -m bot.web --port 8080 --kb knowledge/kb.sqlite [--host 127.0.0.1] [--endpoints endpoints.yml]

Routes (``make_app(kb_path, host=, endpoints=)`` builds the ``aiohttp.web.Application``):

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
* ``GET /staff/insights`` -- ``bot/static/insights.html`` (+ ``insights.js``,
  ``vendor/chart.umd.min.js``): what citizens asked, what the bot could not
  answer, the answers rated down (``bot/insights.py``).
* ``GET /staff/api/insights?since=&until=&period=day|week`` -> the result of
  ``bot.insights.compute`` plus ``columns`` and ``titles`` (the tables'
  Japanese headers); 400 ``{"error"}`` for bad dates, 503 ``{"error"}``
  when the tracker store cannot be read; ``notice`` when no conversation
  is stored yet (the tables are then empty).
* ``GET /staff/api/insights.csv?table=periods|unanswered|down_rated&since=&until=&period=``
  -> that table as CSV (``bot.insights.to_csv``: UTF-8 with BOM), as a download.
* ``GET /`` -- ``bot/static/index.html`` when it exists (the citizen chat
  widget), else 404.

The staff pages and their API need a login unless the server is bound to
loopback (``bot/staff_auth.py``: ``STAFF_PASSWORD``, HTTP Basic).  Bad input
(empty, huge, FTS5 syntax, odd bytes) gets 200 with an empty or sensible
list, never a 500.  The server only reads: the knowledge base, and the
conversations in the tracker store named by the endpoints file (read-only
connection; the store's retention applies).  Its access log records the
path, never the query string (what staff type may name a citizen).
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
import threading
from pathlib import Path

from aiohttp import web
from aiohttp.abc import AbstractAccessLogger

from bot import insights, staff_auth, tracker_db
from knowledge import staff
from knowledge.build import DEFAULT_DB
from knowledge.kb import KnowledgeBase, KnowledgeBaseError

STATIC_DIR = Path(__file__).resolve().parent / "static"
KB = web.AppKey("kb", KnowledgeBase)
STORE = web.AppKey("store", object)  # the _Store of the app
AUTH = web.AppKey("auth", staff_auth.StaffAuth)
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


def _json(data: dict, status: int = 200) -> web.Response:
    return web.json_response(data, dumps=_dumps, status=status)


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


class _Store:
    """The tracker store's settings (or why they could not be read) and one
    read-only engine, opened on first use (the SQLite file may not exist yet)."""

    def __init__(self, endpoints: Path | str) -> None:
        self.settings: tracker_db.TrackerDB | None = None
        self.problem: str | None = None
        try:
            self.settings = tracker_db.from_endpoints(endpoints)
        except (OSError, ValueError) as exc:
            self.problem = str(exc)
            log.warning("staff insights unavailable: %s", exc)
        self._engine = None
        self._lock = threading.Lock()

    def engine(self):
        """The engine (raises ``insights.InsightsError`` as ``insights.open_store``)."""
        with self._lock:
            if self._engine is None:
                self._engine = insights.open_store(self.settings)
            return self._engine

    def close(self) -> None:
        with self._lock:
            if self._engine is not None:
                self._engine.dispose()
                self._engine = None


def _insights_args(request: web.Request) -> tuple:
    since = insights.parse_date(_param(request, "since"))
    until = insights.parse_date(_param(request, "until"))
    period = _param(request, "period", "day") or "day"
    insights.check_range(since, until, period)
    return since, until, period


def _compute_insights(app: web.Application, since, until, period: str) -> dict:
    """The insights for the page and the CSV files (runs in a worker thread)."""
    store: _Store = app[STORE]
    if store.settings is None:
        raise insights.InsightsError(store.problem or "no tracker store configured")
    facts = insights.kb_facts(app[KB])
    try:
        engine = store.engine()
    except insights.NoConversations as exc:
        result = insights.compute([], since, until, period, facts)
        result.update(store=store.settings.dialect, retention_days=store.settings.retention_days, notice=str(exc))
        return result
    return insights.insights(store.settings, since, until, period, facts, engine=engine)


async def _insights_or_error(request: web.Request):
    try:
        since, until, period = _insights_args(request)
    except ValueError as exc:
        return None, _json({"error": str(exc)}, status=400)
    try:
        result = await asyncio.to_thread(_compute_insights, request.app, since, until, period)
    except insights.InsightsError as exc:
        log.error("staff insights: %s", exc)
        return None, _json({"error": f"会話の記録を読み込めませんでした（{exc}）"}, status=503)
    return result, None


async def api_insights(request: web.Request) -> web.Response:
    result, error = await _insights_or_error(request)
    if error is not None:
        return error
    result["columns"] = {table: [list(c) for c in cols] for table, cols in insights.COLUMNS.items()}
    result["titles"] = insights.TABLE_TITLES
    return _json(result)


async def api_insights_csv(request: web.Request) -> web.Response:
    table = _param(request, "table")
    if table not in insights.COLUMNS:
        return _json({"error": f"table must be one of {', '.join(insights.COLUMNS)}"}, status=400)
    result, error = await _insights_or_error(request)
    if error is not None:
        return error
    name = f"{table}_{result['since'] or 'all'}_{result['until'] or 'all'}_{result['period']}.csv"
    return web.Response(body=insights.to_csv(result, table), content_type="text/csv", charset="utf-8",
                        headers={"Content-Disposition": f'attachment; filename="{name}"'})


async def insights_page(request: web.Request) -> web.FileResponse:
    return web.FileResponse(STATIC_DIR / "insights.html", headers={"Content-Type": "text/html; charset=utf-8"})


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


async def _close_store(app: web.Application) -> None:
    app[STORE].close()


def make_app(kb_path: Path | str = DEFAULT_DB, host: str = "127.0.0.1",
             endpoints: Path | str = tracker_db.DEFAULT_ENDPOINTS) -> web.Application:
    """The application over the knowledge base at ``kb_path`` (opened
    read-only once) and the tracker store named in ``endpoints``, for a
    server bound to ``host`` (which decides who must log in to the staff
    pages: ``bot.staff_auth``).  A tracker store that cannot be configured
    does not stop the server: the insights API reports it.

    Raises:
        KnowledgeBaseError: the knowledge base is missing or corrupt.
        ValueError: ``STAFF_PASSWORD`` / ``STAFF_USER`` are unusable.
    """
    auth = staff_auth.StaffAuth.from_environment(host)
    app = web.Application(middlewares=[headers_middleware, staff_auth.middleware(auth)],
                          client_max_size=64 * 1024)
    app[KB] = KnowledgeBase(kb_path)
    app[STORE] = _Store(endpoints)
    app[AUTH] = auth
    app.on_cleanup.append(_close_store)
    app.router.add_get("/", index_page)
    app.router.add_get("/staff", staff_page)
    app.router.add_get("/staff/", staff_slash)
    app.router.add_get("/staff/api/search", api_search)
    app.router.add_get("/staff/api/source", api_source)
    app.router.add_get("/staff/api/sections", api_sections)
    app.router.add_get("/staff/api/contacts", api_contacts)
    app.router.add_get("/staff/api/events", api_events)
    app.router.add_get("/staff/api/timeline", api_timeline)
    app.router.add_get("/staff/insights", insights_page)
    app.router.add_get("/staff/api/insights", api_insights)
    app.router.add_get("/staff/api/insights.csv", api_insights_csv)
    app.router.add_static("/static/", STATIC_DIR, show_index=False, follow_symlinks=False)
    app.on_startup.append(_warm_up)
    return app


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bot.web", description="staff quick-reference web server")
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=8080)
    parser.add_argument("--kb", default=os.environ.get("KB_PATH", str(DEFAULT_DB)),
                        help="knowledge base (default $KB_PATH or knowledge/kb.sqlite)")
    parser.add_argument("--endpoints", default=str(tracker_db.DEFAULT_ENDPOINTS),
                        help="endpoints file naming the tracker store, for /staff/insights (default endpoints.yml)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    try:
        app = make_app(args.kb, host=args.host, endpoints=args.endpoints)
    except (KnowledgeBaseError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(f"staff quick reference: http://{args.host}:{args.port}/staff "
          f"(insights: /staff/insights; {app[AUTH].describe()})", flush=True)
    web.run_app(app, host=args.host, port=args.port, access_log_class=PathOnlyAccessLogger,
                access_log=logging.getLogger("bot.web.access"), print=None)
    return 0


if __name__ == "__main__":
    sys.exit(main())
