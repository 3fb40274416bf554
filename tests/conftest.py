"""Shared fixtures: a knowledge base built once per session from the real sources."""
from __future__ import annotations

import datetime as dt
import os

import pytest

os.environ.setdefault("RASA_TELEMETRY_ENABLED", "false")

from knowledge.answer import Answerer  # noqa: E402
from knowledge.build import build  # noqa: E402
from knowledge.kb import KnowledgeBase  # noqa: E402

TODAY = dt.date(2026, 11, 21)


@pytest.fixture(scope="session")
def kb_path(tmp_path_factory):
    """Path of a knowledge base built from knowledge/sources and knowledge/facts."""
    path = tmp_path_factory.mktemp("kb") / "kb.sqlite"
    build(path, verbose=False)
    return path


@pytest.fixture(scope="session")
def kb(kb_path):
    return KnowledgeBase(kb_path)


@pytest.fixture(scope="session")
def answerer(kb):
    return Answerer(kb)


@pytest.fixture
def ask(answerer):
    """``ask(question, intent=None, topic=None)`` -> Answer, with today fixed."""

    def _ask(question, intent=None, topic=None, today=TODAY):
        return answerer.answer(question, intent, (), topic, today)

    return _ask
