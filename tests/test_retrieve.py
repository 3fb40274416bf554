"""Retrieval and ranking: candidates from the indexes, BM25, features
(questions written for these tests)."""
import heapq
import math
import random

import pytest
from conftest import TODAY

from knowledge.bm25 import K1, B, BM25Index
from knowledge.retrieve import BM25_CANDIDATES, FEATURES, holds_quantity, preselect


@pytest.fixture
def candidates(answerer):
    def _candidates(question, intent=None, topic=None):
        query = answerer.understander.understand(question, intent, (), topic, TODAY)
        return query, answerer.retriever.candidates(query)

    return _candidates


def test_candidates_come_from_the_indexes_not_from_every_fact(candidates, kb):
    _, found = candidates("住民票はどこで取れますか", "ask_counter")
    assert 0 < len(found) <= BM25_CANDIDATES < len(kb.facts)
    assert any(c.fact.subject == "住民票" for c in found)


def test_every_feature_is_between_zero_and_one(candidates):
    for question in ("ワークショップの会場はどこ", "窓口で対応できないお願いをされたらどうする", "犬の登録"):
        _, found = candidates(question)
        for cand in found:
            assert set(cand.features) == set(FEATURES)
            assert all(0.0 <= v <= 1.0 for v in cand.features.values()), (question, cand.fact.id)


def test_a_ward_named_beside_a_subject_is_a_constraint(candidates, answerer):
    query, found = candidates("多摩区の出張所はどこにありますか", "ask_venue")
    assert query.constraints == ["多摩区"]
    retriever = answerer.retriever
    assert any(retriever.relates(c.fact, "多摩区") for c in found)
    # a fact is about the ward named, or one of the org chart's duties that every ward office has
    assert all(retriever.relates(c.fact, "多摩区") or c.fact.id in retriever.every_ward for c in found)
    assert not any(retriever.relates(c.fact, "麻生区") for c in found if not retriever.relates(c.fact, "多摩区"))


def test_the_org_charts_duties_hold_whatever_ward_is_named(candidates, answerer):
    # every ward office has a 区民課: naming one's ward does not hide which section handles 印鑑登録
    question = "高津区で印鑑登録をしたいのですが、区役所のどの課ですか"
    query, found = candidates(question, "ask_counter")
    assert query.constraints == ["高津区"]
    assert "001-inkan-kuminka" in {c.fact.id for c in found}
    answer = answerer.answer(question, "ask_counter", today=TODAY)
    assert answer.status == "answered" and "001-inkan-kuminka" in answer.facts and "区民課" in answer.text
    # facts about one ward, or about an office only some wards have, still need that ward to be named
    every = answerer.retriever.every_ward
    assert "001-juminhyo-shisho" not in every  # 川崎区の支所
    assert not any(answerer.kb.facts[fid].subject == "支所・区民センター" for fid in every)


def test_in_memory_bm25_ranks_as_fts5_does(kb):
    index = BM25Index({f.id: f.terms for f in kb.facts.values()})
    from knowledge import analyzer

    for question in ("印鑑登録の窓口", "区役所サービス向上指針の理念", "ワークショップの申込方法"):
        terms = analyzer.terms(question, content_only=True)
        ours = [fid for fid, _ in index.search(terms, 5)]
        fts = [f.id for f, _ in kb.search_fact_terms(terms, 5)]
        assert ours[:3] == fts[:3], question


def test_bm25_search_is_the_textbook_formula_best_first_ties_by_id():
    docs = {"d": ["区役所", "窓口"], "a": ["区役所", "窓口"], "c": ["区役所"], "b": ["支所", "窓口", "時間"], "e": []}
    index = BM25Index(docs)
    average = sum(len(t) for t in docs.values()) / len(docs)

    def bm25(doc, terms):
        total = 0.0
        for term in terms:
            n = sum(term in t for t in docs.values())
            if term in docs[doc]:
                idf = max(math.log((len(docs) - n + 0.5) / (n + 0.5)), 1e-6)
                total += idf * (K1 + 1) / (1 + K1 * (1 - B + B * len(docs[doc]) / average))
        return total

    found = index.search(["窓口", "区役所", "未知語"], limit=3)
    assert [d for d, _ in found] == ["a", "d", "c"]  # a and d tie: by id
    assert all(math.isclose(score, bm25(d, ["窓口", "区役所"])) for d, score in found)
    assert index.search(["未知語"]) == [] and index.search(["窓口"], limit=0) == []
    assert index.scores(["時間"], ["a", "b", "zzz"]) == {"b": pytest.approx(bm25("b", ["時間"]))}


def test_preselect_orders_by_relation_then_asked_attribute_then_id():
    class Fact:
        def __init__(self, attribute):
            self.attribute = attribute

    rng = random.Random(7)
    facts = {f"f{i:03d}": Fact(rng.choice(["venue", "handled_by", "time"])) for i in range(300)}
    ids = {fid: rng.choice([0, 1]) for fid in rng.sample(sorted(facts), 200)}
    for n in (1, 40, 160, 500):
        expected = heapq.nsmallest(n, ids, key=lambda fid: (-ids[fid], facts[fid].attribute not in {"venue"}, fid))
        assert preselect(ids, facts, {"venue"}, n) == expected


def test_the_ranker_puts_the_asked_attribute_of_the_named_subject_first(candidates, answerer):
    query, found = candidates("市民館の管理運営はどこの課の担当？", "ask_counter")
    ranked = answerer.decider.rank(found)
    assert ranked[0].fact.attribute in ("handled_by", "duties") and "生涯学習支援課" in ranked[0].fact.text
    assert ranked[0].score >= ranked[-1].score


@pytest.mark.parametrize("text, units, holds", [
    ("参加者数は44名でした", ("人", "名"), True),
    ("予算額は5,500万円です", ("円",), True),
    ("第18条により機関が置かれます", ("年",), False),  # a number, but not of the unit asked
    ("理念は3つです", (), True),
    ("理念は区役所職員が拠って立つものです", (), False),
])
def test_a_quantity_needs_a_number_of_the_asked_unit(text, units, holds):
    assert holds_quantity(text, units) is holds


def test_a_fact_without_a_when_misses_a_when_question(candidates):
    query, found = candidates("区役所ミライプロジェクト地域ワークショップはいつですか", "ask_datetime")
    assert query.asks_when
    by_time = {bool(c.features["time_missed"]) for c in found}
    assert by_time == {True, False}
    assert all(c.features["time_missed"] == 0.0 for c in found if c.fact.attribute == "date")


def test_a_year_is_missed_only_by_a_fact_that_gives_other_years(candidates, answerer):
    query, found = candidates("2014年度の地域課題対応事業の予算はどうなっていましたか", "ask_fee_capacity")
    assert query.years == {2014}
    dates = answerer.retriever.dates
    undated = [c for c in found if not dates(c.fact)]
    elsewhen = [c for c in found if dates(c.fact) and 2014 not in {d.year for d in dates(c.fact)}]
    assert undated and elsewhen  # a fact that gives no year is silent on it, not of another year
    assert all(c.features["year_mismatch"] == 0.0 for c in undated)
    assert all(c.features["year_mismatch"] == 1.0 for c in elsewhen)


def test_a_plan_misses_a_question_whether_it_came_about(candidates):
    query, found = candidates("ソーシャルデザインセンターは実際に設置されたんですか", "ask_history")
    assert query.outcome
    plans = [c for c in found if c.fact.status in ("plan", "proposal")]
    assert plans and all(c.features["plan_outcome"] == 1.0 for c in plans)
    assert all(c.features["plan_outcome"] == 0.0 for c in found if c.fact.status not in ("plan", "proposal"))
    _, found = candidates("ソーシャルデザインセンターはどんな施設ですか", "ask_overview")
    assert all(c.features["plan_outcome"] == 0.0 for c in found)


def test_idf_is_higher_for_rarer_terms():
    from knowledge import analyzer

    weights = analyzer.idf([{"区役所", "窓口"}, {"区役所", "住民票"}, {"区役所"}])
    assert weights["窓口"] == pytest.approx(math.log(1 + 3 / 1))
    assert weights["区役所"] == pytest.approx(math.log(2))
    assert weights["住民票"] > weights["区役所"] > 0.0
    assert analyzer.idf([]) == {}
