"""Answer a question from the knowledge base: understand → retrieve → decide → render.

``Answerer(kb).answer(question, intent=None, entities=(), topic=None,
today=None, previous_intent=None)`` -> ``render.Answer``.

* ``understand`` (:mod:`knowledge.understand`): names, vocabulary
  inferences, cue words, topic carry-over for ellipsis only;
* ``retrieve`` (:mod:`knowledge.retrieve`): candidate facts from the entity
  index and BM25 (FTS5), with their features;
* ``decide`` (:mod:`knowledge.decide`): the trained ranker and answerability
  classifier; answer / not found / clarify;
* ``render`` (:mod:`knowledge.render`): the reply, its sources and contact.

Nothing is generated: see :mod:`knowledge.render`.
"""
from __future__ import annotations

import datetime as dt

from .decide import Decider, Decision, Model
from .entities import EntityMatch, fold
from .kb import REBUILD, KnowledgeBase, KnowledgeBaseError
from .normalize import normalize_query
from .offices import OfficeDuties
from .render import Answer, Renderer
from .retrieve import Retriever
from .understand import Understander, token_boundaries
from .vocabulary import Vocabulary, vocabulary

__all__ = ["Answer", "Answerer"]


class Answerer:
    """Answers questions over one ``KnowledgeBase``.

    ``model``: the trained :class:`~knowledge.decide.Model` (default: the one
    stored in the knowledge base at build time); ``vocab``: the citizen
    vocabulary (default ``knowledge/vocabulary.yml``).  Raises
    ``KnowledgeBaseError`` when the knowledge base holds no model.
    """

    def __init__(self, kb: KnowledgeBase, model: Model | None = None, vocab: Vocabulary | None = None):
        self.kb = kb
        model = model or kb.answer_model()
        if model is None:
            raise KnowledgeBaseError(f"knowledge base {kb.path} has no answer model (rebuild it with `{REBUILD}`)")
        self.understander = Understander(kb, vocab or vocabulary())
        self.retriever = Retriever(kb)
        self.decider = Decider(model, OfficeDuties(kb))
        self.renderer = Renderer(kb)

    def decision(self, question: str, intent: str | None = None, entities: tuple[str, ...] = (),
                 topic: str | None = None, today: dt.date | None = None, previous_intent: str | None = None,
                 intent_ranking: list[tuple[str, float]] | None = None) -> Decision:
        """The :class:`~knowledge.decide.Decision` for ``question`` (see ``answer``)."""
        query = self.understander.understand(question, intent, tuple(entities), topic, today, previous_intent,
                                             intent_ranking)
        return self.decider.decide(query, self.retriever.candidates(query))

    def answer(self, question: str, intent: str | None = None, entities: tuple[str, ...] = (),
               topic: str | None = None, today: dt.date | None = None, previous_intent: str | None = None,
               intent_ranking: list[tuple[str, float]] | None = None) -> Answer:
        """Answer ``question`` (raw user text).  ``intent``: the NLU intent
        (``ask_*``) or None; ``entities``: NLU entity values; ``topic``: the
        conversation's topic (an entity name) or None; ``today``: for "is
        this event over" (default: the real date); ``previous_intent``: the
        intent of the turn before, for 「じゃあXは？」; ``intent_ranking``: the
        NLU's ``(intent, confidence)`` pairs, which weigh what is asked."""
        return self.renderer.render(self.decision(question, intent, entities, topic, today, previous_intent,
                                                  intent_ranking))

    # -- helpers the actions use -----------------------------------------------------
    def entities(self, question: str, nlu_values: tuple[str, ...] = ()) -> list[EntityMatch]:
        """Entities named in ``question`` plus resolved NLU entity values."""
        return self.understander.entities(question, tuple(nlu_values))

    def asks_about_something(self, question: str, nlu_values: tuple[str, ...] = ()) -> bool:
        """Whether ``question`` is about something the knowledge base knows:
        it names an entity, 区役所 or a citizen's word for a duty, has a cue
        word, or uses a content word the documents use (高齢者の保険証); small
        talk (ありがとう, ロボットなの？) does none of these."""
        query = self.understander.understand(question, None, tuple(nlu_values))
        known = self.understander.known_terms
        return bool(query.subjects or query.office or query.partial or query.cues
                    or any(fold(norm) in known for norm, _ in query.content))

    def asks_for_source(self, question: str) -> bool:
        """Whether ``question`` asks where the previous answer comes from
        (「いまの話、何の資料に載ってるの」「出典は？」) and names nothing of
        its own to ask about."""
        text = normalize_query(question)
        if not self.understander.table.has("source", fold(text), token_boundaries(text)):
            return False  # most turns: no second reading of the question
        query = self.understander.understand(question)
        return not (query.subjects or query.office or query.partial or query.unknown or query.cues)

    def previous_sources(self, sources: list[dict], topic: str | None = None) -> Answer:
        """The reply naming the sources of the previous answer (see
        ``Renderer.previous_sources``); with no ``sources`` (nothing answered
        yet) a clarifying question, never facts picked by the words 資料 or
        書いてある."""
        if not sources:
            return self.renderer.clarify()
        return self.renderer.previous_sources(sources, topic)

    def cue_attributes(self, question: str) -> tuple[str, ...]:
        """Attributes named by cue words in ``question``."""
        text = normalize_query(question)
        return self.understander.table.cue_attributes(fold(text), (), token_boundaries(text))

    def suggestions(self, topic: str | None, limit: int = 3) -> list[dict]:
        """Quick replies for ``topic`` (see ``Renderer.suggestions``)."""
        return self.renderer.suggestions(topic, limit)
