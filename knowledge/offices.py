"""Whether an office handles a service: the org chart's relation, read from the facts.

A citizen asks 「橘出張所で婚姻届を出せますか」: an office (橘出張所, one of the
出張所: its entity ``kind``) and a service (戸籍, through the vocabulary).  The
org chart (001, 参考資料1, as of 2015-04-01) gives each kind of office its
duties (``duties`` facts about 出張所, 支所・区民センター …) and each service
the units that handle it (``handled_by`` facts, whose ``about`` names them).
``OfficeDuties(kb).capability(query)`` reads that relation:

* the office **handles** the service when a ``handled_by`` fact of the service
  names the office or its kind in ``about`` (戸籍 -> 支所・区民センター), or
  the office's ``duties`` fact names the service: the answer is that fact
  and the office's duties;
* otherwise it **does not list** it: the answer is what the documents say
  about the office and the service together (出張所の届出窓口は区役所へ集約),
  where the service is handled, and the office's duties.

An office that no longer exists (its entity's ``ended_by``: 柿生連絡所),
asked about a service or about nothing else, is answered with the fact that
says so, then where the service is handled.

Nothing is decided here when the question names no single office other
than 区役所, no service, asks for something else than where or whether
(a cue such as 時間 or 手数料), or when the documents give the office no
duties (行政サービスコーナー, the 連絡所): the answerability classifier
decides those.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from .kb import FactRow, KnowledgeBase
from .understand import OFFICE, Query

# what a question about doing something at an office may be read as (its NLU intents and asking words)
CAPABILITY_INTENTS = frozenset({"ask_counter", "ask_procedure", "ask_eligibility", "ask_venue"})


@dataclass(frozen=True)
class Capability:
    """Whether ``office`` handles ``services``: ``handles`` True when the
    org chart lists one of them for it; ``facts`` what to say, best first;
    ``unit`` the general office whose duties the documents give (出張所 for
    橘出張所); ``ended`` the office no longer exists (its entity's
    ``ended_by``), which the first fact says."""

    office: str
    unit: str
    services: tuple[str, ...]
    handles: bool
    facts: list[FactRow] = field(default_factory=list)
    ended: bool = False


class OfficeDuties:
    """The office -> duties and service -> units relations of one
    ``KnowledgeBase``, indexed once (a few ms for 1,000 facts)."""

    def __init__(self, kb: KnowledgeBase):
        self.kb = kb
        self.duties: dict[str, FactRow] = {}  # office -> its duties fact
        self.handled_by: dict[str, list[FactRow]] = {}  # service -> its handled_by facts, in file order
        self.about: dict[str, list[FactRow]] = {}  # entity -> facts whose subject or about it is
        for fact in kb.facts.values():
            entity = kb.entities.get(fact.subject)
            if fact.attribute == "duties" and entity is not None and entity.type == "office":
                self.duties.setdefault(fact.subject, fact)
            if fact.attribute == "handled_by":
                self.handled_by.setdefault(fact.subject, []).append(fact)
            for name in dict.fromkeys([fact.subject, *fact.about]):
                self.about.setdefault(name, []).append(fact)

    def units(self, office: str) -> list[str]:
        """``office`` and the general offices it is one of (橘出張所 ->
        [橘出張所, 出張所]), following ``kind``."""
        out = [office]
        while (kind := getattr(self.kb.entities.get(out[-1]), "kind", None)) and kind not in out:
            out.append(kind)
        return out

    def capability(self, query: Query, intents: set[str]) -> Capability | None:
        """The :class:`Capability` for a question whether (or where) one
        office handles a service, or None when ``query`` is not one (see
        the module docstring).  ``intents``: the ``ask_*`` intents the
        question may be read as."""
        if query.cues or not intents & CAPABILITY_INTENTS:
            return None
        offices = [s.name for s in query.subjects if s.type == "office" and s.name != OFFICE]
        asked = tuple(dict.fromkeys(s.name for s in query.subjects if s.type == "service"))
        # 「除籍謄本が必要です。橘出張所で出せますか」: a service named around the question, when the office handles it
        around = tuple(n for n in query.context if n not in asked
                       and getattr(self.kb.entities.get(n), "type", None) == "service")
        if len(set(offices)) != 1:
            return None
        ended = getattr(self.kb.entities.get(offices[0]), "ended_by", None)
        # 「柿生連絡所で住民票を取れますか」「…まだやってますか」: it is closed, and where the service is handled
        # (not a question about something else of it: 跡地, a new facility)
        if ended and (asked or not query.content):
            elsewhere = [f for s in asked for f in self.handled_by.get(s, ())]
            return Capability(offices[0], offices[0], asked, False, _unique([self.kb.facts[ended]] + elsewhere), True)
        if not (asked or around):
            return None
        units = self.units(offices[0])
        unit = next((u for u in units if u in self.duties), None)
        if unit is None:
            return None
        duties = self.duties[unit]
        for services in (asked, around):
            handled = [f for s in services for f in self.handled_by.get(s, ()) if set(units) & set(f.about)]
            if handled or any(s in duties.about for s in services):
                return Capability(offices[0], unit, services, True, _unique(handled + [duties]))
        services = asked or around
        # what the documents say of the office and the service together, where the service is handled, and
        # the office's duties (which do not list it)
        together = [f for u in units for f in self.about.get(u, ())
                    if f is not duties and f.attribute != "location" and set(services) & {f.subject, *f.about}]
        together.sort(key=lambda f: f.subject not in units)  # the office's own facts first (stable: file order)
        elsewhere = [f for s in services for f in self.handled_by.get(s, ())]
        return Capability(offices[0], unit, services, False, _unique(together[:1] + elsewhere + [duties]))


def _unique(facts: list[FactRow]) -> list[FactRow]:
    return list({f.id: f for f in facts}.values())
