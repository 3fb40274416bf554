"""Okapi BM25 over the facts' analyzer terms, in memory.

``BM25Index({id: terms}).search(query_terms, limit)`` -> ``[(id, score)]``
best first; ``scores(query_terms, ids)`` -> ``{id: score}`` for given ids.
Scores use the same formula and parameters as SQLite FTS5's ``bm25()``
(k1 = 1.2, b = 0.75, idf = ln((N - n + 0.5) / (n + 0.5)) floored at a small
positive value), over the same terms the ``facts_fts`` index holds
(``analyzer.terms``: normalized forms and readings, each once per fact), so
rankings agree with FTS5's; in memory, a question's candidates cost a few
dictionary look-ups instead of an SQL round trip per feature.
"""
from __future__ import annotations

import heapq
import math
from collections import defaultdict

K1 = 1.2
B = 0.75
MIN_IDF = 1e-6  # FTS5 floors the idf of a term in more than half the documents at a tiny positive value


class BM25Index:
    """An inverted index ``term -> ids`` with BM25 scoring (see module docstring).

    ``documents``: id -> iterable of terms (each counted once, as the FTS
    index stores them).  Build time and memory are linear in the total
    number of terms (~0.1 s and a few MiB for 10,000 facts).
    """

    def __init__(self, documents: dict[str, object]):
        self.postings: dict[str, list[str]] = defaultdict(list)
        self.length: dict[str, int] = {}
        for doc_id, terms in documents.items():
            unique = set(terms)
            self.length[doc_id] = len(unique)
            for term in unique:
                self.postings[term].append(doc_id)
        n = max(len(self.length), 1)
        self.average = (sum(self.length.values()) / n) or 1.0
        # BM25's term-frequency part for a term present once, per document (it depends on the length only)
        self.weight = {d: (K1 + 1) / (1 + K1 * (1 - B + B * length / self.average))
                       for d, length in self.length.items()}
        self.max_weight = max(self.weight.values(), default=0.0)
        self.posting_sets = {t: set(ids) for t, ids in self.postings.items()}
        self.idf = {t: max(math.log((n - len(ids) + 0.5) / (len(ids) + 0.5)), MIN_IDF)
                    for t, ids in self.postings.items()}

    def search(self, terms: list[str], limit: int = 40) -> list[tuple[str, float]]:
        """Ids matching any of ``terms``, best ``limit`` first, with their
        BM25 score (> 0); ties by id.

        Terms are read rarest first, with MaxScore pruning (Turtle and
        Flood, 1995): once the ``limit``-th best score so far is above what
        all the remaining terms together could add, a document none of the
        terms read so far matched cannot enter the result, so the remaining
        (common, long) postings only update the documents already found.
        """
        weight = self.weight
        ordered = sorted((t for t in dict.fromkeys(terms) if t in self.idf), key=lambda t: -self.idf[t])
        bounds = [self.idf[t] * self.max_weight for t in ordered]
        remaining = sum(bounds)
        totals: dict[str, float] = defaultdict(float)
        for term, bound in zip(ordered, bounds, strict=True):
            idf = self.idf[term]
            postings = self.postings[term]
            if len(totals) >= limit and heapq.nlargest(limit, totals.values())[-1] > remaining:
                found = self.posting_sets[term]
                for doc_id in totals:
                    if doc_id in found:
                        totals[doc_id] += idf * weight[doc_id]
            else:
                for doc_id in postings:
                    totals[doc_id] += idf * weight[doc_id]
            remaining -= bound
        return heapq.nsmallest(limit, totals.items(), key=lambda kv: (-kv[1], kv[0]))

    def scores(self, terms: list[str], ids) -> dict[str, float]:
        """BM25 score of each id in ``ids`` that matches any of ``terms``."""
        wanted = set(ids)
        totals: dict[str, float] = {}
        for term in dict.fromkeys(terms):
            idf = self.idf.get(term)
            if idf is None:
                continue
            hits = wanted & self.posting_sets[term]
            for doc_id in hits:
                totals[doc_id] = totals.get(doc_id, 0.0) + idf * self.weight[doc_id]
        return totals
