"""Answer a question from the knowledge base: choose facts, say them honestly.

``Answerer(kb).answer(question, intent=None, entities=(), topic=None,
today=None)`` -> ``Answer``.  The steps:

1. find the entities the question names (``EntityMatcher``; NLU entity values
   are resolved too); wards and places named beside a subject are
   *constraints*: a fact that does not mention them cannot answer;
2. with no entity, carry the conversation's ``topic`` over;
3. work out which attributes are asked for: from the intent, and from cue
   words that name an attribute exactly (いくら -> fee, 何時 -> time, …);
4. score every fact: entity match + attribute match + weighted term overlap;
5. answer with the best facts, the source and as-of date, plan/proposal
   markers and "this event is over" when its date is past; or say that the
   documents do not state it and give the most relevant contact.

Nothing is generated: every sentence is a curated fact's ``text`` (verified
against its quote at build time), a passage of a source, or a fixed phrase.
"""
from __future__ import annotations

import datetime as dt
import math
import re
from collections import Counter
from dataclasses import dataclass, field

from . import analyzer
from .dates import readable
from .entities import EntityMatch, EntityMatcher, fold
from .kb import FactRow, KnowledgeBase
from .normalize import compact, normalize_query

INTENT_ATTRIBUTES: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "ask_venue": (("venue", "address", "access", "location"), ("handled_by", "duties", "opening")),
    "ask_datetime": (("date", "time", "doors_open", "opening"), ("history", "application_period", "deadline")),
    "ask_deadline": (("deadline", "application_period"), ("notification", "date")),
    "ask_eligibility": (("eligibility",), ("required_info", "how_to_apply", "capacity", "rule")),
    "ask_counter": (("handled_by", "duties", "chair", "members", "secretariat"), ("location", "venue")),
    "ask_contact": (("phone", "email", "fax", "url"), ("how_to_apply",)),
    "ask_procedure": (("how_to_apply", "required_info", "procedure", "lottery"),
                      ("rule", "application_period", "handled_by")),
    "ask_fee_capacity": (("capacity", "reward", "fee", "budget"), ("statistic",)),
    "ask_overview": (("definition", "overview", "purpose"), ("duties", "history", "rule", "opinion")),
    "ask_history": (("history",), ("opinion", "statistic", "date", "definition")),
    "ask_statistics": (("statistic",), ("history", "capacity", "budget")),
    "ask_rule": (("rule",), ("definition", "procedure", "purpose")),
}
EVENT_CUES = {"time", "deadline", "capacity", "reward", "access", "required_info", "doors_open",
              "notification", "lottery", "fee", "address", "phone", "email", "fax", "url"}
ALWAYS_DECISIVE = {"fee", "time", "parking", "url"}
ISSUED_WHEN = re.compile(r"いつ.{0,6}(出|発表|策定|作|公表|発行|でき|決ま)")
ISSUED_BY = re.compile(r"担当|どこの課|部署|どこが(作|出)|発行元|問い?合わ?せ")
EVENT_INTENTS = {"ask_venue", "ask_datetime", "ask_deadline", "ask_eligibility", "ask_procedure",
                 "ask_fee_capacity", "ask_contact"}

# Cue words that name exactly what is asked.  When the subject has no fact of
# these attributes, the documents do not say it: the answer is "not found".
CUES: list[tuple[re.Pattern, tuple[str, ...]]] = [
    (re.compile(r"参加費|費用|料金|手数料|いくら|お金|無料|有料|何円|かかる\?|かかりますか"), ("fee",)),
    (re.compile(r"何時|なんじ|時間|開庁|受付時間|営業時間|何時まで|終わる|おわる|始まる|はじまる"), ("time", "doors_open")),
    (re.compile(r"開場"), ("doors_open",)),
    (re.compile(r"締め?切|しめきり|〆切|いつまで|deadline", re.I), ("deadline", "application_period")),
    (re.compile(r"何人|人数|定員|何名|募集人|規模|\d+人|\d+名"), ("capacity",)),
    (re.compile(r"謝礼|お礼|もらえる|クオカード|QUO", re.I), ("reward",)),
    (re.compile(r"住所"), ("address",)),
    (re.compile(r"駅|バス|アクセス|行き方|最寄|徒歩|電車"), ("access",)),
    (re.compile(r"何を伝え|伝える|伝えれば|記入|何を書|必要事項"), ("required_info",)),
    (re.compile(r"抽選|先着"), ("lottery",)),
    (re.compile(r"何回|回数|何度"), ("statistic", "history")),
    (re.compile(r"どうすれば|どうしたら|どうする"), ("procedure", "rule")),
    (re.compile(r"結果|当選|通知|いつわか"), ("notification",)),
    (re.compile(r"ファックス|ファクス|FAX", re.I), ("fax",)),
    (re.compile(r"メアド|メールアドレス|アドレス|e-?mail", re.I), ("email",)),
    (re.compile(r"電話番号|何番|TEL|電話は|でんわ", re.I), ("phone",)),
    (re.compile(r"URL|ホームページ|サイト|リンク|どこで読め|どこで見られ|本文|全文|ダウンロード", re.I), ("url",)),
    (re.compile(r"委員長|座長|議長|トップ"), ("chair",)),
    (re.compile(r"駐車場|駐輪場"), ("parking",)),
]
FUTURE = re.compile(r"どうなる|今後|これから|予定|将来|あとは|その後")
COMPARE = re.compile(r"違い|ちがい|ちがう|違う|比べ|差")
STATUS_NOTES = {
    "plan": "（資料に計画・方針として記載されている内容で、実施済みとは限りません）",
    "proposal": "（市民から出された意見・提案であり、実施されている施策ではありません）",
    "example": "（指針の中で例として示されている内容です）",
}
STATUS_MARKERS = {
    "plan": ("予定", "方針です", "めざ", "計画", "検討", "としています", "とされています"),
    "proposal": ("意見", "提案"),
    "example": ("例",),
}
ATTRIBUTE_LABELS = {
    "issued": "発行日・策定日", "issuer": "担当部署", "how_to_apply": "申込方法・手続き", "procedure": "手続き",
    "handled_by": "担当窓口", "duties": "担当業務", "eligibility": "対象", "definition": "内容", "history": "経緯・時期",
    "statistic": "数値", "rule": "基準・ルール", "budget": "予算", "opening": "開設日・開庁日",
    "fee": "費用・料金", "time": "時間", "doors_open": "開場時間", "capacity": "人数", "reward": "謝礼",
    "address": "住所", "access": "交通アクセス", "deadline": "締切", "phone": "電話番号", "email": "メールアドレス",
    "fax": "FAX番号", "url": "URL", "chair": "委員長", "parking": "駐車場", "notification": "結果の通知",
    "lottery": "抽選", "required_info": "申込時に伝える内容", "venue": "場所", "date": "日程",
}
GENERIC_ENTITIES = {"区役所"}
# compound nouns of questions themselves, never the thing asked about
QUESTION_NOUNS = {"担当部署", "担当者", "担当課", "問合せ先", "問い合わせ先", "連絡先", "申込先", "申請先", "受付時間",
                  "電話番号", "何時間", "何曜日", "最寄駅", "窓口名", "部署名", "課名", "所在地", "住所地",
                  "申請方法", "申込方法", "申し込み方法", "手続方法", "手続き方法", "受付場所", "申請場所"}
KANJI_WORD = re.compile(r"^[\u4e00-\u9fff]{4,}$")
KATAKANA_WORD = re.compile(r"^[\u30a1-\u30fa\u30fc]{3,}$")
OFF_INTENT_COVERAGE = 0.7  # a fact of another attribute answers only if it covers this much of the question
UNKNOWN_TERM_WEIGHT = 2.0  # weight of a question term that no fact contains


@dataclass
class Query:
    """One question, understood: normalized ``text``, content ``terms``
    (entity names removed), the NLU ``intent``, the attributes it prefers
    (``primary``, ``secondary``), attributes named by ``cues``, the entity
    variants typed exactly (``typed``), whether it asks about the ``future``,
    and ``today``."""

    text: str
    terms: list[str]
    intent: str | None
    primary: tuple[str, ...]
    secondary: tuple[str, ...]
    cues: tuple[str, ...]
    typed: list[str]
    asks_beyond_names: bool  # the question has content words outside the entity names it uses
    future: bool
    today: dt.date


@dataclass
class Answer:
    """What the bot says: ``status`` answered | not_found | clarify;
    ``text`` the reply (Japanese); ``sources`` list of ``{"doc", "lines":
    [first, last], "as_of", "status"}``; ``buttons`` quick replies
    ``{"title", "payload"}``; ``topic`` the entity the conversation is now
    about (or None)."""

    status: str
    text: str
    sources: list[dict] = field(default_factory=list)
    buttons: list[dict] = field(default_factory=list)
    topic: str | None = None
    facts: list[str] = field(default_factory=list)


def _date_ja(iso: str | None) -> str:
    if not iso:
        return ""
    d = dt.date.fromisoformat(iso)
    return f"{d.year}年{d.month}月{d.day}日"


class Answerer:
    """Answers questions over one ``KnowledgeBase`` (see module docstring)."""

    def __init__(self, kb: KnowledgeBase):
        self.kb = kb
        self.matcher = EntityMatcher(kb.lexicon)
        df = Counter(t for f in kb.facts.values() for t in f.terms)
        n = max(len(kb.facts), 1)
        self.idf = {t: math.log(1 + n / c) for t, c in df.items()}
        self.default_idf = UNKNOWN_TERM_WEIGHT
        self.vocabulary = set(df) | kb.passage_terms()
        self.by_subject: dict[str, list[FactRow]] = {}
        for fact in kb.facts.values():
            for name in {fact.subject, *fact.about}:
                self.by_subject.setdefault(name, []).append(fact)
        # the forms every question compares with, computed once (scoring reads them for every fact)
        self.mention_text = {f.id: compact(f.text + f.value + f.quote) for f in kb.facts.values()}
        self.match_text = {f.id: fold(f.text + " ".join(f.keywords)) for f in kb.facts.values()}
        self.name_variants = {name: [c for c in (compact(v) for v in (name, *e.aliases)) if len(c) >= 2]
                              for name, e in kb.entities.items()}

    # -- understanding ---------------------------------------------------
    def entities(self, question: str, nlu_values: tuple[str, ...] = ()) -> list[EntityMatch]:
        """Entities named in ``question`` plus resolved NLU entity values."""
        found = self.matcher.find(question)
        names = {m.name for m in found}
        for value in nlu_values:
            name = self.matcher.resolve(value)
            if name and name not in names and name in self.kb.entities:
                found.append(EntityMatch(name, self.kb.entities[name].type, value, -1, -1, 90.0))
                names.add(name)
        return found

    @staticmethod
    def strip_cues(question: str) -> str:
        """The question without its cue words (what is left says what it is about)."""
        for pattern, _ in CUES:
            question = pattern.sub(" ", question)
        return question

    @staticmethod
    def cue_attributes(question: str) -> tuple[str, ...]:
        """Attributes named exactly by cue words in the normalized question."""
        out: list[str] = []
        for pattern, attributes in CUES:
            if pattern.search(question):
                out += [a for a in attributes if a not in out]
        return tuple(out)

    def _fact_mentions(self, fact: FactRow, name: str) -> bool:
        """True when ``fact`` is about ``name``: as subject, in ``about``, as
        part of a longer entity name (かわさき改革カフェ in かわさき改革カフェ（南部地区）),
        or by name or alias in its text."""
        if name == fact.subject or name in fact.about:
            return True
        if len(name) >= 4 and any(name in other for other in (fact.subject, *fact.about)):
            return True
        body = self.mention_text[fact.id]
        variants = self.name_variants.get(name) or [c for c in (compact(name),) if len(c) >= 2]
        return any(v in body for v in variants)

    def _score(self, fact: FactRow, query: Query, subjects: list[str], constraints: list[str]) -> tuple[float, float]:
        """``(score, term_coverage)``; score -inf when a constraint is not met."""
        for name in constraints:
            if not self._fact_mentions(fact, name):
                return float("-inf"), 0.0
        ent = 0.0
        for name in subjects:
            if name == fact.subject:
                ent += 3.0
            elif name in fact.about:
                ent += 2.0
            elif self._fact_mentions(fact, name):
                ent += 1.2
        if query.future and fact.status == "plan":
            ent += 1.0
        body = self.match_text[fact.id]
        ent += sum(1.0 for v in query.typed if len(v) >= 3 and v in body)
        if fact.attribute in query.cues:
            attr = 3.0
        elif fact.attribute in query.primary:
            attr = 2.0 - 0.1 * query.primary.index(fact.attribute)
        else:
            attr = 0.8 if fact.attribute in query.secondary else 0.0
        coverage = self._coverage(query.terms, fact.terms) if query.terms else 0.0
        return ent + attr + 5.0 * coverage, coverage

    # -- answering -------------------------------------------------------
    def answer(self, question: str, intent: str | None = None, entities: tuple[str, ...] = (),
               topic: str | None = None, today: dt.date | None = None) -> Answer:
        """Answer ``question`` (raw user text).  ``intent`` is the NLU intent
        name (``ask_*``) or None; ``entities`` NLU entity values; ``topic`` the
        current conversation topic (an entity name); ``today`` for "is this
        event over" (default: the real date)."""
        today = today or dt.date.today()
        q = normalize_query(question)
        matches = self.entities(q, tuple(entities))
        partial = self.partial_matches(q, matches)
        matches = [m for m in matches if m.name not in partial]
        named = list(dict.fromkeys(m.name for m in matches if m.name not in GENERIC_ENTITIES))
        subjects = [n for n in named if self.kb.entities[n].type != "ward"]
        constraints = [n for n in named if self.kb.entities[n].type == "ward"]
        if constraints and not subjects:
            if topic in self.kb.entities:
                subjects = [topic]
            else:
                subjects, constraints = constraints, []
        compare = bool(COMPARE.search(q)) and topic in self.kb.entities and subjects and topic not in subjects
        if not subjects and not partial and topic in self.kb.entities:
            subjects = [topic]
        primary, secondary = INTENT_ATTRIBUTES.get(intent or "", ((), ()))
        cues = self.cue_attributes(q)
        variants = {m.variant for m in matches}
        q_terms = [t for t in analyzer.terms(q, content_only=True) if fold(t) not in variants and len(t) > 1]
        typed = list(dict.fromkeys(m.variant for m in matches if m.score >= 100))
        beyond = any(not any(fold(t) in v for v in typed) for t in q_terms if not KATAKANA_WORD.match(t))
        query = Query(q, q_terms, intent, primary, secondary, cues, typed, beyond, bool(FUTURE.search(q)), today)
        missing_meta = self.document_meta_missing(subjects, q)
        if missing_meta:
            return self.not_found(subjects, [], (missing_meta,), subjects[0], today)
        unknown = self.unknown_nouns(q, matches)
        if unknown:
            return self.not_found(unknown, [], cues or primary, topic, today, contact_names=subjects)
        if not subjects and not partial and not q_terms and not cues and intent not in EVENT_INTENTS:
            return self.clarify()
        if partial and not subjects:
            return self.not_found(partial, [], cues or primary, None, today, partial=True)
        if compare:
            return self._compare(subjects[0], topic, today)
        if not subjects and not any(m.name in GENERIC_ENTITIES for m in matches):
            general = self._best(query, [], [], None)
            if general.status == "answered" or not (intent in EVENT_INTENTS or set(cues) & EVENT_CUES):
                return general
            event = self.current_event(today)
            rest = [t for t in analyzer.terms(self.strip_cues(q), content_only=True) if len(t) > 1]
            if event and self._coverage(rest, set().union(*(f.terms for f in self.by_subject[event]))) >= 0.4:
                return self._best(query, [event], [], event)
            return general
        return self._best(query, subjects, constraints, None)

    @staticmethod
    def _borrowed(fact: FactRow, coverage: float, subjects: list[str], query: Query) -> bool:
        """True when ``fact`` belongs to another subject and only mentions a
        named one, so its attribute is not the named subject's: a plan or
        proposal asked about in the present tense (it tells what another
        subject is meant to become), or a fact that covers none of what the
        question asks beyond the names."""
        if fact.subject in subjects:
            return False
        if fact.status in ("plan", "proposal") and not query.future:
            return True
        return query.asks_beyond_names and coverage == 0.0

    def _coverage(self, q_terms: list[str], terms: set[str]) -> float:
        """Share of the question terms' weight (idf) found in ``terms`` (0-1)."""
        total = sum(self.idf.get(t, self.default_idf) for t in q_terms)
        return sum(self.idf.get(t, self.default_idf) for t in q_terms if t in terms) / total if total else 1.0

    def document_meta_missing(self, subjects: list[str], q: str) -> str | None:
        """For a question about when a source document was issued or who
        issued it: the attribute label ("issued", "issuer") the manifest
        leaves empty, else None.  A subject is a document when a manifest
        title contains its name."""
        for name in subjects[:1]:
            docs = [d for d in self.kb.documents.values() if len(name) >= 4 and name in d["title"]]
            for doc in docs:
                if ISSUED_WHEN.search(q) and not doc.get("date"):
                    return "issued"
                if ISSUED_BY.search(q) and not doc.get("issuer"):
                    return "issuer"
        return None

    def unknown_nouns(self, q: str, matches: list[EntityMatch]) -> list[str]:
        """Nouns of the question that look like names of things (a kanji
        compound of 4+ characters or a katakana word of 3+) and that neither
        any fact, passage nor entity contains: the documents do not know them
        (障害者手帳, コール), so an answer from a neighbouring fact would be a guess."""
        out = []
        for morpheme in analyzer.morphemes(q, "C"):
            surface = morpheme.surface
            if morpheme.pos != "名詞" or surface in QUESTION_NOUNS or any(p.search(surface) for p, _ in CUES):
                continue
            if not (KANJI_WORD.match(surface) or KATAKANA_WORD.match(surface)):
                continue
            if {morpheme.normalized.lower(), morpheme.reading} & self.vocabulary or fold(surface) in self.matcher.known:
                continue
            if any(m.variant in fold(surface) or fold(surface) in m.variant for m in matches):
                continue
            out.append(surface)
        return out

    def partial_matches(self, q: str, matches: list[EntityMatch]) -> list[str]:
        """Entities named only as the head of a longer compound noun
        (障害者 in 障害者手帳): the question is about something more specific
        that the knowledge base does not know."""
        partial: list[str] = []
        matches = list({m.variant: m for m in matches}.values())
        for morpheme in analyzer.morphemes(q, "C"):
            if morpheme.pos != "名詞":
                continue
            surface = fold(morpheme.surface)
            for m in matches:
                if m.variant in surface and len(surface) - len(m.variant) >= 2 and m.name not in partial \
                        and not any(len(o.variant) > len(m.variant) and o.variant in surface for o in matches) \
                        and surface not in self.matcher.known:
                    partial.append(m.name)
        return partial

    def current_event(self, today: dt.date) -> str | None:
        """The event to assume for a question with no topic: the next one to
        come, else the most recent one (by entity ``date``)."""
        events = [e for e in self.kb.entities.values() if e.type == "event" and e.date and e.name in self.by_subject]
        if not events:
            return None
        upcoming = sorted((e for e in events if e.date >= today.isoformat()), key=lambda e: e.date)
        if upcoming:
            return upcoming[0].name
        return max(events, key=lambda e: e.date).name

    def _best(self, query: Query, subjects: list[str], constraints: list[str], assumed: str | None) -> Answer:
        """The answer from the best-scoring facts about ``subjects`` (or about
        anything, when empty), or "not found" when nothing qualifies."""
        q, q_terms, intent, today = query.text, query.terms, query.intent, query.today
        primary, secondary, cues = query.primary, query.secondary, query.cues
        scored = []
        for fact in self.kb.facts.values():
            score, coverage = self._score(fact, query, subjects, constraints)
            if score > float("-inf"):
                scored.append((score, coverage, fact))
        scored.sort(key=lambda x: -x[0])
        topic = subjects[0] if subjects else None
        is_event = bool(subjects) and self.kb.entities[subjects[0]].type == "event"
        # cue words whose absence from the facts means "the documents do not say"
        decisive = [c for c in cues if c in ALWAYS_DECISIVE or (is_event and c in EVENT_CUES)]
        if subjects:
            about = [x for x in scored if any(x[2].subject == n or n in x[2].about or self._fact_mentions(x[2], n)
                                              for n in subjects) and not self._borrowed(x[2], x[1], subjects, query)]
            if decisive:
                wanted = [x for x in about if x[2].attribute in decisive]
                if not wanted:
                    return self.not_found(subjects, constraints, decisive, topic, today)
                about = wanted
            elif primary:
                in_intent = [x for x in about if x[2].attribute in primary + secondary + cues or x[1] >= OFF_INTENT_COVERAGE]
                if not in_intent:
                    return self.not_found(subjects, constraints, primary, topic, today)
                # facts about another named subject may still cover the rest of the question
                # (kept after the facts that answer what is asked: _pick adds them only for missing terms)
                about = in_intent + [x for x in about if x not in in_intent and x[2].subject in subjects and x[1] >= 0.3]
            if not about:
                return self.not_found(subjects, constraints, cues or primary, topic, today)
            events = [n for n in subjects if self.kb.entities[n].type == "event"]
            if intent == "ask_overview" and not cues and events and (about[0][1] < 0.5 or not query.asks_beyond_names):
                return self._event_overview(events[0], today, assumed)
            return self.render(self._pick(about, query, subjects), topic, today, assumed)
        if not scored or not q_terms:
            return self.not_found([], [], cues or primary, None, today)
        best_score, best_cov, best = scored[0]
        relevant = primary + secondary + tuple(cues)
        if best_cov >= 0.6 and (best.attribute in relevant or best_cov >= 0.8 or not relevant):
            if decisive and best.attribute not in decisive:
                return self.not_found([], [], decisive, best.subject, today)
            return self.render(self._pick(scored, query), best.subject, today, None)
        passage = self.passage_answer(q, q_terms)
        if passage:
            return passage
        return self.not_found([], [], cues or primary, None, today)

    def _pick(self, scored: list[tuple[float, float, FactRow]], query: Query,
              subjects: list[str] = (), limit: int = 4) -> list[FactRow]:
        """The best fact; the best fact of each other attribute a cue asks for;
        the best fact about each other named subject; facts that cover question
        terms the chosen ones miss; close runners-up of the same attribute."""
        best_score, _, best = scored[0]
        chosen = [best]

        def add(fact):
            if len(chosen) < limit and fact.id not in {c.id for c in chosen} and fact.text not in {c.text for c in chosen}:
                chosen.append(fact)

        for cue in query.cues:
            if best.attribute != cue:
                for score, _, fact in scored:
                    if fact.attribute == cue and score >= best_score - 4.0:
                        add(fact)
                        break
        for name in subjects[1:]:
            if not any(c.subject == name or name in c.about for c in chosen):
                for score, _, fact in scored:
                    if (fact.subject == name or name in fact.about) and score >= best_score - 3.0:
                        add(fact)
                        break
        if query.future and not any(c.status == "plan" for c in chosen):
            plans = [fact for score, _, fact in scored[:20] if fact.status == "plan" and score >= best_score - 4.0]
            if plans:
                add(plans[0])
        covered = set().union(*(c.terms for c in chosen))
        missing = [t for t in query.terms if t not in covered and self.idf.get(t, self.default_idf) > 1.5]
        for score, _, fact in scored[1:40]:
            gain = [t for t in missing if t in fact.terms]
            if gain and score >= best_score - 3.0:
                add(fact)
                missing = [t for t in missing if t not in fact.terms]
        for score, _, fact in scored[1:]:
            if fact.attribute == best.attribute and score >= best_score - 1.0:
                add(fact)
        return chosen

    def _event_overview(self, event: str, today: dt.date, assumed: str | None) -> Answer:
        order = ("overview", "purpose", "date", "time", "venue", "eligibility", "capacity", "application_period", "deadline")
        facts = self.by_subject.get(event, [])
        chosen = []
        for attribute in order:
            chosen += [f for f in facts if f.subject == event and f.attribute == attribute][:1]
        return self.render(chosen[:7] or facts[:3], event, today, assumed)

    def _compare(self, current: str, previous: str, today: dt.date) -> Answer:
        chosen = []
        for name in (current, previous):
            defs = [f for f in self.by_subject.get(name, []) if f.subject == name
                    and f.attribute in ("definition", "overview", "purpose")]
            chosen += defs[:2]
        if not chosen:
            return self.not_found([current], [], ("definition",), current, today)
        return self.render(chosen, current, today, None)

    def passage_answer(self, q: str, q_terms: list[str], min_coverage: float = 0.75) -> Answer | None:
        """The best source passage when it covers most of the question's
        weighted terms (``min_coverage`` of idf weight, at least 2 terms)."""
        hits = self.kb.search_passages(q, limit=3)
        if not hits or len(q_terms) < 2:
            return None
        row, _ = hits[0]
        terms = set(row["terms"].split())
        total = sum(self.idf.get(t, self.default_idf) for t in q_terms)
        covered = [t for t in q_terms if t in terms]
        coverage = sum(self.idf.get(t, self.default_idf) for t in covered) / (total or 1)
        if coverage < min_coverage or len(covered) < 2:
            return None
        doc = self.kb.documents[row["doc"]]
        status = {"002": "proposal", "004": "plan"}.get(row["doc"], "fact")
        text = f"資料には次のように書かれています：「{row['normalized'][:300]}」" + STATUS_NOTES.get(status, "")
        source = {"doc": row["doc"], "lines": [row["line_start"], row["line_end"]], "as_of": doc["as_of"], "status": status}
        return Answer("answered", text + "\n" + self.cite(source), [source], topic=None)

    # -- saying it -------------------------------------------------------
    def cite(self, source: dict) -> str:
        """「出典：…」 line for one source dict."""
        doc = self.kb.documents[source["doc"]]
        first, last = source["lines"]
        lines = f"{first}行目" if first == last else f"{first}〜{last}行目"
        as_of = f"、{_date_ja(source['as_of'])}時点" if source.get("as_of") else ""
        return f"出典：『{doc['title']}』{lines}{as_of}"

    def contact_for(self, names: list[str]) -> str | None:
        """The most relevant contact sentence for entities ``names``: a phone
        number stated for the entity (never a press-only number), else the
        section that handles it, else the contact of the document that holds
        its facts; None when the documents give none."""
        for name in names:
            facts = self.by_subject.get(name, [])
            phones = [f for f in facts if f.attribute == "phone" and "報道" not in (f.role or "")]
            if phones:
                return f"お問い合わせ先：{phones[0].subject}（電話{phones[0].value}）"
            sections = [f.subject for f in facts if f.attribute in ("handled_by", "duties") and f.subject != name
                        and self._is_section(f.subject)]
            sections += [f.value for f in facts if f.attribute == "handled_by" and f.subject == name
                         and self._is_section(f.value)]
            if sections:
                return f"{sections[0]}の担当です。詳しくは{sections[0]}にお問い合わせください。"
            for doc_id, _ in Counter(f.doc for f in facts).most_common():
                contact = self.kb.documents[doc_id].get("contact")
                if contact:
                    return f"お問い合わせ先：{contact['section']}（電話{contact['phone']}）"
        return None

    def _is_section(self, name: str) -> bool:
        ent = self.kb.entities.get(name)
        return bool(ent) and ent.type in ("section", "office")

    def clarify(self) -> Answer:
        """A short question back, with quick replies, when the question names
        nothing to look up."""
        return Answer("clarify", "何についてのご質問でしょうか。知りたいこと（窓口、手続き、催しの日時・会場など）を"
                                 "もう少し詳しく教えてください。", [], self.suggestions(None))

    def not_found(self, subjects, constraints, attributes, topic, today, partial: bool = False,
                  contact_names: list[str] | None = None) -> Answer:
        """The documents do not say: say so, and give a contact when one is known.

        ``partial``: the question names something more specific than
        ``subjects`` (障害者手帳 for 障害者支援); the contact of the broader
        subject is still given."""
        label = next((ATTRIBUTE_LABELS[a] for a in attributes if a in ATTRIBUTE_LABELS), None)
        about = "・".join(subjects + constraints)
        if partial:
            text = "申し訳ありません。お尋ねの件は、手元の資料に記載がありません。"
        elif about and label:
            text = f"申し訳ありません。{about}の{label}については、手元の資料に記載がありません。"
        elif about:
            text = f"申し訳ありません。お尋ねの{about}についての内容は、手元の資料に記載がありません。"
        else:
            text = "申し訳ありません。お尋ねの内容は、手元の資料（区役所に関する川崎市の資料）に記載がありません。"
        contact = self.contact_for(subjects if contact_names is None else contact_names)
        if contact:
            text += "\n" + contact
        return Answer("not_found", text, [], self.suggestions(topic), topic=topic)

    def render(self, facts: list[FactRow], topic: str | None, today: dt.date, assumed: str | None) -> Answer:
        """The reply for ``facts``: fact sentences first, then sources, then a
        contact for procedure-like facts."""
        parts = []
        if assumed:
            parts.append(f"（{assumed}についてのご質問としてお答えします）")
        event = self.kb.entities.get(topic) if topic else None
        if event and event.type == "event" and event.date and event.date < today.isoformat():
            parts.append(f"{event.name}は{_date_ja(event.date)}に開催され、すでに終了しています。")
        sources, seen = [], set()
        for fact in facts:
            parts.append(readable(fact.text) + self.status_note(fact))
            key = (fact.doc, fact.line_start, fact.line_end)
            if key not in seen:
                seen.add(key)
                sources.append({"doc": fact.doc, "lines": [fact.line_start, fact.line_end],
                                "as_of": fact.as_of, "status": fact.status})
        if any(f.attribute in ("how_to_apply", "required_info", "eligibility") for f in facts):
            contact = self.contact_for([topic] if topic else [])
            if contact and contact not in "".join(parts):
                parts.append(contact)
        parts += [self.cite(s) for s in sources[:3]]
        return Answer("answered", "\n".join(parts), sources, self.suggestions(topic), topic=topic,
                      facts=[f.id for f in facts])

    @staticmethod
    def status_note(fact: FactRow) -> str:
        """The plan / proposal / example marker for ``fact``, unless its text
        already says so."""
        if any(marker in fact.text for marker in STATUS_MARKERS.get(fact.status, ())):
            return ""
        return STATUS_NOTES.get(fact.status, "")

    def suggestions(self, topic: str | None, limit: int = 3) -> list[dict]:
        """Quick replies: follow-up questions about ``topic`` that the
        knowledge base can answer (by the attributes it has).  The short
        ``title`` is shown; the ``payload`` names the topic, so it is
        understood even without the conversation's context."""
        if not topic:
            return [{"title": t, "payload": t} for t in ("住民票はどこで取れますか", "区役所は土曜日も開いていますか",
                                                          "ワークショップについて教えて")][:limit]
        have = {f.attribute for f in self.by_subject.get(topic, []) if f.subject == topic or f.attribute != "duties"}
        options = [("venue", "場所は？", "{}の場所は？"), ("date", "日時は？", "{}の日時は？"),
                   ("deadline", "締め切りは？", "{}の締め切りは？"), ("how_to_apply", "申込方法は？", "{}の申込方法は？"),
                   ("duties", "担当業務は？", "{}の担当業務は？"), ("handled_by", "どこの課の担当？", "{}はどこの課の担当？"),
                   ("phone", "問い合わせ先は？", "{}の問い合わせ先は？"), ("definition", "どういうもの？", "{}とは何ですか"),
                   ("history", "これまでの経緯は？", "{}の経緯は？")]
        return [{"title": title, "payload": payload.format(topic)}
                for attribute, title, payload in options if attribute in have][:limit]
