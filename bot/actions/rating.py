"""``action_rate_answer``: acknowledge a citizen's rating of an answer.

The rating itself is the user event Rasa stores (intent ``rate_answer``,
entities ``rating`` and ``answer``; see ``bot/ratings.py``).  This action
only says thank you: it sets no slot (the conversation's ``topic`` stays as
it was), so the next question is answered as if the rating had not been
there.
"""
from __future__ import annotations

from typing import Any

from rasa_sdk import Action, Tracker
from rasa_sdk.executor import CollectingDispatcher

from bot import ratings

from .replies import send_status

THANKS = {
    ratings.UP: "ご評価ありがとうございます。",
    ratings.DOWN: "ご評価ありがとうございます。いただいたご意見は、案内の改善に役立てます。",
}
NOT_UNDERSTOOD = "評価を受け付けられませんでした。回答の下のボタンからお送りください。"


class ActionRateAnswer(Action):
    """Thank the citizen for a rating (status ``rated``), or say that the
    rating could not be read (status ``clarify``); never changes a slot."""

    def name(self) -> str:
        return "action_rate_answer"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]) -> list:
        message = tracker.latest_message or {}
        intent = (message.get("intent") or {}).get("name")
        parsed = ratings.from_entities(message.get("entities"))
        if parsed is None:
            dispatcher.utter_message(text=NOT_UNDERSTOOD)
            send_status(dispatcher, "clarify", intent)
            return []
        dispatcher.utter_message(text=THANKS[parsed[0]])
        send_status(dispatcher, "rated", intent)
        return []
