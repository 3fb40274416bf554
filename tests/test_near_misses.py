"""The index of labelled questions the documents cannot answer (questions written for these tests)."""
import pytest

from knowledge.near_misses import NearMisses
from knowledge.train import QUESTIONS_DIR, load_cases, split


@pytest.fixture(scope="module")
def index():
    return NearMisses(["ワークショップの参加費はいくらですか", "区役所の駐車場は何台とめられますか", "。。。"])


def test_a_paraphrase_of_a_near_miss_is_closer_than_an_unrelated_question(index):
    close = index.similarity("ワークショップに参加するのに費用はいくらかかりますか")
    far = index.similarity("住民票はどこで取れますか")
    assert 0.0 <= far < close <= 1.0


def test_a_question_never_finds_itself(index):
    # while training, a labelled question must not see its own label; the same text typed by a citizen gets the
    # same feature as the training did
    alone = NearMisses(["ワークショップの参加費はいくらですか"])
    assert alone.similarity("ワークショップの参加費はいくらですか") == 0.0
    assert alone.similarity("ワークショップの参加費はいくら？") > 0.5


@pytest.mark.parametrize("text", ["", "。。。", "？"])
def test_a_question_without_content_words_is_close_to_nothing(index, text):
    assert index.similarity(text) == 0.0


def test_the_knowledge_base_indexes_only_the_training_splits_unanswerable_questions(kb):
    cases = {c.question: c for c in load_cases(QUESTIONS_DIR)}
    assert len(kb.near_misses) > 100
    assert all(not cases[q].answerable and split(cases[q].id) == "train" for q in kb.near_misses)
    held_out = [c.question for c in cases.values() if not c.answerable and split(c.id) == "test"]
    assert held_out and not set(held_out) & set(kb.near_misses)


def test_the_classifier_weighs_the_closeness_to_a_near_miss(kb, answerer):
    from knowledge.decide import DECISION_FEATURES, decision_features

    assert "near_miss" in DECISION_FEATURES
    query = answerer.understander.understand("ワークショップに参加するのに費用はいくらかかりますか", "ask_fee_capacity")
    ranked = answerer.decider.rank(answerer.retriever.candidates(query))
    assert decision_features(ranked, query)["near_miss"] == query.near_miss
    # a question close to a near miss is less likely to be answered than the same facts with nothing close
    model = kb.answer_model()
    far = {**decision_features(ranked, query), "near_miss": 0.0}
    close = {**far, "near_miss": 1.0}
    assert model.decider.probability(close) < model.decider.probability(far)
