"""``action_smalltalk``: greetings, thanks, goodbyes and "are you a bot"."""
from __future__ import annotations

from typing import Any

from rasa_sdk import Action, Tracker
from rasa_sdk.executor import CollectingDispatcher

from .answer import today
from .knowledge_base import answerer
from .replies import send, send_status

MIN_QUESTION_CHARS = 6  # shorter messages are taken as the small talk they were classified as

RESPONSES = {
    "greet": "utter_greet", "goodbye": "utter_goodbye", "thanks": "utter_thanks",
    "bot_challenge": "utter_bot_challenge", "affirm": "utter_affirm", "deny": "utter_deny",
}
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
            return []
        buttons = [{"title": s, "payload": s} for s in SUGGESTIONS] if intent == "greet" else None
        dispatcher.utter_message(response=RESPONSES.get(intent, "utter_greet"), buttons=buttons)
        send_status(dispatcher, "smalltalk", intent)
        return []

    @staticmethod
    def misread_question(text: str, topic: str | None):
        """The knowledge-base answer when ``text`` names something the
        knowledge base knows and gets an answer; else None."""
        if len(text.strip()) < MIN_QUESTION_CHARS:
            return None
        try:
            kb = answerer()
            if not (kb.entities(text) or kb.cue_attributes(text)):
                return None
            answer = kb.answer(text, None, (), topic, today())
        except Exception:
            return None
        return answer if answer.status == "answered" else None
