"""Rasa's socket.io channel (the website chat widget), fixed for python-socketio 5.x.

``credentials.yml``::

    bot.channels.socketio.SocketIOInput:
      user_message_evt: user_uttered
      bot_message_evt: bot_uttered
      session_persistence: true
      allowed_origins: "${WIDGET_ORIGINS}"   # default http://localhost:8080

Same options and events as ``rasa.core.channels.socketio.SocketIOInput``
(Rasa 3.6), plus ``allowed_origins``, with two bugs fixed and one hole closed:

* ``session_request`` did not await ``AsyncServer.enter_room`` (a coroutine
  in python-socketio 5.x), so with ``session_persistence`` the client never
  joined its session's room and got no bot message at all.
* ``send_custom_json`` called ``sio.emit(event, **json_message)``, so the
  ``{"status", "intent", "sources"}`` message raised ``TypeError``; the turn
  was aborted and the tracker never saved.  It is now sent as
  ``{"custom": {...}}`` to the session's room.
* Rasa creates the socket.io server with ``cors_allowed_origins=[]``, which
  turns python-engineio's origin check off: a page on any site could open
  the socket in a visitor's browser.  Here a request whose ``Origin`` header is
  not one of ``allowed_origins`` (the pages that embed the widget) is refused
  with 400; requests without an ``Origin`` (not from a browser) are served.
  Rasa's ``--cors`` does not reach this server; ``bot.rasa_run`` passes the
  same list (``WIDGET_ORIGINS``) to ``--cors`` for the HTTP routes.

A session id must be 1-64 letters, digits, ``-`` or ``_``; anything else gets
a new random id, as does a missing one.  Payloads that are not objects are
ignored.
"""
from __future__ import annotations

import json
import logging
import re
import urllib.parse
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

from rasa.core.channels import socketio as rasa_socketio
from rasa.core.channels.channel import InputChannel, UserMessage
from sanic import Blueprint

from bot.channels.line_api import resolve_setting

logger = logging.getLogger(__name__)

SESSION_ID = re.compile(r"[A-Za-z0-9_-]{1,64}")
DEFAULT_WIDGET_ORIGINS = "http://localhost:8080"  # the demo page of `make run` (bot.web)
_DEFAULT_PORTS = {"http": 80, "https": 443}
_HOST = re.compile(r"[a-z0-9-]+(\.[a-z0-9-]+)*|[0-9a-f:.]*:[0-9a-f:.]*")  # a name, an IPv4 or an IPv6 address


def parse_origins(text: str | None) -> list[str]:
    """The origins in ``text`` (separated by commas or whitespace), as browsers
    send them in ``Origin``: ``scheme://host[:port]``, lower case, without a
    default port or a trailing slash.  ``None`` or blank text gives
    :data:`DEFAULT_WIDGET_ORIGINS`.

    Raises:
        ValueError: an entry is ``*`` or not an http(s) origin (e.g. has a path).
    """
    items = [item for item in re.split(r"[\s,]+", text or "") if item] or [DEFAULT_WIDGET_ORIGINS]
    origins = []
    for item in items:
        parts = urllib.parse.urlsplit(item.rstrip("/"))
        try:
            port = parts.port
        except ValueError:
            port = -1
        if (parts.scheme.lower() not in _DEFAULT_PORTS or not _HOST.fullmatch(parts.hostname or "") or port == -1
                or parts.path or parts.query or parts.fragment or parts.username or parts.password):
            raise ValueError(f"WIDGET_ORIGINS: {item!r} is not an origin such as https://www.example.jp "
                             "(scheme://host[:port]; * is not allowed)")
        scheme, host = parts.scheme.lower(), parts.hostname.lower()
        host = f"[{host}]" if ":" in host else host
        origin = f"{scheme}://{host}" + (f":{port}" if port and port != _DEFAULT_PORTS[scheme] else "")
        if origin not in origins:
            origins.append(origin)
    return origins


class SocketIOOutput(rasa_socketio.SocketIOOutput):
    async def send_custom_json(self, recipient_id: str, json_message: dict[str, Any], **kwargs: Any) -> None:
        await self._send_message(recipient_id, {"custom": json_message})


class SocketIOInput(rasa_socketio.SocketIOInput):
    @classmethod
    def name(cls) -> str:
        return "socketio"

    @classmethod
    def from_credentials(cls, credentials: dict[str, Any] | None) -> InputChannel:
        """Rasa's options plus ``allowed_origins`` (see :func:`parse_origins`;
        a quoted ``${VAR}`` is read from the environment).

        Raises:
            ValueError: ``allowed_origins`` has an entry that is not an origin.
        """
        credentials = credentials or {}
        channel = super().from_credentials(credentials)
        channel.allowed_origins = parse_origins(resolve_setting(credentials.get("allowed_origins")))
        return channel

    def __init__(self, *args: Any, allowed_origins: list[str] | None = None, **kwargs: Any) -> None:
        """Rasa's arguments; ``allowed_origins``: the origins that may open the
        socket (default ``[DEFAULT_WIDGET_ORIGINS]``)."""
        super().__init__(*args, **kwargs)
        self.allowed_origins = list(allowed_origins or parse_origins(None))

    def get_output_channel(self) -> SocketIOOutput | None:
        if self.sio is None:
            return super().get_output_channel()  # warns and returns None
        return SocketIOOutput(self.sio, self.bot_message_evt)

    def blueprint(self, on_new_message: Callable[[UserMessage], Awaitable[Any]]) -> Blueprint:
        blueprint = super().blueprint(on_new_message)
        sio = self.sio
        # python-engineio checks the Origin header of every request against this list
        sio.eio.cors_allowed_origins = list(self.allowed_origins)

        # Registering a handler again replaces Rasa's one for the same event.
        @sio.on("session_request", namespace=self.namespace)
        async def session_request(sid: str, data: Any) -> None:
            session_id = data.get("session_id") if isinstance(data, dict) else None
            if not (isinstance(session_id, str) and SESSION_ID.fullmatch(session_id)):
                session_id = uuid.uuid4().hex
            if self.session_persistence:
                await sio.enter_room(sid, session_id, namespace=self.namespace)
            await sio.emit("session_confirm", session_id, room=sid, namespace=self.namespace)

        @sio.on(self.user_message_evt, namespace=self.namespace)
        async def handle_message(sid: str, data: Any) -> None:
            if not isinstance(data, dict):
                return
            if self.session_persistence:
                sender_id = data.get("session_id")
                if not (isinstance(sender_id, str) and SESSION_ID.fullmatch(sender_id)):
                    logger.warning("socket.io message without a valid session_id ignored")
                    return
            else:
                sender_id = sid
            text = data.get("message", "")
            if not isinstance(text, str):
                return
            metadata = data.get(self.metadata_key) or {}
            if isinstance(metadata, str):
                try:
                    metadata = json.loads(metadata)
                except ValueError:
                    metadata = {}
            if not isinstance(metadata, dict):
                metadata = {}
            await on_new_message(UserMessage(text, SocketIOOutput(sio, self.bot_message_evt), sender_id,
                                             input_channel=self.name(), metadata=metadata))

        return blueprint
