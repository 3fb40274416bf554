"""Ratings (bot/ratings.py): answer ids, the rating message, and how Rasa reads it."""
from __future__ import annotations

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bot import privacy, ratings
from bot.tracker_store import mask_event


def test_answer_ids_are_letters_only_and_fresh():
    ids = {ratings.new_answer_id() for _ in range(2000)}
    assert len(ids) == 2000
    assert all(ratings.ANSWER_ID.fullmatch(i) for i in ids)


@given(st.binary(min_size=8, max_size=8))
def test_no_answer_id_is_ever_changed_by_masking(raw):
    answer_id = raw.hex().translate(str.maketrans("0123456789", "ghijklmnop"))  # as new_answer_id makes them
    text = ratings.payload("down", answer_id)
    assert privacy.mask(text) == text
    entities = [{"entity": "rating", "value": "down", "start": 12, "end": len(text)},
                {"entity": "answer", "value": answer_id, "start": 12, "end": len(text)}]
    event = {"event": "user", "text": text, "parse_data": {"text": text, "entities": entities}}
    assert mask_event(event)["parse_data"]["entities"] == entities


def test_the_payload_is_what_rasa_parses_into_the_intent_and_entities():
    from rasa.shared.core.domain import Domain
    from rasa.shared.core.training_data.story_reader.yaml_story_reader import YAMLStoryReader
    from rasa.shared.nlu.training_data.message import Message

    from bot.servers import ROOT

    text = ratings.payload("up", "abcdefghijklmnop")
    assert text == '/rate_answer{"rating":"up","answer":"abcdefghijklmnop"}'
    parsed = YAMLStoryReader.unpack_regex_message(Message({"text": text}), Domain.load(str(ROOT / "domain.yml")))
    assert parsed.get("intent")["name"] == "rate_answer"
    assert ratings.from_entities(parsed.get("entities")) == ("up", "abcdefghijklmnop")
    assert json.loads(text[len("/rate_answer"):]) == {"rating": "up", "answer": "abcdefghijklmnop"}


@pytest.mark.parametrize("rating, answer_id", [("good", "abcdefghijklmnop"), ("up", "ABCDEFGHIJKLMNOP"),
                                               ("up", "abcdefghijklmnoq"), ("down", "abc"), ("up", "")])
def test_bad_ratings_cannot_be_made(rating, answer_id):
    with pytest.raises(ValueError):
        ratings.payload(rating, answer_id)


@pytest.mark.parametrize("status, offered", [
    ({"status": "answered", "answer": "abcdefghijklmnop"}, "abcdefghijklmnop"),
    ({"status": "not_found", "answer": "abcdefghijklmnop"}, "abcdefghijklmnop"),
    ({"status": "clarify", "answer": "abcdefghijklmnop"}, None),
    ({"status": "smalltalk", "answer": "abcdefghijklmnop"}, None),
    ({"status": "rated", "answer": "abcdefghijklmnop"}, None),
    ({"status": "answered"}, None),                              # the REST channel's own replies have no id
    ({"status": "answered", "answer": "1234-5678"}, None),
    ("answered", None),
])
def test_only_answered_and_not_found_replies_are_offered_for_rating(status, offered):
    assert ratings.offered(status) == offered
