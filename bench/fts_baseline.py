"""Baseline 2: full-text retrieval alone, no NLU and no answer logic.

The question goes to the knowledge base's FTS5 passage search
(``KnowledgeBase.search_passages``, the same Sudachi terms and BM25 ranking
the bot's fallback uses); the best passage, its heading path followed by its
text, is the answer.  When no passage matches, the reply is ``not_found``.
There is no conversation memory: each turn is looked up on its own.
"""
from __future__ import annotations

from knowledge.kb import KnowledgeBase


class FtsBaseline:
    """``reply(conversation, question) -> (text, status)`` from the best passage
    of ``kb``; status is ``"answered"`` when a passage matched, else
    ``"not_found"`` with empty text.  ``conversation`` is ignored."""

    NOT_FOUND = ("", "not_found")

    def __init__(self, kb: KnowledgeBase):
        self.kb = kb

    def reply(self, conversation: str, question: str) -> tuple[str, str]:
        hits = self.kb.search_passages(question, limit=1)
        if not hits:
            return self.NOT_FOUND
        row, _score = hits[0]
        text = row.get("text") or ""
        if not text.strip():
            return self.NOT_FOUND
        path = row.get("path") or ""
        return (f"{path}\n{text}" if path else text), "answered"

    __call__ = reply
