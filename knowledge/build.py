"""Build the knowledge base (one SQLite file) from the sources and curated facts.

``build(db_path)`` writes, with sqlite-utils:

* ``documents`` -- the manifest, with each file's SHA-256 and line count;
* ``source_lines`` -- every raw line with its normalized form (the map back
  to original line numbers);
* ``passages`` (+ FTS5 ``passages_fts``) -- sections and passages;
* ``entities``, ``facts`` (+ FTS5 ``facts_fts``) -- curated, verified facts;
* typed views of the facts: ``organisation``, ``services``, ``events``,
  ``contacts``, ``openings``, ``committees``, ``definitions``, ``timeline``,
  ``statistics``, ``rules``, ``opinions``;
* ``patterns`` -- phone numbers, e-mail addresses, URLs and dates found by code;
* ``lexicon`` -- names, kana and variants of every entity (for NLU and lookup);
* ``near_misses`` -- the training split's labelled questions the documents
  cannot answer (``knowledge.near_misses``);
* ``answer_model`` -- the ranker and answerability classifier trained on
  ``knowledge/answerability/*.yml`` (``knowledge.train``), as JSON.

Every fact row carries its provenance: ``doc``, ``line_start``, ``line_end``,
``quote``, ``status``, ``as_of``.  The build is all-or-nothing: it writes to a
temporary file and renames it, so a failed build leaves the old database.
Raises ``SourceError``, ``CurationError`` or ``ExtractionMismatch``.
"""
from __future__ import annotations

import hashlib
import json
import os
import time
from pathlib import Path

import sqlite_utils

from . import analyzer, curated, extract, passages
from .dates import find_dates
from .normalize import normalize_line
from .sources import SOURCES_DIR, load_manifest, read_lines

DEFAULT_DB = Path(os.environ.get("KB_PATH", Path(__file__).parent / "kb.sqlite"))
FACT_COLUMNS = ["id", "doc", "subject", "attribute", "value", "text", "quote", "line_start",
                "line_end", "status", "as_of", "role"]

TYPED_TABLES = {
    "contacts": ("phone", "fax", "email", "url"),
    "openings": ("opening",),
    "definitions": ("definition", "overview", "purpose"),
    "timeline": ("history",),
    "statistics": ("statistic",),
    "rules": ("rule",),
    "opinions": ("opinion",),
}
EVENT_ATTRIBUTES = ("date", "time", "doors_open", "venue", "address", "access", "eligibility",
                    "capacity", "reward", "how_to_apply", "required_info", "application_period",
                    "deadline", "notification", "lottery", "overview", "purpose")


def _fact_row(fact: curated.Fact) -> dict:
    return {
        "id": fact.id, "doc": fact.doc, "subject": fact.subject, "attribute": fact.attribute,
        "value": fact.value, "text": fact.text, "quote": fact.quote, "line_start": fact.lines[0],
        "line_end": fact.lines[1], "status": fact.status, "as_of": fact.as_of, "role": fact.role,
        "about": json.dumps(fact.about, ensure_ascii=False),
        "keywords": json.dumps(fact.keywords, ensure_ascii=False),
    }


def _fact_terms(fact: curated.Fact, entity_by_name: dict) -> str:
    names = [fact.subject, *fact.about]
    variants = []
    for name in names:
        ent = entity_by_name.get(name)
        if ent:
            variants += [ent.name, *(ent.aliases or [])]
    return analyzer.index_text(" ".join([*variants, normalize_line(fact.text), fact.value, *fact.keywords]))


def _typed_rows(facts: list[curated.Fact], attributes: tuple[str, ...]) -> list[dict]:
    rows = []
    for fact in facts:
        if fact.attribute in attributes:
            row = {k: v for k, v in _fact_row(fact).items() if k != "keywords"}
            if fact.attribute == "history":
                dates = find_dates(normalize_line(fact.text))
                row["date"] = (f"FY{dates[0].year}" if dates[0].fiscal else dates[0].iso()) if dates else None
            rows.append(row)
    return rows


def _organisation_rows(entities, facts) -> list[dict]:
    duties = {}
    for fact in facts:
        if fact.attribute == "duties":
            duties.setdefault(fact.subject, fact)
    rows = []
    for ent in entities:
        if ent.type not in ("section", "office", "committee"):
            continue
        fact = duties.get(ent.name)
        rows.append({
            "name": ent.name, "type": ent.type, "parent": ent.parent, "ward": ent.ward,
            "duties": fact.value if fact else None, "fact_id": fact.id if fact else None,
            "doc": fact.doc if fact else ent.doc, "line_start": fact.lines[0] if fact else None,
            "line_end": fact.lines[1] if fact else None, "quote": fact.quote if fact else None,
            "status": fact.status if fact else None, "as_of": fact.as_of if fact else None,
        })
    return rows


def _service_rows(entities, facts) -> list[dict]:
    rows = []
    services = {e.name for e in entities if e.type == "service"}
    for fact in facts:
        if fact.attribute not in ("duties", "handled_by"):
            continue
        names = [fact.subject] if fact.subject in services else []
        names += [a for a in fact.about if a in services]
        section = fact.value if fact.subject in services else fact.subject
        for name in names:
            rows.append({"service": name, "section": section, "fact_id": fact.id, "doc": fact.doc,
                         "line_start": fact.lines[0], "line_end": fact.lines[1], "quote": fact.quote,
                         "status": fact.status, "as_of": fact.as_of})
    return rows


def _event_rows(entities, facts) -> list[dict]:
    rows = []
    for ent in entities:
        if ent.type != "event":
            continue
        row = {"name": ent.name, "held_on": ent.date}
        for attribute in EVENT_ATTRIBUTES:
            values = [f.value for f in facts if f.subject == ent.name and f.attribute == attribute]
            row[attribute] = " / ".join(values) if values else None
        row["facts"] = json.dumps([f.id for f in facts if f.subject == ent.name])
        rows.append(row)
    return rows


def _committee_rows(entities, facts) -> list[dict]:
    rows = []
    for ent in entities:
        if ent.type != "committee":
            continue
        row = {"name": ent.name}
        for attribute in ("chair", "members", "secretariat", "duties", "definition", "history"):
            values = [f.value for f in facts if f.subject == ent.name and f.attribute == attribute]
            row[attribute] = " / ".join(values) if values else None
        rows.append(row)
    return rows


def _lexicon_rows(entities) -> list[dict]:
    rows = []
    by_name = {e.name: e for e in entities}
    for ent in entities:
        variants = {ent.name, *(ent.aliases or []), *curated.possessive_forms(ent, by_name)}
        if ent.kana:
            variants.add(ent.kana)
        for variant in sorted(variants):
            rows.append({"variant": variant, "normalized": normalize_line(variant), "name": ent.name,
                         "type": ent.type, "is_kana": variant == ent.kana})
    return rows


def _near_miss_rows() -> list[dict]:
    """``{"id", "question"}`` of each unanswerable labelled question in the
    "train" split (``knowledge.train.split``) of ``knowledge/answerability``."""
    from .train import load_cases, split

    return [{"id": c.id, "question": c.question} for c in load_cases()
            if not c.answerable and split(c.id) == "train"]


def _train_answer_model(path: Path, entities):
    """Check the citizen vocabulary against the entities, then train the
    ranker and answerability classifier (``knowledge.train``) on the
    knowledge base being built at ``path``.  Raises ``VocabularyError``."""
    from .kb import KnowledgeBase
    from .train import load_cases, train
    from .vocabulary import PATH as VOCABULARY
    from .vocabulary import Vocabulary

    if VOCABULARY.is_file():
        Vocabulary.load(VOCABULARY, {e.name for e in entities})
    kb = KnowledgeBase(path)
    return train(kb, load_cases(facts=kb.facts))


def build(db_path: Path | str = DEFAULT_DB, sources_dir: Path = SOURCES_DIR,
          facts_dir: Path = curated.FACTS_DIR, verbose: bool = True) -> dict[str, int]:
    """Build the knowledge base at ``db_path``; return row counts per table.

    Raises ``SourceError`` (missing/unreadable source), ``CurationError``
    (bad curated fact, e.g. a quote not found) or ``ExtractionMismatch``.
    """
    started = time.perf_counter()
    db_path = Path(db_path)
    docs = load_manifest(sources_dir)
    sources = {doc.id: read_lines(doc, sources_dir) for doc in docs}
    entities, facts = curated.load_all(sources, facts_dir)
    found = [f for doc_id, lines in sources.items() for f in extract.extract(doc_id, lines)]
    extract.check_contacts(facts, found)

    tmp = db_path.with_suffix(".building")
    tmp.unlink(missing_ok=True)
    db = sqlite_utils.Database(tmp)
    db["documents"].insert_all(
        [{**doc.__dict__, "contact": json.dumps(doc.contact, ensure_ascii=False) if doc.contact else None,
          "sha256": hashlib.sha256((sources_dir / doc.file).read_bytes()).hexdigest(),
          "lines": len(sources[doc.id])} for doc in docs], pk="id")
    db["source_lines"].insert_all(
        ({"doc": doc_id, "line": n, "raw": raw, "normalized": normalize_line(raw)}
         for doc_id, lines in sources.items() for n, raw in enumerate(lines, start=1)),
        pk=("doc", "line"), foreign_keys=[("doc", "documents")])

    passage_rows = []
    for doc_id, lines in sources.items():
        for p in passages.split_passages(doc_id, lines):
            passage_rows.append({
                "id": f"{doc_id}-{p.seq:04d}", "doc": doc_id, "seq": p.seq, "heading": p.heading,
                "path": p.path, "text": p.text, "normalized": p.normalized,
                "terms": analyzer.index_text(p.path + " " + p.normalized),
                "line_start": p.line_start, "line_end": p.line_end,
            })
    db["passages"].insert_all(passage_rows, pk="id", foreign_keys=[("doc", "documents")])
    db["passages"].enable_fts(["terms"], fts_version="FTS5", tokenize="unicode61")

    entity_by_name = {e.name: e for e in entities}
    db["entities"].insert_all(
        [{"name": e.name, "type": e.type, "doc": e.doc, "kana": e.kana,
          "aliases": json.dumps(e.aliases, ensure_ascii=False), "parent": e.parent, "ward": e.ward,
          "date": e.date, "kind": e.kind, "ended_by": e.ended_by} for e in entities], pk="name",
        columns={"kind": str, "ended_by": str})
    db["facts"].create({**{c: str for c in FACT_COLUMNS}, "line_start": int, "line_end": int,
                        "about": str, "keywords": str, "terms": str},
                       pk="id", foreign_keys=[("doc", "documents")])
    db["facts"].insert_all([{**_fact_row(f), "terms": _fact_terms(f, entity_by_name)} for f in facts])
    db["facts"].enable_fts(["terms"], fts_version="FTS5", tokenize="unicode61")

    db["organisation"].insert_all(_organisation_rows(entities, facts), pk="name")
    db["services"].insert_all(_service_rows(entities, facts))
    db["events"].insert_all(_event_rows(entities, facts), pk="name")
    db["committees"].insert_all(_committee_rows(entities, facts), pk="name")
    for table, attributes in TYPED_TABLES.items():
        db[table].insert_all(_typed_rows(facts, attributes), pk="id")
    db["patterns"].insert_all([f.__dict__ for f in found])
    db["lexicon"].insert_all(_lexicon_rows(entities))
    db["near_misses"].insert_all(_near_miss_rows(), pk="id")
    db["build_info"].insert({"built_at": time.strftime("%Y-%m-%dT%H:%M:%S"), "facts": len(facts),
                             "seconds": round(time.perf_counter() - started, 2)})
    for table in ("services", "organisation", "events", "committees", *TYPED_TABLES, "lexicon", "near_misses"):
        if not db[table].exists():
            db[table].create({"id": str})
    db.conn.commit()
    db.close()
    model = _train_answer_model(tmp, entities)
    db = sqlite_utils.Database(tmp)
    db["answer_model"].insert({"model": json.dumps(model.to_dict(), ensure_ascii=False)})
    db.conn.commit()
    db.close()
    os.replace(tmp, db_path)
    counts = {name: sqlite_utils.Database(db_path)[name].count for name in sqlite_utils.Database(db_path).table_names()
              if not name.startswith(("passages_fts", "facts_fts"))}
    if verbose:
        for name, count in counts.items():
            print(f"{name:14s} {count:6d}")
        print(f"built {db_path} in {time.perf_counter() - started:.1f} s")
    return counts
