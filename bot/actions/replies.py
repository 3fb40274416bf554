"""The one place that turns an answer into channel messages.

Every user turn gets the reply text (with quick-reply buttons when there are
any) and exactly one machine-readable message, ``custom`` =
``{"status", "intent", "sources"}``, so that tools and channels can rely on it.
"""
from __future__ import annotations

from rasa_sdk.executor import CollectingDispatcher

from knowledge.answer import Answer

MAX_BUTTONS = 3


def send(dispatcher: CollectingDispatcher, answer: Answer, intent: str | None) -> None:
    """Utter ``answer``: its text and buttons, then the status message."""
    buttons = [{"title": b["title"], "payload": b["payload"]} for b in answer.buttons[:MAX_BUTTONS]]
    dispatcher.utter_message(text=answer.text, buttons=buttons or None)
    send_status(dispatcher, answer.status, intent, answer.sources)


def send_status(dispatcher: CollectingDispatcher, status: str, intent: str | None, sources: list | None = None) -> None:
    """Utter the machine-readable status message of a turn.

    ``status`` is answered | not_found | clarify | smalltalk; ``sources`` a
    list of ``{"doc", "lines": [first, last], "as_of", "status"}``.
    """
    dispatcher.utter_message(json_message={"status": status, "intent": intent or "", "sources": sources or []})
