"""Decide: answer with which facts, say the documents do not state it, or ask back.

``Decider(model, offices).decide(query, candidates)`` -> :class:`Decision`.

1. **Clarify** when the question names nothing and asks nothing.
2. **Not in the documents**, by what the question itself says: it names
   something more specific than any entity (障害者手帳) and nothing else.
   **One office**: whether it handles a service, whether a ward has one,
   whether it is still open is read off the org chart
   (:mod:`knowledge.offices`), not weighed.  A
   cue word (fee, hours, what to bring …) narrows the candidates to the facts
   about the subject that give that attribute; when there are none, the
   reply is "not in the documents" naming the missing attribute (as
   ``attributes.yml`` promises), whatever facts of other attributes say.
3. **Rank** the remaining candidates with the trained ranker (a linear
   model over ``retrieve.FEATURES`` fitted on pairs of candidates; its
   score, squashed to 0..1, orders them).
4. **Answer or not**: the trained answerability classifier (logistic
   regression over the best candidate's ranker score, the next one's, the
   ranker's pairwise probability that the best answers rather than the
   next (``preferred``), the ranker's own features of the fact (how it
   relates to what is named, whether its attribute is the one asked, BM25
   and coverage), the features that say whether the fact is
   about what is asked, the kind of question the fact answers:
   ``Attributes.kind``, and how close the question is to a labelled one
   the documents cannot answer: ``Query.near_miss``) gives the
   probability that answering with it is right; below the
   threshold the reply is "not in the documents".  The threshold was chosen
   on held-out folds of the training questions for a wrong answer costing
   ``WRONG_ANSWER_COST`` times a needless decline.
5. The answer holds the best fact, plus the best fact of each other named
   subject and of each other cue attribute, and runners-up that answer the
   same thing (an attribute of the same cue or intent), each only if the
   classifier would answer with it alone (judged as if it were the best:
   ``preferred`` and BM25 against the candidates from it down).

Both models are trained by :mod:`knowledge.train` at build time on the
labelled questions in ``knowledge/answerability/`` and stored in the
knowledge base (``answer_model`` table); see ``Model``.
"""
from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from functools import cached_property

from .attributes import attributes
from .kb import FactRow
from .normalize import normalize_line
from .offices import OfficeDuties, OfficeReply
from .ordinals import conflicts
from .retrieve import Candidate, satisfying
from .understand import Query

WRONG_ANSWER_COST = 2.0  # a wrong answer costs this many needless declines (decides the threshold)
MAX_FACTS = 4  # most facts one answer says
PLAUSIBLE_INTENT = 0.2  # an NLU intent this confident is one reading of what the question asks
_BASE_FEATURES = (
    # the ranker's belief, and what it cannot see: whether the fact is the named subject's and of the
    # asked attribute and covers the question's own words, whether anything is named at all, and the
    # mismatches that make a close fact a wrong answer
    "top", "second", "preferred", "agree", "direct", "direct_hinted", "direct_focus", "focus_coverage",
    "unnamed_coverage", "char_overlap",
    "attr_hinted",
    "nothing_named", "context", "carried", "other_subject", "cue_missed", "unknown_nouns", "proposal", "plan",
    "plan_future", "plan_outcome", "near_miss",
    "year_mismatch", "precision_missed", "number_missed", "time_missed", "unknown_only",
    # the ranker's own evidence on the fact, which its score sums away: how the fact relates to what is named
    # (its subject, about it, a passing mention, through a vocabulary inference), whether its attribute is the
    # one asked (first or secondary), and how much of the question's words it holds (BM25 and coverage)
    "subject", "about", "mentions", "inferred", "attr_asked", "attr_first", "attr_secondary",
    "bm25", "coverage", "content_coverage",
)
# the kind of question the best fact answers (``Attributes.kind``: handled_by -> ask_counter), alone and when
# the fact is about what is named and of the attribute asked: a counter fact about the named duty answers
# "which counter" whole, a procedure fact about it often only in part
DECISION_FEATURES = _BASE_FEATURES + tuple(f"{prefix}_{kind}" for prefix in ("kind", "direct_kind")
                                           for kind in attributes().kinds())


def _sigmoid(z: float) -> float:
    """1 / (1 + e^-z), ``z`` clipped to ±30."""
    return 1.0 / (1.0 + math.exp(-max(-30.0, min(30.0, z))))


@dataclass(frozen=True)
class LinearModel:
    """A logistic regression: ``weights`` (one per feature name in
    ``features``) and ``bias``; ``probability(values)`` -> 0..1."""

    features: tuple[str, ...]
    weights: tuple[float, ...]
    bias: float

    @cached_property
    def weight_of(self) -> dict[str, float]:
        """Feature name -> weight."""
        return dict(zip(self.features, self.weights, strict=True))

    def logit(self, values: dict[str, float]) -> float:
        """``w · x + b`` for feature dict ``values`` (missing features are 0;
        features the model does not know are ignored)."""
        weight_of = self.weight_of
        return self.bias + sum(weight_of.get(name, 0.0) * x for name, x in values.items() if x)

    def probability(self, values: dict[str, float]) -> float:
        """The model's probability (0..1) for feature dict ``values``."""
        return _sigmoid(self.logit(values))

    def to_dict(self) -> dict:
        """JSON-ready form (``from_dict`` reads it back)."""
        return {"features": list(self.features), "weights": list(self.weights), "bias": self.bias}

    @classmethod
    def from_dict(cls, data: dict) -> LinearModel:
        """The model written by ``to_dict``."""
        return cls(tuple(data["features"]), tuple(float(w) for w in data["weights"]), float(data["bias"]))


@dataclass(frozen=True)
class Model:
    """The trained ``ranker`` (over ``retrieve.FEATURES``), the
    answerability classifier ``decider`` (over ``DECISION_FEATURES``) and
    its ``threshold`` (0..1); ``report`` holds the training figures."""

    ranker: LinearModel
    decider: LinearModel
    threshold: float
    report: dict = field(default_factory=dict)

    def to_dict(self) -> dict:
        """JSON-ready form (``from_dict`` reads it back)."""
        return {"ranker": self.ranker.to_dict(), "decider": self.decider.to_dict(), "threshold": self.threshold,
                "report": self.report}

    @classmethod
    def from_dict(cls, data: dict) -> Model:
        """The model written by ``to_dict``."""
        return cls(LinearModel.from_dict(data["ranker"]), LinearModel.from_dict(data["decider"]),
                   float(data["threshold"]), data.get("report") or {})


@dataclass
class Decision:
    """What to say: ``kind`` answer | not_found | clarify; ``facts`` to say
    (answer); ``missing`` the attributes asked for that the documents do not
    give (not_found); ``about`` the entity names the reply is about;
    ``partial`` the question names something more specific than ``about``;
    ``unknown`` ``about`` holds nouns the documents never use, not names;
    ``probability`` the classifier's probability for the best candidate
    (0..1, or None when a rule decided); ``query`` the understood question;
    ``related`` (not_found) facts said beside the decline, near what was
    asked (``OfficeDuties.office_opening``)."""

    kind: str
    query: Query
    facts: list[FactRow] = field(default_factory=list)
    missing: tuple[str, ...] = ()
    about: list[str] = field(default_factory=list)
    partial: bool = False
    probability: float | None = None
    unknown: bool = False  # ``about`` are nouns the documents never use, not names
    office: OfficeReply | None = None  # set when the org chart answered a question about one office
    related: list[FactRow] = field(default_factory=list)


def decision_features(ranked: list[Candidate], query: Query, index: int = 0) -> dict[str, float]:
    """The classifier's features for answering with ``ranked[index]``
    (``ranked`` sorted by ranker score, best first)."""
    cand = ranked[index]
    values = {name: cand.features.get(name, 0.0) for name in DECISION_FEATURES}
    values["top"] = cand.score
    kind = attributes().kind(cand.fact.attribute)
    values[f"kind_{kind}"] = 1.0
    values[f"direct_kind_{kind}"] = values["direct"]
    values["carried"] = float(query.carried)
    values["near_miss"] = query.near_miss
    # it names only things the documents never use (犬の登録, also 「犬の登録は区役所のどこで」, where 区役所 is
    # only the place): the facts found share its other words at most
    values["unknown_only"] = float(bool(query.unknown) and not (query.subjects or query.office_asked or query.context))
    others = [c for i, c in enumerate(ranked[:6]) if i != index]
    values["second"] = others[0].score if others else 0.0
    # the ranker's pairwise probability (RankNet) that this candidate answers rather than the next one below it:
    # a runner-up is judged as if it were the best (``Decider.select`` adds it "if it would answer alone")
    below = ranked[index + 1:]
    values["preferred"] = _sigmoid(_logit(cand.score) - _logit(below[0].score)) if below else 1.0
    if index:  # its BM25 too is taken against the candidates from it down, as for the best against all
        values["bm25"] = cand.bm25 / (max(c.bm25 for c in ranked[index:]) or 1.0)
    group = Decider.group_of(cand.fact.attribute, query)
    values["agree"] = min(1.0, sum(c.score for c in others if c.fact.attribute in group
                                   and (c.fact.subject == cand.fact.subject or c.features.get("subject"))))
    return values


def _logit(p: float) -> float:
    """log(p / (1 - p)), ``p`` kept within (0, 1)."""
    p = min(max(p, 1e-15), 1 - 1e-15)
    return math.log(p / (1 - p))


def readings(query: Query) -> set[str]:
    """The ``ask_*`` intents ``query`` may be read as: the NLU's ranked at
    ``PLAUSIBLE_INTENT`` or more, and those its asking words hint at."""
    return {i for i, w in query.intent_weights.items() if w >= PLAUSIBLE_INTENT} | query.hinted


def about_subject(cand: Candidate) -> bool:
    """Whether the candidate's fact is about a named subject (as its subject
    or in its ``about``; a passing mention does not count)."""
    return bool(cand.features.get("subject") or cand.features.get("about"))


_NUMBER = re.compile(r"[0-9]+")


def numbers(fact: FactRow) -> frozenset[str]:
    """The numbers in ``fact``'s value (``"18:00～20:30"`` -> {"18", "00",
    "20", "30"}), as digit strings without leading zeros."""
    return frozenset(n.lstrip("0") or "0" for n in _NUMBER.findall(normalize_line(fact.value)))


def without_subsumed(facts: list[FactRow]) -> list[FactRow]:
    """``facts`` (in order) without the when-facts that another when-fact of
    the same subject says in full.  When-facts are those of the attributes
    ``ask_datetime`` asks for first (``attributes.yml``: date, time,
    doors_open, opening).  One whose value's numbers are a proper subset of
    another's (開場 17:30 and 時間 18:00～20:30 within 日時 8月5日
    18:00～20:30（開場17:30）) gives way to the widest such fact, which takes
    its place.  Other facts are kept as they are: across kinds, the same
    numbers mean different things (平成2年 in 第2・第4土曜日)."""
    when = set(attributes().intents["ask_datetime"][0])

    def widest(fact: FactRow) -> FactRow:
        mine = numbers(fact) if fact.attribute in when else frozenset()
        wider = [other for other in facts if mine and other.subject == fact.subject and other.attribute in when
                 and mine < numbers(other)]
        return max(wider, key=lambda other: len(numbers(other)), default=fact)

    out: list[FactRow] = []
    for fact in facts:
        if (keep := widest(fact)) not in out:
            out.append(keep)
    return out


class Decider:
    """Applies a trained :class:`Model` (see module docstring); ``offices``
    (optional) answers questions about one office from the org chart
    before the classifier is asked."""

    def __init__(self, model: Model, offices: OfficeDuties | None = None):
        self.model = model
        self.offices = offices

    def rank(self, candidates: list[Candidate]) -> list[Candidate]:
        """``candidates`` with ``score`` set to the ranker's probability, best
        first (ties: higher BM25, then fact id)."""
        for cand in candidates:
            cand.score = self.model.ranker.probability(cand.features)
        return sorted(candidates, key=lambda c: (-c.score, -c.bm25, c.fact.id))

    @staticmethod
    def eligible(query: Query, candidates: list[Candidate]) -> tuple[list[Candidate], tuple[str, ...]]:
        """``(candidates that may answer, attributes asked but missing)``.

        A cue names exactly what is asked: when the question names a subject
        (or has one as context), only facts about it that give a cue
        attribute may answer, and when none does, the cue attributes are
        missing.  Without a cue, what the question may ask is every reading
        of it: the NLU intents ranked at ``PLAUSIBLE_INTENT`` or more and the
        intents its asking words hint at (どこ -> ask_venue); only facts of
        their primary or secondary attributes may answer, when there are
        any (a history fact does not answer 「どこで申請するの」).
        """
        if not query.cues and query.intent_weights and (query.subjects or query.office):
            table = attributes()
            intents = readings(query)
            wanted = {a for i in intents if i in table.intents for group in table.intents[i] for a in group}
            pool = [c for c in candidates if c.fact.attribute in wanted]
            return (pool or candidates), ()
        if not query.cues or not (query.subjects or query.office or query.context):
            return candidates, ()
        wanted = satisfying(query.cues)
        about = [c for c in candidates if c.fact.attribute in wanted
                 and (about_subject(c) or c.features["office"] or c.features["context"])]
        if about:
            return about, ()
        return [], query.cues

    def decide(self, query: Query, candidates: list[Candidate]) -> Decision:
        """The :class:`Decision` for ``query`` over its ``candidates``."""
        # what the reply is about: the names it gives, else the nouns the documents never use (パスポート)
        about = (query.subject_names + query.constraints) or query.unknown
        unknown = not (query.subject_names + query.constraints) and bool(query.unknown)
        # 区役所 named only as where (「区役所の何課に行けば」) names nothing to ask about
        if not (query.subjects or query.office_asked or query.partial or query.content or query.cues
                or query.unknown or query.context):
            return Decision("clarify", query)
        if query.partial and not query.subjects:
            return Decision("not_found", query, missing=query.asked, about=query.partial, partial=True)
        office = self.offices.reply(query, readings(query)) if self.offices else None
        if office is not None:
            return Decision("answer", query, office.facts[:MAX_FACTS], about=about, office=office)
        # a fact about 第3条 does not answer a question about 第24条
        candidates = [c for c in candidates if not conflicts(query.ordinals, f"{c.fact.text} {c.fact.value}")]
        pool, missing = self.eligible(query, candidates)

        def declined(missing: tuple[str, ...], probability: float | None = None) -> Decision:
            # said beside the decline: when the ward office's counters open, for a service handled there
            related = self.offices.office_opening(query) if self.offices else []
            return Decision("not_found", query, missing=missing, about=about, probability=probability,
                            unknown=unknown, related=related)

        if missing:
            return declined(missing)
        ranked = self.rank(pool if pool else candidates)
        if not ranked:
            return declined(query.asked)
        probability = self.model.decider.probability(decision_features(ranked, query))
        if probability < self.model.threshold:
            return declined(query.asked, probability)
        return Decision("answer", query, self.select(ranked, query), about=about, probability=probability)

    @staticmethod
    def group_of(attribute: str, query: Query) -> set[str]:
        """The attributes that answer the same thing as ``attribute`` for
        ``query``: those its cue or its intent names with it, else itself."""
        for group in (satisfying(query.cues), set(query.primary)):
            if attribute in group:
                return group
        return {attribute}

    def select(self, ranked: list[Candidate], query: Query) -> list[FactRow]:
        """The facts to say (see module docstring, step 5)."""
        best = ranked[0]
        chosen = [best]
        answerable = [c for i, c in enumerate(ranked[1:12], start=1)
                      if self.model.decider.probability(decision_features(ranked, query, i)) >= self.model.threshold]
        for name in query.subject_names:
            if not any(c.fact.subject == name or name in c.fact.about for c in chosen):
                chosen += [c for c in answerable if c.fact.subject == name or name in c.fact.about][:1]
        for cue in query.cues:
            wanted = satisfying((cue,))
            if not any(c.fact.attribute in wanted for c in chosen):
                chosen += [c for c in answerable if c.fact.attribute in wanted][:1]
        group = self.group_of(best.fact.attribute, query)
        chosen += [c for c in answerable if c.fact.attribute in group]
        out: list[FactRow] = []
        for cand in chosen:
            if cand.fact.id not in {f.id for f in out} and cand.fact.text not in {f.text for f in out}:
                out.append(cand.fact)
        return without_subsumed(out[:MAX_FACTS])

