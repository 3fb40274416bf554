"""Citizens' ratings of answers: the ids, the payload and its parts.

Every status message of a turn (``bot/actions/replies.py``) carries an
``answer`` id; under an ``answered`` or ``not_found`` reply the widget and
LINE offer 「役に立った」/「役に立たなかった」, which send the Rasa message

    /rate_answer{"rating":"down","answer":"kdmhcbpafgjnoeil"}

Rasa parses ``/intent{json}`` itself (``RegexMessageHandler``): the user
event is stored in the conversation with the intent ``rate_answer`` and the
entities ``rating`` and ``answer``; the rule in ``bot/data/rules.yml`` runs
``action_rate_answer``, which only acknowledges.  ``bot/insights.py`` ties a
rating to the answer with the same id in the same conversation (its status,
facts and sources); the last rating of an answer counts.

Answer ids are 16 letters ``a``-``p`` (64 random bits) and never contain a
digit, so the masking of personal data (``bot/privacy.py``: phone numbers,
individual numbers) can never change one.
"""
from __future__ import annotations

import json
import re
import secrets
from collections.abc import Iterable, Mapping
from typing import Any

RATE_INTENT = "rate_answer"
RATING_ENTITY = "rating"
ANSWER_ENTITY = "answer"
UP, DOWN = "up", "down"
LABELS = {UP: "役に立った", DOWN: "役に立たなかった"}
RATEABLE_STATUSES = frozenset({"answered", "not_found"})
ANSWER_ID = re.compile(r"[a-p]{16}")
_HEX_TO_LETTERS = str.maketrans("0123456789", "ghijklmnop")


def new_answer_id() -> str:
    """A fresh answer id: 16 characters from ``a``-``p`` (64 random bits, no digits)."""
    return secrets.token_hex(8).translate(_HEX_TO_LETTERS)


def payload(rating: str, answer_id: str) -> str:
    """The message that rates answer ``answer_id``: ``/rate_answer{"rating":...,"answer":...}``.

    Raises:
        ValueError: ``rating`` is not "up"/"down" or ``answer_id`` is not an answer id.
    """
    if rating not in LABELS or not ANSWER_ID.fullmatch(answer_id or ""):
        raise ValueError(f"not a rating: {rating!r} for {answer_id!r}")
    return "/" + RATE_INTENT + json.dumps({RATING_ENTITY: rating, ANSWER_ENTITY: answer_id}, separators=(",", ":"))


def from_entities(entities: Iterable[Mapping[str, Any]] | None) -> tuple[str, str] | None:
    """``(rating, answer_id)`` from the entities of a ``rate_answer`` message
    (Rasa's ``[{"entity", "value", ...}]``); None when either is missing or malformed."""
    found: dict[str, Any] = {}
    for entity in entities or []:
        if isinstance(entity, Mapping) and entity.get("entity") in (RATING_ENTITY, ANSWER_ENTITY):
            found.setdefault(entity["entity"], entity.get("value"))
    rating, answer_id = found.get(RATING_ENTITY), found.get(ANSWER_ENTITY)
    if rating in LABELS and isinstance(answer_id, str) and ANSWER_ID.fullmatch(answer_id):
        return rating, answer_id
    return None


def offered(status: Mapping[str, Any] | None) -> str | None:
    """The answer id to offer rating buttons for, from a turn's status message
    ``{"status", "answer", ...}``; None when that reply cannot be rated."""
    if not isinstance(status, Mapping) or status.get("status") not in RATEABLE_STATUSES:
        return None
    answer_id = status.get(ANSWER_ENTITY)
    return answer_id if isinstance(answer_id, str) and ANSWER_ID.fullmatch(answer_id) else None
