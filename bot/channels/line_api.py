"""LINE Messaging API: the small, pure pieces the LINE channel is built from.

Everything here is independent of Rasa and Sanic so that it can be unit-tested
on its own:

* :func:`compute_signature` / :func:`verify_signature` -- the webhook
  signature (``X-Line-Signature`` = base64(HMAC-SHA256(channel secret, raw
  body))), compared in constant time.
* :func:`split_text`, :func:`fit_texts`, :func:`quick_reply_items`,
  :func:`build_messages` -- turn the bot's texts and buttons into at most
  5 LINE message objects that respect LINE's limits.
* :func:`parse_webhook_body`, :func:`conversation_id` -- read webhook events.
* :class:`RecentIds` -- a bounded TTL set for de-duplicating redelivered
  webhook events.
* :class:`LineApiClient` -- the reply and push endpoints over aiohttp.

Limits used (LINE Messaging API reference, "Message objects", "Quick reply",
"Action objects", "Counting text characters"):

* a reply or push request carries at most 5 message objects;
* a text message holds at most 5,000 characters, counted in UTF-16 code
  units (an astral character such as most emoji counts as 2);
* a quick reply holds at most 13 items; an action label at most 20
  characters, message-action text and postback data at most 300 (LINE counts
  action properties in grapheme clusters; we count code points, which is never
  fewer, so we stay within the limit).

The official ``line-bot-sdk`` is not used: every 3.x release needs pydantic 2
or pins aiohttp 3.8.x, which conflicts with Rasa 3.6 (pydantic 1.10, aiohttp
3.9.5); the 1.x/2.x line that still installs is the deprecated legacy SDK.
"""
from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
import logging
import os
import re
import time
import uuid
from collections import OrderedDict
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

import aiohttp

logger = logging.getLogger(__name__)

DEFAULT_API_BASE_URL = "https://api.line.me"
REPLY_PATH = "/v2/bot/message/reply"
PUSH_PATH = "/v2/bot/message/push"

MAX_MESSAGES = 5  # message objects per reply/push request
MAX_TEXT_LENGTH = 5000  # UTF-16 code units per text message
MAX_QUICK_REPLY_ITEMS = 13
MAX_LABEL_LENGTH = 20  # action label
MAX_ACTION_TEXT_LENGTH = 300  # message action text, postback data, displayText
MAX_URI_LENGTH = 1000  # uri action

TRUNCATION_NOTICE = "\n\n（文字数の上限のため、以降は省略しました）"
QUICK_REPLY_PROMPT = "次のいずれかをお選びください。"

_SEPARATORS: tuple[tuple[str, ...], ...] = (
    ("\n\n",),  # paragraphs
    ("\n",),  # lines
    ("。", "！", "？", "!", "?", "．", ". "),  # sentence ends
    ("、", "，", ", ", " ", "\u3000"),  # clauses and spaces
)
_CLOSING = "」』）)】〕"
_ENV_REF = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")


# --------------------------------------------------------------------------- signature

def compute_signature(channel_secret: str, body: bytes) -> str:
    """The ``X-Line-Signature`` LINE sends for ``body``.

    Args:
        channel_secret: the channel secret (LINE Developers console, "Basic
            settings"), used as the HMAC key in its UTF-8 encoding.
        body: the raw request body, exactly as received (bytes, not re-encoded
            JSON).

    Returns:
        base64 (standard alphabet, padded) of HMAC-SHA256(channel_secret, body),
        a 44-character ASCII string.
    """
    digest = hmac.new(channel_secret.encode("utf-8"), body, hashlib.sha256).digest()
    return base64.b64encode(digest).decode("ascii")


def verify_signature(channel_secret: str, body: bytes, signature: str | None) -> bool:
    """Whether ``signature`` is the valid ``X-Line-Signature`` of ``body``.

    False (never an exception) when the secret is empty, the signature is
    missing or empty, or it does not match.  The comparison is constant-time
    (:func:`hmac.compare_digest`).
    """
    if not channel_secret or not signature:
        return False
    expected = compute_signature(channel_secret, body)
    return hmac.compare_digest(expected.encode("ascii"), signature.strip().encode("utf-8"))


# --------------------------------------------------------------------------- text

def utf16_len(text: str) -> int:
    """Length of ``text`` as LINE counts it: UTF-16 code units."""
    return len(text) + sum(1 for ch in text if ord(ch) > 0xFFFF)


def _prefix_len(text: str, limit: int) -> int:
    """Code points in the longest prefix of ``text`` of at most ``limit`` UTF-16 units."""
    units = 0
    for i, ch in enumerate(text):
        units += 2 if ord(ch) > 0xFFFF else 1
        if units > limit:
            return i
    return len(text)


def _cut_point(text: str, limit: int) -> int:
    """Where to cut ``text`` so that ``text[:cut]`` fits ``limit`` UTF-16 units.

    Prefers (in this order) a paragraph break, a line break, a sentence end, a
    comma or space, as long as the cut keeps at least half of the window;
    otherwise cuts hard at the limit.  Always returns at least 1 for non-empty
    ``text`` so callers make progress.
    """
    n = _prefix_len(text, limit)
    if n >= len(text):
        return len(text)
    window = text[:n]
    floor = n // 2
    for seps in _SEPARATORS:
        best = max((window.rfind(s) + len(s) for s in seps if window.rfind(s) >= 0), default=-1)
        if best > floor:
            while best < n and window[best] in _CLOSING:  # keep 。」 together
                best += 1
            return best
    return max(n, 1)


def split_text(text: str, limit: int = MAX_TEXT_LENGTH) -> list[str]:
    """Split ``text`` into pieces of at most ``limit`` UTF-16 code units.

    Pieces are cut at paragraph breaks, then line breaks, then sentence ends
    (。！？), then commas/spaces, and only as a last resort in the middle of a
    run; whitespace at the cuts is dropped.  Text that fits comes back as one
    piece (stripped).  Empty or blank text gives ``[]``.

    Raises:
        ValueError: when ``limit`` < 2 (an astral character needs 2 units).
    """
    if limit < 2:
        raise ValueError(f"limit must be at least 2, got {limit}")
    pieces: list[str] = []
    rest = (text or "").strip()
    while rest:
        cut = _cut_point(rest, limit)
        piece = rest[:cut].rstrip()
        if piece:
            pieces.append(piece)
        rest = rest[cut:].lstrip()
    return pieces


def truncate_text(text: str, limit: int = MAX_TEXT_LENGTH, notice: str = TRUNCATION_NOTICE) -> str:
    """``text`` if it fits ``limit`` UTF-16 units; else its beginning (cut at a
    natural break when possible) followed by ``notice``, within ``limit``.

    Raises:
        ValueError: when ``notice`` alone does not leave 2 units of room.
    """
    if utf16_len(text) <= limit:
        return text
    room = limit - utf16_len(notice)
    if room < 2:
        raise ValueError("notice is too long for the limit")
    return text[: _cut_point(text, room)].rstrip() + notice


def fit_texts(texts: Iterable[str], max_messages: int = MAX_MESSAGES, limit: int = MAX_TEXT_LENGTH,
              notice: str = TRUNCATION_NOTICE) -> list[str]:
    """The bot's texts for one turn as at most ``max_messages`` texts of at most
    ``limit`` UTF-16 units each.

    1. Each text stays one message; a text over the limit is split with
       :func:`split_text`.  Blank texts are dropped.
    2. If that gives more than ``max_messages``, all texts are joined with a
       blank line and split again, which packs short texts together.
    3. If it is still too many, the first ``max_messages`` pieces are kept and
       the last one ends with ``notice`` (the rest is cut off).
    """
    texts = [t.strip() for t in texts if t and t.strip()]
    pieces = [p for t in texts for p in split_text(t, limit)]
    if len(pieces) <= max_messages:
        return pieces
    pieces = split_text("\n\n".join(texts), limit)
    if len(pieces) <= max_messages:
        return pieces
    kept = pieces[:max_messages]
    last, room = kept[-1], limit - utf16_len(notice)
    if utf16_len(last) > room:
        last = last[: _cut_point(last, room)].rstrip()
    kept[-1] = last + notice
    return kept


def shorten(text: str, limit: int) -> str:
    """``text`` cut to ``limit`` code points, ending with "…" when cut."""
    return text if len(text) <= limit else text[: max(limit - 1, 0)] + "…"


# --------------------------------------------------------------------------- message objects

def button_to_action(button: Mapping[str, Any]) -> dict | None:
    """A LINE action object for one Rasa button, or None when it cannot be one.

    ``button`` is a Rasa button ``{"title": str, "payload": str}`` (or
    ``{"title", "url"}`` for a link):

    * payload starting with ``/`` (an intent such as ``/greet``) -> postback
      action ``{"type": "postback", "label", "data": payload, "displayText": title}``,
      so the user sees the title and the bot receives the payload;
    * any other payload -> message action ``{"type": "message", "label", "text": payload}``
      (the user "says" the payload);
    * ``url`` with an http(s)/tel/line scheme -> ``{"type": "uri", "label", "uri"}``.

    The label is the title (or payload) cut to 20 characters.  A payload or
    URL longer than LINE allows (300 / 1,000) is dropped rather than cut,
    because a cut payload would mean something else.
    """
    title = str(button.get("title") or "").strip()
    payload = str(button.get("payload") or "").strip()
    url = str(button.get("url") or "").strip()
    label = shorten(title or payload, MAX_LABEL_LENGTH)
    if not label:
        return None
    if url:
        if len(url) > MAX_URI_LENGTH or not re.match(r"(?i)^(https?://|tel:|line://)", url):
            return None
        return {"type": "uri", "label": label, "uri": url}
    if not payload or len(payload) > MAX_ACTION_TEXT_LENGTH:
        return None
    if payload.startswith("/"):
        return {"type": "postback", "label": label, "data": payload,
                "displayText": shorten(title or payload, MAX_ACTION_TEXT_LENGTH)}
    return {"type": "message", "label": label, "text": payload}


def quick_reply_items(buttons: Iterable[Mapping[str, Any]], max_items: int = MAX_QUICK_REPLY_ITEMS) -> list[dict]:
    """Quick reply items ``[{"type": "action", "action": {...}}]`` for Rasa buttons.

    Buttons that cannot be actions are skipped, duplicates (same action) are
    dropped, and at most ``max_items`` (13) are kept, in order.
    """
    items: list[dict] = []
    seen: set[str] = set()
    for button in buttons:
        action = button_to_action(button)
        if action is None:
            logger.debug("line: button %r cannot be a quick reply; skipped", button)
            continue
        key = json.dumps(action, sort_keys=True, ensure_ascii=False)
        if key in seen:
            continue
        seen.add(key)
        items.append({"type": "action", "action": action})
        if len(items) == max_items:
            break
    return items


def build_messages(texts: Sequence[str], buttons: Sequence[Mapping[str, Any]] = ()) -> list[dict]:
    """LINE message objects for one bot turn.

    Args:
        texts: the bot's texts, in order.
        buttons: the turn's Rasa buttons (``{"title", "payload"}``), in order.

    Returns:
        At most 5 ``{"type": "text", "text": str}`` objects (see
        :func:`fit_texts`); the last one carries ``"quickReply": {"items":
        [...]}`` when there are buttons (LINE shows a quick reply only on the
        last message received).  With buttons but no text, one short prompt
        carries them.  ``[]`` when there is nothing to send.
    """
    messages: list[dict] = [{"type": "text", "text": t} for t in fit_texts(texts)]
    items = quick_reply_items(buttons)
    if items:
        if not messages:
            messages = [{"type": "text", "text": QUICK_REPLY_PROMPT}]
        messages[-1]["quickReply"] = {"items": items}
    return messages


# --------------------------------------------------------------------------- webhook events

def parse_webhook_body(body: bytes) -> list[dict]:
    """The events of a webhook request body ``{"destination": str, "events": [...]}``.

    Returns the event objects (dicts) in order; ``[]`` for LINE's
    verification request (``"events": []``).

    Raises:
        ValueError: the body is not UTF-8 JSON of that shape.
    """
    try:
        data = json.loads(body.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as err:
        raise ValueError(f"webhook body is not UTF-8 JSON: {err}") from err
    if not isinstance(data, dict) or not isinstance(data.get("events", []), list):
        raise ValueError("webhook body must be an object with an 'events' list")
    events = data.get("events", [])
    if not all(isinstance(event, dict) for event in events):
        raise ValueError("every webhook event must be an object")
    return events


def conversation_id(event: Mapping[str, Any]) -> str | None:
    """Who the conversation is with: ``source.groupId``, else ``source.roomId``,
    else ``source.userId``; None when the event has none of them.

    This id is both the Rasa sender id and the push ``to`` address.
    """
    source = event.get("source") or {}
    for key in ("groupId", "roomId", "userId"):
        if source.get(key):
            return str(source[key])
    return None


def resolve_setting(value: Any, default: str = "", environ: Mapping[str, str] | None = None) -> str:
    """A credentials value as a string, with ``${VAR}`` references resolved.

    Rasa expands ``${VAR}`` itself only in plain (unquoted) YAML scalars and
    refuses to start when such a variable is unset; ``credentials.yml``
    therefore quotes them, and this function expands what is left from
    ``environ`` (default ``os.environ``), an unset variable becoming "".
    Returns ``default`` when the result is empty or blank (also for None).
    """
    env = os.environ if environ is None else environ
    text = "" if value is None else str(value)
    text = _ENV_REF.sub(lambda m: env.get(m.group(1), ""), text).strip()
    return text or default


class RecentIds:
    """A bounded set of recently seen ids (LRU order, time-to-live).

    Used to drop redelivered webhook events by ``webhookEventId``.  It lives
    in the memory of one process: with several Rasa replicas behind a load
    balancer a redelivery can reach another replica, so the LINE channel uses
    ``bot.channels.redis_state.RedisRecentIds`` instead when ``REDIS_URL`` is set.
    """

    def __init__(self, capacity: int = 10_000, ttl: float = 3600.0,
                 clock: Callable[[], float] = time.monotonic) -> None:
        """``capacity``: ids kept at most; ``ttl``: seconds an id is remembered."""
        if capacity < 1 or ttl <= 0:
            raise ValueError("capacity must be >= 1 and ttl > 0")
        self.capacity, self.ttl, self._clock = capacity, ttl, clock
        self._seen: OrderedDict[str, float] = OrderedDict()

    def __len__(self) -> int:
        return len(self._seen)

    def seen(self, key: str) -> bool:
        """True when ``key`` was recorded less than ``ttl`` seconds ago;
        otherwise record it now and return False."""
        now = self._clock()
        while self._seen:  # expire the oldest entries
            oldest, at = next(iter(self._seen.items()))
            if now - at < self.ttl:
                break
            del self._seen[oldest]
        if key in self._seen:
            return True
        self._seen[key] = now
        while len(self._seen) > self.capacity:
            self._seen.popitem(last=False)
        return False


# --------------------------------------------------------------------------- HTTP client

class LineApiError(Exception):
    """A LINE API call failed.

    Attributes:
        status: the HTTP status, or None when no response arrived (timeout,
            connection error).
        message: LINE's ``message`` (e.g. "Invalid reply token") or the error text.
        details: LINE's ``details`` list (may be empty).
    """

    def __init__(self, status: int | None, message: str, details: list | None = None) -> None:
        super().__init__(f"LINE API error {status}: {message}")
        self.status, self.message, self.details = status, message, details or []

    @property
    def invalid_reply_token(self) -> bool:
        """Whether the reply token was rejected (expired, already used or unknown)."""
        return self.status == 400 and "invalid reply token" in self.message.lower()


class LineApiClient:
    """The reply and push endpoints of the LINE Messaging API.

    One ``aiohttp.ClientSession`` is reused per event loop (created on first
    use); call :meth:`close` when done.
    """

    def __init__(self, access_token: str, base_url: str = DEFAULT_API_BASE_URL, timeout: float = 10.0) -> None:
        """``access_token``: the channel access token (long-lived or v2.1);
        ``base_url``: e.g. ``https://api.line.me`` (no trailing path);
        ``timeout``: total seconds per request."""
        self.access_token = access_token
        self.base_url = (base_url or DEFAULT_API_BASE_URL).rstrip("/")
        self.timeout = aiohttp.ClientTimeout(total=timeout)
        self._session: aiohttp.ClientSession | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    def _get_session(self) -> aiohttp.ClientSession:
        loop = asyncio.get_running_loop()
        if self._session is None or self._session.closed or self._loop is not loop:
            self._session = aiohttp.ClientSession(timeout=self.timeout)
            self._loop = loop
        return self._session

    async def close(self) -> None:
        """Close the HTTP session (safe to call more than once)."""
        session, self._session = self._session, None
        if session is not None and not session.closed:
            await session.close()

    async def reply(self, reply_token: str, messages: list[dict]) -> None:
        """``POST {base}/v2/bot/message/reply`` with ``{"replyToken", "messages"}``.

        Raises:
            LineApiError: a non-2xx answer (``invalid_reply_token`` tells an
                expired/used token apart) or no answer within the timeout.
        """
        await self._post(REPLY_PATH, {"replyToken": reply_token, "messages": messages})

    async def push(self, to: str, messages: list[dict], retry_key: str | None = None) -> None:
        """``POST {base}/v2/bot/message/push`` with ``{"to", "messages"}``.

        ``to`` is a userId, groupId or roomId.  ``X-Line-Retry-Key`` (a UUID,
        generated when not given) lets LINE drop a duplicate if the same push
        is ever retried.  Push messages count against the channel's monthly
        message quota; replies do not.

        Raises:
            LineApiError: as :meth:`reply`.
        """
        await self._post(PUSH_PATH, {"to": to, "messages": messages},
                         {"X-Line-Retry-Key": retry_key or str(uuid.uuid4())})

    async def _post(self, path: str, payload: dict, headers: dict | None = None) -> None:
        data = json.dumps(payload, ensure_ascii=False).encode("utf-8")
        all_headers = {"Authorization": f"Bearer {self.access_token}",
                       "Content-Type": "application/json; charset=utf-8", **(headers or {})}
        try:
            async with self._get_session().post(self.base_url + path, data=data, headers=all_headers) as resp:
                if 200 <= resp.status < 300:
                    return
                text = await resp.text()
        except (aiohttp.ClientError, asyncio.TimeoutError) as err:
            raise LineApiError(None, f"{type(err).__name__}: {err}") from err
        try:
            body = json.loads(text)
        except ValueError:
            body = {}
        body = body if isinstance(body, dict) else {}
        raise LineApiError(resp.status, str(body.get("message") or text[:200]), body.get("details"))
