"""Tests for bot.components.sudachi_tokenizer.SudachiTokenizer.

Expected lemmas are what SudachiPy 0.7 + sudachidict_core actually returns
(checked by hand), not what one might hope Sudachi does.
"""
from __future__ import annotations

import tempfile
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from rasa.engine.graph import ExecutionContext, GraphSchema
from rasa.engine.recipes.default_recipe import DefaultV1Recipe
from rasa.engine.storage.local_model_storage import LocalModelStorage
from rasa.engine.storage.resource import Resource
from rasa.nlu.constants import TOKENS_NAMES
from rasa.nlu.tokenizers.tokenizer import Token
from rasa.shared.exceptions import InvalidConfigException
from rasa.shared.nlu.constants import INTENT, TEXT
from rasa.shared.nlu.training_data.message import Message
from rasa.shared.nlu.training_data.training_data import TrainingData

from bot.components.sudachi_tokenizer import (
    MAX_CHUNK_BYTES,
    SudachiTokenizer,
    is_ignorable,
    split_into_chunks,
)

TokenizerFactory = Callable[..., SudachiTokenizer]


@pytest.fixture
def make_tokenizer(tmp_path: Path) -> TokenizerFactory:
    """Builds a SudachiTokenizer the way Rasa's graph does, with config overrides."""

    def _make(**overrides: Any) -> SudachiTokenizer:
        config: dict[str, Any] = {**SudachiTokenizer.get_default_config(), **overrides}
        return SudachiTokenizer.create(
            config,
            LocalModelStorage(tmp_path / "model_storage"),
            Resource("tokenizer"),
            ExecutionContext(GraphSchema({}), "id"),
        )

    return _make


@pytest.fixture
def tokenizer(make_tokenizer: TokenizerFactory) -> SudachiTokenizer:
    return make_tokenizer()


def tokenize(component: SudachiTokenizer, text: str) -> list[Token]:
    return component.tokenize(Message(data={TEXT: text}), TEXT)


def assert_valid_offsets(text: str, tokens: list[Token]) -> None:
    """Every token is a non-empty, non-blank slice of ``text``, in order, without overlap,
    and together the tokens cover every character that is not whitespace/control."""
    previous_end = 0
    covered = set()
    for token in tokens:
        assert 0 <= previous_end <= token.start < token.end <= len(text), token
        assert text[token.start : token.end] == token.text
        assert not is_ignorable(token.text)
        assert token.lemma
        covered.update(range(token.start, token.end))
        previous_end = token.end
    meaningful = {i for i, c in enumerate(text) if not is_ignorable(c)}
    assert meaningful <= covered


# --- offsets ---------------------------------------------------------------


def test_tokens_and_offsets_of_a_plain_sentence(tokenizer: SudachiTokenizer) -> None:
    text = "住民票を３通ください😀"
    tokens = tokenize(tokenizer, text)
    assert [t.text for t in tokens] == ["住民票", "を", "３", "通", "ください", "😀"]
    assert [(t.start, t.end) for t in tokens] == [(0, 3), (3, 4), (4, 5), (5, 6), (6, 10), (10, 11)]
    assert_valid_offsets(text, tokens)


@pytest.mark.parametrize(
    "text",
    [
        "川崎市中原区役所でMy Number Cardの申請をしたい。",
        "ＡＢＣ１２３とabc123、ｶﾀｶﾅもOK？",
        "住所変更😀👍🏽👨‍👩‍👧を 2024年4月1日 にしたい！！",
        "  前後に空白\u3000全角空白\tタブ\n改行\r\nあり  ",
        "制御文字\x00\x07\x1bと\u200bゼロ幅\u200dと\ufeffBOM",
        "مرحبا 区役所 שלום 👋",
        "\u202eRTL override\u202c と \u200e記号",
        "結合文字 e\u0301 と か\u3099 と ﾊﾟｽﾎﾟｰﾄ と ㍻ と ﷺ と ﷽",
        "a\ud800b 孤立サロゲート\udfff",
    ],
)
def test_offsets_map_back_to_the_original_text(tokenizer: SudachiTokenizer, text: str) -> None:
    tokens = tokenize(tokenizer, text)
    assert tokens
    assert_valid_offsets(text, tokens)


def test_half_width_katakana_offsets_are_in_original_characters(tokenizer: SudachiTokenizer) -> None:
    # Sudachi normalizes ﾊﾟ (2 code points) internally, but offsets stay in the input.
    text = "ﾊﾟｽﾎﾟｰﾄを申請"
    tokens = tokenize(tokenizer, text)
    assert [(t.text, t.start, t.end) for t in tokens] == [
        ("ﾊﾟｽﾎﾟｰﾄ", 0, 7),
        ("を", 7, 8),
        ("申請", 8, 10),
    ]
    assert tokens[0].lemma == "パスポート"


def test_whitespace_is_not_a_token(tokenizer: SudachiTokenizer) -> None:
    tokens = tokenize(tokenizer, "Hello 世界\u3000です\tね\n")
    assert [t.text for t in tokens] == ["Hello", "世界", "です", "ね"]


# --- lemmas ----------------------------------------------------------------


@pytest.mark.parametrize(
    "variants, lemma",
    [
        (["申し込み", "申込み", "申込"], "申し込み"),
        (["引っ越し", "引越し", "引越"], "引っ越し"),
        (["打ち合わせ", "打合せ", "打ち合せ"], "打ち合わせ"),
        (["カタカナ", "ｶﾀｶﾅ"], "片仮名"),
        (["コンピューター", "コンピュータ", "ｺﾝﾋﾟｭｰﾀｰ"], "コンピューター"),
        (["マイナンバーカード", "ﾏｲﾅﾝﾊﾞｰｶｰﾄﾞ"], "マイナンバーカード"),
        (["パスポート", "ﾊﾟｽﾎﾟｰﾄ"], "パスポート"),
        (["PC", "ＰＣ", "ｐｃ"], "PC"),
        (["寿司", "すし", "鮨"], "寿司"),
    ],
)
def test_spelling_variants_share_the_normalized_lemma(
    tokenizer: SudachiTokenizer, variants: list[str], lemma: str
) -> None:
    for variant in variants:
        tokens = tokenize(tokenizer, variant)
        assert [(t.text, t.lemma) for t in tokens] == [(variant, lemma)]


def test_normalized_lemma_inside_a_sentence(tokenizer: SudachiTokenizer) -> None:
    lemmas = {
        text: [t.lemma for t in tokenize(tokenizer, text)]
        for text in ["住民票の申し込みをしたい", "住民票の申込みをしたい", "住民票の申込をしたい"]
    }
    assert set(map(tuple, lemmas.values())) == {("住民票", "の", "申し込み", "を", "為る", "たい")}


def test_normalized_lemma_of_inflected_and_english_words(tokenizer: SudachiTokenizer) -> None:
    assert [t.lemma for t in tokenize(tokenizer, "行った")] == ["行く", "た"]
    # Sudachi maps some English words to their katakana loanword and folds width.
    assert [t.lemma for t in tokenize(tokenizer, "Ｈｅｌｌｏ ＡＢＣ！")] == ["ハロー", "ABC", "!"]


def test_kana_variants_sudachi_does_not_unify(tokenizer: SudachiTokenizer) -> None:
    # Only dictionary variants are unified: an OOV katakana spelling keeps its own form
    # (half-width is widened, though).
    assert [t.lemma for t in tokenize(tokenizer, "かっこいい")] == ["かっこいい"]
    assert [t.lemma for t in tokenize(tokenizer, "カッコイイ")] == ["カッコイイ"]
    assert [t.lemma for t in tokenize(tokenizer, "ｶｯｺｲｲ")] == ["カッコイイ"]


def test_dictionary_form_and_surface_lemmas(make_tokenizer: TokenizerFactory) -> None:
    dictionary = make_tokenizer(lemma="dictionary")
    assert [t.lemma for t in tokenize(dictionary, "申込")] == ["申込"]
    assert [t.lemma for t in tokenize(dictionary, "行った")] == ["行く", "た"]
    surface = make_tokenizer(lemma="surface")
    assert [t.lemma for t in tokenize(surface, "申込みに行った")] == ["申込み", "に", "行っ", "た"]


def test_part_of_speech_is_stored_in_token_data(tokenizer: SudachiTokenizer) -> None:
    tokens = tokenize(tokenizer, "住民票を取る")
    assert [t.get("pos") for t in tokens] == ["名詞", "助詞", "動詞"]
    assert tokens[0].get("pos_detail") == "名詞,普通名詞,一般,*,*,*"


# --- split modes -----------------------------------------------------------


def test_split_modes_a_and_c_differ_on_a_compound(make_tokenizer: TokenizerFactory) -> None:
    text = "国民健康保険に加入したい"
    short = tokenize(make_tokenizer(split_mode="A"), text)
    long = tokenize(make_tokenizer(split_mode="C"), text)
    assert [t.text for t in short][:3] == ["国民", "健康", "保険"]
    assert [(t.start, t.end) for t in short][:3] == [(0, 2), (2, 4), (4, 6)]
    assert [t.text for t in long][0] == "国民健康保険"
    assert (long[0].start, long[0].end) == (0, 6)
    assert_valid_offsets(text, short)
    assert_valid_offsets(text, long)


def test_split_mode_is_case_insensitive(make_tokenizer: TokenizerFactory) -> None:
    assert [t.text for t in tokenize(make_tokenizer(split_mode="a"), "国民健康保険")] == [
        "国民",
        "健康",
        "保険",
    ]


# --- edge cases ------------------------------------------------------------


@pytest.mark.parametrize("text", ["", " ", "   ", "\u3000", "\n\t\r\n", "\u200b\u200d", "\x00"])
def test_empty_and_blank_text_gives_no_tokens(tokenizer: SudachiTokenizer, text: str) -> None:
    assert tokenize(tokenizer, text) == []


def test_missing_attribute_gives_no_tokens(tokenizer: SudachiTokenizer) -> None:
    assert tokenizer.tokenize(Message(data={}), TEXT) == []


def test_ten_thousand_character_message(tokenizer: SudachiTokenizer) -> None:
    sentence = "川崎市役所で住民票の写しを取りたいです。マイナンバーカード（ﾏｲﾅﾝﾊﾞｰｶｰﾄﾞ）は持っています！😀\n"
    text = (sentence * (10_000 // len(sentence) + 1))[:10_000]
    assert len(text) == 10_000
    tokens = tokenize(tokenizer, text)
    assert len(tokens) > 1_000
    assert_valid_offsets(text, tokens)


def test_input_beyond_sudachis_byte_limit_is_chunked(tokenizer: SudachiTokenizer) -> None:
    # 3 bytes per character: 60,000 characters = 180,000 bytes, far over 49,149.
    text = "国民健康保険の届出をしたい" * 4_000 + "x" * 60_000
    tokens = tokenize(tokenizer, text)
    assert_valid_offsets(text, tokens)
    assert sum(t.text == "国民健康保険" for t in tokens) == 4_000  # cuts fall between words


def test_input_that_sudachi_normalization_blows_up_does_not_raise(
    tokenizer: SudachiTokenizer,
) -> None:
    # Sudachi rejects input whose normalized form exceeds 65,535 bytes. "㍻" (3 bytes)
    # normalizes to "平成" (6 bytes), "㌀" to "アパート" (12 bytes) and "ﷺ" to an
    # 18-character Arabic phrase (33 bytes), so such chunks must be re-split.
    for text in ["㍻" * 16_383, "㌀" * 12_000, "ﷺ" * 20_000, "住所ﷺ" * 5_000]:
        assert_valid_offsets(text, tokenize(tokenizer, text))


def test_split_into_chunks() -> None:
    assert split_into_chunks("") == []
    assert split_into_chunks("短い") == [(0, "短い")]
    text = "あいうえお。" * 20_000  # 360,000 bytes
    chunks = split_into_chunks(text)
    assert "".join(chunk for _, chunk in chunks) == text
    for offset, chunk in chunks:
        assert text[offset : offset + len(chunk)] == chunk
        assert len(chunk.encode("utf-8")) <= MAX_CHUNK_BYTES
        assert chunk.endswith("。")  # cut after a sentence end
    # A single character larger than the budget still forms its own chunk.
    assert split_into_chunks("😀😀", max_bytes=2) == [(0, "😀"), (1, "😀")]


# --- Rasa integration ------------------------------------------------------


def test_process_sets_tokens_on_rasa_messages(tokenizer: SudachiTokenizer) -> None:
    messages = [
        Message(data={TEXT: "引越しの手続きをしたい"}),
        Message(data={TEXT: ""}),
        Message(data={TEXT: "ﾏｲﾅﾝﾊﾞｰｶｰﾄﾞ😀"}),
    ]
    processed = tokenizer.process(messages)
    tokens = processed[0].get(TOKENS_NAMES[TEXT])
    assert [t.text for t in tokens] == ["引越し", "の", "手続き", "を", "し", "たい"]
    assert tokens[0].lemma == "引っ越し"
    assert processed[1].get(TOKENS_NAMES[TEXT]) == []
    assert [(t.text, t.lemma) for t in processed[2].get(TOKENS_NAMES[TEXT])] == [
        ("ﾏｲﾅﾝﾊﾞｰｶｰﾄﾞ", "マイナンバーカード"),
        ("😀", "😀"),
    ]


def test_process_training_data_tokenizes_text_and_splits_intents(
    make_tokenizer: TokenizerFactory,
) -> None:
    component = make_tokenizer(intent_tokenization_flag=True, intent_split_symbol="_")
    example = Message(data={TEXT: "住民票を取りたい", INTENT: "ask_juminhyo"})
    component.process_training_data(TrainingData([example]))
    assert [t.text for t in example.get(TOKENS_NAMES[TEXT])] == ["住民票", "を", "取り", "たい"]
    assert [t.text for t in example.get(TOKENS_NAMES[INTENT])] == ["ask", "juminhyo"]


def test_intent_is_one_token_by_default(tokenizer: SudachiTokenizer) -> None:
    example = Message(data={TEXT: "こんにちは", INTENT: "greet_formal"})
    tokenizer.process_training_data(TrainingData([example]))
    assert [t.text for t in example.get(TOKENS_NAMES[INTENT])] == ["greet_formal"]


def test_component_is_registered_with_the_default_recipe() -> None:
    registered = DefaultV1Recipe._from_registry(
        "bot.components.sudachi_tokenizer.SudachiTokenizer"
    )
    assert registered.clazz is SudachiTokenizer
    assert DefaultV1Recipe.ComponentType.MESSAGE_TOKENIZER in registered.types
    assert registered.is_trainable is False
    assert SudachiTokenizer.supported_languages() == ["ja"]
    assert SudachiTokenizer.required_packages() == ["sudachipy", "sudachidict_core"]


def test_default_config() -> None:
    config = SudachiTokenizer.get_default_config()
    assert config["split_mode"] == "C"
    assert config["dictionary"] == "core"
    assert config["user_dictionary"] is None
    assert config["lemma"] == "normalized"
    assert config["intent_tokenization_flag"] is False
    assert config["intent_split_symbol"] == "_"


# --- lifecycle -------------------------------------------------------------


def test_sudachi_is_loaded_lazily_and_once(tokenizer: SudachiTokenizer) -> None:
    assert tokenizer._dictionary is None
    tokenize(tokenizer, "一回目")
    dictionary, sudachi = tokenizer._dictionary, tokenizer._sudachi()
    assert dictionary is not None
    tokenize(tokenizer, "二回目")
    assert tokenizer._dictionary is dictionary
    assert tokenizer._sudachi() is sudachi


def test_concurrent_use_from_threads(tokenizer: SudachiTokenizer) -> None:
    # A single Sudachi Tokenizer raises "already in use" under concurrent calls.
    text = "川崎市の区役所で住民票を取りたい。" * 50
    expected = [(t.text, t.start) for t in tokenize(tokenizer, text)]
    errors: list[BaseException] = []
    results: list[list] = []

    def work() -> None:
        try:
            for _ in range(30):
                results.append([(t.text, t.start) for t in tokenize(tokenizer, text)])
        except BaseException as e:  # pragma: no cover - reported below
            errors.append(e)

    threads = [threading.Thread(target=work) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert len(results) == 180 and all(r == expected for r in results)


# --- configuration ---------------------------------------------------------


@pytest.mark.parametrize(
    "overrides",
    [
        {"split_mode": "D"},
        {"lemma": "reading"},
        {"dictionary": "/no/such/system.dic"},
        {"user_dictionary": "/no/such/user.dic"},
    ],
)
def test_invalid_config_is_rejected(make_tokenizer: TokenizerFactory, overrides: dict[str, Any]) -> None:
    with pytest.raises(InvalidConfigException):
        make_tokenizer(**overrides)


USER_DIC_CSV = (
    # surface, left id, right id, cost, surface, POS x6, reading, normalized form,
    # dictionary form id, split type, A split, B split, (unused)
    "かわさきくやくしょてすと,4786,4786,5000,かわさきくやくしょてすと,"
    "名詞,固有名詞,一般,*,*,*,カワサキクヤクショテスト,川崎区役所テスト,*,A,*,*,*\n"
)


def test_user_dictionary_csv_is_compiled_and_used(
    make_tokenizer: TokenizerFactory, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path / "tmp"))
    csv = tmp_path / "user.csv"
    csv.write_text(USER_DIC_CSV, encoding="utf-8")

    without = tokenize(make_tokenizer(), "かわさきくやくしょてすとに行く")
    assert "かわさきくやくしょてすと" not in [t.text for t in without]

    with_csv = make_tokenizer(user_dictionary=str(csv))
    tokens = tokenize(with_csv, "かわさきくやくしょてすとに行く")
    assert [(t.text, t.lemma) for t in tokens][0] == ("かわさきくやくしょてすと", "川崎区役所テスト")
    compiled = list((tmp_path / "tmp" / "rasa_sudachi_user_dic").glob("*.dic"))
    assert len(compiled) == 1

    # The compiled .dic can be given directly, too.
    with_dic = make_tokenizer(user_dictionary=[str(compiled[0])])
    assert tokenize(with_dic, "かわさきくやくしょてすと")[0].lemma == "川崎区役所テスト"


def test_broken_user_dictionary_csv_raises_a_config_error(
    make_tokenizer: TokenizerFactory, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path / "tmp"))
    csv = tmp_path / "broken.csv"
    csv.write_text("not,a,lexicon\n", encoding="utf-8")
    component = make_tokenizer(user_dictionary=str(csv))
    with pytest.raises(InvalidConfigException):
        tokenize(component, "テスト")


def test_system_dictionary_given_as_a_path(make_tokenizer: TokenizerFactory) -> None:
    import sudachidict_core

    system_dic = Path(sudachidict_core.__file__).parent / "resources" / "system.dic"
    component = make_tokenizer(dictionary=str(system_dic))
    assert [t.lemma for t in tokenize(component, "申込")] == ["申し込み"]


def test_component_survives_pickling(tokenizer: SudachiTokenizer) -> None:
    import pickle

    tokenize(tokenizer, "先に読み込む")
    clone = pickle.loads(pickle.dumps(tokenizer))
    assert clone._dictionary is None
    assert [t.text for t in tokenize(clone, "国民健康保険")] == ["国民健康保険"]
