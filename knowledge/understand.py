"""Understand a question: what it names, what it asks for, what it does not know.

``Understander(kb, vocabulary).understand(question, intent, entities, topic,
today, previous_intent)`` -> :class:`Query`.  The steps:

1. normalize the text (``normalize.normalize_query``) and fold it
   (``entities.fold``);
2. find the entities it names (``EntityMatcher``: exact, kana, typos; NLU
   entity values are resolved too) and the citizens' words it uses
   (``vocabulary``: 婚姻届 -> 戸籍, with the reason); an entity named only as
   the head of a longer unknown compound (障害者 in 障害者手帳) is *partial*,
   not named;
3. sort them: wards are *constraints* (a fact must mention them), 区役所 is the
   ward office in general (``office``), the rest are *subjects*;
4. read the attributes asked for: from the intent (``attributes.yml``
   ``intents``) and from cue words that name an attribute in general
   (いくら -> fee);
5. collect the content terms (Sudachi normalized forms and readings) for
   retrieval, with the vocabulary's duty terms added; the *content* the names
   and cue words do not explain; and the *unknown* nouns that no document,
   fact, name or vocabulary entry uses (犬, ATM);
6. topic: the conversation's topic carries over only for an ellipsis, a turn
   that names nothing: no entity, not 区役所, no noun the knowledge base does
   not know (「締め切りは？」「建物は今どう使われているの？」); a turn that names
   something starts a new topic; a turn made of a name and は alone
   (「じゃあ支所は？」) asks
   the previous question about the new name, with the old topic as context;
7. a question that names nothing at all and asks for an event's details
   (「会場どこ？」) is taken to be about the current event, as context, and the
   answer says so.

Pure: reads the knowledge base, never writes; no state between questions.
"""
from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass, field

from . import analyzer
from .attributes import INDEFINITE_PARTICLES, Attributes, attributes, holds
from .dates import find_dates
from .entities import EntityMatch, EntityMatcher, fold
from .kb import KnowledgeBase
from .near_misses import NearMisses
from .normalize import normalize_query
from .ordinals import ordinals
from .vocabulary import Inference, Vocabulary

NLU_SCORE = 90.0  # match score given to an entity that only the NLU found
OFFICE = "区役所"  # the ward office in general: named, it starts a topic of its own
WARD_OFFICE_ENDING = "役所"  # how a ward's name becomes its office's (高津区 -> 高津区役所, an alias of the ward)
SIBLING_ENDING = 2  # characters a sibling of the topic shares at its end with it (連絡所, 支所) at least
PREDICATE_POS = {"動詞", "形容詞", "形状詞"}
UNINFORMATIVE_NOUNS = {"副詞可能", "助数詞可能", "助数詞"}
IDENTIFYING_DIGITS = 3  # a number this long in a question is what it is about (044-200-2309), not a count
SENTENCE_ENDS = ("。", "！", "？", "!", "?", "\n")
# what an event notice gives (an event's details; not its overview)
EVENT_ATTRIBUTES = {"date", "time", "doors_open", "venue", "address", "access", "eligibility", "capacity", "reward",
                    "how_to_apply", "required_info", "application_period", "deadline", "notification", "lottery",
                    "fee", "amount", "phone", "fax", "email", "url"}
NOUN_POS = {"名詞"}
# which-words (Sudachi normalized forms): 「区役所の何課」「区役所のどこ」 ask which part of the office
INTERROGATIVES = {"何", "どこ", "どれ", "どちら", "どっち", "どの", "どんな"}
# relational nouns (Sudachi normalized forms): 「区役所の中に」「区役所の近くに」 say where something else is
RELATIONAL_NOUNS = {"中", "内", "前", "後ろ", "横", "隣", "近く", "周り", "外"}
_DIGITS = re.compile(r"^[0-9０-９.,]+$")
_KANA_OR_LATIN = re.compile(r"^[\u3041-\u309fa-z]{1,2}$")


@dataclass(frozen=True)
class Named:
    """An entity the question is about: canonical ``name``, its ``type``,
    where it came from (``source``: typed | nlu | vocabulary | topic |
    context; fuzzy for a typo), the text that named it (``matched``) and, for vocabulary
    inferences, the ``reason`` said in the answer and the citizen's ``term``."""

    name: str
    type: str
    source: str
    matched: str
    reason: str | None = None
    term: str | None = None
    start: int = -1  # where it is named in the folded question (-1: unknown, e.g. NLU; a word pair: its last word)


@dataclass
class Query:
    """One question, understood (see module docstring).

    ``text``: normalized question; ``folded``: its matching form;
    ``intent``: the NLU intent (``ask_*``) or None; ``primary`` /
    ``secondary``: attributes the intent asks for; ``cues``: attributes
    named by cue words; ``subjects``: what it is about (``Named``, typed
    names first; 区役所 itself when it names nothing else to ask about);
    ``constraints``: wards named beside a subject (entity names);
    ``context``: an earlier topic kept as context of an elliptical turn,
    and names given only around the question; ``background``: those
    names (``Named``); ``office``: names 区役所 (or a ward's own office,
    高津区役所); ``office_as_place``: only as the place where something is
    asked for or is (「区役所の何課」「区役所の中に」, see ``office_as_place``);
    ``terms``: retrieval terms;
    ``rest_terms``: the terms of the words that are not names (what the
    question says about them, cue and asking words included); ``content``:
    ``(normalized form, reading)`` of the content words not explained by
    names, cue or asking words; ``focus``: those of the final sentence (the
    question itself, after any context the citizen gives first); ``years``:
    the western years of the dates it names; ``ordinals``: the 第N条, 第N回
    ... it names, as ``(N, counter)`` (:mod:`knowledge.ordinals`); ``unknown``:
    nouns the knowledge base never uses; ``partial``: entities named only as
    the head of an unknown compound; ``carried``: the topic was carried over;
    ``elliptical``: a bare 「Xは？」 turn; ``assumed``: the event a question
    naming nothing is taken to be about (also in ``context``);
    ``intent_weights``: ``ask_*`` intent -> the NLU's confidence;
    ``hinted``: intents its asking words hint at (どこ -> ask_venue);
    ``precision``: "day" or "month" when it asks for a date that precise;
    ``content_nouns``: how many of the content words are nouns;
    ``asks_when``: it asks when (いつ, 何月; not いつも or 何年間);
    ``units``: None, or the units a number answering it carries when it asks
    how many or how much (何人 -> 人, 名; いくつ -> any number: ``()``); ``future`` / ``present`` /
    ``compare``: time and comparison words; ``outcome``: it asks whether
    something came about (実際に, 予定どおり); ``near_miss``: its similarity
    (0..1) to the nearest labelled question the documents cannot answer
    (:mod:`knowledge.near_misses`); ``today``."""

    text: str
    folded: str
    intent: str | None
    primary: tuple[str, ...]
    secondary: tuple[str, ...]
    cues: tuple[str, ...]
    subjects: list[Named] = field(default_factory=list)
    constraints: list[str] = field(default_factory=list)
    context: list[str] = field(default_factory=list)
    background: list[Named] = field(default_factory=list)
    office: bool = False
    office_as_place: bool = False
    terms: list[str] = field(default_factory=list)
    rest_terms: list[str] = field(default_factory=list)
    content: list[tuple[str, str]] = field(default_factory=list)
    focus: list[tuple[str, str]] = field(default_factory=list)
    years: set[int] = field(default_factory=set)
    ordinals: frozenset[tuple[int, str]] = frozenset()
    unknown: list[str] = field(default_factory=list)
    partial: list[str] = field(default_factory=list)
    carried: bool = False
    elliptical: bool = False
    assumed: str | None = None
    intent_weights: dict[str, float] = field(default_factory=dict)
    hinted: set[str] = field(default_factory=set)
    precision: str = ""
    content_nouns: int = 0
    units: tuple[str, ...] | None = None
    asks_when: bool = False
    future: bool = False
    present: bool = False
    outcome: bool = False
    compare: bool = False
    near_miss: float = 0.0
    today: dt.date = field(default_factory=dt.date.today)

    @property
    def subject_names(self) -> list[str]:
        """Names of the subjects, in order."""
        return [s.name for s in self.subjects]

    @property
    def inferences(self) -> list[Named]:
        """Subjects, then background names, that rest on a vocabulary inference."""
        return [s for s in self.subjects + self.background if s.source == "vocabulary"]

    @property
    def office_asked(self) -> bool:
        """Whether it names 区役所 as something to ask about, not only as
        where something is asked for (``office_as_place``)."""
        return self.office and not self.office_as_place

    @property
    def asked(self) -> tuple[str, ...]:
        """Every attribute the question asks for: cues first, then the intent's."""
        return tuple(dict.fromkeys(self.cues + self.primary))


def _folded_offsets(text: str) -> list[int]:
    """For each character offset of ``text`` (and its end), the offset in
    ``fold(text)``, which drops whitespace."""
    out, at = [], 0
    for ch in text:
        out.append(at)
        if not ch.isspace():
            at += 1
    out.append(at)
    return out


def token_boundaries(text: str) -> frozenset[int]:
    """Offsets in ``fold(text)`` where a Sudachi morpheme of ``text`` (split
    mode C) starts or ends: where a kana word may be matched
    (``attributes.occurrences``)."""
    at = _folded_offsets(text)
    return frozenset(at[i] for m in analyzer.morphemes(text, "C") for i in (m.start, m.end))


def office_as_place(text: str, matches: list[EntityMatch]) -> bool:
    """Whether every mention of 区役所 in ``text`` (``matches``: its entity
    matches; a ward named by its office counts) is followed by の and a
    which-word (``INTERROGATIVES``) or a relational noun
    (``RELATIONAL_NOUNS``; 区役所内 too): 「区役所の何課に行けば」「高津区役所の
    どこ」 ask which part of the office handles something, 「区役所の中に
    郵便ポストはある？」 asks about what is there; they name nothing to ask
    about in the office.  「区役所の窓口は何時まで」 asks about the office."""
    at = _folded_offsets(text)
    words = list(analyzer.morphemes(text, "C"))
    starts = {at[m.start]: i for i, m in enumerate(words)}
    ends = [m.end for m in matches if m.start >= 0
            and (m.name == OFFICE or (m.type == "ward" and m.variant.endswith(WARD_OFFICE_ENDING)))]
    if not ends:
        return False
    for end in ends:
        i = starts.get(end)
        if i is None:
            return False
        inside = words[i].normalized == "内"  # 区役所内
        after_no = words[i].surface == "の" and i + 1 < len(words) \
            and words[i + 1].normalized in INTERROGATIVES | RELATIONAL_NOUNS
        if not (inside or after_no):
            return False
    return True


CLAUSE_ENDS = set(SENTENCE_ENDS) | {"、", "，", ","}


def in_relative_clause(words: list[analyzer.Morpheme], first: int, after: int) -> bool:
    """Whether the cue word ``words[first:after]`` stands inside a clause
    that modifies a noun (連体修飾節) which is itself an argument of the
    question: its clause runs, without a comma or a topic particle (は, も),
    through a verb or adjective to a predicate in the attributive form
    (連体形), then a noun or nominalizing の, then a particle.
    「お金を戻してもらう手続きは区役所のどこ」: お金 describes 手続き, which is
    what is asked about; 「開いている時間を延ばしたのは何年」 asks a year.
    Not inside:

    * an interrogative (何時, 何人, いくら): it is what is asked however
      deep it stands, so the cue must be common nouns (普通名詞, not
      副詞可能) only;
    * a clause whose noun is the predicate (「いつ発行されたものですか」
      「何人が回答した調査なんですか」: the noun is followed by です/だ/な),
      where the clause is what is asked;
    * a likeness (「お礼みたいなもの」): no verb or adjective."""
    cue = words[first:after]
    if not cue or any(m.pos != "名詞" or m.detail[0] != "普通名詞" or m.detail[1] == "副詞可能" for m in cue):
        return False
    predicate = False
    for k in range(after, len(words) - 2):
        m = words[k]
        if m.surface in CLAUSE_ENDS or (m.pos == "助詞" and m.detail[0] in ("係助詞", "終助詞")):
            return False
        if m.pos in ("動詞", "形容詞"):
            predicate = True
        if m.pos in ("動詞", "形容詞", "助動詞") and predicate:
            if m.form.startswith("連体形"):
                head, then = words[k + 1], words[k + 2]
                noun = head.pos in ("名詞", "代名詞") or (head.surface == "の" and head.detail[0] == "準体助詞")
                return noun and then.pos == "助詞"
            if m.form.startswith(("終止形", "命令形")):
                return False
    return False


CONDITION_NOUNS = {"とき", "時", "場合", "際"}  # after a predicate, they end a clause of time or condition
CONDITION_FORMS = {"たら", "ば", "なら"}  # conditional endings (言われたら, 変われば)
ASKING_AFTER_CONDITION = {"いい", "良い", "よい", "よろしい", "宜しい"}  # 「すればいい」 asks; it sets no condition


def situation_end(words: list[analyzer.Morpheme]) -> int | None:
    """Character offset (in the analysed text) where the last clause of time
    or condition among ``words`` ends, when a main clause follows it; None
    when there is none.  「言われたとき、どう…」 -> after とき; 「どうすれば
    いいですか」 sets no condition."""
    end = None
    for i, m in enumerate(words[:-1]):
        after = words[i + 1]
        if m.surface in CONDITION_NOUNS and i and words[i - 1].pos in PREDICATE_POS | {"助動詞"}:
            end = m.end
        elif m.surface in CONDITION_FORMS and m.pos in ("助詞", "助動詞") \
                and after.surface not in ASKING_AFTER_CONDITION and after.normalized not in ASKING_AFTER_CONDITION:
            end = m.end
    if end is None or not any(m.start >= end and m.pos in analyzer.CONTENT_POS | {"代名詞"} for m in words):
        return None
    return end


# a sentence asks when it ends in one of these or holds an interrogative (see sentence_asks)
ASKING_ENDINGS = ("か", "かな", "かね", "ください", "下さい", "たい", "たいです", "ほしい", "欲しい", "教えて")
INTERROGATIVES = {"どこ", "いつ", "何", "なに", "なん", "誰", "だれ", "どう", "どの", "どれ", "どんな", "どちら",
                  "いくら", "いくつ", "何処", "何時"}
INTERROGATIVE_POS = {"代名詞", "副詞", "連体詞", "名詞"}


def sentence_spans(text: str) -> list[tuple[int, int]]:
    """``(start, end)`` character offsets of the sentences of ``text``, each
    ending after its marks (。！？!? or a line break); never empty."""
    spans, start = [], 0
    for i, ch in enumerate(text):
        if ch in SENTENCE_ENDS and (i + 1 == len(text) or text[i + 1] not in SENTENCE_ENDS):
            if text[start:i].strip():
                spans.append((start, i + 1))
            start = i + 1
    if text[start:].strip():
        spans.append((start, len(text)))
    return spans or [(0, len(text))]


def sentence_asks(sentence: str) -> bool:
    """True when ``sentence`` asks or requests something: it ends in ？ or ?,
    in a question or request ending (か, ください, 〜たい), or holds an
    interrogative (どこ, いつ, 何 …).  「普通車です」「中原区に住んでいます」
    「どこかにいってしまいました」 state."""
    body = sentence.rstrip("。．.！!\n 　")
    if body.endswith(("？", "?")):
        return True
    body = body.rstrip("？?ねよ〜ー")
    if body.endswith(ASKING_ENDINGS):
        return True
    words = analyzer.morphemes(body, "C")
    # an interrogative followed by か or も is indefinite (どこか, 何か, 誰も): it asks nothing
    return any((m.surface in INTERROGATIVES or m.surface.startswith("何")) and m.pos in INTERROGATIVE_POS
               and (i + 1 == len(words) or words[i + 1].surface not in INDEFINITE_PARTICLES)
               for i, m in enumerate(words))


def question_span(text: str) -> tuple[int, int]:
    """``(start, end)`` offsets in ``text`` of the sentence that asks: the
    last sentence that asks (:func:`sentence_asks`), or the final sentence
    when none does.  Context may come before it (「高津区に住んでいます。」)
    or after it (「…取れますか。住所は中原区…です」)."""
    spans = sentence_spans(text)
    return next((span for span in reversed(spans) if sentence_asks(text[span[0]:span[1]])), spans[-1])


class Understander:
    """Question understanding over one ``KnowledgeBase`` and ``Vocabulary``
    (lookup structures and the near-miss index are built once, in the
    constructor: ~0.4 s)."""

    def __init__(self, kb: KnowledgeBase, vocabulary: Vocabulary, table: Attributes | None = None):
        self.kb = kb
        self.vocabulary = vocabulary
        self.table = table or attributes()
        self.matcher = EntityMatcher(kb.lexicon)
        known = {t for f in kb.facts.values() for t in f.terms} | kb.passage_terms()
        self.known_terms = {fold(t) for t in known}
        self.known_forms = self.matcher.known | vocabulary.known
        self.known = self.known_terms | self.known_forms
        self.expansions: dict[str, list[str]] = {}
        self.near_misses = NearMisses(kb.near_misses)

    # -- names ---------------------------------------------------------------
    def entities(self, text: str, nlu_values: tuple[str, ...] = ()) -> list[EntityMatch]:
        """Entities named in normalized ``text`` plus resolved NLU entity
        values, except a value that is part of a name found in the text (the
        NLU's 「しゅっちょう」 within ひよししゅっちょうじょ is that name, not 出張所)."""
        found = self.matcher.find(text)
        names = {m.name for m in found}
        typed = [m.variant for m in found]
        for value in nlu_values:
            if any(fold(value) in variant for variant in typed):
                continue
            name = self.matcher.resolve(value)
            if name and name not in names and name in self.kb.entities:
                found.append(EntityMatch(name, self.kb.entities[name].type, fold(value), -1, -1, NLU_SCORE))
                names.add(name)
        return found

    def partial_matches(self, text: str, matches: list[EntityMatch]) -> list[str]:
        """Entities named only as the head of a longer compound noun that the
        knowledge base does not know (障害者 in 障害者手帳): the question is about
        something more specific.  An entity also named on its own elsewhere in
        the question (介護サービス … 介護保険) is not partial."""
        folded_at = _folded_offsets(text)
        inside: dict[str, bool] = {}  # entity name -> every occurrence is inside an unknown compound
        compounds = []
        for morpheme in analyzer.morphemes(text, "C"):
            surface = fold(morpheme.surface)
            if morpheme.pos in NOUN_POS and surface not in self.known_forms:
                compounds.append((folded_at[morpheme.start], folded_at[morpheme.end], surface))
        for m in matches:
            within = m.start >= 0 and any(
                start <= m.start and m.end <= end and len(surface) - len(m.variant) >= 2
                and not any(len(o.variant) > len(m.variant) and o.variant in surface for o in matches)
                for start, end, surface in compounds)
            inside[m.name] = inside.get(m.name, True) and within
        return [name for name, only_inside in inside.items() if only_inside]

    def is_unknown(self, m: analyzer.Morpheme) -> bool:
        """Whether noun ``m`` names something the knowledge base never uses:
        neither it nor one of its parts (split mode A) is in any document,
        fact, name or vocabulary entry (担当部署 is known by its parts 担当 and
        部署; 犬 and ATM are not).  Numbers, counters and adverbial nouns
        (今, 時) never are, nor place and person names (横浜: where the
        citizen lives is context, not a thing to look up)."""
        if m.pos not in NOUN_POS or m.detail[1] in UNINFORMATIVE_NOUNS or m.detail[0] == "数詞":
            return False
        if m.detail[0] == "固有名詞" and m.detail[1] in ("地名", "人名"):
            return False  # where the citizen lives or works, who they are: context, not a thing to look up
        if {fold(m.surface), fold(m.normalized), fold(m.reading)} & self.known:
            return False
        parts = [p for p in analyzer.morphemes(m.surface, "A") if p.pos in analyzer.CONTENT_POS]
        return len(parts) <= 1 or any(not ({fold(p.normalized), fold(p.reading)} & self.known) for p in parts)

    def expansion(self, name: str) -> list[str]:
        """Retrieval terms of entity ``name`` (its analyzed name), cached."""
        if name not in self.expansions:
            self.expansions[name] = analyzer.terms(name, content_only=True)
        return self.expansions[name]

    def search_for(self, query: Query, name: str) -> None:
        """Add entity ``name``'s retrieval terms (``expansion``) to
        ``query.terms``, each once: the question is searched for as if it
        named ``name``."""
        query.terms += [t for t in self.expansion(name) if t not in query.terms]

    # -- the question ------------------------------------------------------------
    def understand(self, question: str, intent: str | None = None, nlu_values: tuple[str, ...] = (),
                   topic: str | None = None, today: dt.date | None = None,
                   previous_intent: str | None = None,
                   intent_ranking: list[tuple[str, float]] | None = None) -> Query:
        """The :class:`Query` for raw ``question`` (see module docstring).

        ``intent``: NLU intent name or None; ``nlu_values``: NLU entity
        values; ``topic``: the conversation's topic (an entity name) or None;
        ``previous_intent``: the intent of the turn before (for 「じゃあXは？」);
        ``intent_ranking``: the NLU's ``(intent, confidence)`` pairs (default:
        ``intent`` with confidence 1).
        """
        text = normalize_query(question)
        folded = fold(text)
        table = self.table
        matches = self.entities(text, tuple(nlu_values))
        partial = self.partial_matches(text, matches)
        matches = [m for m in matches if m.name not in partial]
        taken = [(m.start, m.end) for m in matches if m.start >= 0]
        inferences = self.vocabulary.find(folded, taken)
        primary, secondary = table.intents.get(intent or "", ((), ()))
        # a word that names a duty with another (住所 + 変更) is part of that name, not a cue (住所 -> address)
        names = taken + [(inf.start, inf.end) for inf in inferences if inf.start >= 0]
        names += [span for inf in inferences for span in inf.spans]
        question_at = question_span(text)
        bounds = token_boundaries(text)
        names += self.non_asking_spans(text, names, question_at, bounds)
        query = Query(text, folded, intent, primary, secondary, table.cue_attributes(folded, names, bounds),
                      partial=partial, future=table.has("future", folded, bounds),
                      present=table.has("present", folded, bounds), outcome=table.has("outcome", folded, bounds),
                      compare=table.has("compare", folded, bounds), today=today or dt.date.today(),
                      precision="day" if table.has("day", folded, bounds) else
                      "month" if table.has("month", folded, bounds) else "",
                      units=table.units(folded, bounds), asks_when=table.asks_when(folded, bounds),
                      near_miss=self.near_misses.similarity(text))
        ranking = intent_ranking if intent_ranking is not None else ([(intent, 1.0)] if intent else [])
        query.intent_weights = {name: float(conf) for name, conf in ranking if name in table.intents}
        self._sort_names(query, matches, inferences)
        query.office_as_place = query.office and office_as_place(text, matches)
        if query.office_asked and not query.subjects:
            # 「第2土曜日に区役所へ行っても開いていますか」 names nothing else: it is about the office itself
            at = next((m.start for m in matches if m.name == OFFICE), -1)
            query.subjects = [Named(OFFICE, "office", "typed", OFFICE, start=at)]
        explained = [m.variant for m in matches] + [inf.matched for inf in inferences if inf.start >= 0]
        explained += [w for inf in inferences if inf.start < 0 for w in inf.matched.split("+")]
        self._read_terms(query, text, explained, names, question_at, bounds)
        self._background(query, text, matches, question_at)
        # kana-only asking words (まどぐち) are split by the tokenizer: find them in the text itself
        query.hinted |= {intent for word, intent in table.hints.items()
                         if len(word) >= 3 and holds(word, folded, bounds)}
        self._apply_topic(query, topic, previous_intent, text)
        self._assume_event(query)
        return query

    def non_asking_spans(self, text: str, names: list[tuple[int, int]] = (),
                         question_at: tuple[int, int] | None = None,
                         boundaries: frozenset[int] | None = None) -> list[tuple[int, int]]:
        """Spans (offsets in ``fold(text)``) of cue words that do not say
        what is asked:

        * a cue that modifies a noun: followed by の and a noun that is neither
          an asking word nor a cue (住所の届け, 受付時間の延長, 電話番号の変更);
          in 「AのB」 the question is about B, and 会場の住所 still asks for the
          address;
        * a cue inside a clause that describes a later noun
          (「お金を戻してもらう手続きは」; see :func:`in_relative_clause`);
        * a cue inside a clause of condition or time before the main clause
          (「無理な要望を言われたとき、どう対応すれば」「締め切りを過ぎた場合は
          どうなる」「住所が変われば」): it describes the situation; what is
          asked follows.  「〜すればいい」 is the asking clause itself;
        * a cue in a sentence that does not ask (「…取れますか。電話は090-…
          です」): only the question sentence (:func:`question_span`) says
          what is asked, and any other that ends in a question mark when a
          message asks two things (「本文はどこで読める？改定後はどう変わるの？」);
          a wish before the question (「意見を伝えたいです。担当の課は？」) is
          its context.

        ``names``: spans already taken by names; ``question_at``: the
        question sentence's ``question_span(text)``, and ``boundaries``, its
        ``token_boundaries(text)``, when already known."""
        table = self.table
        folded = fold(text)
        cues = table.cue_matches(folded, names, token_boundaries(text) if boundaries is None else boundaries)
        if not cues:
            return []
        at = _folded_offsets(text)
        words = analyzer.morphemes(text, "C")
        starts = {at[m.start]: i for i, m in enumerate(words)}
        situation = situation_end(words)
        situation_at = at[situation] if situation is not None else -1
        # the question sentence, and any other that ends in a question mark
        asking = [tuple(at[i] for i in (question_at or question_span(text)))]
        asking += [(at[a], at[b]) for a, b in sentence_spans(text) if text[a:b].rstrip().endswith(("？", "?"))]
        spans = []
        for start, end, _ in cues:
            if end <= situation_at or not any(a <= start < b for a, b in asking):
                spans.append((start, end))
                continue
            i = starts.get(end)
            first = starts.get(start)
            if i is not None and first is not None and in_relative_clause(words, first, i):
                spans.append((start, end))
                continue
            if i is None or i + 1 >= len(words) or words[i].surface != "の":
                continue
            head = words[i + 1]
            head_at = at[head.start]
            if head.pos not in NOUN_POS or fold(head.normalized) in table.asking_words \
                    or fold(head.surface) in table.asking_words or any(s == head_at for s, _, _ in cues):
                continue
            spans.append((start, end))
        return spans

    def current_event(self, today: dt.date) -> str | None:
        """The event a question about an event's details with no subject is
        taken to be about: the next one to come, else the latest one (by the
        entity's ``date``); None when the documents have no dated event."""
        events = [e for e in self.kb.entities.values() if e.type == "event" and e.date]
        upcoming = sorted((e for e in events if e.date >= today.isoformat()), key=lambda e: e.date)
        if upcoming:
            return upcoming[0].name
        return max(events, key=lambda e: e.date).name if events else None

    def _assume_event(self, query: Query) -> None:
        """A question that names nothing, says nothing of its own (no noun
        beyond what it asks) and asks for an event's details (venue, date,
        deadline, who may join, ...) is taken to be about the current event,
        said so in the answer (``assumed``); the event is
        context, so facts about it are preferred, not required."""
        if query.subjects or query.office or query.partial or query.unknown or query.context or query.content_nouns:
            return
        if not set(query.asked) & EVENT_ATTRIBUTES:
            return
        event = self.current_event(query.today)
        if event:
            query.context = [event]
            query.assumed = event
            self.search_for(query, event)

    def _sort_names(self, query: Query, matches: list[EntityMatch], inferences: list[Inference]) -> None:
        seen: set[str] = set()
        for m in matches:
            if m.name in seen:
                continue
            seen.add(m.name)
            if m.name == OFFICE:
                query.office = True
            elif m.type == "ward":
                query.constraints.append(m.name)
                # a ward named by its office (高津区役所): 区役所, in that ward
                query.office |= m.variant.endswith(WARD_OFFICE_ENDING)
            else:
                source = "typed" if m.start >= 0 else ("nlu" if m.score == NLU_SCORE else "fuzzy")
                query.subjects.append(Named(m.name, m.type, source, m.variant, start=m.start))
        for inf in inferences:
            for name in inf.entry.means:
                if name in seen or name not in self.kb.entities:
                    continue
                seen.add(name)
                query.subjects.append(Named(name, self.kb.entities[name].type, "vocabulary", inf.matched,
                                            inf.entry.reason, inf.entry.term, inf.at))
        query.subjects = self.qualified(query.subjects)
        if query.constraints and not query.subjects and not query.office:
            # a ward alone is what the question is about (川崎区について)
            query.subjects = [Named(n, "ward", "typed", n) for n in query.constraints]
            query.constraints = []

    def _read_terms(self, query: Query, text: str, explained: list[str], names: list[tuple[int, int]],
                    question_at: tuple[int, int], boundaries: frozenset[int]) -> None:
        table = self.table
        cue_text = [query.folded[a:b] for a, b, _ in table.cue_matches(query.folded, names, boundaries)]
        terms = analyzer.terms(text, content_only=True)
        for s in query.subjects:
            if s.source == "vocabulary":
                terms += [t for t in self.expansion(s.name) if t not in terms]
        query.terms = terms
        content, unknown, rest, focus = [], [], [], []
        has_predicate = False
        focus_start, focus_end = question_at
        for m in analyzer.morphemes(text, "C"):
            query.hinted |= table.hinted_intents({fold(m.normalized), fold(m.surface)})
            if m.pos in PREDICATE_POS and fold(m.normalized) not in table.asking_words:
                has_predicate = True
            if m.pos not in analyzer.CONTENT_POS or m.normalized in analyzer.STOP_TERMS:
                continue
            surface, norm = fold(m.surface), fold(m.normalized)
            if _DIGITS.match(surface) and len(surface) >= IDENTIFYING_DIGITS:
                # a number that identifies something (a phone number's digits, a room): specific content
                content.append((surface, surface))
                query.content_nouns += 1
                continue
            if _DIGITS.match(surface) or _KANA_OR_LATIN.match(surface):
                continue
            if any(surface in e or e in surface for e in explained if e):
                continue
            rest += [t for t in analyzer.terms(m.surface, content_only=True) if t not in rest]
            if any(surface in c for c in cue_text) or norm in table.asking_words or surface in table.asking_words:
                continue
            content.append((m.normalized.lower(), m.reading))
            if m.pos in NOUN_POS:
                query.content_nouns += 1
            if focus_start <= m.start < focus_end:
                focus.append((m.normalized.lower(), m.reading))
            if self.is_unknown(m):
                unknown.append(m.surface)
        query.rest_terms = rest
        query.focus = list(dict.fromkeys(focus))
        query.years = {d.year for d in find_dates(text)}
        query.ordinals = ordinals(text)
        query.content = list(dict.fromkeys(content))
        query.unknown = list(dict.fromkeys(unknown))
        query.elliptical = bool(query.subjects) and not has_predicate and not query.content and not query.cues

    @staticmethod
    def _background(query: Query, text: str, matches: list[EntityMatch], question_at: tuple[int, int]) -> None:
        """Names given only in the context a citizen writes around the
        question (「結婚して引っ越します。婚姻届はどこに？」, 「住民票はどこで
        取れますか。住所は中原区…です」) are background when the question
        itself names something: they become context, not subjects; a ward
        named only there (「高津区に住んでいます。介護保険の申請はどこで？」)
        is where the citizen lives, not a constraint on the facts."""
        start, end = question_at
        if (start, end) == (0, len(text)):
            return
        at = _folded_offsets(text)
        start, end = at[start], at[end]

        def in_question(offset: int) -> bool:
            return offset < 0 or start <= offset < end

        asked = [s for s in query.subjects if in_question(s.start)]
        if asked and len(asked) < len(query.subjects):
            query.background = [s for s in query.subjects if s not in asked]
            query.context += [s.name for s in query.background]
            query.subjects = asked
        if asked or query.office:
            named = {m.name for m in matches if in_question(m.start)}
            background = [w for w in query.constraints if w not in named]
            query.constraints = [w for w in query.constraints if w in named]
            query.context += [w for w in background if w not in query.context]

    def qualified(self, subjects: list[Named]) -> list[Named]:
        """``subjects`` with a name and its qualifier, named apart, read as
        the one entity named 「name（qualifier）」: 「改革カフェで、南部地区の回は」
        names かわさき改革カフェ（南部地区）, not the cafe series and the
        district; a name given beside such a part of it is that part."""
        names = {s.name for s in subjects}
        pairs = {(whole, part): f"{whole}（{part}）" for whole in names for part in names
                 if f"{whole}（{part}）" in self.kb.entities}
        paired = {name for pair in pairs for name in pair}
        out: list[Named] = []
        for s in subjects:
            out += [Named(name, self.kb.entities[name].type, s.source, s.matched, start=s.start)
                    for (whole, _), name in pairs.items() if whole == s.name]
            if s.name not in paired:
                out.append(s)
        # the whole named beside one of its qualified parts (改革カフェの北部地区) is that part
        return [s for s in out if not any(other.name.startswith(f"{s.name}（") for other in out)]

    def sibling(self, topic: str, words: list[str]) -> str | None:
        """The entity of ``topic``'s type that one of ``words`` names by the
        part that tells it from the topic: after 宮前連絡所, 「柿生の方は？」
        names 柿生連絡所 (柿生 + the topic's ending 連絡所, two characters or
        more); None unless exactly one such entity exists."""
        kind = self.kb.entities[topic].type
        found = {name for word in words if word for name, ent in self.kb.entities.items()
                 if ent.type == kind and name != topic and name.startswith(word)
                 and len(name) - len(word) >= SIBLING_ENDING and topic.endswith(name[len(word):])}
        return found.pop() if len(found) == 1 else None

    def _ward_of_topic(self, query: Query, topic: str) -> None:
        """A ward named alone, with nothing else to ask about it (no content
        word, not an overview), says where the topic is asked about
        (「中原区だとどこの課ですか」 after 介護保険): the ward
        becomes a constraint again and the question names nothing, so the
        topic carries over.  「中原区について教えて」 keeps the ward as its
        subject."""
        wards = [s.name for s in query.subjects if s.type == "ward"]
        if not wards or len(wards) < len(query.subjects) or self.kb.entities[topic].type == "ward":
            return
        if query.content or query.partial or query.unknown or query.cues or query.intent == "ask_overview":
            return
        query.constraints, query.subjects = wards, []

    def _apply_topic(self, query: Query, topic: str | None, previous_intent: str | None, text: str) -> None:
        if not topic or topic not in self.kb.entities:
            return
        self._ward_of_topic(query, topic)
        # 「じゃあ区役所の何課に行けばいいの？」 names the office only as where: the topic is still what is asked about
        names_nothing = not (query.subjects or query.office_asked or query.partial or query.unknown)
        if names_nothing:
            ent = self.kb.entities[topic]
            if topic == OFFICE:
                query.office = True
            elif sibling := self.sibling(topic, [norm for norm, _ in query.content]):
                query.subjects = [Named(sibling, ent.type, "topic", sibling)]
            else:
                query.subjects = [Named(topic, ent.type, "topic", topic)]
                if query.constraints and ent.type == "ward":
                    query.constraints = []
            # the question is read as if it named what it carries (「いつやるの？」 after the workshop is
            # 「ワークショップはいつやるの？」): retrieval gets the carried name's terms, as for a typed name
            for s in query.subjects:
                self.search_for(query, s.name)
            query.carried = True
            return
        if query.elliptical and topic not in query.subject_names and topic != OFFICE:
            query.context = [topic]
            self.search_for(query, topic)
            # what is asked carries over only to a bare 「Xは？」, which asks nothing in its own words
            # (no asking word such as どこ, 何課, 手続き, いつ)
            if previous_intent in self.table.intents and not query.hinted:
                query.intent = previous_intent
                query.primary, query.secondary = self.table.intents.get(previous_intent, ((), ()))
                query.intent_weights = {previous_intent: 1.0}
        if query.compare and topic not in query.subject_names and len(query.subjects) == 1:
            ent = self.kb.entities[topic]
            query.subjects.append(Named(topic, ent.type, "topic", topic))
