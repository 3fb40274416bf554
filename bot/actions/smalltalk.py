"""``action_smalltalk``: greetings, thanks, goodbyes and "are you a bot"."""
from __future__ import annotations

import logging
from typing import Any

from rasa_sdk import Action, Tracker
from rasa_sdk.events import SlotSet
from rasa_sdk.executor import CollectingDispatcher

from .answer import today
from .knowledge_base import answerer
from .replies import send, send_status

RESPONSES = {
    "greet": "utter_greet", "goodbye": "utter_goodbye", "thanks": "utter_thanks",
    "bot_challenge": "utter_bot_challenge", "affirm": "utter_affirm", "deny": "utter_deny",
}
logger = logging.getLogger(__name__)
SUGGESTIONS = ["住民票はどこで取れますか", "区役所は土曜日も開いていますか", "ワークショップについて教えて"]


class ActionSmalltalk(Action):
    """Reply with the domain response for the small-talk intent, plus quick
    replies after a greeting, and the ``smalltalk`` status message."""

    def name(self) -> str:
        return "action_smalltalk"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]) -> list:
        intent = (tracker.latest_message.get("intent") or {}).get("name") or "greet"
        text = tracker.latest_message.get("text") or ""
        answer = self.misread_question(text, tracker.get_slot("topic"))
        if answer is not None:  # a real question the classifier took for small talk
            send(dispatcher, answer, intent)
            return [SlotSet("topic", answer.topic or tracker.get_slot("topic"))]
        buttons = [{"title": s, "payload": s} for s in SUGGESTIONS] if intent == "greet" else None
        dispatcher.utter_message(response=RESPONSES.get(intent, "utter_greet"), buttons=buttons)
        send_status(dispatcher, "smalltalk", intent)
        return []

    @staticmethod
    def misread_question(text: str, topic: str | None):
        """The knowledge-base reply (answered, not found or clarify) when
        ``text`` is about something the knowledge base knows
        (``Answerer.asks_about_something``): a turn with content goes to the
        knowledge base, only plain small talk gets a small-talk reply.
        None for small talk, or when the lookup fails."""
        try:
            kb = answerer()
            if not kb.asks_about_something(text):
                return None
            return kb.answer(text, None, (), topic, today())
        except Exception:  # small talk still gets its reply; the log gets the trace
            logger.exception("knowledge-base lookup of a small-talk turn failed")
            return None
