"""Rasa input channel for the LINE Messaging API.

Webhook: ``POST /webhooks/line/webhook`` (health: ``GET /webhooks/line/``).
``credentials.yml``::

    bot.channels.line.LineInput:
      channel_secret: "${LINE_CHANNEL_SECRET}"
      channel_access_token: "${LINE_CHANNEL_ACCESS_TOKEN}"
      api_base_url: "${LINE_API_BASE_URL}"     # empty/unset -> https://api.line.me
      redis_url: "${REDIS_URL}"                # set: redeliveries are dropped across processes

Request flow:

1. The ``X-Line-Signature`` header must be base64(HMAC-SHA256(channel
   secret, raw body)); otherwise the answer is 401 and nothing is processed.
2. The request is acknowledged with 200 at once; its events are handled in
   background tasks (one per conversation, events in order), so a slow answer
   never makes LINE time out.
3. Events already seen (same ``webhookEventId``, e.g. a redelivery) are
   dropped: remembered in Redis when ``redis_url`` is set (by any Rasa
   process, :class:`bot.channels.redis_state.RedisRecentIds`), else in this
   process.  ``message``/text and ``postback`` (its ``data``) go to the bot;
   ``follow`` sends ``/greet``; stickers, images, video, audio, files and
   locations get a fixed "text only" reply without asking the bot; everything
   else (unfollow, join, standby-mode events, ...) is ignored.
4. :class:`LineOutput` collects the bot's messages for the turn and sends
   them in ONE reply call (at most 5 message objects, quick reply buttons on
   the last); the ``custom`` status JSON is not shown to users.  When LINE
   says the reply token is invalid (expired or used), it pushes instead.
5. When the status says the reply can be rated (``answered`` or
   ``not_found``, with an ``answer`` id), the quick reply also offers
   「役に立った」/「役に立たなかった」 as postback actions whose data is the
   rating message (``bot/ratings.py``); LINE sends it back as a ``postback``
   event, which goes to the bot like any other (step 3).
"""
from __future__ import annotations

import asyncio
import inspect
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from rasa.core.channels.channel import InputChannel, OutputChannel, UserMessage
from rasa.utils.common import call_potential_coroutine
from sanic import Blueprint, response
from sanic.request import Request
from sanic.response import HTTPResponse

from bot import ratings
from bot.channels.line_api import (
    DEFAULT_API_BASE_URL,
    MAX_QUICK_REPLY_ITEMS,
    LineApiClient,
    LineApiError,
    RecentIds,
    build_messages,
    conversation_id,
    parse_webhook_body,
    resolve_setting,
    verify_signature,
)
from bot.channels.redis_state import RedisRecentIds

logger = logging.getLogger(__name__)

SIGNATURE_HEADER = "X-Line-Signature"
GREET_PAYLOAD = "/greet"
NON_TEXT_MESSAGE_TYPES = frozenset({"sticker", "image", "video", "audio", "file", "location"})
TEXT_ONLY_REPLY = ("テキストでご質問ください。スタンプ・画像・動画・音声・ファイル・位置情報にはお答えできません。"
                   "区役所についてのご質問を文章でお送りください（例：「住民票はどこで取れますか」）。")
ERROR_REPLY = ("申し訳ありません。ただいま回答できません。しばらくしてからもう一度お試しください。"
               "お急ぎの場合は、お住まいの区役所の窓口にお問い合わせください。")


class LineOutput(OutputChannel):
    """Collects the bot's messages for one turn and sends them to LINE.

    Buffered (the default, used for webhook events): ``send_*`` only collects
    texts and buttons; :meth:`flush` sends them in one reply call with
    ``reply_token``, or pushes them to ``to`` when there is no token or LINE
    rejects it as invalid.  Unbuffered (``buffered=False``, used by Rasa for
    bot-initiated messages through :meth:`LineInput.get_output_channel`):
    every ``send_response`` is pushed to its ``recipient_id`` at once.
    """

    @classmethod
    def name(cls) -> str:
        return "line"

    def __init__(self, client: LineApiClient, reply_token: str | None = None, to: str | None = None,
                 buffered: bool = True) -> None:
        self.client, self.reply_token, self.to, self.buffered = client, reply_token, to, buffered
        self.texts: list[str] = []
        self.buttons: list[dict[str, Any]] = []
        self.rating_buttons: list[dict[str, Any]] = []

    async def send_response(self, recipient_id: str, message: dict[str, Any]) -> None:
        await super().send_response(recipient_id, message)
        if not self.buffered:
            self.to = recipient_id
            await self.flush()

    async def send_text_message(self, recipient_id: str, text: str, **kwargs: Any) -> None:
        self.texts.append(text)

    async def send_text_with_buttons(self, recipient_id: str, text: str, buttons: list[dict[str, Any]],
                                     **kwargs: Any) -> None:
        if text:
            self.texts.append(text)
        self.buttons.extend(buttons or [])

    async def send_quick_replies(self, recipient_id: str, text: str, quick_replies: list[dict[str, Any]],
                                 **kwargs: Any) -> None:
        await self.send_text_with_buttons(recipient_id, text, quick_replies)

    async def send_custom_json(self, recipient_id: str, json_message: dict[str, Any], **kwargs: Any) -> None:
        """Custom JSON (the ``{"status", "intent", "sources", "facts",
        "answer"}`` turn status) is for machines: it is logged at debug level,
        never shown to the user.  When it offers a rating
        (``bot.ratings.offered``), the two rating buttons are added after the
        turn's own buttons."""
        logger.debug("line: custom json not sent to LINE: %s", json_message)
        answer_id = ratings.offered(json_message)
        if answer_id:
            self.rating_buttons = [{"title": label, "payload": ratings.payload(value, answer_id)}
                                   for value, label in ratings.LABELS.items()]

    def messages(self) -> list[dict]:
        """The LINE message objects for what has been collected (see
        ``build_messages``); the rating buttons always fit in the quick reply."""
        room = MAX_QUICK_REPLY_ITEMS - len(self.rating_buttons)
        return build_messages(self.texts, self.buttons[:room] + self.rating_buttons)

    async def flush(self) -> str | None:
        """Send what has been collected and clear it.

        Returns:
            "reply", "push", or None when there was nothing to send.

        Raises:
            LineApiError: the reply failed for another reason than an invalid
                token, or the push failed, or there was no way to address the
                user (no reply token and no ``to``: status None).
        """
        messages = self.messages()
        self.texts, self.buttons, self.rating_buttons = [], [], []
        if not messages:
            return None
        if self.reply_token:
            token, self.reply_token = self.reply_token, None  # a reply token is good for one call
            try:
                await self.client.reply(token, messages)
                return "reply"
            except LineApiError as err:
                if not (err.invalid_reply_token and self.to):
                    raise
                logger.warning("line: reply token rejected (%s); pushing instead", err.message)
        if not self.to:
            raise LineApiError(None, "no reply token and no recipient to push to")
        await self.client.push(self.to, messages)
        return "push"


class LineInput(InputChannel):
    """LINE Messaging API webhook channel (see the module docstring)."""

    @classmethod
    def name(cls) -> str:
        return "line"

    @classmethod
    def from_credentials(cls, credentials: dict[str, Any] | None) -> InputChannel:
        """Build the channel from its ``credentials.yml`` section.

        Keys: ``channel_secret``, ``channel_access_token``, ``api_base_url``
        (empty or unset -> ``https://api.line.me``), and optionally
        ``request_timeout`` (seconds, default 10), ``dedup_capacity`` (event
        ids remembered in process, default 10,000), ``dedup_ttl`` (seconds,
        default 3,600) and ``redis_url`` (empty: event ids are remembered in
        this process only).  ``${VAR}`` left in a value (quoted in the YAML) is read from
        the environment.  A missing secret or token does not stop Rasa from
        starting (the REST channel must keep working without LINE): it is
        logged, and every webhook call is then refused with 401.

        Raises:
            RasaException: no credentials section at all.
        """
        if credentials is None:
            cls.raise_missing_credentials_exception()
        secret = resolve_setting(credentials.get("channel_secret"))
        token = resolve_setting(credentials.get("channel_access_token"))
        if not secret or not token:
            logger.warning("LINE channel: LINE_CHANNEL_SECRET or LINE_CHANNEL_ACCESS_TOKEN is not set; "
                           "the LINE webhook will refuse every request (401)")
        return cls(
            channel_secret=secret,
            channel_access_token=token,
            api_base_url=resolve_setting(credentials.get("api_base_url"), DEFAULT_API_BASE_URL),
            request_timeout=float(resolve_setting(credentials.get("request_timeout"), "10")),
            dedup_capacity=int(resolve_setting(credentials.get("dedup_capacity"), "10000")),
            dedup_ttl=float(resolve_setting(credentials.get("dedup_ttl"), "3600")),
            redis_url=resolve_setting(credentials.get("redis_url")),
        )

    def __init__(self, channel_secret: str, channel_access_token: str, api_base_url: str = DEFAULT_API_BASE_URL,
                 request_timeout: float = 10.0, dedup_capacity: int = 10_000, dedup_ttl: float = 3600.0,
                 redis_url: str = "") -> None:
        """``redis_url`` (e.g. ``redis://127.0.0.1:6379/0``): remember event
        ids in Redis for ``dedup_ttl`` seconds, shared by every process;
        empty: in this process (at most ``dedup_capacity``)."""
        self.channel_secret = channel_secret
        self.client = LineApiClient(channel_access_token, api_base_url, timeout=request_timeout)
        self.recent_events: RecentIds | RedisRecentIds
        if redis_url:
            self.recent_events = RedisRecentIds(redis_url, dedup_ttl)
        else:
            self.recent_events = RecentIds(dedup_capacity, dedup_ttl)
        self._tasks: set[asyncio.Task] = set()

    def get_output_channel(self) -> OutputChannel | None:
        """An unbuffered :class:`LineOutput` that pushes each message to its
        recipient (used by Rasa for bot-initiated messages, e.g. reminders or
        ``trigger_intent`` with ``output_channel=line``)."""
        return LineOutput(self.client, buffered=False)

    # ------------------------------------------------------------------ tasks

    @property
    def pending(self) -> set:
        """Background tasks still handling events (a copy)."""
        return set(self._tasks)

    async def wait_idle(self, timeout: float | None = None) -> bool:
        """Wait until no event is being handled; False when ``timeout`` (seconds) ran out first."""
        while self._tasks:
            done, not_done = await asyncio.wait(set(self._tasks), timeout=timeout)
            if not_done:
                return False
        return True

    def _spawn(self, coro: Awaitable[None], what: str) -> None:
        """Run ``coro`` in a task that is referenced until done and whose exception is logged."""
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)

        def done(t: asyncio.Task) -> None:
            self._tasks.discard(t)
            if not t.cancelled() and t.exception() is not None:
                logger.error("line: handling %s failed", what, exc_info=t.exception())

        task.add_done_callback(done)

    # ------------------------------------------------------------------ events

    async def handle_events(self, events: list[dict],
                            on_new_message: Callable[[UserMessage], Awaitable[Any]]) -> None:
        """Handle the events of one conversation in order; an event that fails is logged and skipped."""
        for event in events:
            try:
                await self.handle_event(event, on_new_message)
            except Exception:
                logger.exception("line: event %s (%s) failed", event.get("webhookEventId"), event.get("type"))

    async def handle_event(self, event: dict, on_new_message: Callable[[UserMessage], Awaitable[Any]]) -> None:
        """Handle one webhook event (see the module docstring for what each type does).

        Raises:
            LineApiError: sending the reply failed.
        """
        kind = event.get("type")
        sender = conversation_id(event)
        reply_token = event.get("replyToken")
        if event.get("mode") == "standby" or not sender:
            return
        text: str | None = None
        if kind == "message":
            message = event.get("message") or {}
            if message.get("type") == "text":
                text = str(message.get("text") or "")
            elif message.get("type") in NON_TEXT_MESSAGE_TYPES:
                output = LineOutput(self.client, reply_token, sender)
                await output.send_text_message(sender, TEXT_ONLY_REPLY)
                await output.flush()
                return
        elif kind == "follow":
            text = GREET_PAYLOAD
        elif kind == "postback":
            text = str((event.get("postback") or {}).get("data") or "") or None
        if text is None:
            logger.debug("line: %s event ignored", kind)
            return
        output = LineOutput(self.client, reply_token, sender)
        metadata = {"line": {"event_type": kind, "source_type": (event.get("source") or {}).get("type"),
                             "webhook_event_id": event.get("webhookEventId"), "timestamp": event.get("timestamp")}}
        user_message = UserMessage(text, output, sender, input_channel=self.name(), metadata=metadata)
        try:
            await on_new_message(user_message)
        except asyncio.CancelledError:
            raise
        except Exception:
            logger.exception("line: the bot failed on a %s event", kind)
            if not output.texts:
                output.texts.append(ERROR_REPLY)
        await output.flush()

    async def new_events(self, events: list[dict]) -> list[dict]:
        """``events`` without those whose ``webhookEventId`` was seen before (redeliveries)."""
        fresh = []
        for event in events:
            event_id = event.get("webhookEventId")
            if event_id and await call_potential_coroutine(self.recent_events.seen(str(event_id))):
                logger.info("line: event %s already handled (redelivery=%s); dropped", event_id,
                            (event.get("deliveryContext") or {}).get("isRedelivery"))
                continue
            fresh.append(event)
        return fresh

    # ------------------------------------------------------------------ HTTP

    def blueprint(self, on_new_message: Callable[[UserMessage], Awaitable[Any]]) -> Blueprint:
        """Routes ``GET /`` (health) and ``POST /webhook``, mounted by Rasa under ``/webhooks/line``."""
        module = inspect.getmodule(self)
        line_webhook = Blueprint("line_webhook", module.__name__ if module else None)

        @line_webhook.route("/", methods=["GET"])
        async def health(request: Request) -> HTTPResponse:
            return response.json({"status": "ok"})

        @line_webhook.route("/webhook", methods=["POST"])
        async def receive(request: Request) -> HTTPResponse:
            body = request.body or b""
            if not verify_signature(self.channel_secret, body, request.headers.get(SIGNATURE_HEADER)):
                logger.warning("line: webhook call with a missing or wrong signature refused")
                return response.json({"message": "invalid signature"}, status=401)
            try:
                events = parse_webhook_body(body)
            except ValueError as err:
                return response.json({"message": str(err)}, status=400)
            by_conversation: dict[str, list[dict]] = {}
            for event in await self.new_events(events):
                by_conversation.setdefault(conversation_id(event) or "", []).append(event)
            for sender, conversation in by_conversation.items():
                self._spawn(self.handle_events(conversation, on_new_message), f"events for {sender or 'nobody'}")
            return response.json({"status": "ok"})

        @line_webhook.listener("before_server_stop")
        async def finish(app: Any, loop: Any) -> None:
            if not await self.wait_idle(timeout=10.0):
                logger.warning("line: stopping with %d event(s) still being handled", len(self._tasks))
            await self.client.close()
            if isinstance(self.recent_events, RedisRecentIds):
                await self.recent_events.close()

        return line_webhook
