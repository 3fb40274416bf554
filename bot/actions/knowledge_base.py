"""The one ``Answerer`` of this action-server process, loaded at import.

The knowledge-base path comes from ``$KB_PATH`` (default
``knowledge/kb.sqlite``).  It is loaded when this module is imported, i.e.
when ``rasa run actions --actions bot.actions`` starts, so a missing or
corrupt file stops the action server at once with ``KnowledgeBaseError``
naming the file and the rebuild command (``python -m knowledge build``)
instead of failing on the first question.  ``answerer()`` returns the cached
instance (a different ``$KB_PATH`` later, as in tests, loads that one).

Importing it also installs the personal-data log filter
(``bot.privacy.install_log_filter``) in the action server.
"""
from __future__ import annotations

import logging
import os
import threading
from functools import lru_cache

from bot.privacy import install_log_filter
from knowledge.answer import Answerer
from knowledge.build import DEFAULT_DB
from knowledge.kb import REBUILD, KnowledgeBase, KnowledgeBaseError

logger = logging.getLogger(__name__)
_lock = threading.Lock()


@lru_cache(maxsize=1)
def _answerer(path: str) -> Answerer:
    try:
        return Answerer(KnowledgeBase(path))
    except KnowledgeBaseError:
        raise
    except Exception as exc:  # e.g. a file from an older schema that opens but lacks a table
        raise KnowledgeBaseError(f"knowledge base {path} cannot be used: {exc} (rebuild it with `{REBUILD}`)") from exc


def answerer() -> Answerer:
    """The shared ``Answerer`` over the knowledge base at ``$KB_PATH``."""
    with _lock:
        return _answerer(os.environ.get("KB_PATH", str(DEFAULT_DB)))


install_log_filter()
try:
    answerer()
except KnowledgeBaseError as error:
    logger.critical("The action server cannot start: %s", error)
    raise
