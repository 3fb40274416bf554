"""Load and verify the hand-curated facts in ``knowledge/facts/*.yml``.

The schema is described in ``knowledge/facts/README.md``.  Every quote is
checked against its source lines (after ``normalize.compact``); a fact whose
quote is not found raises ``CurationError`` naming the fact, the file and the
lines searched.
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from .normalize import compact

FACTS_DIR = Path(__file__).parent / "facts"

ENTITY_TYPES = {
    "section", "office", "facility", "service", "event", "ward", "committee",
    "term", "plan", "document",
}
STATUSES = {"fact", "plan", "proposal", "example"}
ATTRIBUTES = {
    "definition", "overview", "purpose", "duties", "handled_by", "chair",
    "members", "secretariat", "venue", "address", "access", "location", "date",
    "time", "doors_open", "opening", "deadline", "application_period",
    "notification", "eligibility", "how_to_apply", "required_info", "lottery",
    "procedure", "capacity", "reward", "fee", "budget", "phone", "fax",
    "email", "url", "history", "statistic", "rule", "opinion",
}


class CurationError(ValueError):
    """A curated fact or entity is malformed or its quote is not in the source."""


@dataclass
class Entity:
    """Something questions are about (a section, service, event, ...)."""

    name: str
    type: str
    doc: str
    kana: str | None = None
    aliases: list[str] = field(default_factory=list)
    parent: str | None = None
    ward: str | None = None
    date: str | None = None  # ISO date, events only
    kind: str | None = None  # the general entity this is one of (橘出張所 -> 出張所)
    ended_by: str | None = None  # id of the fact saying it no longer exists (an office closed)


@dataclass
class Fact:
    """One verified statement from a source document.

    ``lines`` is ``(first, last)`` 1-based source line numbers; ``as_of`` an ISO
    date string or None; ``status`` one of ``STATUSES``.
    """

    id: str
    doc: str
    subject: str
    attribute: str
    value: str
    text: str
    quote: str
    lines: tuple[int, int]
    status: str
    as_of: str | None
    about: list[str] = field(default_factory=list)
    role: str | None = None
    keywords: list[str] = field(default_factory=list)


def _iso(value, where: str) -> str | None:
    if value is None:
        return None
    if isinstance(value, dt.date):
        return value.isoformat()
    try:
        return dt.date.fromisoformat(str(value)).isoformat()
    except ValueError as exc:
        raise CurationError(f"{where}: not an ISO date: {value!r}") from exc


def _entity(raw: dict, doc: str, where: str) -> Entity:
    if not isinstance(raw, dict) or not raw.get("name") or raw.get("type") not in ENTITY_TYPES:
        raise CurationError(f"{where}: entity needs a name and a type in {sorted(ENTITY_TYPES)}: {raw!r}")
    return Entity(
        name=str(raw["name"]), type=raw["type"], doc=doc, kana=raw.get("kana"),
        aliases=[str(a) for a in raw.get("aliases") or []], parent=raw.get("parent"),
        ward=raw.get("ward"), date=_iso(raw.get("date"), f"{where} {raw['name']}"), kind=raw.get("kind"),
        ended_by=raw.get("ended_by"),
    )


def _fact(raw: dict, doc: str, where: str) -> Fact:
    missing = [k for k in ("id", "subject", "attribute", "value", "text", "quote", "lines", "status") if not raw.get(k)]
    if missing:
        raise CurationError(f"{where} fact {raw.get('id', '?')}: missing {', '.join(missing)}")
    fid = str(raw["id"])
    if raw["attribute"] not in ATTRIBUTES:
        raise CurationError(f"{where} fact {fid}: unknown attribute {raw['attribute']!r}")
    if raw["status"] not in STATUSES:
        raise CurationError(f"{where} fact {fid}: status must be one of {sorted(STATUSES)}")
    lines = raw["lines"]
    if not (isinstance(lines, list) and len(lines) == 2 and all(isinstance(n, int) for n in lines)
            and 0 < lines[0] <= lines[1]):
        raise CurationError(f"{where} fact {fid}: lines must be [first, last]")
    return Fact(
        id=fid, doc=doc, subject=str(raw["subject"]), attribute=raw["attribute"],
        value=str(raw["value"]), text=str(raw["text"]), quote=str(raw["quote"]),
        lines=(lines[0], lines[1]), status=raw["status"],
        as_of=_iso(raw.get("as_of"), f"{where} fact {fid}"),
        about=[str(a) for a in raw.get("about") or []], role=raw.get("role"),
        keywords=[str(k) for k in raw.get("keywords") or []],
    )


def load_file(path: Path) -> tuple[list[Entity], list[Fact]]:
    """Parse one curated YAML file.  Raises ``CurationError`` on bad shape."""
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except yaml.YAMLError as exc:
        raise CurationError(f"{path.name}: not valid YAML: {exc}") from exc
    doc = str(data.get("doc", path.stem))
    entities = [_entity(e, doc, path.name) for e in data.get("entities") or []]
    facts = [_fact(f, doc, path.name) for f in data.get("facts") or []]
    return entities, facts


def verify_quote(fact: Fact, source_lines: list[str]) -> None:
    """Raise ``CurationError`` unless ``fact.quote`` occurs in its line span.

    ``source_lines`` is the raw document split into lines (index 0 = line 1).
    """
    first, last = fact.lines
    if last > len(source_lines):
        raise CurationError(f"fact {fact.id}: lines {first}-{last} beyond the end of document {fact.doc} "
                            f"({len(source_lines)} lines)")
    haystack = compact("".join(source_lines[first - 1:last]))
    needle = compact(fact.quote)
    if not needle or needle not in haystack:
        raise CurationError(
            f"fact {fact.id}: quote {fact.quote!r} not found in document {fact.doc} lines {first}-{last}"
        )


POSSESSIVE_PREFIX_CHARS = 4  # the place part of 橘出張所, 大師支所, 登戸行政サービスコーナー is this short or shorter


def possessive_forms(entity: Entity, by_name: dict[str, Entity]) -> list[str]:
    """How citizens write an office of a kind with の (「橘の出張所」 for
    橘出張所, 「大師の区民センター」 for 大師区民センター, an alias of 大師支所):
    each of its name and aliases that is a short place part followed by a
    form of its ``kind`` (the kind's name or an alias), with の between.
    [] for an entity without a kind."""
    kind = by_name.get(entity.kind or "")
    if kind is None:
        return []
    out = []
    for own in (entity.name, *entity.aliases):
        for form in (kind.name, *kind.aliases):
            place = own[: -len(form)]
            if own.endswith(form) and 0 < len(place) <= POSSESSIVE_PREFIX_CHARS and not place.endswith("の"):
                out.append(f"{place}の{form}")
    return list(dict.fromkeys(out))


def merge_entities(entities: list[Entity]) -> list[Entity]:
    """Merge entities declared in several files under one name (first wins,
    aliases are united, missing optional fields are filled in)."""
    merged: dict[str, Entity] = {}
    for ent in entities:
        have = merged.get(ent.name)
        if have is None:
            merged[ent.name] = ent
            continue
        have.aliases += [a for a in ent.aliases if a not in have.aliases]
        for attr in ("kana", "parent", "ward", "date", "kind", "ended_by"):
            if getattr(have, attr) is None:
                setattr(have, attr, getattr(ent, attr))
    return list(merged.values())


def load_all(sources: dict[str, list[str]], facts_dir: Path = FACTS_DIR) -> tuple[list[Entity], list[Fact]]:
    """Load every ``*.yml`` in ``facts_dir`` and verify it against ``sources``.

    ``sources`` maps a document id to its raw lines.  Raises ``CurationError``
    for the first bad fact, duplicate id, unknown document, unknown subject,
    unknown entity kind, or an ``ended_by`` that is not a fact about its entity.
    """
    entities: list[Entity] = []
    facts: list[Fact] = []
    for path in sorted(facts_dir.glob("*.yml")):
        ents, fs = load_file(path)
        entities += ents
        facts += fs
    entities = merge_entities(entities)
    names = {e.name for e in entities}
    for ent in entities:
        if ent.kind is not None and ent.kind not in names:
            raise CurationError(f"entity {ent.name}: kind {ent.kind!r} is not a declared entity")
    seen: set[str] = set()
    for fact in facts:
        if fact.id in seen:
            raise CurationError(f"fact {fact.id}: duplicate id")
        seen.add(fact.id)
        if fact.doc not in sources:
            raise CurationError(f"fact {fact.id}: unknown document {fact.doc!r}")
        if fact.subject not in names:
            raise CurationError(f"fact {fact.id}: subject {fact.subject!r} is not a declared entity")
        unknown = [a for a in fact.about if a not in names]
        if unknown:
            raise CurationError(f"fact {fact.id}: about names undeclared entities {unknown}")
        verify_quote(fact, sources[fact.doc])
    by_id = {f.id: f for f in facts}
    for ent in entities:
        if ent.ended_by is not None and getattr(by_id.get(ent.ended_by), "subject", None) != ent.name:
            raise CurationError(f"entity {ent.name}: ended_by {ent.ended_by!r} is not a fact about it")
    return entities, facts
