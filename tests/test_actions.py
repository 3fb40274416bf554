"""The custom actions, run the way the action server runs them (rasa_sdk)."""
import asyncio

import pytest
from rasa_sdk import Tracker
from rasa_sdk.executor import CollectingDispatcher

from bot import ratings
from bot.actions import ActionAnswer, ActionRateAnswer, ActionSmalltalk


@pytest.fixture(autouse=True)
def use_test_kb(kb_path, monkeypatch):
    monkeypatch.setenv("KB_PATH", str(kb_path))
    monkeypatch.setenv("KUYAKUSHO_TODAY", "2026-11-21")



def tracker(text, intent="ask_counter", entities=(), topic=None):
    message = {"text": text, "intent": {"name": intent, "confidence": 0.9}, "entities": list(entities)}
    return Tracker("user-1", {"topic": topic}, message, [], False, None, {}, "action_listen")


def run(action, trk):
    dispatcher = CollectingDispatcher()
    events = asyncio.run(action.run(dispatcher, trk, {}))
    return dispatcher.messages, events


def statuses(messages):
    return [m["custom"] for m in messages if m.get("custom")]


def test_answer_has_text_buttons_and_exactly_one_status_message():
    messages, events = run(ActionAnswer(), tracker("国民年金はどこの窓口？"))
    (status,) = statuses(messages)
    assert status["status"] == "answered" and status["intent"] == "ask_counter"
    assert status["sources"] and set(status["sources"][0]) == {"doc", "lines", "as_of", "status"}
    assert status["facts"] and all(isinstance(f, str) and f for f in status["facts"])  # the facts stated
    assert ratings.ANSWER_ID.fullmatch(status["answer"])
    assert any("保険年金課" in (m.get("text") or "") for m in messages)
    assert any(m.get("buttons") for m in messages)


def test_answer_sets_the_topic_slot():
    _, events = run(ActionAnswer(), tracker("ワークショップの会場は？", "ask_venue"))
    expected = {"event": "slot", "name": "topic", "value": "区役所ミライプロジェクト地域ワークショップ"}
    assert expected.items() <= events[0].items()


def test_topic_slot_answers_a_follow_up():
    messages, _ = run(ActionAnswer(), tracker("締め切りは？", "ask_deadline",
                                              topic="区役所ミライプロジェクト地域ワークショップ"))
    assert any("7月15日" in (m.get("text") or "") for m in messages)


@pytest.mark.parametrize("text, expected", [
    ("", "clarify"), ("   \t ", "clarify"), ("😀🙏🎉", "clarify"), ("12345", "clarify"), ("\x00\x07\x1b", "clarify"),
    ("Where is the ward office?", "clarify"),
])
def test_bad_input_gets_a_polite_reply_and_a_status(text, expected):
    messages, events = run(ActionAnswer(), tracker(text, "nlu_fallback", topic="区民課"))
    (status,) = statuses(messages)
    assert status["status"] == expected
    assert any(m.get("text") or m.get("response") for m in messages)
    assert events == []  # nothing lost: the topic slot is left as it was


@pytest.mark.parametrize("text", ["<script>alert('x')</script>住民票", "住民票" * 3000, "\"NEAR(住民票 OR *"],
                         ids=["html", "9000-chars", "fts-syntax"])
def test_hostile_input_is_answered_without_error(text):
    messages, _ = run(ActionAnswer(), tracker(text, "ask_counter"))
    (status,) = statuses(messages)
    assert status["status"] in {"answered", "not_found", "clarify"}


def test_out_of_scope_gets_not_found_and_suggestions():
    messages, _ = run(ActionAnswer(), tracker("明日の天気は晴れますか", "out_of_scope"))
    (status,) = statuses(messages)
    assert status["status"] == "not_found"
    assert any(m.get("buttons") for m in messages)


def test_knowledge_base_missing_gives_a_reply_not_silence(monkeypatch, tmp_path):
    monkeypatch.setenv("KB_PATH", str(tmp_path / "missing.sqlite"))

    messages, _ = run(ActionAnswer(), tracker("住民票はどこ？"))
    assert statuses(messages)[0]["status"] == "not_found"
    assert any(m.get("response") == "utter_action_failed" for m in messages)


@pytest.mark.parametrize("intent, response", [("greet", "utter_greet"), ("thanks", "utter_thanks"),
                                              ("bot_challenge", "utter_bot_challenge"), ("goodbye", "utter_goodbye")])
def test_smalltalk(intent, response):
    messages, _ = run(ActionSmalltalk(), tracker("こんにちは", intent))
    assert messages[0]["response"] == response
    (status,) = statuses(messages)
    assert ratings.ANSWER_ID.fullmatch(status.pop("answer"))
    assert status == {"status": "smalltalk", "intent": intent, "sources": [], "facts": []}


def test_a_small_talk_turn_with_content_goes_to_the_knowledge_base():
    # a thank-you with a question in it: the knowledge base replies (whatever its status), not small talk
    messages, _ = run(ActionSmalltalk(), tracker("高齢者の保険証のことを聞きたいです、ありがとう", "thanks"))
    assert statuses(messages)[0]["status"] in {"answered", "not_found", "clarify"}
    assert not any(m.get("response") == "utter_thanks" for m in messages)


def test_plain_small_talk_stays_small_talk():
    messages, _ = run(ActionSmalltalk(), tracker("ありがとうございました", "thanks"))
    assert messages[0]["response"] == "utter_thanks"
    assert statuses(messages)[0]["status"] == "smalltalk"


def test_question_misread_as_small_talk_is_still_answered():
    messages, _ = run(ActionSmalltalk(), tracker("ワークショップの謝礼はありますか", "affirm"))
    assert statuses(messages)[0]["status"] == "answered"
    assert any("クオカード" in (m.get("text") or "") for m in messages)


@pytest.mark.parametrize("message, expected", [
    ({"intent": {"name": "ask_venue"}}, "ask_venue"),
    ({"intent": {"name": "greet"}}, None),
    ({"intent": {"name": "nlu_fallback"}, "intent_ranking": [
        {"name": "nlu_fallback", "confidence": 0.4}, {"name": "ask_counter", "confidence": 0.54},
        {"name": "ask_venue", "confidence": 0.46}]}, "ask_counter"),
    ({"intent": {"name": "nlu_fallback"}, "intent_ranking": [
        {"name": "nlu_fallback", "confidence": 0.4}, {"name": "ask_counter", "confidence": 0.2}]}, None),
    ({"intent": {"name": "nlu_fallback"}, "intent_ranking": [
        {"name": "nlu_fallback", "confidence": 0.4}, {"name": "greet", "confidence": 0.35},
        {"name": "ask_contact", "confidence": 0.31}]}, "ask_contact"),
    ({}, None),
])
def test_asked_intent_uses_the_ranking_when_the_classifier_was_unsure(message, expected):
    from bot.actions.answer import asked_intent

    assert asked_intent(message) == expected


def test_unsure_intent_still_narrows_what_may_answer():
    # the classifier hesitated between two "where" intents: the answer may not come from
    # whatever fact mentions the subject
    trk = tracker("マイナンバーの申請場所を知りたい", intent="nlu_fallback")
    trk.latest_message["intent_ranking"] = [{"name": "nlu_fallback", "confidence": 0.4},
                                            {"name": "ask_counter", "confidence": 0.55},
                                            {"name": "ask_venue", "confidence": 0.45}]
    messages, _ = run(ActionAnswer(), trk)
    assert statuses(messages)[0]["status"] == "not_found"


# --------------------------------------------------------------------------- ratings

def rating_tracker(text, entities, topic="国民年金"):
    message = {"text": text, "intent": {"name": "rate_answer", "confidence": 1.0}, "entities": entities}
    return Tracker("user-1", {"topic": topic}, message, [], False, None, {}, "action_listen")


@pytest.mark.parametrize("rating", ["up", "down"])
def test_rating_is_acknowledged_and_changes_no_slot(rating):
    answer_id = ratings.new_answer_id()
    entities = [{"entity": "rating", "value": rating}, {"entity": "answer", "value": answer_id}]
    messages, events = run(ActionRateAnswer(), rating_tracker(ratings.payload(rating, answer_id), entities))
    assert events == []  # the topic slot stays as it was
    assert [m["text"] for m in messages if m.get("text")] == ["ご評価ありがとうございます。" if rating == "up" else
                                                             "ご評価ありがとうございます。いただいたご意見は、案内の改善に役立てます。"]
    (status,) = statuses(messages)
    assert status["status"] == "rated" and status["intent"] == "rate_answer"
    assert ratings.offered(status) is None  # an acknowledgement cannot be rated itself


@pytest.mark.parametrize("entities", [
    [],
    [{"entity": "rating", "value": "down"}],
    [{"entity": "rating", "value": "maybe"}, {"entity": "answer", "value": "abcdefghijklmnop"}],
    [{"entity": "rating", "value": "up"}, {"entity": "answer", "value": "<script>"}],
    [{"entity": "rating", "value": "up"}, {"entity": "answer", "value": ["abcdefghijklmnop"]}],
], ids=["none", "no-answer", "bad-rating", "bad-id", "list"])
def test_unreadable_rating_gets_a_clear_reply(entities):
    messages, events = run(ActionRateAnswer(), rating_tracker("/rate_answer", entities))
    assert events == []
    assert any("評価を受け付けられませんでした" in (m.get("text") or "") for m in messages)
    assert statuses(messages)[0]["status"] == "clarify"


def test_asking_where_the_previous_answer_comes_from_names_its_sources():
    messages, _ = run(ActionAnswer(), tracker("国民年金はどこの窓口？"))
    (first,) = statuses(messages)
    bot_events = [{"event": "bot", "text": m.get("text"), "data": {"custom": m.get("custom")}} for m in messages]
    message = {"text": "いまの話、何の資料に載ってるの", "intent": {"name": "ask_overview", "confidence": 0.6},
               "entities": []}
    follow_up = Tracker("user-1", {"topic": "国民年金"}, message, bot_events, False, None, {}, "action_listen")
    messages, events = run(ActionAnswer(), follow_up)
    (status,) = statuses(messages)
    assert status["status"] == "answered" and status["sources"] == first["sources"]
    text = " ".join(m.get("text") or "" for m in messages)
    assert "先ほどの回答" in text and "区役所改革の基本方針" in text and "保険年金課" not in text
    assert events == []  # the topic stays


def test_asking_for_a_source_before_any_answer_is_answered_as_a_question():
    messages, _ = run(ActionAnswer(), tracker("いまの話、何の資料に載ってるの", "ask_overview"))
    (status,) = statuses(messages)
    assert status["status"] in ("not_found", "clarify")


def test_a_source_question_after_a_decline_does_not_point_to_an_older_answer():
    from bot.actions.answer import previous_sources

    answered = {"event": "bot", "data": {"custom": {"status": "answered", "sources": [{"doc": "001"}]}}}
    declined = {"event": "bot", "data": {"custom": {"status": "not_found", "sources": []}}}
    assert previous_sources([answered]) == [{"doc": "001"}]
    assert previous_sources([answered, {"event": "user"}, declined]) == []
