"""Rasa's socket.io channel (the website chat widget), fixed for python-socketio 5.x.

``credentials.yml``::

    bot.channels.socketio.SocketIOInput:
      user_message_evt: user_uttered
      bot_message_evt: bot_uttered
      session_persistence: true

Same options and events as ``rasa.core.channels.socketio.SocketIOInput``
(Rasa 3.6), with two bugs fixed:

* ``session_request`` did not await ``AsyncServer.enter_room`` (a coroutine
  in python-socketio 5.x), so with ``session_persistence`` the client never
  joined its session's room and got no bot message at all.
* ``send_custom_json`` called ``sio.emit(event, **json_message)``, so the
  ``{"status", "intent", "sources"}`` message raised ``TypeError``; the turn
  was aborted and the tracker never saved.  It is now sent as
  ``{"custom": {...}}`` to the session's room.

A session id must be 1-64 letters, digits, ``-`` or ``_``; anything else gets
a new random id, as does a missing one.  Payloads that are not objects are
ignored.
"""
from __future__ import annotations

import json
import logging
import re
import uuid
from typing import Any, Awaitable, Callable, Dict, Optional, Text

from rasa.core.channels import socketio as rasa_socketio
from rasa.core.channels.channel import UserMessage
from sanic import Blueprint

logger = logging.getLogger(__name__)

SESSION_ID = re.compile(r"[A-Za-z0-9_-]{1,64}")


class SocketIOOutput(rasa_socketio.SocketIOOutput):
    async def send_custom_json(self, recipient_id: Text, json_message: Dict[Text, Any], **kwargs: Any) -> None:
        await self._send_message(recipient_id, {"custom": json_message})


class SocketIOInput(rasa_socketio.SocketIOInput):
    @classmethod
    def name(cls) -> Text:
        return "socketio"

    def get_output_channel(self) -> Optional[SocketIOOutput]:
        if self.sio is None:
            return super().get_output_channel()  # warns and returns None
        return SocketIOOutput(self.sio, self.bot_message_evt)

    def blueprint(self, on_new_message: Callable[[UserMessage], Awaitable[Any]]) -> Blueprint:
        blueprint = super().blueprint(on_new_message)
        sio = self.sio

        # Registering a handler again replaces Rasa's one for the same event.
        @sio.on("session_request", namespace=self.namespace)
        async def session_request(sid: Text, data: Any) -> None:
            session_id = data.get("session_id") if isinstance(data, dict) else None
            if not (isinstance(session_id, str) and SESSION_ID.fullmatch(session_id)):
                session_id = uuid.uuid4().hex
            if self.session_persistence:
                await sio.enter_room(sid, session_id, namespace=self.namespace)
            await sio.emit("session_confirm", session_id, room=sid, namespace=self.namespace)

        @sio.on(self.user_message_evt, namespace=self.namespace)
        async def handle_message(sid: Text, data: Any) -> None:
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
