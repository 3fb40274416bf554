"""Entity matching: exact names first, then typos and shortenings, never grammar that shares a few kana."""
import pytest

from knowledge.entities import EntityMatcher, spans_name


@pytest.fixture(scope="module")
def matcher(kb):
    return EntityMatcher(kb.lexicon)


@pytest.mark.parametrize("question, name", [
    ("印鑑登禄をしたい", "印鑑登録"),                 # one character off
    ("ほうちじてんしやはどこ", "放置自転車"),          # kana, one character off
    ("あり方検討部会の結論は", "区役所のあり方検討部会"),  # a shortening of the name
])
def test_a_typo_or_a_shortening_finds_the_name(matcher, question, name):
    assert name in [m.name for m in matcher.find(question)]


def test_grammar_sharing_a_few_kana_with_a_name_is_not_a_match(matcher):
    # 「いいの」 shares い, の with いこいの家 (and こ with どこ): 3 of its 5 characters, not a typo of it
    found = [m.name for m in matcher.find("区役所のどこに言えばいいの")]
    assert "いこいの家" not in found
    assert found == ["区役所"]


@pytest.mark.parametrize("text, variant, expected", [
    ("印鑑登禄", "印鑑登録", True),
    ("あり方検討部会", "区役所のあり方検討部会", True),
    ("   のどこに言えばいいの", "いこいの家", False),
])
def test_spans_name(text, variant, expected):
    assert spans_name(text, variant) is expected
