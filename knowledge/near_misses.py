"""Near misses: the labelled questions the documents cannot answer, as a
retrieval index.

A question close to one the documents were found not to answer (a fee the
documents never state, whether a plan came about, a service beside a known
one) is likely another near miss, however close a fact looks.
``NearMisses(questions).similarity(text)`` gives that closeness, 0..1: the
idf-weighted Jaccard similarity of the question's content terms
(``analyzer.terms``: Sudachi normalized forms and readings) to those of the
nearest indexed question.  The answerability classifier weighs it
(``decide.DECISION_FEATURES``: ``near_miss``).

Only the "train" split of ``knowledge/answerability/`` is indexed (the
build stores it in the ``near_misses`` table), so the held-out figures stay
figures on unseen questions.  A question identical to an indexed one never
sees it: while training, a question must not find its own label, and a
citizen who types one gets the same feature as the training did.
"""
from __future__ import annotations

import math

from . import analyzer
from .entities import fold
from .normalize import normalize_query


class NearMisses:
    """An index of near-miss questions (``questions``: raw texts); see the
    module docstring.  Build time is linear in the questions' terms (~0.2 s
    for 441 questions, mostly Sudachi); a lookup costs one Sudachi analysis
    of the question and one set intersection per indexed question (~0.4 ms)."""

    def __init__(self, questions: list[str]):
        self.rows: list[tuple[str, frozenset[str]]] = []
        for question in questions:
            text = normalize_query(question)
            terms = frozenset(analyzer.terms(text, content_only=True))
            if terms:
                self.rows.append((fold(text), terms))
        self.idf = analyzer.idf(terms for _, terms in self.rows)
        # a term no indexed question uses weighs as a term used once would
        self.unseen_idf = math.log(1 + max(len(self.rows), 1))

    def weight(self, terms) -> float:
        """Summed idf of ``terms`` (a term no indexed question holds counts as the rarest)."""
        return sum(self.idf.get(t, self.unseen_idf) for t in terms)

    def similarity(self, text: str) -> float:
        """Idf-weighted Jaccard similarity (0..1) of ``text`` to the nearest
        indexed question other than ``text`` itself; 0.0 when none shares
        a content term (or ``text`` has none).  ``text`` is normalized as
        the index is (``normalize.normalize_query``)."""
        text = normalize_query(text)
        terms = frozenset(analyzer.terms(text, content_only=True))
        if not terms:
            return 0.0
        folded = fold(text)
        best = 0.0
        for same, other in self.rows:
            if same == folded:
                continue
            shared = terms & other
            if shared:
                best = max(best, self.weight(shared) / self.weight(terms | other))
        return best
