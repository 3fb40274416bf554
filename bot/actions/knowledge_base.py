"""The one ``Answerer`` of this action-server process (loaded on first use).

The knowledge-base path comes from ``$KB_PATH`` (default
``knowledge/kb.sqlite``).  A missing or corrupt file raises
``KnowledgeBaseError`` naming the file and ``python -m knowledge build``.
"""
from __future__ import annotations

import os
import threading
from functools import lru_cache

from knowledge.answer import Answerer
from knowledge.build import DEFAULT_DB
from knowledge.kb import KnowledgeBase

_lock = threading.Lock()


@lru_cache(maxsize=1)
def _answerer(path: str) -> Answerer:
    return Answerer(KnowledgeBase(path))


def answerer() -> Answerer:
    """The shared ``Answerer`` over the knowledge base at ``$KB_PATH``."""
    with _lock:
        return _answerer(os.environ.get("KB_PATH", str(DEFAULT_DB)))
