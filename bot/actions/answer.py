"""``action_answer``: look the question up in the knowledge base and reply."""
from __future__ import annotations

import datetime as dt
import logging
import os
import re
import unicodedata
from typing import Any

from rasa_sdk import Action, Tracker
from rasa_sdk.events import SlotSet
from rasa_sdk.executor import CollectingDispatcher

from .knowledge_base import answerer
from .replies import send, send_status

logger = logging.getLogger(__name__)
_JAPANESE = re.compile(r"[\u3040-\u30ff\u3400-\u9fff]")
ENGLISH_REPLY = ("Sorry, I can only answer questions in Japanese about Kawasaki City ward offices. "
                 "日本語でご質問ください（例：「住民票はどこで取れますか」）。")
_LETTERS = re.compile(r"[A-Za-z\u3040-\u30ff\u3400-\u9fff]")


def today() -> dt.date:
    """Today's date, or ``$KUYAKUSHO_TODAY`` (ISO) when set, for tests."""
    value = os.environ.get("KUYAKUSHO_TODAY")
    return dt.date.fromisoformat(value) if value else dt.date.today()


def input_problem(text: str) -> str | None:
    """Why ``text`` cannot be a question, or None: ``empty``, ``no_words``
    (emoji, numbers or symbols only), ``not_japanese`` (e.g. English only)."""
    visible = "".join(ch for ch in (text or "") if not unicodedata.category(ch).startswith(("C", "Z")))
    if not visible:
        return "empty"
    if not _LETTERS.search(visible):
        return "no_words"
    if not _JAPANESE.search(visible):
        return "not_japanese"
    return None


FALLBACK_HINT_MIN = 0.3  # an intent ranked first under nlu_fallback still says what is asked from this confidence


def asked_intent(message: dict) -> str | None:
    """The ``ask_*`` intent naming what ``message`` (a tracker's
    ``latest_message``) asks, or None.  Under ``nlu_fallback`` (the classifier
    was unsure, often between two close intents such as ask_counter and
    ask_venue) the best-ranked ``ask_*`` intent with at least
    ``FALLBACK_HINT_MIN`` confidence: it narrows which facts may answer,
    which is safer than answering with no intent at all."""
    name = (message.get("intent") or {}).get("name")
    if name and name.startswith("ask_"):
        return name
    if name != "nlu_fallback":
        return None
    for ranked in message.get("intent_ranking") or []:
        if (ranked.get("name") or "").startswith("ask_") and (ranked.get("confidence") or 0.0) >= FALLBACK_HINT_MIN:
            return ranked["name"]
    return None


def intent_ranking(message: dict) -> list[tuple[str, float]]:
    """``(intent, confidence)`` of the ``ask_*`` intents the NLU ranked for
    ``message`` (a tracker's ``latest_message``), best first."""
    return [(r["name"], float(r.get("confidence") or 0.0)) for r in message.get("intent_ranking") or []
            if (r.get("name") or "").startswith("ask_")]


def previous_sources(events: list[dict]) -> list[dict]:
    """The ``sources`` of the bot's previous turn in ``events`` (its status
    message, see ``replies.send_status``) when that turn answered; [] when it
    did not (a not_found reply has no source to point to) or there is none."""
    for event in reversed(events):
        custom = (event.get("data") or {}).get("custom") if event.get("event") == "bot" else None
        if custom and custom.get("status"):
            return list(custom.get("sources") or []) if custom["status"] == "answered" else []
    return []


def previous_intent(events: list[dict]) -> str | None:
    """The ``ask_*`` intent of the user turn before the latest one in
    ``events`` (a tracker's events), or None."""
    users = [e for e in events if e.get("event") == "user"]
    if len(users) < 2:
        return None
    return asked_intent(users[-2].get("parse_data") or {})


class ActionAnswer(Action):
    """Answer from the knowledge base, keeping the topic in the ``topic`` slot."""

    def name(self) -> str:
        return "action_answer"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]) -> list:
        try:
            return self._answer(dispatcher, tracker)
        except Exception:  # the citizen still gets a reply; the log gets the trace
            logger.exception("action_answer failed")
            dispatcher.utter_message(response="utter_action_failed")
            send_status(dispatcher, "not_found", (tracker.latest_message.get("intent") or {}).get("name"))
            return []

    def _answer(self, dispatcher: CollectingDispatcher, tracker: Tracker) -> list:
        message = tracker.latest_message or {}
        text = message.get("text") or ""
        intent = (message.get("intent") or {}).get("name")
        topic = tracker.get_slot("topic")
        problem = input_problem(text)
        if problem:
            if problem == "not_japanese":
                dispatcher.utter_message(text=ENGLISH_REPLY, buttons=answerer().suggestions(None))
            else:
                dispatcher.utter_message(response="utter_bad_input", buttons=answerer().suggestions(None))
            send_status(dispatcher, "clarify", intent)
            return []
        values = tuple(str(e.get("value")) for e in message.get("entities") or [] if e.get("value"))
        if answerer().asks_for_source(text):
            send(dispatcher, answerer().previous_sources(previous_sources(tracker.events), topic), intent)
            return []
        kb_intent = asked_intent(message)
        answer = answerer().answer(text, kb_intent, values, None if intent == "out_of_scope" else topic, today(),
                                   previous_intent(tracker.events), intent_ranking(message) or None)
        if intent == "out_of_scope" and (answer.status != "answered"
                                         or not answerer().asks_about_something(text, values)):
            dispatcher.utter_message(response="utter_out_of_scope", buttons=answerer().suggestions(None))
            send_status(dispatcher, "not_found", intent)
            return []
        send(dispatcher, answer, intent)
        return [SlotSet("topic", answer.topic or topic)]

