"""The citizen vocabulary: its schema, its matching, and how answers and the
staff search use it (questions written for these tests)."""
import pytest
import yaml

from knowledge import staff
from knowledge.entities import fold
from knowledge.vocabulary import PATH, Vocabulary, VocabularyError


@pytest.fixture(scope="module")
def vocab(kb):
    """The project's vocabulary, checked against the knowledge base's entities."""
    return Vocabulary.load(PATH, set(kb.entities))


def test_every_entry_names_knowledge_base_entities_and_gives_one_sentence(vocab, kb):
    assert len(vocab.entries) >= 100
    for entry in vocab.entries:
        assert entry.means and all(name in kb.entities for name in entry.means), entry.term
        assert entry.reason.endswith("。") and entry.reason.count("。") == 1, entry.term


def test_no_entry_repeats_a_name_the_knowledge_base_already_has(vocab, kb):
    # entity names are matched on their own; an entry may stand for an entity that is also named
    # (町内会 is an entity and a 地域住民組織), but never maps a name to itself
    for entry in vocab.entries:
        assert entry.term not in entry.means, entry.term


@pytest.mark.parametrize("question, means", [
    ("婚姻届を出したい", "戸籍"),
    ("こんいんとどけ", "戸籍"),             # kana reading
    ("娘がうまれたのでとどけを出す", "戸籍"),  # co-occurring words
    ("引っ越しの手続き", "住所変更の届出"),
    ("住所の届けはどこで出しますか", "住民票"),  # 住所の届出 is the 住所変更の届出
    ("住所の手続きをしたい", "住所変更の届出"),
    ("自転車を撤去されました", "放置自転車"),
    ("母の介護度を見直してもらいたい", "介護保険"),     # a word for the 介護保険 certification
    ("精神の手帳を申請したい", "障害者支援"),
    ("講演会に手話通訳をお願いしたい", "障害者支援"),
    ("一人暮らしの祖母に配食サービスを", "高齢者支援"),
    ("保健師さんに体のことを聞きたい", "地域健康支援"),   # health consultations
    ("祖父が徘徊するようになった", "高齢者支援"),
    ("家賃が払えない月が続いている", "生活保護"),
    ("庭の井戸の水は飲めるか", "環境・食品・水道衛生"),  # co-occurring words
    ("まつエクの店を始めたい", "環境・食品・水道衛生"),
    ("川に土砂がたまっている", "道路・河川・水路の整備・維持管理"),
    ("歩道に商品を並べている店がある", "占用許可"),
    ("先月会社を辞めたので保険の手続きをしたい", "国民健康保険"),  # leaving a job's health insurance
])
def test_citizen_words_find_the_documents_duty_terms(vocab, question, means):
    found = vocab.find(fold(question))
    assert any(means in inf.entry.means for inf in found), question


def test_a_name_the_question_types_wins_over_an_overlapping_word(vocab):
    text = fold("出生届の用紙")
    assert any(inf.entry.term == "出生届" for inf in vocab.find(text))
    # the first two characters belong to a (hypothetical) entity name: the overlapping word does not match
    assert not any(inf.entry.term == "出生届" and inf.start >= 0 for inf in vocab.find(text, [(0, 2)]))
    # ... unless the word is exactly that name (町内会 is an entity and also a 地域住民組織)
    exact = vocab.find(fold("町内会"), [(0, 3)])
    assert any("地域住民組織等支援" in inf.entry.means for inf in exact)


def test_a_with_set_may_use_a_typed_name_as_one_of_its_words(vocab):
    # 認知症 is typed as a name (the span 0-3); with 相談 beside it the question is a 高齢者支援 one
    found = vocab.find(fold("認知症の祖母のことで相談したい"), [(0, 3)])
    assert any("高齢者支援" in inf.entry.means for inf in found)
    # a name typed inside a longer word is still taken: 認知症 within a span 0-5 is not the word 認知症
    assert not any("高齢者支援" in inf.entry.means for inf in vocab.find(fold("認知症高齢者の相談"), [(0, 5)]))


@pytest.mark.parametrize("entry, message", [
    ({"term": "x", "means": ["戸籍"], "reason": "r。"}, "shorter than"),
    ({"term": "婚姻届", "means": ["ない課"], "reason": "r。"}, "no entity"),
    ({"term": "婚姻届", "means": ["戸籍"]}, "needs term, means and reason"),
    ({"term": "婚姻届", "means": ["戸籍"], "reason": "r。", "with": [["結婚"]]}, "two or more words"),
    ({"term": "婚姻届", "means": ["戸籍"], "reason": "r。", "colour": "red"}, "unknown keys"),
])
def test_a_broken_entry_is_refused_with_its_name(tmp_path, kb, entry, message):
    path = tmp_path / "vocabulary.yml"
    path.write_text(yaml.safe_dump({"entries": [entry]}, allow_unicode=True), encoding="utf-8")
    with pytest.raises(VocabularyError, match=message):
        Vocabulary.load(path, set(kb.entities))


def test_an_answer_resting_on_the_vocabulary_says_so(ask):
    answer = ask("子どもが生まれたので出生届を出したい。どこの課？", "ask_counter")
    assert answer.status == "answered"
    assert "区民課" in answer.text
    assert "出生届は戸籍の届出です" in answer.text and "一般的な手続きの区分による案内" in answer.text
    assert answer.text.index("一般的") < answer.text.index("出典")


def test_staff_search_finds_the_duty_from_a_reading_and_from_a_citizens_word(kb):
    assert staff.search(kb, "ほうちじてんしゃ", 3)[0]["subject"] == "放置自転車"
    rows = staff.search(kb, "婚姻届", 3)
    assert rows[0]["subject"] == "戸籍"
    assert rows[0]["inference"]["term"] == "婚姻届" and "戸籍" in rows[0]["inference"]["reason"]


def test_a_word_pair_is_found_where_its_last_word_is(vocab):
    text = fold("結婚しました。手続きはどこで")
    (pair,) = [inf for inf in vocab.find(text) if inf.entry.term == "婚姻届"]
    assert pair.start == -1 and pair.at == text.index("手続")


def test_a_word_pairs_words_have_their_places_also_when_the_entrys_own_word_is_found(vocab):
    text = fold("引っ越しました。住所の手続きはどこで")
    (moving,) = [inf for inf in vocab.find(text) if inf.entry.term == "引っ越し"]
    assert moving.start >= 0 and [text[a:b] for a, b in moving.spans] == ["住所", "手続"]


def test_a_branch_over_the_road_is_no_use_of_the_road(vocab):
    # はみ出す alone says nothing of 占用: goods set out on the sidewalk are, a tree's branches are its upkeep
    assert not any("占用許可" in inf.entry.means for inf in vocab.find(fold("庭木の枝が道路にはみ出している")))
    assert any("占用許可" in inf.entry.means for inf in vocab.find(fold("歩道に商品がはみ出している")))
