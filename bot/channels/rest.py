"""The REST channel with a per-sender rate limit and no silent turns.

Webhook: ``POST /webhooks/rest/webhook`` (``name()`` is "rest", as for
Rasa's own channel).  ``credentials.yml``::

    bot.channels.rest.RestInput:
      max_messages: 20        # messages one sender may send ...
      per_seconds: 60         # ... within this sliding window
      max_message_chars: 1000 # longer messages are cut to this length
      redis_url: "${REDIS_URL}"  # set: the limit is counted in Redis, across processes

What it adds to ``rasa.core.channels.rest.RestInput``:

* **Rate limit.**  Each ``sender`` may send ``max_messages`` messages within
  any ``per_seconds`` window (sliding window over the times of the accepted
  messages).  A message over the limit does not reach the bot; the reply is
  :data:`RATE_LIMITED_TEXT` plus the status
  ``{"status": "not_found", "intent": "rate_limited", "sources": []}``.
  Other senders are not affected.  With ``redis_url`` (``REDIS_URL``) the
  window is kept in Redis (:class:`bot.channels.redis_state.RedisSlidingWindowLimiter`),
  so the limit holds across Rasa processes and Sanic workers; without it the
  memory is per process.
* **Never silence.**  When the bot sent no text for a turn (the action server
  is down or failed: Rasa logs the error and sends nothing), the reply is
  :data:`UNAVAILABLE_TEXT` with the status
  ``{"status": "not_found", "intent": "unavailable", "sources": []}``; a turn
  with text but no status message gets ``{"status": "not_found", ...}`` with
  the intent left empty, so every turn has exactly one status message.
* **Long messages** are cut to ``max_message_chars`` before NLU: the
  knowledge-base lookup reads at most about 1,000 characters anyway
  (``knowledge.normalize.normalize_query``), and NLU on very long text blocks
  the Rasa server for seconds.
* **Bad requests.**  A body that is not a JSON object, a ``message`` that is
  not a string, or a ``sender`` that is not a string or number (or is longer
  than 255 characters) is answered 400; a missing ``message`` is taken as "".
* Importing this module installs the personal-data log filter
  (:func:`bot.privacy.install_log_filter`).
"""
from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections import OrderedDict, deque
from collections.abc import Awaitable, Callable
from typing import Any

from rasa.core.channels.channel import InputChannel, UserMessage
from rasa.core.channels.rest import RestInput as RasaRestInput
from rasa.utils.common import call_potential_coroutine
from sanic import Blueprint, response
from sanic.request import Request

from bot import privacy
from bot.channels.line_api import resolve_setting
from bot.channels.redis_state import RedisSlidingWindowLimiter

logger = logging.getLogger(__name__)
privacy.install_log_filter()

RATE_LIMITED_TEXT = ("短時間に多くのメッセージを受け付けたため、少し時間をおいてから、もう一度お試しください。"
                     "お急ぎの場合は、お住まいの区役所の窓口にお問い合わせください。")
UNAVAILABLE_TEXT = ("申し訳ありません。ただいま回答を調べることができません。しばらくしてからもう一度お試しください。"
                    "お急ぎの場合はお住まいの区役所の窓口にお問い合わせください。")
MAX_SENDER_CHARS = 255


def status(intent: str) -> dict[str, Any]:
    """The turn status message of a reply the channel makes itself."""
    return {"status": "not_found", "intent": intent, "sources": []}


class SlidingWindowLimiter:
    """At most ``max_events`` per key within any ``window`` seconds.

    Keeps, per key, the times of the accepted events of the last window;
    keys idle for a whole window are forgotten, and at most ``max_keys``
    keys are remembered (the least recently seen go first).  Thread-safe.
    """

    def __init__(self, max_events: int, window: float, clock: Callable[[], float] = time.monotonic,
                 max_keys: int = 100_000) -> None:
        if max_events < 1 or window <= 0:
            raise ValueError("max_messages must be >= 1 and per_seconds > 0")
        self.max_events, self.window, self.clock, self.max_keys = max_events, window, clock, max_keys
        self._events: OrderedDict[str, deque[float]] = OrderedDict()
        self._lock = threading.Lock()

    def allow(self, key: str) -> bool:
        """Record an event for ``key`` and return True, or False (nothing
        recorded) when ``key`` already had ``max_events`` in the window."""
        now = self.clock()
        with self._lock:
            times = self._events.get(key)
            if times is None:
                times = self._events[key] = deque()
            self._events.move_to_end(key)
            while times and times[0] <= now - self.window:
                times.popleft()
            if len(times) >= self.max_events:
                return False
            times.append(now)
            self._forget(now)
            return True

    def retry_after(self, key: str) -> float:
        """Seconds until ``key`` may send again (0 when it may now)."""
        now = self.clock()
        with self._lock:
            times = self._events.get(key)
            if not times or len(times) < self.max_events:
                return 0.0
            return max(0.0, times[0] + self.window - now)

    def _forget(self, now: float) -> None:
        while len(self._events) > self.max_keys:
            self._events.popitem(last=False)
        for key in list(self._events)[:8]:  # oldest first; a few per call keeps it cheap
            times = self._events[key]
            if times and times[-1] > now - self.window:
                break
            del self._events[key]


def _has_content(message: dict[str, Any]) -> bool:
    return bool(message.get("text") or message.get("buttons") or message.get("image")
                or message.get("attachment") or message.get("quick_replies"))


class RestInput(RasaRestInput):
    """Rasa's REST channel plus rate limit, fallback reply and request checks."""

    @classmethod
    def name(cls) -> str:
        return "rest"

    @classmethod
    def from_credentials(cls, credentials: dict[str, Any] | None) -> InputChannel:
        """Options (all optional): ``max_messages`` (default 20),
        ``per_seconds`` (60), ``max_message_chars`` (1000), ``redis_url``
        (empty: the limit is counted in process).  Quoted ``${VAR}`` values
        are read from the environment."""
        credentials = credentials or {}
        return cls(
            max_messages=int(resolve_setting(credentials.get("max_messages"), "20")),
            per_seconds=float(resolve_setting(credentials.get("per_seconds"), "60")),
            max_message_chars=int(resolve_setting(credentials.get("max_message_chars"), "1000")),
            redis_url=resolve_setting(credentials.get("redis_url")),
        )

    def __init__(self, max_messages: int = 20, per_seconds: float = 60.0, max_message_chars: int = 1000,
                 clock: Callable[[], float] = time.monotonic, redis_url: str = "") -> None:
        """``redis_url`` (e.g. ``redis://127.0.0.1:6379/0``): count the limit
        in Redis, shared by every process; empty: in this process (with ``clock``).

        Raises:
            ValueError: ``max_message_chars`` < 1, ``max_messages`` < 1 or
                ``per_seconds`` <= 0.
        """
        if max_message_chars < 1:
            raise ValueError("max_message_chars must be >= 1")
        self.limiter: SlidingWindowLimiter | RedisSlidingWindowLimiter
        if redis_url:
            self.limiter = RedisSlidingWindowLimiter(redis_url, max_messages, per_seconds)
        else:
            self.limiter = SlidingWindowLimiter(max_messages, per_seconds, clock)
        self.max_message_chars = max_message_chars

    # ------------------------------------------------------------ the turn

    def guarded(self, on_new_message: Callable[[UserMessage], Awaitable[Any]]
                ) -> Callable[[UserMessage], Awaitable[None]]:
        """``on_new_message`` with the rate limit and the fallback reply."""

        async def handle(message: UserMessage) -> None:
            out, sender = message.output_channel, message.sender_id
            if not await call_potential_coroutine(self.limiter.allow(str(sender))):
                logger.info("rest: sender %s is over the rate limit (%d per %g s); message not processed",
                            sender, self.limiter.max_events, self.limiter.window)
                await out.send_response(sender, {"text": RATE_LIMITED_TEXT})
                await out.send_response(sender, {"custom": status("rate_limited")})
                return
            sent: list[dict[str, Any]] = []
            persist = out._persist_message

            async def tracking(msg: dict[str, Any]) -> None:
                sent.append(msg)
                await persist(msg)

            out._persist_message = tracking  # every CollectingOutputChannel send goes through it
            try:
                await on_new_message(message)
            except asyncio.CancelledError:
                raise
            except Exception:
                logger.exception("rest: the bot failed on a message from %s", sender)
            finally:
                out._persist_message = persist
            if not any(_has_content(m) for m in sent):
                logger.warning("rest: no reply for a message from %s (is the action server up?); "
                               "sent the 'cannot answer now' message", sender)
                await out.send_response(sender, {"text": UNAVAILABLE_TEXT})
                if not any(m.get("custom") for m in sent):
                    await out.send_response(sender, {"custom": status("unavailable")})
            elif not any(m.get("custom") for m in sent):
                await out.send_response(sender, {"custom": status("")})

        return handle

    # ------------------------------------------------------------ HTTP

    def check_request(self, request: Request) -> str | None:
        """Why the webhook request is malformed, or None.  Cuts an over-long
        ``message`` to ``max_message_chars`` and turns a missing one into ""."""
        try:
            body = request.json
        except Exception:
            return "the body is not valid JSON"
        if not isinstance(body, dict):
            return "the body must be a JSON object"
        sender, message = body.get("sender"), body.get("message")
        if sender is not None and (isinstance(sender, bool) or not isinstance(sender, (str, int))):
            return "sender must be a string"
        if sender is not None and len(str(sender)) > MAX_SENDER_CHARS:
            return f"sender must be at most {MAX_SENDER_CHARS} characters"
        if message is None:
            body["message"] = ""
        elif not isinstance(message, str):
            return "message must be a string"
        elif len(message) > self.max_message_chars:
            body["message"] = message[: self.max_message_chars]
        return None

    def blueprint(self, on_new_message: Callable[[UserMessage], Awaitable[None]]) -> Blueprint:
        """Rasa's REST routes (``GET /``, ``POST /webhook``) around :meth:`guarded`."""
        privacy.install_log_filter()  # handlers configured since import get it too
        blueprint = super().blueprint(self.guarded(on_new_message))

        @blueprint.middleware("request")
        async def validate(request: Request) -> response.HTTPResponse | None:
            if request.method == "POST" and request.path.rstrip("/").endswith("/webhook"):
                problem = self.check_request(request)
                if problem:
                    return response.json({"error": problem}, status=400)
            return None

        if isinstance(self.limiter, RedisSlidingWindowLimiter):
            limiter = self.limiter

            @blueprint.listener("before_server_stop")
            async def close_redis(app: Any, loop: Any) -> None:
                await limiter.close()

        return blueprint
