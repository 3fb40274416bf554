"""The labelled questions' training split as NLU intent examples
(knowledge/intent_examples.py; questions written for these tests)."""
import re
from pathlib import Path

import pytest
import yaml

from knowledge.entities import EntityMatcher
from knowledge.intent_examples import DEFAULT_OUT, annotate, export_intent_examples, is_follow_up
from knowledge.train import QUESTIONS_DIR, load_cases, split

MARKUP = re.compile(r"\[([^\]]*)\]\([a-z_]+\)")


@pytest.fixture(scope="module")
def exported(kb_path, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("nlu") / "ask_labelled.yml"
    assert export_intent_examples(kb_path, out) > 300
    return out


def examples_of(path: Path) -> dict[str, list[str]]:
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    return {item["intent"]: [line[2:] for line in item["examples"].splitlines()] for item in data["nlu"]}


def test_names_are_marked_up_as_nlu_entities_and_the_office_is_left_plain(kb):
    matcher = EntityMatcher(kb.lexicon)
    marked = annotate("国民年金の手続きは区役所のどこですか", matcher)
    assert marked == "[国民年金](service)の手続きは区役所のどこですか"
    assert annotate("保険年金課 の電話番号", matcher) == "[保険年金課](section) の電話番号"


def test_text_that_cannot_be_marked_up_safely_is_left_out(kb):
    assert annotate("[国民年金](service)って何", EntityMatcher(kb.lexicon)) is None


def test_only_the_training_split_reaches_the_nlu(kb, exported):
    written = {MARKUP.sub(r"\1", text) for texts in examples_of(exported).values() for text in texts}
    cases = load_cases(QUESTIONS_DIR, kb.facts)
    held_out = {" ".join(c.question.split()) for c in cases if split(c.id) == "test"}
    trained = {" ".join(c.question.split()) for c in cases if split(c.id) == "train" and c.intent}
    assert held_out and not written & (held_out - trained)
    assert len(written & trained) > 300


def test_every_example_is_under_its_labelled_intent(kb, exported):
    by_intent = examples_of(exported)
    assert set(by_intent) <= {f"ask_{n}" for n in ("venue", "datetime", "deadline", "eligibility", "counter", "contact",
                                                   "procedure", "fee_capacity", "overview", "history", "statistics",
                                                   "rule")}
    case = next(c for c in load_cases(QUESTIONS_DIR, kb.facts) if split(c.id) == "train" and c.intent == "ask_counter")
    text = annotate(" ".join(case.question.split()), EntityMatcher(kb.lexicon))
    assert text in by_intent["ask_counter"]


def test_the_committed_file_is_the_export_of_the_labelled_questions(exported):
    # the NLU trains on bot/data/nlu/ask_labelled.yml: it must not drift from knowledge/answerability
    assert DEFAULT_OUT.read_text(encoding="utf-8") == exported.read_text(encoding="utf-8")


def test_follow_up_turns_are_not_examples_on_their_own():
    assert is_follow_up("QDD-01#2") and not is_follow_up("QDD-01#1") and not is_follow_up("QC-001")


DEV_SETS = Path(__file__).resolve().parents[2] / "shared" / "eval"
NEAR_COPY = 75  # rapidfuzz ratio (0..100) at which a text counts as a rewording of a dev-set question
NEAR_COPY_MIN_LENGTH = 10  # characters; shorter turns (「締め切りは？」) are anyone's words
_PUNCTUATION = re.compile(r"[\s！？!?。、,.「」『』…]")


def bare(text: str) -> str:
    """``text`` without spaces and punctuation, for comparing wordings."""
    return _PUNCTUATION.sub("", text)


def training_texts() -> list[str]:
    """Every question the models learn from: the NLU's intent examples (names
    unmarked) and all labelled questions and dialogue turns."""
    nlu_dir = Path(__file__).resolve().parents[1] / "bot" / "data" / "nlu"
    texts = []
    for path in nlu_dir.glob("*.yml"):
        for item in yaml.safe_load(path.read_text(encoding="utf-8")).get("nlu") or []:
            if "intent" in item:
                texts += [MARKUP.sub(r"\1", line[2:]) for line in item["examples"].splitlines()]
    return texts + [case.question for case in load_cases(QUESTIONS_DIR)]


def test_near_copies_are_told_apart_from_questions_on_the_same_subject():
    from rapidfuzz import fuzz

    asked = bare("国民年金の免除の申請はどこの課でできますか")
    assert fuzz.ratio(asked, bare("国民年金の免除って、どこの課で申請できますか？")) >= NEAR_COPY
    assert fuzz.ratio(asked, bare("国民年金の保険料は毎月いくら払うのですか")) < NEAR_COPY


@pytest.mark.skipif(not DEV_SETS.is_dir(), reason="the dev sets are not beside the project")
def test_no_dev_set_question_nor_a_rewording_of_one_is_training_data():
    from rapidfuzz import fuzz, process

    from bot.evaluate import load_cases as load_dev_cases

    dev = [bare(case["question"]) for path in sorted(DEV_SETS.glob("public*.yml"))
           for _, _, case in load_dev_cases(path)]
    close = []
    for text in training_texts():
        if len(bare(text)) >= NEAR_COPY_MIN_LENGTH:
            match = process.extractOne(bare(text), dev, scorer=fuzz.ratio, score_cutoff=NEAR_COPY)
            if match:
                close.append((text, match[0]))
    assert dev and not close


def test_a_named_ward_office_or_branch_is_a_facility(kb):
    matcher = EntityMatcher(kb.lexicon)
    assert annotate("中原区役所へはどう行けばいい", matcher) == "[中原区役所](facility)へはどう行けばいい"
    assert annotate("向丘出張所で住民票はとれる？", matcher).startswith("[向丘出張所](facility)で")
