"""Train the ranker and the answerability classifier on labelled questions.

The questions live in ``knowledge/answerability/*.yml`` (the format of the
dev sets in ``../shared/eval`` plus ``facts``: the ids of the curated facts
any one of which answers an answerable case).  They were written for this
purpose from the documents and from the kinds of questions citizens send; the
dev sets are never read here.

``train(kb, cases)`` -> ``decide.Model``:

* every case (small talk left out) is understood with its labelled intent
  and its candidates are retrieved as at run time;
* the **ranker** (scikit-learn ``LogisticRegression`` on pairs of
  candidates, as RankNet does) learns which of two candidate facts answers
  the question; a fact answers when it is listed or holds the case's
  expected keys (``answers``);
* the **classifier** learns, from the best candidate of out-of-fold rankers
  (5 folds), whether answering with it is right (answerable and a listed
  fact); its **threshold** is the one of least ``WRONG_ANSWER_COST`` x
  wrong answers + needless declines on out-of-fold probabilities, as the
  median over bootstrap resamples (``choose_threshold``);
* a deterministic fifth of the cases (``split(case) == "test"``) is held out
  of all of this; ``evaluate(kb, model, cases)`` reports precision and recall
  on it (``python -m knowledge train --report``).

Run time: a few seconds (Sudachi on each question, then small fits).
"""
from __future__ import annotations

import bisect
import random
import statistics
import zlib
from dataclasses import dataclass
from pathlib import Path

import yaml

from .decide import DECISION_FEATURES, WRONG_ANSWER_COST, Decider, LinearModel, Model, decision_features
from .kb import KnowledgeBase
from .retrieve import FEATURES, Candidate, Retriever
from .scoring import judge
from .understand import Understander
from .vocabulary import vocabulary

QUESTIONS_DIR = Path(__file__).with_name("answerability")
FOLDS = 5
THRESHOLD_RESAMPLES = 101  # bootstrap resamples whose least-cost thresholds' median is the threshold
PAIRS_PER_ANSWER = 15  # non-answering candidates paired with each answering one when fitting the ranker
INTENTS = {
    "venue": "ask_venue", "datetime": "ask_datetime", "deadline": "ask_deadline", "eligibility": "ask_eligibility",
    "counter": "ask_counter", "contact": "ask_contact", "procedure": "ask_procedure",
    "fee_capacity": "ask_fee_capacity", "overview": "ask_overview", "history": "ask_history",
    "statistics": "ask_statistics", "rule": "ask_rule",
}


@dataclass(frozen=True)
class Case:
    """One labelled question: ``id``, ``question``, NLU ``intent`` (or None),
    ``answerable``, ``facts`` (ids of facts that answer it; ``kinds`` their
    subjects and attributes: a fact of the same kind answers too), ``case`` (the raw
    eval-format dict, for scoring by its keys); for a dialogue turn, the
    ``topic`` (the subject of the previous answered turn's first listed fact)
    and ``previous_intent``."""

    id: str
    question: str
    intent: str | None
    answerable: bool
    facts: frozenset[str]
    case: dict
    topic: str | None = None
    previous_intent: str | None = None
    kinds: frozenset = frozenset()  # (subject, attribute) of the listed facts


def split(case_id: str) -> str:
    """"test" for a deterministic fifth of the cases (a dialogue's turns go together), else "train"."""
    return "test" if zlib.crc32(case_id.split("#")[0].encode("utf-8")) % FOLDS == 0 else "train"


def load_cases(directory: Path | str = QUESTIONS_DIR, facts: dict | None = None) -> list[Case]:
    """Single cases and dialogue turns of every ``*.yml`` in ``directory``
    (small talk left out).  ``facts`` (fact id -> ``FactRow``) gives
    dialogue turns their topic; without it they have none.

    Raises:
        FileNotFoundError: the directory holds no question file.
    """
    files = sorted(Path(directory).glob("*.yml"))
    if not files:
        raise FileNotFoundError(f"no labelled questions in {directory}")
    facts = facts or {}

    def case(case_id: str, raw: dict, question: str, topic=None, previous=None) -> Case:
        listed = [f for f in raw.get("facts") or () if f in facts]
        return Case(case_id, question, INTENTS.get(raw.get("intent")), bool(raw.get("answerable")),
                    frozenset(raw.get("facts") or ()), raw, topic, previous,
                    frozenset((facts[f].subject, facts[f].attribute) for f in listed))

    out = []
    for path in files:
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        out += [case(str(raw["id"]), raw, str(raw["question"])) for raw in data.get("single") or []
                if raw.get("intent") != "smalltalk"]
        for dialogue in data.get("dialogues") or []:
            topic = previous = None
            for number, turn in enumerate(dialogue.get("turns") or [], start=1):
                if turn.get("intent") != "smalltalk":
                    out.append(case(f"{dialogue['id']}#{number}", turn, str(turn["user"]), topic, previous))
                listed = [f for f in turn.get("facts") or () if f in facts]
                if listed:
                    topic = facts[listed[0]].subject
                previous = INTENTS.get(turn.get("intent")) or previous
    return out


@dataclass
class Example:
    """One understood question: its ``case``, the intent used, the
    candidates that may answer (``pool``) and what a rule decided before
    ranking (``ruled``: "" when the models decide)."""

    case: Case
    intent: str | None
    pool: list[Candidate]
    ruled: str
    query: object


def examples(kb: KnowledgeBase, cases: list[Case]) -> list[Example]:
    """Understand and retrieve each case with its labelled intent, as
    ``Answerer`` does at run time."""
    understander = Understander(kb, vocabulary())
    retriever = Retriever(kb)
    out = []
    for case in cases:
        query = understander.understand(case.question, case.intent, (), case.topic, None, case.previous_intent)
        candidates = retriever.candidates(query)
        ruled = ""
        if not (query.subjects or query.office or query.partial or query.content or query.cues or query.unknown
                or query.context):
            ruled = "clarify"
        elif query.partial and not query.subjects:
            ruled = "not_found"
        pool, _ = Decider.eligible(query, candidates)
        out.append(Example(case, case.intent, (pool or candidates) if not ruled else [], ruled, query))
    return out


def _fit(rows: list[list[float]], labels: list[int], names: tuple[str, ...], intercept: bool = True) -> LinearModel:
    from sklearn.linear_model import LogisticRegression

    if len(set(labels)) < 2:
        return LinearModel(names, tuple(0.0 for _ in names), 0.0 if labels and labels[0] else -5.0)
    model = LogisticRegression(C=1.0, max_iter=3000, fit_intercept=intercept)
    model.fit(rows, labels)
    bias = float(model.intercept_[0]) if intercept else 0.0
    return LinearModel(names, tuple(float(w) for w in model.coef_[0]), bias)


def answers(case: Case, fact) -> bool:
    """Whether saying ``fact`` answers ``case``: it is a listed fact, or its
    text holds every expected key of the case (``expect_all``, one of
    ``expect_any``, when the case has keys) and none of its forbidden ones,
    as the dev sets' scoring judges a reply."""
    if not case.answerable:
        return False
    if fact.id in case.facts or (fact.subject, fact.attribute) in case.kinds:
        return True
    keys = case.case.get("expect_all") or []
    if not keys and not case.case.get("expect_any"):
        return False
    ok, forbidden = judge(case.case, fact.text, None)
    return ok and not forbidden


def answer_right(case: Case, ranked: list[Candidate], query, depth: int = 4) -> bool:
    """Whether answering with ``ranked[0]`` is right: it answers ``case``, or
    one of the next candidates (up to ``depth`` in all) that answer the same
    thing does (the answer says those too; see ``Decider.select``)."""
    group = Decider.group_of(ranked[0].fact.attribute, query)
    return any(answers(case, c.fact) for c in ranked[:depth] if c is ranked[0] or c.fact.attribute in group)


def fit_ranker(train: list[Example], pairs_per_answer: int = PAIRS_PER_ANSWER) -> LinearModel:
    """The ranker, fitted pairwise (a logistic regression on the feature
    differences of an answering and a non-answering candidate of the same
    question, as RankNet / RankSVM do): it learns which of two candidates
    should come first, which is what ranking needs, whatever the number of
    candidates a question has.  ``pairs_per_answer`` non-answering
    candidates are drawn per answering one (fixed seed)."""
    rng = random.Random(0)  # noqa: S311 -- a fixed sample of training pairs, not a secret
    rows, labels = [], []
    for ex in train:
        right = [c for c in ex.pool if answers(ex.case, c.fact)]
        wrong = [c for c in ex.pool if not answers(ex.case, c.fact)]
        for good in right:
            for bad in rng.sample(wrong, min(len(wrong), pairs_per_answer)):
                diff = [g - b for g, b in zip(good.vector(), bad.vector(), strict=True)]
                if rng.random() < 0.5:
                    rows.append(diff)
                    labels.append(1)
                else:
                    rows.append([-d for d in diff])
                    labels.append(0)
    return _fit(rows, labels, FEATURES, intercept=False)


def _top(ranker: LinearModel, ex: Example) -> tuple[dict[str, float], int] | None:
    """Decision features of the best candidate under ``ranker``, and whether
    answering with it is right; None when the example has no candidate."""
    if not ex.pool:
        return None
    ranked = Decider(Model(ranker, ranker, 0.5)).rank(list(ex.pool))
    right = int(answer_right(ex.case, ranked, ex.query))
    return decision_features(ranked, ex.query), right


def _folds(items: list, key) -> list[list]:
    folds: list[list] = [[] for _ in range(FOLDS)]
    for item in items:
        folds[zlib.crc32(key(item).encode("utf-8")) % FOLDS].append(item)
    return folds


def out_of_fold(train: list[Example]) -> list[tuple[dict[str, float], int]]:
    """Decision features and labels of each example's best candidate, ranked
    by a ranker that did not see the example's case."""
    out = []
    folds = _folds(train, lambda ex: ex.case.id + "#")
    for i, held in enumerate(folds):
        ranker = fit_ranker([ex for j, fold in enumerate(folds) if j != i for ex in fold])
        out += [top for ex in held if (top := _top(ranker, ex)) is not None]
    return out


def least_cost_threshold(scored: list[tuple[float, int]]) -> float:
    """The threshold (one of the probabilities rounded to 3 places, or 0.5)
    of least cost for ``(probability, right)`` pairs: ``WRONG_ANSWER_COST``
    x answered-but-wrong + declined-but-right, where a pair is answered when
    its probability is at least the threshold; the lowest on ties."""
    thresholds = sorted({round(p, 3) for p, _ in scored} | {0.5})
    ordered = sorted(scored)
    probabilities = [p for p, _ in ordered]
    right_below = [0]  # right pairs among the first i, by probability
    for _, right in ordered:
        right_below.append(right_below[-1] + right)
    wrong_total = len(ordered) - right_below[-1]

    def cost(threshold: float) -> float:
        declined = bisect.bisect_left(probabilities, threshold)
        wrong_answered = wrong_total - (declined - right_below[declined])
        return WRONG_ANSWER_COST * wrong_answered + right_below[declined]

    return min(thresholds, key=lambda t: (cost(t), t))


def choose_threshold(scored: list[tuple[float, int]], resamples: int = THRESHOLD_RESAMPLES) -> float:
    """The threshold for ``(probability, right)`` pairs: the median, over
    ``resamples`` bootstrap resamples of the pairs (fixed seed), of the
    least-cost threshold (``least_cost_threshold``).  The cost curve is
    shallow near its minimum, so the bare argmin jumps when a few questions
    are added; the bootstrap median (bagging) stays at the minimum and
    holds still.  Costs are ``WRONG_ANSWER_COST`` x answered-but-wrong +
    declined-but-right: a wrong answer costs more than a needless decline."""
    if not scored:
        return 0.5
    rng = random.Random(0)  # noqa: S311 -- a fixed resampling, not a secret
    picks = [least_cost_threshold([rng.choice(scored) for _ in scored]) for _ in range(resamples)]
    return statistics.median_low(picks)


def train(kb: KnowledgeBase, cases: list[Case]) -> Model:
    """Fit the ranker, the classifier and its threshold on the "train"
    split of ``cases`` (see module docstring)."""
    train_examples = [ex for ex in examples(kb, [c for c in cases if split(c.id) == "train"])]
    decidable = [ex for ex in train_examples if not ex.ruled]
    ranker = fit_ranker(decidable)
    tops = out_of_fold(decidable)
    decider = _fit([[v[n] for n in DECISION_FEATURES] for v, _ in tops], [y for _, y in tops], DECISION_FEATURES)
    # the threshold from out-of-fold probabilities of the classifier too
    scored = []
    folds = _folds(list(range(len(tops))), lambda i: str(i))
    for i, held in enumerate(folds):
        rest = [tops[k] for j, fold in enumerate(folds) if j != i for k in fold]
        model = _fit([[v[n] for n in DECISION_FEATURES] for v, _ in rest], [y for _, y in rest], DECISION_FEATURES)
        scored += [(model.probability(tops[k][0]), tops[k][1]) for k in held]
    threshold = choose_threshold(scored)
    report = {"train_cases": len({ex.case.id for ex in train_examples}), "decidable_examples": len(decidable),
              "right_at_top": sum(y for _, y in tops), "threshold": threshold}
    return Model(ranker, decider, threshold, report)


def evaluate(kb: KnowledgeBase, model: Model, cases: list[Case]) -> dict:
    """Precision and recall of answering on the "test" split of ``cases``
    (with their labelled intents).

    Returns ``{"cases", "answerable", "answered", "right", "precision",
    "recall", "declined_unanswerable", "unanswerable"}``: ``right`` counts
    answers whose best fact is a listed one; precision = right / answered;
    recall = right / answerable.
    """
    from .answer import Answerer

    answerer = Answerer(kb, model=model)
    test = [c for c in cases if split(c.id) == "test"]
    answered = right = declined = 0
    for case in test:
        decision = answerer.decision(case.question, case.intent, (), case.topic, None, case.previous_intent)
        if decision.kind == "answer":
            answered += 1
            right += int(answers(case, decision.facts[0]))
        elif not case.answerable:
            declined += 1
    answerable = sum(c.answerable for c in test)
    unanswerable = len(test) - answerable
    return {"cases": len(test), "answerable": answerable, "answered": answered, "right": right,
            "precision": right / answered if answered else 0.0, "recall": right / answerable if answerable else 0.0,
            "declined_unanswerable": declined, "unanswerable": unanswerable}
