"""Read-only access to a built knowledge base.

``KnowledgeBase(path)`` opens the SQLite file read-only, loads the small
tables (documents, entities, lexicon, facts) into memory once, and offers the
FTS5 searches.  Raises ``KnowledgeBaseError`` naming the file and the command
that rebuilds it when the file is missing or not a knowledge base.
"""
from __future__ import annotations

import json
import sqlite3
import threading
from dataclasses import dataclass, field
from pathlib import Path

from . import analyzer
from .build import DEFAULT_DB

REBUILD = "python -m knowledge build"


class KnowledgeBaseError(RuntimeError):
    """The knowledge-base file is missing, corrupt or from an older schema."""


@dataclass
class FactRow:
    """A fact as stored (see ``knowledge/facts/README.md``); ``lines`` is
    ``(first, last)``; ``about`` and ``keywords`` are lists of str."""

    id: str
    doc: str
    subject: str
    attribute: str
    value: str
    text: str
    quote: str
    line_start: int
    line_end: int
    status: str
    as_of: str | None
    role: str | None
    about: list[str]
    keywords: list[str]
    terms: set[str] = field(default_factory=set, repr=False)


@dataclass
class EntityRow:
    """An entity: canonical ``name``, ``type``, declaring ``doc``, variants."""

    name: str
    type: str
    doc: str
    kana: str | None
    aliases: list[str]
    parent: str | None
    ward: str | None
    date: str | None
    kind: str | None = None
    ended_by: str | None = None


class KnowledgeBase:
    """The knowledge base at ``path`` (default ``knowledge/kb.sqlite``).

    Loads ``documents``, ``entities`` (name -> ``EntityRow``), ``facts``
    (id -> ``FactRow``) and ``by_entity`` (entity name -> the facts whose
    subject or ``about`` it is, in file order) once.  Thread-safe for
    reads: each thread gets its own read-only connection.
    """

    def __init__(self, path: Path | str = DEFAULT_DB):
        self.path = Path(path)
        if not self.path.is_file():
            raise KnowledgeBaseError(f"knowledge base not found: {self.path} (build it with `{REBUILD}`)")
        self._local = threading.local()
        try:
            conn = self._conn()
            self.documents = {r["id"]: dict(r) for r in conn.execute("select * from documents")}
            for doc in self.documents.values():
                doc["contact"] = json.loads(doc["contact"]) if doc.get("contact") else None
            self.entities = {
                r["name"]: EntityRow(r["name"], r["type"], r["doc"], r["kana"], json.loads(r["aliases"] or "[]"),
                                     r["parent"], r["ward"], r["date"], r["kind"],
                                     r["ended_by"])
                for r in conn.execute("select * from entities")
            }
            self.lexicon = [dict(r) for r in conn.execute("select * from lexicon")]
            self.facts = {}
            for r in conn.execute("select * from facts"):
                row = dict(r)
                self.facts[row["id"]] = FactRow(
                    **{k: row[k] for k in ("id", "doc", "subject", "attribute", "value", "text", "quote",
                                           "line_start", "line_end", "status", "as_of", "role")},
                    about=json.loads(row["about"] or "[]"), keywords=json.loads(row["keywords"] or "[]"),
                    terms=set((row["terms"] or "").split()),
                )
            # entity name -> the facts whose subject or ``about`` it is, in file order
            self.by_entity: dict[str, list[FactRow]] = {}
            for fact in self.facts.values():
                for name in dict.fromkeys([fact.subject, *fact.about]):
                    self.by_entity.setdefault(name, []).append(fact)
            self.passage_count = conn.execute("select count(*) from passages").fetchone()[0]
            tables = {r[0] for r in conn.execute("select name from sqlite_master where type = 'table'")}
            # labelled questions the documents cannot answer (training split; see knowledge.near_misses)
            self.near_misses = ([r[0] for r in conn.execute("select question from near_misses order by id")]
                                if "near_misses" in tables else [])
            self._model = None
            if "answer_model" in tables:
                row = conn.execute("select model from answer_model").fetchone()
                self._model = json.loads(row[0]) if row else None
        except sqlite3.DatabaseError as exc:
            raise KnowledgeBaseError(f"knowledge base {self.path} is unreadable or corrupt: {exc} "
                                     f"(rebuild it with `{REBUILD}`)") from exc

    def answer_model(self):
        """The answer model trained at build time (``decide.Model``), or None
        for a knowledge base built without one."""
        if self._model is None:
            return None
        from .decide import Model

        return Model.from_dict(self._model)

    def _conn(self) -> sqlite3.Connection:
        conn = getattr(self._local, "conn", None)
        if conn is None:
            conn = sqlite3.connect(f"file:{self.path}?mode=ro", uri=True, check_same_thread=False)
            conn.row_factory = sqlite3.Row
            self._local.conn = conn
        return conn

    def search_facts(self, text: str, limit: int = 20) -> list[tuple[FactRow, float]]:
        """Facts whose terms match ``text``, best first, with a positive
        relevance score (negated FTS5 bm25)."""
        query = analyzer.fts_query(text)
        if not query:
            return []
        rows = self._conn().execute(
            "select facts.id, bm25(facts_fts) as rank from facts_fts join facts on facts.rowid = facts_fts.rowid "
            "where facts_fts match ? order by rank limit ?", (query, limit)).fetchall()
        return [(self.facts[r["id"]], -r["rank"]) for r in rows]

    def search_fact_terms(self, terms: list[str], limit: int = 40) -> list[tuple[FactRow, float]]:
        """Facts matching any of ``terms`` (analyzer terms, e.g. a
        ``Query.terms``), best first, with a positive BM25 relevance
        (negated FTS5 ``bm25()``; k1 1.2, b 0.75).  ``[]`` for no terms."""
        query = analyzer.fts_terms_query(terms)
        if not query:
            return []
        rows = self._conn().execute(
            "select facts.id, bm25(facts_fts) as rank from facts_fts join facts on facts.rowid = facts_fts.rowid "
            "where facts_fts match ? order by rank limit ?", (query, limit)).fetchall()
        return [(self.facts[r["id"]], -r["rank"]) for r in rows]

    def search_passages(self, text: str, limit: int = 5) -> list[tuple[dict, float]]:
        """Passages matching ``text``: ``(row, score)`` with row keys id, doc,
        heading, path, text, normalized, line_start, line_end, terms."""
        query = analyzer.fts_query(text)
        if not query:
            return []
        rows = self._conn().execute(
            "select passages.*, bm25(passages_fts) as rank from passages_fts join passages "
            "on passages.rowid = passages_fts.rowid where passages_fts match ? order by rank limit ?",
            (query, limit)).fetchall()
        return [(dict(r), -r["rank"]) for r in rows]

    def passage_terms(self) -> set[str]:
        """Every term indexed for any passage (the documents' vocabulary)."""
        return {t for (terms,) in self._conn().execute("select terms from passages") for t in (terms or "").split()}

    def source_lines(self, doc: str, first: int, last: int) -> list[tuple[int, str]]:
        """Raw source lines ``first..last`` of ``doc`` as ``(line, text)``."""
        rows = self._conn().execute(
            "select line, raw from source_lines where doc = ? and line between ? and ? order by line",
            (doc, first, last)).fetchall()
        return [(r["line"], r["raw"]) for r in rows]
