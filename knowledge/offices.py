"""Questions about one office, read off the org chart: does it handle a
service, is there one in a ward, is it still open.

A citizen asks 「橘出張所で婚姻届を出せますか」: an office (橘出張所, one of the
出張所: its entity ``kind``) and a service (戸籍, through the vocabulary).  The
org chart (001, 参考資料1, as of 2015-04-01) gives each kind of office its
duties (``duties`` facts about 出張所, 支所・区民センター …), each service the
units that handle it (``handled_by`` facts, whose ``about`` names them) and
each office its ward (entity ``ward``).  ``OfficeDuties(kb).reply(query,
intents)`` reads those relations and gives an :class:`OfficeReply` whose
``kind`` is:

* ``ended``: the office no longer exists (its entity's ``ended_by``:
  柿生連絡所) and the question asks about a service there or about nothing
  else of it: the fact that says so, then where the service is handled;
* ``absent``: a kind of office asked for in a ward that has none
  (「中原区に支所はありますか」): where the offices of that kind are.  In a
  ward that has one, the question is about that office (多摩区の出張所 ->
  生田出張所).  Only when one ward is named;
* ``handles``: a ``handled_by`` fact of the service names the office or its
  kind in ``about`` (戸籍 -> 支所・区民センター), or the office's ``duties``
  fact names the service: that fact and the office's duties;
* ``not_listed``: otherwise: what the documents say about the office and
  the service together (出張所の届出窓口は区役所へ集約), where the service is
  handled, and the office's duties;
* ``located``: a question where one office is, or whether there is one in
  a ward, naming no service: its own location fact, then its kind's;
* ``duties``: a question what can be done at one office (「大師支所では何が
  できますか」), naming no service and nothing else (no content word, no
  unknown noun): the duties fact of the office or of its kind; read as an
  overview (「大師支所について教えて」), then where the office is.

Several offices of one kind named together (「大師や田島の支所」) are asked
about as that kind (支所・区民センター).  Nothing is decided here (None) when
the question names no single office other than 区役所 (nor offices of one
kind), asks for something else than where, whether or what
can be done there (a cue such as 時間 or 手数料), or when the documents give
the office no duties (行政サービスコーナー): the answerability classifier
decides those.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from .kb import FactRow, KnowledgeBase
from .understand import OFFICE, Query

# what a question about doing something at an office may be read as (its NLU intents and asking words)
OFFICE_INTENTS = frozenset({"ask_counter", "ask_procedure", "ask_eligibility", "ask_venue"})
# what a question naming only an office may be read as when it asks what the office does
DUTY_INTENTS = frozenset({"ask_counter", "ask_procedure", "ask_overview"})
REPLY_KINDS = ("ended", "absent", "handles", "not_listed", "located", "duties")


@dataclass(frozen=True)
class OfficeReply:
    """What the org chart says to a question about ``office``: ``kind`` one
    of ``REPLY_KINDS`` (see the module docstring); ``facts`` what to say,
    best first; ``unit`` the office whose duties the documents give (出張所
    for 橘出張所); ``services`` the services asked about; ``ward`` the ward
    asked about (``absent``)."""

    kind: str
    office: str
    unit: str
    services: tuple[str, ...] = ()
    facts: list[FactRow] = field(default_factory=list)
    ward: str | None = None


class OfficeDuties:
    """The office -> duties, service -> units, kind -> offices and office ->
    location relations of one ``KnowledgeBase``, indexed once (a few ms
    for 1,000 facts)."""

    def __init__(self, kb: KnowledgeBase):
        self.kb = kb
        self.duties: dict[str, FactRow] = {}  # office -> its duties fact
        self.location: dict[str, FactRow] = {}  # office -> its location fact
        self.handled_by: dict[str, list[FactRow]] = {}  # service -> its handled_by facts, in file order
        self.instances: dict[str, list[str]] = {}  # kind -> the offices that are one of it
        self.opening: list[FactRow] = []  # the ward office's opening facts (第2・第4土曜日), in file order
        for name, entity in kb.entities.items():
            if entity.kind:
                self.instances.setdefault(entity.kind, []).append(name)
        for fact in kb.facts.values():
            entity = kb.entities.get(fact.subject)
            if entity is not None and entity.type == "office" and fact.attribute in ("duties", "location"):
                getattr(self, "duties" if fact.attribute == "duties" else "location").setdefault(fact.subject, fact)
            if fact.attribute == "handled_by":
                self.handled_by.setdefault(fact.subject, []).append(fact)
            if fact.subject == OFFICE and fact.attribute == "opening":
                self.opening.append(fact)

    def units(self, office: str) -> list[str]:
        """``office`` and the general offices it is one of (橘出張所 ->
        [橘出張所, 出張所]), following ``kind``."""
        out = [office]
        while (kind := getattr(self.kb.entities.get(out[-1]), "kind", None)) and kind not in out:
            out.append(kind)
        return out

    def reply(self, query: Query, intents: set[str]) -> OfficeReply | None:
        """The :class:`OfficeReply` for a question about one office, or
        None when ``query`` is not one (see the module docstring).
        ``intents``: the ``ask_*`` intents the question may be read as."""
        if query.cues or not intents & (OFFICE_INTENTS | DUTY_INTENTS):
            return None
        offices = list(dict.fromkeys(s.name for s in query.subjects if s.type == "office" and s.name != OFFICE))
        named = offices
        kinds = {getattr(self.kb.entities.get(o), "kind", None) for o in offices}
        if len(offices) > 1 and len(kinds) == 1 and None not in kinds:
            offices = list(kinds)  # 「大師や田島の支所で…」: offices of one kind are asked about as that kind
        if len(offices) != 1:
            return None
        office = offices[0]
        if not intents & OFFICE_INTENTS:  # 「大師支所について教えて」: what it does, if that is all it asks
            return self._duties(query, office, self.units(office), intents)
        asked = tuple(dict.fromkeys(s.name for s in query.subjects if s.type == "service"))
        # 「除籍謄本が必要です。橘出張所で出せますか」: a service named around the question, when the office handles it
        around = tuple(n for n in query.context if n not in asked and self._type(n) == "service")
        if ended := getattr(self.kb.entities.get(office), "ended_by", None):
            # not a question about something else of it (跡地, a new facility)
            if asked or not query.content:
                facts = _unique([self.kb.facts[ended], *self._elsewhere(asked)])
                return OfficeReply("ended", office, office, asked, facts)
            return None
        wards = [w for w in dict.fromkeys(query.subject_names + query.constraints + query.context)
                 if self._type(w) == "ward"]
        in_ward = office in self.instances and len(wards) == 1 and len(named) == 1
        if in_ward:
            inside = [i for i in self.instances[office] if self.kb.entities[i].ward == wards[0]
                      and not self.kb.entities[i].ended_by]
            if not inside:
                facts = [self.location[office]] if office in self.location else []
                return OfficeReply("absent", office, office, asked, facts, wards[0]) if facts else None
            office = inside[0]
        units = self.units(office)
        if not (asked or around):
            together = named if len(named) > 1 else []  # each office named with others of its kind
            own = [self.location[u] for u in (*together, *units) if u in self.location]
            # where it is, or whether the ward named has one (「多摩区にも出張所はありますか」)
            if ("ask_venue" in intents or in_ward) and own and (office != units[-1] or together):
                return OfficeReply("located", office, units[-1], (), _unique(own))
            return self._duties(query, office, units, intents)
        unit = next((u for u in units if u in self.duties), None)
        if unit is None:
            return None
        duties = self.duties[unit]
        for services in (asked, around):
            handled = [f for s in services for f in self.handled_by.get(s, ()) if set(units) & set(f.about)]
            if handled or any(s in duties.about for s in services):
                return OfficeReply("handles", office, unit, services, _unique([*handled, duties]))
        services = asked or around
        # what the documents say of the office and the service together, where the service is handled, and
        # the office's duties (which do not list it)
        together = [f for u in units for f in self.kb.by_entity.get(u, ())
                    if f is not duties and f.attribute != "location" and set(services) & {f.subject, *f.about}]
        together.sort(key=lambda f: f.subject not in units)  # the office's own facts first (stable: file order)
        return OfficeReply("not_listed", office, unit, services,
                           _unique([*together[:1], *self._elsewhere(services), duties]))

    def _duties(self, query: Query, office: str, units: list[str], intents: set[str]) -> OfficeReply | None:
        """The ``duties`` reply to a question what ``office`` does (「大師支所では
        何ができますか」), asking nothing else of it (no content word, no
        unknown noun), or None: the duties of the office or of its kind
        (``units``), and, read as an overview, where the office itself is."""
        unit = next((u for u in units if u in self.duties), None)
        # read also as asking something else of it (its history, a date, a contact), it is not this question
        if unit is None or not intents & DUTY_INTENTS or intents - DUTY_INTENTS - OFFICE_INTENTS \
                or query.content or query.unknown:
            return None
        facts = [self.duties[unit]]
        if "ask_overview" in intents and office != unit and office in self.location:
            facts.append(self.location[office])
        return OfficeReply("duties", office, unit, (), facts)

    def office_opening(self, query: Query) -> list[FactRow]:
        """When the ward office's counters open, for a question about a
        service handled there that names a day the documents speak of
        (「住民票は土曜日も取れますか」): the 区役所 ``opening`` fact whose text
        holds one of the question's content words, a plan only when nothing
        else does; [] when the question names no such service or day.  The
        documents do not say which services those counters handle, so this
        is said beside a decline, never as the answer."""
        if not any(s.type == "service" and s.name in self.handled_by for s in query.subjects):
            return []
        words = [norm for norm, _ in query.content if len(norm) >= 2]
        facts = sorted((f for f in self.opening if any(w in f.text for w in words)),
                       key=lambda f: f.status == "plan")  # stable: file order otherwise
        return facts[:1]

    def _type(self, name: str) -> str | None:
        return getattr(self.kb.entities.get(name), "type", None)

    def _elsewhere(self, services: tuple[str, ...]) -> list[FactRow]:
        return [f for s in services for f in self.handled_by.get(s, ())]


def _unique(facts: list[FactRow]) -> list[FactRow]:
    return list({f.id: f for f in facts}.values())
