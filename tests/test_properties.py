"""Property-based tests (hypothesis): no input breaks the normalizer, the
analyzer, the Rasa tokenizer or the knowledge-base lookup.

Inputs are arbitrary Unicode without surrogates, plus strategies that stress
what users and copy-paste actually produce: combining marks, right-to-left
scripts and bidi controls, zero-width characters, CJK (including
supplementary-plane ideographs and half-width kana), emoji sequences, FTS5
syntax, and long strings (up to ~5,000 characters).

Examples are derandomized (the same every run, so CI is stable) and nothing
is written to a ``.hypothesis`` database.  ``HYPOTHESIS_EXPLORE=1`` runs ten
times as many random examples, to look for new failures.
"""
from __future__ import annotations

import datetime as dt
import os
import sqlite3
import unicodedata

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from rasa.engine.graph import ExecutionContext, GraphSchema
from rasa.engine.storage.local_model_storage import LocalModelStorage
from rasa.engine.storage.resource import Resource
from rasa.shared.nlu.constants import TEXT
from rasa.shared.nlu.training_data.message import Message

from bot.components.sudachi_tokenizer import SudachiTokenizer, is_ignorable
from knowledge import analyzer
from knowledge.normalize import compact, normalize_chars, normalize_line, normalize_query

EXPLORE = os.environ.get("HYPOTHESIS_EXPLORE") == "1"
TODAY = dt.date(2026, 11, 21)


def examples(n: int) -> settings:
    """``n`` examples (x10 when exploring), no deadline, reproducible."""
    return settings(max_examples=n * (10 if EXPLORE else 1), deadline=None, database=None,
                    derandomize=not EXPLORE,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                           HealthCheck.large_base_example])


# ----------------------------------------------------------------- strategies

def chars(*ranges: tuple[int, int]) -> st.SearchStrategy[str]:
    return st.one_of(*(st.integers(lo, hi).map(chr) for lo, hi in ranges))


ANY_CHAR = st.characters(blacklist_categories=("Cs",))
ANY_TEXT = st.text(alphabet=ANY_CHAR, max_size=300)
CJK = chars((0x3040, 0x30FF), (0x4E00, 0x9FFF), (0x3400, 0x4DBF), (0xFF01, 0xFF9F), (0x3000, 0x303F),
            (0x20000, 0x2A6DF), (0x2E80, 0x2FDF), (0x3200, 0x33FF))
JAPANESE = st.sampled_from(["住民票", "どこで", "取れますか", "国民健康保険", "区役所", "申し込み", "締め切り",
                            "ワークショップ", "ﾊﾟｽﾎﾟｰﾄ", "は", "の", "を", "？", "。", "川崎区", "044-200-2459"])
COMBINING = chars((0x0300, 0x036F), (0x1AB0, 0x1AFF), (0x20D0, 0x20FF), (0x3099, 0x309A), (0xFE20, 0xFE2F))
RTL = chars((0x0590, 0x05FF), (0x0600, 0x06FF), (0x0750, 0x077F), (0xFB50, 0xFDFF), (0xFE70, 0xFEFF))
BIDI = st.sampled_from(["\u200e", "\u200f", "\u202a", "\u202b", "\u202c", "\u202d", "\u202e", "\u2066",
                        "\u2067", "\u2068", "\u2069", "\u061c"])
ZERO_WIDTH = st.sampled_from(["\u200b", "\u200c", "\u200d", "\ufeff", "\u2060", "\u00ad"])
EMOJI = st.one_of(
    chars((0x1F300, 0x1FAFF), (0x2600, 0x27BF)),
    st.sampled_from(["👨\u200d👩\u200d👧", "👍🏽", "❤\ufe0f", "🇯🇵", "🏳\ufe0f\u200d🌈", "#\ufe0f\u20e3", "😀"]),
)
FTS = st.sampled_from(['"', '""', "NEAR(", "NEAR(a b, 2)", "*", "OR", "AND", "NOT", "^", "(", ")", ":", "-",
                       "col:", "{a b}", "'", ";", "--", "%", "\\"])

COMBINING_TEXT = st.lists(st.tuples(st.one_of(CJK, ANY_CHAR), st.lists(COMBINING, max_size=4)), max_size=60).map(
    lambda parts: "".join(base + "".join(marks) for base, marks in parts))
RTL_TEXT = st.lists(st.one_of(RTL, BIDI, JAPANESE, st.just(" ")), max_size=60).map("".join)
ZERO_WIDTH_TEXT = st.lists(st.one_of(JAPANESE, ZERO_WIDTH), max_size=60).map("".join)
CJK_TEXT = st.lists(st.one_of(CJK, JAPANESE), max_size=120).map("".join)
EMOJI_TEXT = st.lists(st.one_of(EMOJI, JAPANESE, ZERO_WIDTH), max_size=60).map("".join)
FTS_TEXT = st.lists(st.one_of(FTS, JAPANESE, st.just(" ")), max_size=30).map("".join)
LONG_TEXT = st.one_of(
    st.text(alphabet=ANY_CHAR, min_size=1000, max_size=5000),
    st.builds(lambda unit, n: (unit * n)[:5000],
              st.lists(st.one_of(ANY_CHAR, CJK, EMOJI, COMBINING, JAPANESE), min_size=1, max_size=40).map("".join),
              st.integers(25, 5000)),
)
HOSTILE = st.one_of(ANY_TEXT, COMBINING_TEXT, RTL_TEXT, ZERO_WIDTH_TEXT, CJK_TEXT, EMOJI_TEXT, FTS_TEXT)
STRATEGIES = {"any": ANY_TEXT, "combining": COMBINING_TEXT, "rtl": RTL_TEXT, "zero_width": ZERO_WIDTH_TEXT,
              "cjk": CJK_TEXT, "emoji": EMOJI_TEXT, "fts": FTS_TEXT}
ZERO_WIDTH_CHARS = set("\u200b\u200c\u200d\ufeff\u2060\u00ad")


# ----------------------------------------------------------------- normalize

@pytest.mark.parametrize("name", sorted(STRATEGIES))
def test_normalizers_never_raise_and_are_stable(name):
    @examples(60)
    @given(STRATEGIES[name])
    def check(text):
        chars_ = normalize_chars(text)
        assert isinstance(chars_, str) and normalize_chars(chars_) == chars_
        assert not ZERO_WIDTH_CHARS & set(chars_)
        assert all(unicodedata.category(c) != "Cc" or c in "\t\n\r" for c in chars_)
        line = normalize_line(text)
        assert isinstance(line, str) and normalize_line(line) == line and line == line.strip()
        packed = compact(text)
        assert isinstance(packed, str) and not any(c.isspace() for c in packed)
        query = normalize_query(text)
        assert isinstance(query, str) and len(query) <= 500 and "\n" not in query
        assert normalize_query(query) == query

    check()


@examples(15)
@given(text=LONG_TEXT)
def test_normalizers_on_long_text(text):
    assert isinstance(normalize_line(text), str)
    assert not any(c.isspace() for c in compact(text))
    assert len(normalize_query(text)) <= 500


# ----------------------------------------------------------------- analyzer

def assert_morphemes_valid(text: str) -> None:
    for mode in ("A", "B", "C"):
        previous = 0
        for m in analyzer.morphemes(text, mode):
            assert 0 <= m.start < m.end <= len(text), (mode, m)
            assert text[m.start:m.end] == m.surface, (mode, m)
            assert m.start >= previous, (mode, m)
            assert m.surface.strip()
            previous = m.end


def assert_terms_valid(text: str, fts: sqlite3.Connection) -> None:
    for content_only in (False, True):
        terms = analyzer.terms(text, content_only=content_only)
        assert all(isinstance(t, str) and t for t in terms)
        assert len(terms) == len(set(terms))
    query = analyzer.fts_query(text)
    if query is not None:  # FTS5 syntax in the input never reaches FTS5 unquoted
        fts.execute("select count(*) from t where t match ?", (query,)).fetchone()


@pytest.fixture(scope="module")
def fts():
    conn = sqlite3.connect(":memory:")
    conn.execute("create virtual table t using fts5(body)")
    conn.execute("insert into t values ('住民票 区民課 NEAR OR AND')")
    yield conn
    conn.close()


@pytest.mark.parametrize("name", sorted(STRATEGIES))
def test_analyzer_offsets_are_valid(name, fts):
    @examples(40)
    @given(STRATEGIES[name])
    def check(text):
        assert_morphemes_valid(text)
        assert_terms_valid(text, fts)

    check()


@examples(10)
@given(text=LONG_TEXT)
def test_analyzer_on_long_text(text, fts):
    assert_morphemes_valid(text)
    assert_terms_valid(text, fts)


# ----------------------------------------------------------------- the Rasa tokenizer

@pytest.fixture(scope="module")
def tokenizer(tmp_path_factory) -> SudachiTokenizer:
    path = tmp_path_factory.mktemp("model_storage")
    return SudachiTokenizer.create(SudachiTokenizer.get_default_config(), LocalModelStorage(path),
                                   Resource("tokenizer"), ExecutionContext(GraphSchema({}), "id"))


def assert_tokens_valid(tokenizer: SudachiTokenizer, text: str) -> None:
    tokens = tokenizer.tokenize(Message(data={TEXT: text}), TEXT)
    previous, covered = 0, set()
    for token in tokens:
        assert 0 <= previous <= token.start < token.end <= len(text), token
        assert text[token.start:token.end] == token.text
        assert not is_ignorable(token.text) and token.lemma
        covered.update(range(token.start, token.end))
        previous = token.end
    assert {i for i, c in enumerate(text) if not is_ignorable(c)} <= covered


@pytest.mark.parametrize("name", sorted(STRATEGIES))
def test_tokenizer_offsets_are_valid(name, tokenizer):
    @examples(40)
    @given(STRATEGIES[name])
    def check(text):
        assert_tokens_valid(tokenizer, text)

    check()


@examples(10)
@given(text=LONG_TEXT)
def test_tokenizer_on_long_text(text, tokenizer):
    assert_tokens_valid(tokenizer, text)


# ----------------------------------------------------------------- the knowledge-base lookup

INTENTS = st.sampled_from([None, "ask_venue", "ask_datetime", "ask_deadline", "ask_eligibility", "ask_counter",
                           "ask_contact", "ask_procedure", "ask_fee_capacity", "ask_overview", "ask_history",
                           "ask_statistics", "ask_rule", "out_of_scope"])


def assert_answers(answerer, text, intent, entities, topic) -> None:
    answer = answerer.answer(text, intent, entities, topic, TODAY)
    assert answer.status in {"answered", "not_found", "clarify"}
    assert isinstance(answer.text, str) and answer.text.strip()


@pytest.mark.parametrize("name", sorted(STRATEGIES))
def test_lookup_always_answers(name, answerer):
    topics = st.sampled_from([None, "区民課", "住民票", "区役所ミライプロジェクト地域ワークショップ", "no such topic"])

    @examples(20)
    @given(STRATEGIES[name], INTENTS, st.lists(st.one_of(JAPANESE, HOSTILE), max_size=3).map(tuple), topics)
    def check(text, intent, entities, topic):
        assert_answers(answerer, text, intent, entities, topic)

    check()


@examples(8)
@given(text=LONG_TEXT, intent=INTENTS)
def test_lookup_on_long_text(answerer, text, intent):
    assert_answers(answerer, text, intent, (), None)
