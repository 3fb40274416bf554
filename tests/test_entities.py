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


@pytest.mark.parametrize("question, names", [
    ("大師や田島の支所で住民票はとれますか", ["大師支所", "田島支所"]),
    ("大師・田島の区民センターはどこですか", ["大師支所", "田島支所"]),
    ("橘と日吉の出張所", ["橘出張所", "日吉出張所"]),
])
def test_places_coordinated_before_a_head_share_it(matcher, question, names):
    found = [m.name for m in matcher.find(question)]
    assert all(name in found for name in names)


def test_a_coordinated_word_that_makes_no_name_with_the_head_is_not_one(matcher):
    # 住民票 + の附票 is no name, and 小田 + の支所 is no office
    assert [m.name for m in matcher.find("住民票や戸籍の附票")] == ["住民票", "戸籍"]
    assert "支所・区民センター" in [m.name for m in matcher.find("小田や大島の支所")]
