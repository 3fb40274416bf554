"""Say a decision: the fact first, then its source; or an honest "not stated".

``Renderer(kb).render(decision)`` -> :class:`Answer`.

* **Answer**: a vocabulary inference is said first, as general knowledge
  (「婚姻届は戸籍の届出です（一般的な手続きの区分による案内です）。」); for a
  question whether an office handles a service that its duties do not list,
  that they do not (「資料では、出張所の主な取り扱い業務に戸籍は挙がっていません。」),
  and for an office asked for in a ward that has none, that it has none;
  then, for an
  event whose day is past, that it is over; then each fact's text with its
  plan / proposal / example note (``attributes.yml`` ``statuses``); a contact
  for application-like facts; then 「出典：『title』lines、as-of」 per source.
* **Not found**: what is missing (「住民票の費用・料金については、手元の資料に
  記載がありません。」) and a contact: a number the documents tie to the
  subject, else the section that handles it, else the ward office in general.
* **Clarify**: a short question back with quick replies.

Nothing is generated: every sentence is a curated fact's ``text`` (checked
against its quote at build time), a vocabulary reason, or a fixed phrase.
"""
from __future__ import annotations

import datetime as dt
from collections import Counter
from dataclasses import dataclass, field

from .attributes import attributes
from .dates import readable
from .decide import Decision
from .kb import FactRow, KnowledgeBase
from .understand import OFFICE

GENERAL_CONTACT = "お手続きの詳細は、お住まいの区役所の窓口にお問い合わせください。"
INFERENCE_NOTE = "（一般的な手続きの区分による案内です）"
DUTY_ATTRIBUTES = ("duties", "handled_by")
EVENT_OVERVIEW = ("overview", "purpose", "date", "time", "venue", "eligibility", "capacity", "application_period",
                  "deadline")
DEFAULT_SUGGESTIONS = ("住民票はどこで取れますか", "区役所は土曜日も開いていますか", "ワークショップについて教えて")
FOLLOW_UPS = (("venue", "場所は？", "{}の場所は？"), ("date", "日時は？", "{}の日時は？"),
              ("deadline", "締め切りは？", "{}の締め切りは？"), ("how_to_apply", "申込方法は？", "{}の申込方法は？"),
              ("duties", "担当業務は？", "{}の担当業務は？"),
              ("handled_by", "どこの課の担当？", "{}はどこの課の担当？"),
              ("phone", "問い合わせ先は？", "{}の問い合わせ先は？"), ("definition", "どういうもの？", "{}とは何ですか"),
              ("history", "これまでの経緯は？", "{}の経緯は？"))


@dataclass
class Answer:
    """What the bot says: ``status`` answered | not_found | clarify;
    ``text`` the reply (Japanese); ``sources`` list of ``{"doc", "lines":
    [first, last], "as_of", "status"}``; ``buttons`` quick replies
    ``{"title", "payload"}``; ``topic`` the entity the conversation is now
    about (or None); ``facts`` the ids of the facts said."""

    status: str
    text: str
    sources: list[dict] = field(default_factory=list)
    buttons: list[dict] = field(default_factory=list)
    topic: str | None = None
    facts: list[str] = field(default_factory=list)


def date_ja(iso: str | None) -> str:
    """``"2025-08-05"`` -> ``"2025年8月5日"``; "" for None."""
    if not iso:
        return ""
    d = dt.date.fromisoformat(iso)
    return f"{d.year}年{d.month}月{d.day}日"


def source_of(fact: FactRow) -> dict:
    """The source of ``fact`` as replies carry it: ``{"doc", "lines":
    [first, last], "as_of", "status"}``."""
    return {"doc": fact.doc, "lines": [fact.line_start, fact.line_end], "as_of": fact.as_of, "status": fact.status}


def inference_notes(inferences: list) -> list[str]:
    """The sentences saying the vocabulary inferences (``Named`` with a
    ``reason``) as general knowledge, each once (one citizen's word may
    stand for two duty terms)."""
    return list(dict.fromkeys(n.reason.rstrip("。") + INFERENCE_NOTE + "。" for n in inferences if n.reason))


class Renderer:
    """Turns a :class:`~knowledge.decide.Decision` into an :class:`Answer`."""

    def __init__(self, kb: KnowledgeBase):
        self.kb = kb
        self.table = attributes()
        self.by_entity = kb.by_entity

    def render(self, decision: Decision) -> Answer:
        """The reply for ``decision``."""
        if decision.kind == "clarify":
            return self.clarify()
        if decision.kind == "not_found":
            return self.not_found(decision)
        return self.answer(decision)

    # -- answered --------------------------------------------------------------
    def topic_of(self, decision: Decision) -> str | None:
        """The topic the conversation is about after this answer: for a
        question whether an office handles a service, the service (the
        citizen is after 戸籍 and asks only where: 「じゃあどこに出せば？」
        follows it); else the first named subject the facts are about, else
        the first fact's subject."""
        query = decision.query
        if decision.office is not None and decision.office.services:
            return decision.office.services[0]
        for name in query.subject_names:
            if any(f.subject == name or name in f.about for f in decision.facts):
                return name
        if query.subjects:
            return query.subjects[0].name
        if query.office:
            return OFFICE
        return decision.facts[0].subject if decision.facts else None

    def answer(self, decision: Decision) -> Answer:
        """Facts first (with inference and "over" notes), contact, sources."""
        query, facts = decision.query, decision.facts
        topic = self.topic_of(decision)
        if query.intent == "ask_overview" and not query.cues and not query.content:
            facts = self.event_overview(facts, query.subject_names) or self.definition_first(facts, query)
        parts = []
        if query.assumed and any(f.subject == query.assumed or query.assumed in f.about for f in facts):
            parts.append(f"（{query.assumed}についてのご質問としてお答えします）")
            topic = query.assumed
        parts += inference_notes([n for n in query.inferences
                                  if any(f.subject == n.name or n.name in f.about for f in facts)])
        if decision.office and decision.office.kind == "not_listed":
            parts.append(f"資料では、{decision.office.unit}の主な取り扱い業務に{'・'.join(decision.office.services)}"
                         "は挙がっていません。")
        elif decision.office and decision.office.kind == "absent":
            parts.append(f"資料では、{decision.office.ward}の{decision.office.office}は挙がっていません。")
        for name in dict.fromkeys(f.subject for f in facts):
            event = self.kb.entities.get(name)
            if event and event.type == "event" and event.date and event.date < query.today.isoformat():
                parts.append(f"{event.name}は{date_ja(event.date)}に開催され、すでに終了しています。")
        sources, seen = [], set()
        for fact in facts:
            parts.append(readable(fact.text) + self.status_note(fact))
            key = (fact.doc, fact.line_start, fact.line_end)
            if key not in seen:
                seen.add(key)
                sources.append(source_of(fact))
        if any(f.attribute in ("how_to_apply", "required_info", "eligibility") for f in facts) and topic:
            contact = self.contact_for([topic])
            if contact and contact not in "".join(parts):
                parts.append(contact)
        parts += [self.cite(s) for s in sources[:3]]
        return Answer("answered", "\n".join(p for p in parts if p), sources, self.suggestions(topic), topic=topic,
                      facts=[f.id for f in facts])

    def event_overview(self, facts: list[FactRow], names: list[str]) -> list[FactRow]:
        """For an overview of an event: its facts in ``EVENT_OVERVIEW`` order
        (one per attribute); [] when no named subject is an event."""
        events = [n for n in names if (e := self.kb.entities.get(n)) and e.type == "event"]
        if not events:
            return []
        own = [f for f in self.by_entity.get(events[0], []) if f.subject == events[0]]
        first = {}
        for fact in own:
            first.setdefault(fact.attribute, fact)
        chosen = [first[a] for a in EVENT_OVERVIEW if a in first]
        return chosen[:7]

    def definition_first(self, facts: list[FactRow], query) -> list[FactRow]:
        """For "what is X": X's own definition first, when the documents give
        one (an overview starts with what the thing is)."""
        for name in query.subject_names:
            own = [f for f in self.by_entity.get(name, []) if f.subject == name and f.attribute == "definition"]
            if own:
                return [own[0]] + [f for f in facts if f.id != own[0].id][:3]
        return facts

    def status_note(self, fact: FactRow) -> str:
        """The plan / proposal / example note for ``fact``, unless its text
        already says so."""
        status = self.table.statuses.get(fact.status)
        if not status or any(marker in fact.text for marker in status.markers):
            return ""
        return status.note

    def cite(self, source: dict) -> str:
        """「出典：…」 line for one source dict."""
        doc = self.kb.documents[source["doc"]]
        first, last = source["lines"]
        lines = f"{first}行目" if first == last else f"{first}〜{last}行目"
        as_of = f"、{date_ja(source['as_of'])}時点" if source.get("as_of") else ""
        return f"出典：『{doc['title']}』{lines}{as_of}"

    def previous_sources(self, sources: list[dict], topic: str | None = None) -> Answer:
        """The reply to 「いまの話、何の資料に載ってるの」: the sources of the
        previous answer (``sources`` as ``Answer.sources``), one 「出典：…」
        line each; ``topic`` stays the conversation's topic."""
        known = [s for s in sources if s.get("doc") in self.kb.documents and s.get("lines")]
        lines = [self.cite(s) for s in known]
        text = "\n".join(["先ほどの回答は、次の資料に基づいています。", *dict.fromkeys(lines)])
        return Answer("answered", text, known, self.suggestions(topic), topic)

    # -- not found ---------------------------------------------------------------
    def not_found(self, decision: Decision) -> Answer:
        """"The documents do not say", what is missing, what they do say
        near it (``Decision.related``, with its source), and a contact."""
        query = decision.query
        # what is missing is named only when the question's own words ask something (a cue word, or an asking
        # word: いつ, どこ, 何人 …): the NLU's intent alone is a guess, and for 「自転車が撤去されたみたいです」
        # 「放置自転車の人数については」 would tell the citizen they asked something they did not
        asks = bool(query.cues or query.hinted)
        label = next((self.table.label(a) for a in decision.missing if a in self.table.labels), None) if asks else None
        about = "・".join(decision.about)
        parts = []
        parts += inference_notes(query.inferences)
        if decision.partial:
            parts.append("申し訳ありません。お尋ねの件は、手元の資料に記載がありません。")
        elif decision.unknown:
            parts.append(f"申し訳ありません。お尋ねの{about}については、手元の資料に記載がありません。")
        elif about and label:
            parts.append(f"申し訳ありません。{about}の{label}については、手元の資料に記載がありません。")
        elif about:
            parts.append(f"申し訳ありません。お尋ねの{about}についての内容は、手元の資料に記載がありません。")
        elif query.office and label:
            parts.append(f"申し訳ありません。区役所の{label}については、手元の資料に記載がありません。")
        else:
            parts.append("申し訳ありません。お尋ねの内容は、手元の資料（区役所に関する川崎市の資料）に記載がありません。")
        sources = []
        if decision.related:
            parts.append("なお、資料には区役所の窓口について次の記載があります。")
            parts += [readable(f.text) + self.status_note(f) for f in decision.related]
            sources = [source_of(f) for f in decision.related]
        parts.append(self.contact_for(decision.about) or GENERAL_CONTACT)
        parts += [self.cite(s) for s in sources]
        topic = query.subject_names[0] if query.subjects else (OFFICE if query.office else None)
        return Answer("not_found", "\n".join(parts), sources, self.suggestions(topic), topic=topic,
                      facts=[f.id for f in decision.related])

    def contact_for(self, names: list[str]) -> str | None:
        """A contact sentence for entities ``names``: a phone number the
        documents give for the entity (never a press-only number), else the
        section that handles it (with its number when one is given), else,
        for a document or plan, its issuer's contact; None when the documents
        tie no contact to any of them."""
        for name in names:
            facts = self.by_entity.get(name, [])
            phones = [f for f in facts if f.attribute == "phone" and "報道" not in (f.role or "")]
            if phones:
                return f"お問い合わせ先：{phones[0].subject}（電話{phones[0].value}）"
            section = self.section_for(name)
            if section:
                phone = [f for f in self.by_entity.get(section, []) if f.attribute == "phone" and f.subject == section]
                number = f"（電話{phone[0].value}）" if phone else ""
                return (f"{name}は{section}の担当です（資料の組織図による）。"
                        f"詳しくは{section}{number}にお問い合わせください。")
            contact = self.document_contact(name)
            if contact:
                return contact
        return None

    def section_for(self, name: str) -> str | None:
        """The section (org unit) whose duties the documents say include
        ``name``, or the one its ``handled_by`` fact names; None if none."""
        if self._is_section(name):
            return None
        for fact in self.by_entity.get(name, []):
            if fact.attribute == "handled_by" and fact.subject == name and self._is_section(fact.value):
                return fact.value
        for fact in self.by_entity.get(name, []):
            if fact.attribute in DUTY_ATTRIBUTES and fact.subject != name and self._is_section(fact.subject):
                return fact.subject
        return None

    def document_contact(self, name: str) -> str | None:
        """The manifest contact of the document titled ``name`` (a document or
        plan entity whose name is in a title), or None."""
        ent = self.kb.entities.get(name)
        if not ent or ent.type not in ("document", "plan") or len(name) < 4:
            return None
        for doc in self.kb.documents.values():
            if name in doc["title"] and doc.get("contact"):
                return f"お問い合わせ先：{doc['contact']['section']}（電話{doc['contact']['phone']}）"
        return None

    def _is_section(self, name: str) -> bool:
        ent = self.kb.entities.get(name)
        return bool(ent) and ent.type in ("section", "office")

    # -- clarify and quick replies -------------------------------------------------------
    def clarify(self) -> Answer:
        """A short question back, with quick replies."""
        return Answer("clarify", "何についてのご質問でしょうか。知りたいこと（窓口、手続き、催しの日時・会場など）を"
                                 "もう少し詳しく教えてください。", [], self.suggestions(None))

    def suggestions(self, topic: str | None, limit: int = 3) -> list[dict]:
        """Quick replies: follow-up questions about ``topic`` that the
        knowledge base can answer (by the attributes it has).  The short
        ``title`` is shown; the ``payload`` names the topic, so it is
        understood even without the conversation's context."""
        if not topic or topic == OFFICE:
            return [{"title": t, "payload": t} for t in DEFAULT_SUGGESTIONS][:limit]
        have = {f.attribute for f in self.by_entity.get(topic, []) if f.subject == topic or f.attribute != "duties"}
        return [{"title": title, "payload": payload.format(topic)}
                for attribute, title, payload in FOLLOW_UPS if attribute in have][:limit]


def most_common_doc(facts: list[FactRow]) -> str | None:
    """The document most of ``facts`` come from, or None."""
    counts = Counter(f.doc for f in facts)
    return counts.most_common(1)[0][0] if counts else None
