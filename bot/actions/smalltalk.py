"""``action_smalltalk``: greetings, thanks, goodbyes and "are you a bot"."""
from __future__ import annotations

from typing import Any

from rasa_sdk import Action, Tracker
from rasa_sdk.executor import CollectingDispatcher

from .replies import send_status

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
        buttons = [{"title": s, "payload": s} for s in SUGGESTIONS] if intent == "greet" else None
        dispatcher.utter_message(response=RESPONSES.get(intent, "utter_greet"), buttons=buttons)
        send_status(dispatcher, "smalltalk", intent)
        return []
