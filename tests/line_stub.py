"""A stub of the LINE Messaging API for tests, on 127.0.0.1 and a free port.

    async with LineStub() as line:            # line.url == "http://127.0.0.1:PORT"
        ...                                   # point the channel's api_base_url at line.url
        calls = await line.wait_for_calls(1)  # [Call(path, headers, json), ...]

It answers ``POST /v2/bot/message/reply`` and ``POST /v2/bot/message/push``
with 200 ``{}`` and records every HTTP call it gets (any method or path).
``line.reject_reply_tokens = True`` (or a set of tokens) makes the reply
endpoint answer 400 ``{"message": "Invalid reply token"}`` as LINE does for an
expired or used token.  A request without ``Authorization: Bearer ...`` gets
401, and more than 5 messages get 400, as on the real API.
"""
from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web


@dataclass
class Call:
    """One recorded HTTP call."""

    method: str
    path: str
    headers: dict
    json: Any = None
    status: int = 200
    raw: bytes = field(default=b"", repr=False)


class LineStub:
    """The stub server (see the module docstring)."""

    def __init__(self) -> None:
        self.calls: list[Call] = []
        self.reject_reply_tokens: bool | set = False
        self.url = ""
        self._runner: web.AppRunner | None = None
        self._changed = asyncio.Event()

    async def __aenter__(self) -> LineStub:
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self._handle)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        self.url = f"http://127.0.0.1:{port}"
        return self

    async def __aexit__(self, *exc: Any) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    def calls_to(self, path: str) -> list[Call]:
        """The recorded calls to ``path`` (e.g. ``/v2/bot/message/reply``)."""
        return [c for c in self.calls if c.path == path]

    async def wait_for_calls(self, count: int, timeout: float = 5.0) -> list[Call]:
        """Wait until at least ``count`` calls were recorded; all calls so far.

        Raises:
            asyncio.TimeoutError: fewer calls within ``timeout`` seconds.
        """
        async def wait() -> None:
            while len(self.calls) < count:
                self._changed.clear()
                await self._changed.wait()

        await asyncio.wait_for(wait(), timeout)
        return list(self.calls)

    def _rejects(self, token: Any) -> bool:
        if isinstance(self.reject_reply_tokens, bool):
            return self.reject_reply_tokens
        return token in self.reject_reply_tokens

    async def _handle(self, request: web.Request) -> web.Response:
        raw = await request.read()
        try:
            body = json.loads(raw.decode("utf-8")) if raw else None
        except ValueError:
            body = None
        status, answer = 200, {}
        if not request.headers.get("Authorization", "").startswith("Bearer "):
            status, answer = 401, {"message": "Authentication failed due to the following reason: no token"}
        elif request.method != "POST" or request.path not in ("/v2/bot/message/reply", "/v2/bot/message/push"):
            status, answer = 404, {"message": "Not found"}
        elif not isinstance(body, dict) or not 1 <= len(body.get("messages") or []) <= 5:
            status, answer = 400, {"message": "The request body has 1 error(s)"}
        elif request.path.endswith("/reply") and self._rejects(body.get("replyToken")):
            status, answer = 400, {"message": "Invalid reply token"}
        self.calls.append(Call(request.method, request.path, dict(request.headers), body, status, raw))
        self._changed.set()
        return web.json_response(answer, status=status)
