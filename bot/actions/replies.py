"""The one place that turns an answer into channel messages.

Every user turn gets the reply text (with quick-reply buttons when there are
any) and exactly one machine-readable message, ``custom`` =
``{"status", "intent", "sources", "facts", "answer"}``, so that tools and
channels can rely on it.  ``answer`` is a fresh id of this reply
(``bot.ratings.new_answer_id``): the widget and LINE send it back when the
citizen rates the reply, and ``bot/insights.py`` finds the reply by it.
"""
from __future__ import annotations

from rasa_sdk.executor import CollectingDispatcher

from bot.ratings import new_answer_id
from knowledge.answer import Answer

MAX_BUTTONS = 3


def send(dispatcher: CollectingDispatcher, answer: Answer, intent: str | None) -> str:
    """Utter ``answer``: its text and buttons, then the status message; returns the answer id."""
    buttons = [{"title": b["title"], "payload": b["payload"]} for b in answer.buttons[:MAX_BUTTONS]]
    dispatcher.utter_message(text=answer.text, buttons=buttons or None)
    return send_status(dispatcher, answer.status, intent, answer.sources, answer.facts)


def send_status(dispatcher: CollectingDispatcher, status: str, intent: str | None, sources: list | None = None,
                facts: list | None = None) -> str:
    """Utter the machine-readable status message of a turn; returns its answer id.

    ``status`` is answered | not_found | clarify | smalltalk | rated;
    ``sources`` a list of ``{"doc", "lines": [first, last], "as_of",
    "status"}``; ``facts`` the ids (str) of the knowledge-base facts the reply
    states.
    """
    answer_id = new_answer_id()
    dispatcher.utter_message(json_message={"status": status, "intent": intent or "", "sources": sources or [],
                                           "facts": [str(f) for f in facts or []], "answer": answer_id})
    return answer_id
