"""Quick reference for frontline staff: the answer and its exact source, fast.

Pure, read-only functions over a built ``KnowledgeBase`` (they never touch
conversation data and never write).  Every row they return carries its
provenance: ``doc`` (manifest id, e.g. ``"001"``), ``title`` (the document's
title), ``line_start``/``line_end`` (1-based line numbers of the source file,
as ``cat -n`` prints them), ``as_of`` (ISO date ``YYYY-MM-DD`` the fact holds
at, or None) and ``status`` (``fact`` | ``plan`` | ``proposal`` | ``example``).

* ``search(kb, query, limit=20)`` -> list of fact dicts, best first, for
  as-you-type input (1 character and up; kanji, kana-only, typos).
* ``sections(kb)`` -> every org unit with its parent and duties;
  ``section(kb, name)`` -> one unit in detail (typos and kana accepted).
* ``contacts(kb)`` -> every phone / FAX / e-mail / URL with its role.
* ``events(kb, today=None)`` -> each event with its details.
* ``timeline(kb)`` -> dated history, oldest first.
* ``source(kb, doc, first, last, context=2)`` -> verbatim source lines.

The text helpers at the end (``display_width``, ``pad``, ``format_table``,
``format_*``) lay the same data out for a terminal (``python -m knowledge
show``), padding by East Asian width so Japanese columns line up.

Lookup structures built from a knowledge base (entity matcher, folded
variants, passage spans) are cached per ``KnowledgeBase`` object, so the first
call on a knowledge base takes ~100 ms and later ones a few milliseconds.
"""
from __future__ import annotations

import bisect
import datetime as dt
import json
import re
import sqlite3
import threading
import unicodedata
import weakref
from dataclasses import dataclass, field

from rapidfuzz import fuzz, process

from . import analyzer
from .attributes import attributes
from .bm25 import BM25Index
from .build import EVENT_ATTRIBUTES
from .entities import fold
from .kb import FactRow, KnowledgeBase
from .normalize import normalize_query
from .understand import Understander
from .vocabulary import vocabulary

_SURROGATES = re.compile("[\ud800-\udfff]")
_KANA_ONLY = re.compile(r"^[\u3041-\u30ffー\s]*$")
MAX_QUERY_CHARS = 200  # longer input is cut, not rejected
MAX_LIMIT = 100  # most results one search returns
MAX_SOURCE_LINES = 300  # most lines one ``source`` call returns (span + context)
MAX_CONTEXT = 20  # most context lines on each side
FTS_CANDIDATES = 60  # facts taken from the FTS index per query
PREFIX_ENTITIES = 12  # most entities a prefix / substring of the query may select
SECTION_CUTOFF = 60.0  # rapidfuzz ratio (0-100) for a unit name typed with a typo
# What staff look up most: a half-typed name more likely means a counter or a service.
TYPE_PRIOR = {"section": 0.5, "office": 0.4, "service": 0.5}

CONTACT_LABELS = {"phone": "電話", "fax": "FAX", "email": "メール", "url": "URL"}
# Attributes counter staff look up most: a small boost in ``search``.
COUNTER_ATTRIBUTES = {"handled_by", "duties", "phone", "email", "fax", "url", "opening", "location", "venue",
                      "date", "time", "deadline", "how_to_apply", "address"}


# -- per-knowledge-base lookup structures --------------------------------------

@dataclass
class _Index:
    variants: list[tuple[str, str]]  # (folded variant, entity name), shortest first
    by_name: dict[str, list[FactRow]]  # entity name -> facts whose subject or about names it
    folded_text: dict[str, str]  # fact id -> folded text + value + subject
    types: dict[str, str]  # entity name -> type
    understander: Understander | None = None  # the answers' understanding: names, readings, typos, vocabulary
    bm25: BM25Index | None = None  # the answers' BM25 over fact terms
    passages: dict[str, list[tuple[int, int, str]]] = field(default_factory=dict)  # doc -> (start, end, path)
    passage_starts: dict[str, list[int]] = field(default_factory=dict)
    max_span: dict[str, int] = field(default_factory=dict)


def _rows(kb: KnowledgeBase, sql: str) -> list[sqlite3.Row]:
    """Rows of a read-only query on the typed tables.  ``KnowledgeBase`` has
    no public query method for them; its per-thread connection is opened
    with ``mode=ro``, so nothing here can write."""
    return kb._conn().execute(sql).fetchall()


_CACHE: weakref.WeakKeyDictionary[KnowledgeBase, _Index] = weakref.WeakKeyDictionary()
_CACHE_LOCK = threading.Lock()


def _index(kb: KnowledgeBase) -> _Index:
    idx = _CACHE.get(kb)
    if idx is not None:
        return idx
    with _CACHE_LOCK:
        idx = _CACHE.get(kb)
        if idx is not None:
            return idx
        variants = {}
        for row in kb.lexicon:
            key = fold(row["variant"])
            if key:
                variants.setdefault(key, row["name"])
        by_name: dict[str, list[FactRow]] = {}
        for fact in kb.facts.values():
            for name in dict.fromkeys([fact.subject, *fact.about]):
                by_name.setdefault(name, []).append(fact)
        idx = _Index(
            variants=sorted(variants.items(), key=lambda kv: (len(kv[0]), kv[0])),
            by_name=by_name,
            folded_text={f.id: fold(f"{f.subject} {f.text} {f.value}") for f in kb.facts.values()},
            types={e.name: e.type for e in kb.entities.values()},
            understander=Understander(kb, vocabulary()),
            bm25=BM25Index({f.id: f.terms for f in kb.facts.values()}),
        )
        rows = _rows(kb, "select doc, line_start, line_end, path, heading from passages "
                         "order by doc, line_start, line_end")
        for r in rows:
            path = (r["path"] or r["heading"] or "").strip()
            idx.passages.setdefault(r["doc"], []).append((r["line_start"], r["line_end"], path))
        for doc, spans in idx.passages.items():
            idx.passage_starts[doc] = [s for s, _, _ in spans]
            idx.max_span[doc] = max(e - s for s, e, _ in spans)
        _CACHE[kb] = idx
        return idx


def _section_path(idx: _Index, doc: str, line: int) -> str | None:
    """Heading path of the narrowest passage of ``doc`` that contains ``line``."""
    spans = idx.passages.get(doc)
    if not spans:
        return None
    starts = idx.passage_starts[doc]
    hi = bisect.bisect_right(starts, line)
    best = None
    for i in range(hi - 1, -1, -1):
        start, end, path = spans[i]
        if line - start > idx.max_span[doc]:
            break
        if start <= line <= end and path and (best is None or end - start < best[0]):
            best = (end - start, path)
    return best[1] if best else None


def status_label(status: str) -> str:
    """The Japanese label of a fact status (事実, 計画, 提案, 例示)."""
    found = attributes().statuses.get(status)
    return found.label if found else status


def _title(kb: KnowledgeBase, doc: str) -> str:
    row = kb.documents.get(doc)
    return row["title"] if row else doc


def fact_dict(kb: KnowledgeBase, fact: FactRow) -> dict:
    """A fact as the staff views show it: keys id, text, value, subject,
    attribute, label (Japanese attribute name), status, status_label, doc,
    title, section (heading path of the passage holding ``line_start``, else
    the subject), line_start, line_end (1-based source lines), as_of (ISO date
    or None), quote (verbatim evidence)."""
    idx = _index(kb)
    return {
        "id": fact.id, "text": fact.text, "value": fact.value, "subject": fact.subject,
        "attribute": fact.attribute, "label": attributes().label(fact.attribute),
        "status": fact.status, "status_label": status_label(fact.status),
        "doc": fact.doc, "title": _title(kb, fact.doc),
        "section": _section_path(idx, fact.doc, fact.line_start) or fact.subject,
        "line_start": fact.line_start, "line_end": fact.line_end, "as_of": fact.as_of, "quote": fact.quote,
    }


# -- search ----------------------------------------------------------------------

def clean_query(query: str | None) -> str:
    """``query`` as searched: at most ``MAX_QUERY_CHARS`` characters, lone
    surrogates dropped, then normalized (NFKC, letter-spaced CJK joined,
    whitespace folded); "" for anything that is not a string."""
    if not isinstance(query, str):
        return ""
    query = _SURROGATES.sub("", query[:MAX_QUERY_CHARS])
    return normalize_query(query, max_chars=MAX_QUERY_CHARS).strip()


def _reading(q: str) -> str:
    """Folded (hiragana) Sudachi reading of ``q``, for queries typed half in
    kana (区民か); "" when ``q`` is all kana already or has no reading."""
    if _KANA_ONLY.match(q):
        return ""
    return fold("".join(m.reading if m.reading else m.surface for m in analyzer.morphemes(q, "C")))


def _entity_weights(idx: _Index, q: str, folded: str) -> tuple[dict[str, float], dict[str, float], dict]:
    """``(named, partial, inferred)``.  ``named``: entity name -> weight for
    the entities the query names (exact variant, kana reading, or a typo of
    one) or that a citizen's word in it stands for (the answers'
    vocabulary: 婚姻届 -> 戸籍); ``partial``: entity name -> weight for
    entities one of whose variants starts with / contains the (unfinished)
    query -- for 1-3 characters typed so far; ``inferred``: entity name ->
    the vocabulary ``Entry`` it was inferred from."""
    named: dict[str, float] = {}
    matches = idx.understander.matcher.find(q)
    for m in matches:
        if m.score >= 100:
            weight = 10.0 if len(m.variant) >= len(folded) else 7.0 + 2.0 * len(m.variant) / len(folded)
        else:
            weight = 7.0 * m.score / 100.0
        named[m.name] = max(named.get(m.name, 0.0), weight)
    inferred = {}
    for inf in idx.understander.vocabulary.find(folded, [(m.start, m.end) for m in matches if m.start >= 0]):
        share = len(inf.matched) / len(folded) if inf.start >= 0 else 0.5
        for name in inf.entry.means:
            weight = 6.0 + 3.0 * min(share, 1.0)  # a step below the entity's own names
            if weight > named.get(name, 0.0):
                named[name] = weight
                inferred[name] = inf.entry
    partial: dict[str, float] = {}
    name_types = idx.types
    probes = [(folded, 1.0)]
    reading = _reading(q)
    if reading and reading != folded:
        probes.append((reading, 0.9))  # 区民か (IME half-way) -> くみんか, a prefix of 区民課's reading
    for probe, factor in probes:
        if not probe or len(probe) > 12:
            continue
        for variant, name in idx.variants:
            if name in named or (variant == probe and factor == 1.0):
                continue  # named already (the matcher found it)
            if variant == probe:
                weight = 9.0  # the query's reading is the entity's reading
            elif variant.startswith(probe):
                weight = 4.0 + 4.0 * len(probe) / len(variant)
            elif len(probe) >= 2 and probe in variant:
                weight = 2.0 + 3.0 * len(probe) / len(variant)
            else:
                continue
            weight = weight * factor + TYPE_PRIOR.get(name_types.get(name, ""), 0.0)
            if weight > partial.get(name, 0.0):
                partial[name] = weight
        if len(partial) > PREFIX_ENTITIES:
            partial = dict(sorted(partial.items(), key=lambda kv: -kv[1])[:PREFIX_ENTITIES])
    return named, partial, inferred


def search(kb: KnowledgeBase, query: str, limit: int = 20) -> list[dict]:
    """Facts for ``query`` (what a staff member has typed so far), best first.

    Combines (scores add up):

    * entities the query names -- exact name, alias or kana reading, or a
      typo of one (the answers' ``EntityMatcher``): facts whose subject (x1.0) or ``about``
      (x0.7) is that entity, weight 7-10 per entity;
    * for unfinished input, entities one of whose names or readings starts
      with (weight 4-8) or contains (2-5) the query, or whose reading is
      the query's reading (8.1; 区民か -> くみんか -> 区民課) or starts with /
      contains it (x0.9); sections, offices and services +0.4-0.5; the best
      such entity per fact counts;
    * a citizen's word the answers' vocabulary knows (婚姻届 -> 戸籍): its
      entities as if named, weight 6-9; such rows carry ``inference``
      ``{"term", "reason"}`` (general knowledge, said as such);
    * BM25 over fact terms (the answers' ``bm25.BM25Index``): up to 4,
      relative to the best score (not for 1-2 kana: the start of a
      word, which matches unrelated short words);
    * the query appearing verbatim (folded) in the fact's subject, text or
      value: +2 (not for 1 character, nor for 1-2 kana);
    * small boosts for counter attributes (who handles it, contacts: +0.6)
      and for ``status == "fact"`` (+0.3).

    ``query``: any string (empty, huge or FTS syntax such as ``"``, ``NEAR(``,
    ``*`` is safe; only the first 200 characters are used).  ``limit``: 1-100.
    Returns at most ``limit`` dicts (see ``fact_dict``) with an extra
    ``score`` (float, higher is better); an empty list when nothing matches.
    Takes a few milliseconds per query once the knowledge base's lookup
    structures are built.
    """
    q = clean_query(query)
    folded = fold(q)
    if not folded:
        return []
    try:
        limit = max(1, min(int(limit), MAX_LIMIT))
    except (TypeError, ValueError):
        limit = 20
    idx = _index(kb)
    scores: dict[str, float] = {}
    named, partial, inferred = _entity_weights(idx, q, folded)
    for name, weight in named.items():
        for fact in idx.by_name.get(name, ()):
            scores[fact.id] = scores.get(fact.id, 0.0) + weight * (1.0 if fact.subject == name else 0.7)
    best_partial: dict[str, float] = {}
    for name, weight in partial.items():
        for fact in idx.by_name.get(name, ()):
            w = weight * (1.0 if fact.subject == name else 0.7)
            if w > best_partial.get(fact.id, 0.0):
                best_partial[fact.id] = w
    for fid, w in best_partial.items():
        scores[fid] = scores.get(fid, 0.0) + w
    short_kana = len(folded) <= 2 and bool(_KANA_ONLY.match(folded))  # the start of a word, rarely a word
    try:
        hits = [] if short_kana else idx.bm25.search(analyzer.terms(q, content_only=True), limit=FTS_CANDIDATES)
    except sqlite3.Error:
        hits = []
    if hits:
        top = max(score for _, score in hits) or 1.0
        for fid, score in hits:
            scores[fid] = scores.get(fid, 0.0) + 4.0 * max(score, 0.0) / top
    if len(folded) >= 2 and not short_kana:
        for fid, text in idx.folded_text.items():
            if folded in text:
                scores[fid] = scores.get(fid, 0.0) + 2.0
    ranked = []
    for fid, score in scores.items():
        fact = kb.facts[fid]
        score += (0.6 if fact.attribute in COUNTER_ATTRIBUTES else 0.0) + (0.3 if fact.status == "fact" else 0.0)
        ranked.append((score, fid))
    ranked.sort(key=lambda x: (-x[0], x[1]))
    out = []
    for score, fid in ranked[:limit]:
        fact = kb.facts[fid]
        row = fact_dict(kb, fact)
        row["score"] = round(score, 3)
        entry = next((inferred[n] for n in (fact.subject, *fact.about) if n in inferred), None)
        if entry:
            row["inference"] = {"term": entry.term, "reason": entry.reason}
        out.append(row)
    return out


# -- browsing ------------------------------------------------------------------------

def _provenance(kb: KnowledgeBase, row) -> dict:
    return {"doc": row["doc"], "title": _title(kb, row["doc"]), "line_start": row["line_start"],
            "line_end": row["line_end"], "as_of": row["as_of"], "status": row["status"]}


def sections(kb: KnowledgeBase) -> list[dict]:
    """Every org unit (section, office, committee) from the ``organisation``
    table, in the knowledge base's order (documents, then org-chart order).

    Each dict: name, type (section | office | committee), kana (hiragana or
    None), parent (the unit above, or None), ward (or None), children (names
    of the units whose parent it is), duties (list of fact dicts, see
    ``fact_dict``: what the unit handles, each with its source; empty when the
    documents state none), services (names of the services it handles).
    """
    rows = _rows(kb, "select rowid, * from organisation order by rowid")
    children: dict[str, list[str]] = {}
    for r in rows:
        if r["parent"]:
            children.setdefault(r["parent"], []).append(r["name"])
    services: dict[str, list[str]] = {}
    for r in _rows(kb, "select service, section from services order by rowid"):
        names = services.setdefault(r["section"], [])
        if r["service"] not in names:
            names.append(r["service"])
    duties: dict[str, list[FactRow]] = {}
    for fact in kb.facts.values():
        if fact.attribute == "duties":
            duties.setdefault(fact.subject, []).append(fact)
    out = []
    for r in rows:
        ent = kb.entities.get(r["name"])
        out.append({
            "name": r["name"], "type": r["type"], "kana": ent.kana if ent else None, "parent": r["parent"],
            "ward": r["ward"], "children": children.get(r["name"], []),
            "duties": [fact_dict(kb, f) for f in duties.get(r["name"], [])],
            "services": services.get(r["name"], []),
        })
    return out


def section(kb: KnowledgeBase, name: str) -> dict | None:
    """One org unit in detail, found by name, alias, kana reading or a typo
    of one (区民課, くみんか, 区民化: the closest name with a rapidfuzz ratio of
    at least 60); None when no unit matches.

    The dict of ``sections`` plus: contacts (list, see ``contacts``) and facts
    (every fact whose subject is the unit, fact dicts, source order)."""
    units = {u["name"]: u for u in sections(kb)}
    q = clean_query(name)
    if not q:
        return None
    target = q if q in units else None
    if target is None:
        resolved = _index(kb).understander.matcher.resolve(q)
        target = resolved if resolved in units else None
    if target is None:
        found = [m.name for m in _index(kb).understander.matcher.find(q) if m.name in units]
        target = found[0] if found else None
    if target is None:  # a typo in a short name (区民化): the closest unit name or reading
        choices = {v: n for v, n in _index(kb).variants if n in units}
        best = process.extractOne(fold(q), list(choices), scorer=fuzz.ratio, score_cutoff=SECTION_CUTOFF)
        target = choices[best[0]] if best else None
    if target is None:
        return None
    unit = dict(units[target])
    unit["contacts"] = [c for c in contacts(kb) if c["unit"] == target]
    facts = [f for f in kb.facts.values() if f.subject == target]
    facts.sort(key=lambda f: (f.doc, f.line_start, f.id))
    unit["facts"] = [fact_dict(kb, f) for f in facts]
    return unit


def contacts(kb: KnowledgeBase) -> list[dict]:
    """Every contact stated in the documents (``contacts`` table), by unit.

    Each dict: id, unit (the section the contact belongs to), kind (phone |
    fax | email | url), kind_label (電話 / FAX / メール / URL), value (as
    stated; a phone may carry a note such as a person's name), role (what it
    is for, e.g. 申込み・問合せ or 報道発表資料の問合せ先), press_only (True when
    the role is for the press: not a number to give citizens; listed after
    the others of its unit and kind), about (entities it is the contact
    for), text, plus doc, title, line_start, line_end, as_of, status."""
    order = {"phone": 0, "fax": 1, "email": 2, "url": 3}
    rows = _rows(kb, "select * from contacts")
    out = []
    for r in rows:
        out.append({
            "id": r["id"], "unit": r["subject"], "kind": r["attribute"],
            "kind_label": CONTACT_LABELS.get(r["attribute"], r["attribute"]), "value": r["value"],
            "role": r["role"], "press_only": "報道" in (r["role"] or ""), "about": json.loads(r["about"] or "[]"),
            "text": r["text"], **_provenance(kb, r),
        })
    out.sort(key=lambda c: (c["unit"], c["doc"], order.get(c["kind"], 9), c["press_only"], c["line_start"], c["id"]))
    return out


def events(kb: KnowledgeBase, today: dt.date | None = None) -> list[dict]:
    """Every event with its details, dated events first (latest first), then
    the undated ones by name.

    Each dict: name, kana, held_on (ISO date or None), over (True when
    ``held_on`` is before ``today`` -- default the real date --, False when
    not, None when undated), doc, title (the document that declares it),
    details (fact dicts, see ``fact_dict``, for the event's own facts: date,
    time, venue, eligibility, capacity, how to apply, deadline … in that
    order, then the rest)."""
    today = today or dt.date.today()
    rank = {a: i for i, a in enumerate(EVENT_ATTRIBUTES)}
    out = []
    for ent in kb.entities.values():
        if ent.type != "event":
            continue
        facts = [f for f in kb.facts.values() if f.subject == ent.name]
        facts.sort(key=lambda f: (rank.get(f.attribute, len(rank)), f.doc, f.line_start, f.id))
        out.append({
            "name": ent.name, "kana": ent.kana, "held_on": ent.date,
            "over": (ent.date < today.isoformat()) if ent.date else None,
            "doc": ent.doc, "title": _title(kb, ent.doc), "details": [fact_dict(kb, f) for f in facts],
        })
    dated = sorted((e for e in out if e["held_on"]), key=lambda e: e["held_on"], reverse=True)
    return dated + sorted((e for e in out if not e["held_on"]), key=lambda e: e["name"])


_DATE_KEY = re.compile(r"^(FY)?(\d{4})(?:-(\d{2}))?(?:-(\d{2}))?$")


def date_key(date: str) -> tuple[int, int, int]:
    """Sort key ``(year, month, day)`` of a timeline date: ``2016-03`` ->
    (2016, 3, 0); ``FY2008`` (fiscal year, April to March) -> (2008, 4, 0);
    ``1972`` -> (1972, 0, 0); anything else sorts last."""
    m = _DATE_KEY.match(date or "")
    if not m:
        return (9999, 99, 99)
    if m.group(1):
        return (int(m.group(2)), 4, 0)
    return (int(m.group(2)), int(m.group(3) or 0), int(m.group(4) or 0))


def date_label(date: str) -> str:
    """Japanese reading of a timeline date: 2016年3月, 2008年度, 2011年4月22日."""
    m = _DATE_KEY.match(date or "")
    if not m:
        return date or ""
    if m.group(1):
        return f"{m.group(2)}年度"
    text = f"{m.group(2)}年"
    if m.group(3):
        text += f"{int(m.group(3))}月"
    if m.group(4):
        text += f"{int(m.group(4))}日"
    return text


def timeline(kb: KnowledgeBase) -> list[dict]:
    """Dated history (``timeline`` table rows with a date), oldest first.

    Each dict: date (``YYYY``, ``YYYY-MM``, ``YYYY-MM-DD`` or ``FYYYYY`` for a
    fiscal year), date_label (Japanese), plus the keys of ``fact_dict``.
    Facts with no date the code could read are left out; ``search`` finds
    them."""
    rows = _rows(kb, "select id, date from timeline where date is not null")
    out = []
    for r in rows:
        fact = kb.facts.get(r["id"])
        if fact is None:
            continue
        out.append({"date": r["date"], "date_label": date_label(r["date"]), **fact_dict(kb, fact)})
    out.sort(key=lambda e: (date_key(e["date"]), e["doc"], e["line_start"], e["id"]))
    return out


def source(kb: KnowledgeBase, doc: str, first: int, last: int, context: int = 2) -> dict:
    """The verbatim source lines ``first..last`` of ``doc`` with ``context``
    lines (0-20) on each side, clipped to the document.

    Returns ``{"doc", "title", "first", "last", "cut", "lines": [{"line":
    int, "text": str (raw, unchanged), "cited": bool (inside first..last)}]}``
    with at most ``MAX_SOURCE_LINES`` (300) lines: a longer span is cut at
    its end, ``last`` is then the last line shown and ``cut`` is True.
    ``first`` > ``last`` are swapped.
    Raises ``ValueError`` for an unknown ``doc`` or line numbers that are
    not integers or lie outside the document."""
    doc = str(doc or "").strip()
    if doc not in kb.documents:
        raise ValueError(f"unknown document {doc!r} (known: {', '.join(sorted(kb.documents))})")
    try:
        first, last, context = int(first), int(last), int(context)
    except (TypeError, ValueError):
        raise ValueError("line numbers must be integers") from None
    total = int(kb.documents[doc].get("lines") or 0)
    if last < first:
        first, last = last, first
    if last < 1 or first > total:
        raise ValueError(f"lines {first}-{last} are outside document {doc} (1-{total})")
    first, last = max(first, 1), min(last, total)
    context = max(0, min(context, MAX_CONTEXT))
    cut = last - first + 1 > MAX_SOURCE_LINES - 2 * context
    if cut:
        last = first + MAX_SOURCE_LINES - 2 * context - 1
    start, end = max(1, first - context), min(total, last + context)
    lines = [{"line": n, "text": text, "cited": first <= n <= last} for n, text in kb.source_lines(doc, start, end)]
    return {"doc": doc, "title": _title(kb, doc), "first": first, "last": last, "cut": cut, "lines": lines}


# -- terminal layout -----------------------------------------------------------------

def char_width(ch: str) -> int:
    """Terminal columns of one character: 2 for East Asian wide / full-width,
    0 for combining marks and control characters, else 1."""
    if unicodedata.combining(ch) or unicodedata.category(ch) in ("Cc", "Cf", "Mn", "Me"):
        return 0
    return 2 if unicodedata.east_asian_width(ch) in ("W", "F") else 1


def display_width(text: str) -> int:
    """Terminal columns ``text`` takes (see ``char_width``)."""
    return sum(char_width(ch) for ch in text)


def truncate(text: str, width: int) -> str:
    """``text`` cut to at most ``width`` columns, ending in … when cut."""
    if display_width(text) <= width:
        return text
    out, used = [], 0
    for ch in text:
        w = char_width(ch)
        if used + w > width - 1:
            break
        out.append(ch)
        used += w
    return "".join(out) + "…"


def pad(text: str, width: int) -> str:
    """``text`` padded with spaces to exactly ``width`` columns (cut with …
    when wider)."""
    text = truncate(text, width)
    return text + " " * (width - display_width(text))


_NO_LINE_START = set("、。，．,.)）」』】〕・ー～ぁぃぅぇぉっゃゅょァィゥェォッャュョ")


def wrap(text: str, width: int) -> list[str]:
    """``text`` broken into lines of at most ``width`` columns (by character:
    Japanese has no spaces to break at; closing brackets, punctuation and
    small kana are not put at the start of a line)."""
    width = max(width, 4)
    lines, line, used = [], [], 0
    for ch in text.replace("\n", " "):
        w = char_width(ch)
        if used + w > width and line:
            carry = []
            if ch in _NO_LINE_START and len(line) > 1:  # 、。）」 never start a line: take one character along
                carry = [line.pop()]
            lines.append("".join(line))
            line, used = carry, sum(char_width(c) for c in carry)
        line.append(ch)
        used += w
    if line or not lines:
        lines.append("".join(line))
    return lines


def format_table(headers: list[str], rows: list[list[str]], total_width: int = 120,
                 max_widths: list[int | None] | None = None) -> str:
    """A plain-text table: columns separated by two spaces, each padded by
    display width so wide (Japanese) characters line up; the last column is
    wrapped to fit ``total_width`` columns, earlier ones are cut with … at
    their ``max_widths`` entry (None: no limit)."""
    rows = [[("" if c is None else str(c)) for c in row] for row in rows]
    n = len(headers)
    max_widths = list(max_widths or [None] * n)
    widths = []
    for i in range(n - 1):
        w = max([display_width(headers[i])] + [display_width(r[i]) for r in rows])
        widths.append(min(w, max_widths[i]) if max_widths[i] else w)
    used = sum(widths) + 2 * (n - 1)
    last = max(total_width - used, 20)
    indent = " " * used

    def line(cells: list[str]) -> list[str]:
        head = "  ".join(pad(c, w) for c, w in zip(cells, widths, strict=False))
        parts = wrap(cells[-1], last)
        out = [(head + "  " if n > 1 else "") + parts[0]]
        out += [indent + p for p in parts[1:]]
        return [o.rstrip() for o in out]

    last_used = min(last, max(display_width(c) for c in [headers[-1], *(r[-1] for r in rows)]))
    out = line(headers)
    out.append("  ".join("─" * w for w in [*widths, last_used]))
    for row in rows:
        out += line(row)
    return "\n".join(out)


def cite(row: dict) -> str:
    """``001 L2053-2053 2015-04-01`` for a dict with doc, line_start, line_end, as_of."""
    first, last = row["line_start"], row["line_end"]
    lines = f"L{first}" if first == last else f"L{first}-{last}"
    return f"{row['doc']} {lines} {row.get('as_of') or '-'}"


def format_sections(units: list[dict], width: int = 120) -> str:
    """``sections(kb)`` as a table: 名称, 種別, 上位組織, 出典, 担当業務 (one
    row per duties fact; a unit whose duties the documents do not state gets
    one row with （記載なし）)."""
    kinds = {"section": "課・部", "office": "窓口", "committee": "会議体"}
    rows = []
    for u in units:
        head = [u["name"], kinds.get(u["type"], u["type"]), u["parent"] or "-"]
        if not u["duties"]:
            rows.append(head + ["-", "（記載なし）"])
        for i, d in enumerate(u["duties"]):
            rows.append((head if i == 0 else ["", "", ""]) + [cite(d), d["value"]])
    return format_table(["名称", "種別", "上位組織", "出典", "担当業務"], rows, width, [24, 6, 18, 26, None])


def format_section(unit: dict, width: int = 120) -> str:
    """``section(kb, name)`` as labelled lines, then its facts with sources."""
    fields = [
        ("名称", unit["name"] + (f"（{unit['kana']}）" if unit.get("kana") else "")),
        ("上位組織", unit["parent"] or "-"),
        ("下位組織", "、".join(unit["children"]) or "-"),
        ("担当業務", "、".join(d["value"] for d in unit["duties"]) or "（記載なし）"),
        ("取扱サービス", "、".join(unit["services"]) or "-"),
    ]
    for c in unit.get("contacts", []):
        fields.append((c["kind_label"], f"{c['value']}（{c['role'] or '-'}）［{cite(c)}］"))
    out = [format_table(["項目", "内容"], [list(f) for f in fields], width)]
    if unit.get("facts"):
        out.append("")
        rows = [[f["label"], f["status_label"], cite(f), f["text"]] for f in unit["facts"]]
        out.append(format_table(["項目", "状態", "出典", "内容"], rows, width, [18, 4, 26, None]))
    return "\n".join(out)


def format_contacts(items: list[dict], width: int = 120) -> str:
    """``contacts(kb)`` as a table: 担当, 種別, 連絡先, 出典, 用途."""
    rows = [[c["unit"], c["kind_label"], c["value"], cite(c), c["role"] or "-"] for c in items]
    return format_table(["担当", "種別", "連絡先", "出典", "用途"], rows, width, [16, 6, 40, 26, None])


def format_events(items: list[dict], width: int = 120) -> str:
    """``events(kb)`` as one block per event: heading, then 項目 / 内容 / 出典 rows."""
    blocks = []
    for e in items:
        state = "" if e["over"] is None else ("（終了）" if e["over"] else "（予定）")
        head = f"■ {e['name']}" + (f"  {e['held_on']}{state}" if e["held_on"] else "")
        rows = [[d["label"], d["status_label"], cite(d), d["value"]] for d in e["details"]]
        headers = ["項目", "状態", "出典", "内容"]
        body = format_table(headers, rows, width, [18, 4, 26, None]) if rows else "  （詳細の記載なし）"
        blocks.append(head + "\n" + body)
    return "\n\n".join(blocks)


def format_timeline(items: list[dict], width: int = 120) -> str:
    """``timeline(kb)`` as a table: 時期, 対象, 状態, 出典, 内容."""
    rows = [[e["date_label"], e["subject"], e["status_label"], cite(e), e["value"]] for e in items]
    return format_table(["時期", "対象", "状態", "出典", "内容"], rows, width, [14, 24, 4, 26, None])


def format_source(src: dict) -> str:
    """``source(...)`` as numbered lines; ``>`` marks the cited lines."""
    width = len(str(src["lines"][-1]["line"])) if src["lines"] else 1
    out = [f"『{src['title']}』({src['doc']}) {src['first']}〜{src['last']}行目"]
    for ln in src["lines"]:
        out.append(f"{'>' if ln['cited'] else ' '} {ln['line']:>{width}} │ {ln['text']}")
    return "\n".join(out)
