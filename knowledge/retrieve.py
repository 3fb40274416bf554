"""Retrieve and rank candidate facts for an understood question.

``Retriever(kb).candidates(query)`` -> list of :class:`Candidate`, each a fact
with its features, in no particular order; ``Ranker.rank`` orders them.

Candidates come from two indexes, never from a scan of every fact:

* the **entity index**: facts whose subject or ``about`` is a named entity
  (or an entity whose name contains it: かわさき改革カフェ -> かわさき改革カフェ
  （南部地区）), and facts whose text mentions it (found once, at start-up);
* **BM25** (:mod:`knowledge.bm25`, FTS5's formula and parameters) over the
  facts' Sudachi terms (normalized forms and readings, as ``facts_fts``
  holds them), with the question's terms plus the duty terms its vocabulary
  inferences name.

Each candidate's features (all in 0..1) are what the ranker and the
answerability classifier read: how the fact relates to the named entities,
whether its attribute is the one asked for, its BM25 score relative to the
best candidate's, how much of the question's weight (idf) it covers, its
status against the question's tense, and a few properties of the question
itself (nothing named, unknown nouns).  ``FEATURES`` lists them in order.
"""
from __future__ import annotations

import heapq
import re
from dataclasses import dataclass, field
from functools import lru_cache

from . import analyzer
from .attributes import attributes
from .bm25 import BM25Index
from .dates import find_dates, holds_time
from .entities import EntityMatcher, fold
from .kb import FactRow, KnowledgeBase
from .normalize import compact, normalize_line
from .understand import OFFICE, Query

BM25_CANDIDATES = 40  # facts taken from the BM25 index per question, and most candidates that get features
PRESELECT = 4  # more than this many times BM25_CANDIDATES: pre-selected by relation and attribute alone
UNKNOWN_TERM_IDF = 2.0  # weight of a question term that no fact contains

FEATURES = (
    "subject", "inferred", "about", "mentions", "other_subject", "subjects_covered", "context", "office",
    "direct", "direct_hinted", "attr_asked", "attr_hinted", "attr_first", "attr_secondary", "cue_missed",
    "bm25", "bm25_rest", "coverage", "content_coverage", "focus_coverage", "char_overlap", "year_mismatch",
    "precision_missed", "number_missed", "time_missed", "plan", "proposal", "example", "plan_future", "plan_present",
    "plan_outcome",
    "nothing_named", "unknown_nouns", "partial", "no_intent", "direct_focus", "unnamed_coverage",
)


@dataclass
class Candidate:
    """A fact that may answer: ``fact``, ``features`` (name -> float, see
    ``FEATURES``), ``bm25`` (raw FTS5 relevance, >= 0) and ``score`` (the
    ranker's probability that it answers, 0..1; 0 until ranked)."""

    fact: FactRow
    features: dict[str, float] = field(default_factory=dict)
    bm25: float = 0.0
    score: float = 0.0

    def vector(self) -> list[float]:
        """The features in ``FEATURES`` order."""
        return [self.features.get(name, 0.0) for name in FEATURES]


EVERY_WARD_ATTRIBUTES = ("handled_by", "duties")  # the org chart's: which section handles a service, a section's duties
EVERY_WARD_TYPES = ("service", "section")


def every_ward(kb: KnowledgeBase, related_ids) -> frozenset[str]:
    """Ids of the facts that hold in every ward: the org chart's duties
    (``EVERY_WARD_ATTRIBUTES``) of a service or section
    (``EVERY_WARD_TYPES``) that name no ward.  Every ward office has the
    same sections (001, the 2015 org chart), so 「住民票は区民課」 answers
    「中原区で住民票は区役所のどこ？」 as well; a section or office only some
    wards have (支所, 日吉健康ステーション) is of another type.
    ``related_ids``: entity name -> ids of the facts related to it
    (``Retriever.related_ids``)."""
    wards = frozenset().union(*(related_ids(name) for name, ent in kb.entities.items() if ent.type == "ward"))
    return frozenset(f.id for f in kb.facts.values()
                     if f.id not in wards and f.attribute in EVERY_WARD_ATTRIBUTES
                     and f.subject in kb.entities and kb.entities[f.subject].type in EVERY_WARD_TYPES)


class Retriever:
    """Candidate facts and their features over one ``KnowledgeBase``.

    Builds its indexes once (entity -> facts, mentions, idf): about 0.5 s
    for 1,000 facts.  Thread-safe for reads.
    """

    def __init__(self, kb: KnowledgeBase):
        self.kb = kb
        self.by_entity = {name: [f.id for f in facts] for name, facts in kb.by_entity.items()}
        self.wider: dict[str, list[str]] = {}  # entity -> entities whose names contain it (4+ characters)
        names = list(kb.entities)
        for name in names:
            if len(name) >= 4:
                self.wider[name] = [o for o in names if o != name and name in o]
        matcher = EntityMatcher(kb.lexicon)
        self.mentioned: dict[str, set[str]] = {}  # fact id -> entity names its text mentions
        self.mentions: dict[str, list[str]] = {}  # entity name -> fact ids mentioning it
        for fact in kb.facts.values():
            found = {m.name for m in matcher.find(f"{fact.text} {fact.value}", fuzzy=False)}
            self.mentioned[fact.id] = found
            for name in found:
                self.mentions.setdefault(name, []).append(fact.id)
        self.bm25 = BM25Index({f.id: f.terms for f in kb.facts.values()})
        self.idf = analyzer.idf(f.terms for f in kb.facts.values())
        self._dates: dict[str, list] = {}
        self._times: dict[str, bool] = {}
        self._related: dict[str, frozenset[str]] = {}
        self.bigrams = {f.id: char_bigrams(f.text) for f in kb.facts.values()}
        self.every_ward = every_ward(kb, self.related_ids)

    def dates(self, fact: FactRow) -> list:
        """The dates (``dates.JapaneseDate``) in ``fact``'s text and value (cached)."""
        if fact.id not in self._dates:
            self._dates[fact.id] = find_dates(normalize_line(f"{fact.text} {fact.value}"))
        return self._dates[fact.id]

    def holds_time(self, fact: FactRow) -> bool:
        """Whether ``fact`` gives a when (``dates.holds_time`` over its text and value; cached)."""
        if fact.id not in self._times:
            self._times[fact.id] = holds_time(normalize_line(f"{fact.text} {fact.value}"))
        return self._times[fact.id]

    # -- candidates ------------------------------------------------------------
    def relates(self, fact: FactRow, name: str) -> str | None:
        """How ``fact`` relates to entity ``name``: "subject", "about",
        "mentions" or None."""
        if fact.subject == name:
            return "subject"
        if name in fact.about or fact.subject in self.wider.get(name, ()):
            return "about"
        if any(w in fact.about for w in self.wider.get(name, ())):
            return "about"
        if name in self.mentioned.get(fact.id, ()):
            return "mentions"
        return None

    def related_ids(self, name: str) -> frozenset[str]:
        """The ids of the facts that relate to entity ``name`` in any way
        (``relates`` is not None); computed once per name."""
        if name not in self._related:
            self._related[name] = frozenset(fid for fid, fact in self.kb.facts.items()
                                            if self.relates(fact, name) is not None)
        return self._related[name]

    def _entity_ids(self, name: str) -> list[str]:
        ids = list(self.by_entity.get(name, ()))
        for wider in self.wider.get(name, ()):
            ids += self.by_entity.get(wider, ())
        return ids + self.mentions.get(name, [])

    def candidates(self, query: Query, limit: int = BM25_CANDIDATES) -> list[Candidate]:
        """The candidate facts for ``query`` with their features (see module
        docstring); facts that do not mention a ward the question names are
        left out, except those that hold in every ward (``every_ward``).  At
        most ``limit`` candidates get features: those related to what the
        question names first, then those of an attribute it asks for, then
        by BM25."""
        ids: dict[str, int] = {}  # fact id -> 1 when related to a name the question gives (0: context)
        for name in query.context:
            ids.update(dict.fromkeys(self._entity_ids(name), 0))
        for name in query.subject_names + ([OFFICE] if query.office else []):
            ids.update(dict.fromkeys(self._entity_ids(name), 1))
        for fid, _ in self.bm25.search(query.terms, limit=limit):
            ids.setdefault(fid, 0)
        if query.constraints:
            allowed = frozenset.intersection(*(self.related_ids(ward) for ward in query.constraints))
            ids = {fid: rel for fid, rel in ids.items() if fid in allowed or fid in self.every_ward}
        if len(ids) > limit:
            facts = self.kb.facts
            asked = satisfying(query.cues) | set(query.primary) | set(query.secondary) | {
                a for name in query.hinted for a in attributes().intents[name][0]}
            if len(ids) > PRESELECT * limit:  # a much-described entity: its facts of the asked attributes first
                ids = {fid: ids[fid] for fid in preselect(ids, facts, asked, PRESELECT * limit)}
            full = self.bm25.scores(query.terms, ids) if query.terms else {}
            keep = heapq.nsmallest(limit, ids, key=lambda fid: (-ids[fid], facts[fid].attribute not in asked,
                                                                -full.get(fid, 0.0), fid))
            ids = {fid: ids[fid] for fid in keep}
        else:
            full = self.bm25.scores(query.terms, ids) if query.terms else {}
        rest = self.bm25.scores(query.rest_terms, ids) if query.rest_terms else {}
        best = max((full.get(fid, 0.0) for fid in ids), default=0.0) or 1.0
        best_rest = max(rest.values(), default=0.0) or 1.0
        asked = Asked(self, query)
        out = []
        for fid in ids:
            cand = Candidate(self.kb.facts[fid], bm25=full.get(fid, 0.0))
            # a question that says nothing beyond its names leaves every candidate equal here
            relative_rest = rest.get(fid, 0.0) / best_rest if query.rest_terms else 1.0
            cand.features = self.features(cand.fact, query, cand.bm25 / best, relative_rest, asked)
            out.append(cand)
        return out

    # -- features --------------------------------------------------------------
    def weighted(self, terms: list[str]) -> list[tuple[tuple[str, ...], float]]:
        """``((term,), idf)`` for each of ``terms`` (for ``covered``)."""
        return [((t,), self.idf.get(t, UNKNOWN_TERM_IDF)) for t in terms]

    def weighted_words(self, words: list[tuple[str, str]]) -> list[tuple[tuple[str, ...], float]]:
        """``((normalized form, reading), idf)`` for ``(normalized, reading)``
        pairs such as ``Query.content``: a word counts as covered by either."""
        return [((norm, reading), max(self.idf.get(norm, UNKNOWN_TERM_IDF), self.idf.get(reading, 0.0)))
                for norm, reading in words]

    @staticmethod
    def covered(weighted: list[tuple[tuple[str, ...], float]], fact_terms: set[str], total: float | None = None
                ) -> float:
        """Share (0..1) of the weight of ``weighted`` (see ``weighted``)
        whose forms ``fact_terms`` hold; 1.0 when there is nothing to cover.
        ``total``: the summed weight, when already known."""
        total = sum(w for _, w in weighted) if total is None else total
        if not total:
            return 1.0
        got = 0.0
        for forms, w in weighted:
            for form in forms:
                if form in fact_terms:
                    got += w
                    break
        return got / total

    def features(self, fact: FactRow, query: Query, bm25: float, bm25_rest: float,
                 asked: Asked | None = None) -> dict[str, float]:
        """The features of ``fact`` for ``query``; ``bm25`` and ``bm25_rest``
        are relative to the best candidate's (0..1); ``asked`` the query's
        precomputed :class:`Asked` (computed here when None)."""
        asked = asked or Asked(self, query)
        f: dict[str, float] = dict.fromkeys(FEATURES, 0.0)
        related = 0
        for named in query.subjects:
            how = self.relates(fact, named.name)
            if how is None:
                continue
            related += 1
            f[how] = 1.0
            if how != "mentions" and named.source in ("vocabulary", "topic"):
                f["inferred"] = 1.0
        if query.subjects:
            f["subjects_covered"] = related / len(query.subjects)
            f["other_subject"] = float(fact.subject not in asked.names and not (asked.names & set(fact.about)))
        if query.context and any(self.relates(fact, name) for name in query.context):
            f["context"] = 1.0
        if query.office and (fact.subject == OFFICE or OFFICE in fact.about):
            f["office"] = 1.0
        attribute = fact.attribute
        if query.cues:
            f["attr_asked"] = float(attribute in asked.cue_attributes)
            f["cue_missed"] = 1.0 - f["attr_asked"]
        else:
            f["attr_asked"] = min(1.0, asked.primary.get(attribute, 0.0))
        f["attr_hinted"] = float(attribute in asked.hinted)
        f["attr_first"] = float(attribute == asked.first)
        about_named = float(bool(f["subject"] or f["about"] or f["office"]))
        f["direct"] = about_named * f["attr_asked"]
        f["direct_hinted"] = about_named * f["attr_hinted"] * (1.0 - f["attr_asked"])
        f["attr_secondary"] = min(1.0, asked.secondary.get(attribute, 0.0))
        f["bm25"] = bm25
        f["bm25_rest"] = bm25_rest
        f["coverage"] = self.covered(asked.terms, fact.terms, asked.totals[0]) if query.terms else 0.0
        f["content_coverage"] = self.covered(asked.content, fact.terms, asked.totals[1])
        f["focus_coverage"] = self.covered(asked.focus, fact.terms, asked.totals[2])
        if asked.bigrams:
            f["char_overlap"] = len(asked.bigrams & self.bigrams[fact.id]) / len(asked.bigrams)
        if query.years:
            years = {d.year for d in self.dates(fact)}
            f["year_mismatch"] = float(bool(years) and not query.years & years)
        if query.precision:
            f["precision_missed"] = float(not any(getattr(d, query.precision) for d in self.dates(fact)))
        if query.asks_when:
            f["time_missed"] = float(not self.holds_time(fact))
        if query.units is not None:
            f["number_missed"] = float(not holds_quantity(fact.text, query.units))
        for status in ("plan", "proposal", "example"):
            f[status] = float(fact.status == status)
        # a citizen's proposal answers a question about what citizens said, and nothing else
        f["proposal"] = float(fact.status == "proposal" and not (f["attr_asked"] or f["attr_hinted"]))
        f["plan_future"] = float(fact.status == "plan" and query.future)
        f["plan_present"] = float(fact.status in ("plan", "proposal") and query.present)
        # a plan or a proposal does not say whether it came about
        f["plan_outcome"] = float(fact.status in ("plan", "proposal") and query.outcome)
        f["nothing_named"] = float(not query.subjects and not query.office)
        f["unknown_nouns"] = min(1.0, len(query.unknown) / 2)
        f["partial"] = float(bool(query.partial))
        f["no_intent"] = float(query.intent is None)
        # a fact about what is named and of the attribute asked answers when it also covers what else is asked
        f["direct_focus"] = f["direct"] * f["focus_coverage"]
        # with nothing named, only what the fact covers of the question speaks for it
        f["unnamed_coverage"] = f["nothing_named"] * f["content_coverage"]
        return f


class Asked:
    """What one query asks, computed once for all its candidates: the
    attributes its cues, intents and asking words name, its named subjects,
    and the idf weights of its terms, content and focus words."""

    def __init__(self, retriever: Retriever, query: Query):
        intents = attributes().intents
        self.names = set(query.subject_names)
        self.cue_attributes = satisfying(query.cues)
        self.primary: dict[str, float] = {}
        self.secondary: dict[str, float] = {}
        for name, weight in query.intent_weights.items():
            for attribute in intents[name][0]:
                self.primary[attribute] = self.primary.get(attribute, 0.0) + weight
            for attribute in intents[name][1]:
                self.secondary[attribute] = self.secondary.get(attribute, 0.0) + weight
        self.hinted = {a for name in query.hinted for a in intents[name][0]}
        self.first = query.asked[0] if query.asked else None
        self.terms = retriever.weighted(query.terms)
        self.content = retriever.weighted_words(query.content)
        self.focus = retriever.weighted_words(query.focus)
        self.totals = tuple(sum(w for _, w in weighted) for weighted in (self.terms, self.content, self.focus))
        self.bigrams = char_bigrams(query.text)


_NUMBER = r"[0-9０-９一二三四五六七八九十百千万億]"


@lru_cache(maxsize=64)
def _quantity(units: tuple[str, ...]) -> re.Pattern:
    if not units:
        return re.compile(_NUMBER)
    return re.compile(_NUMBER + r"[0-9,.]*\s*[万千億]?\s*(?:" + "|".join(map(re.escape, units)) + ")")


def holds_quantity(text: str, units: tuple[str, ...]) -> bool:
    """Whether ``text`` holds a number carrying one of the folded ``units``
    (「44名」 for 人, 名; 「5,500万円」 for 円), or any number when ``units``
    is empty."""
    return bool(_quantity(units).search(fold(text)))


_KANJI_OR_KATAKANA = re.compile(r"[\u4e00-\u9fff\u30a1-\u30fa\u30fc]")


def char_bigrams(text: str) -> set[str]:
    """Character bigrams of ``text`` (whitespace removed) that hold a kanji
    or katakana: what a paraphrase keeps of the words it reuses in part
    (対応できない / 対応します share 対応)."""
    text = compact(text)
    return {text[i:i + 2] for i in range(len(text) - 1) if _KANJI_OR_KATAKANA.search(text[i:i + 2])}


def satisfying(cues: tuple[str, ...]) -> set[str]:
    """The attributes whose facts answer any of the cue attributes ``cues``."""
    table = attributes()
    return {a for cue in cues for a in table.satisfied_by.get(cue, (cue,))}


def preselect(ids: dict[str, int], facts: dict[str, FactRow], asked: set[str], n: int) -> list[str]:
    """The first ``n`` of ``ids`` (fact id -> 1 when related to a name the
    question gives, else 0) ordered by relation, then whether the fact's
    attribute is in ``asked``, then id: ``heapq.nsmallest(n, ids, key=lambda
    fid: (-ids[fid], facts[fid].attribute not in asked, fid))``, without a
    Python key call per id (a much-described entity has thousands of facts
    when the knowledge base grows)."""
    groups: tuple[list[str], ...] = ([], [], [], [])
    for fid, related in ids.items():
        groups[2 * (1 - related) + (facts[fid].attribute not in asked)].append(fid)
    keep: list[str] = []
    for group in groups:
        if len(keep) >= n:
            break
        keep += heapq.nsmallest(n - len(keep), group)
    return keep
