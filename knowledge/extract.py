"""Patterns code finds reliably: phone numbers, e-mail addresses, URLs, dates.

``extract(doc_id, raw_lines)`` -> list of ``Found`` (kind, value, line).
``check_contacts(facts, found)`` raises ``ExtractionMismatch`` when a curated
phone/fax/e-mail/URL fact is not what code finds on the fact's lines, so a
typo in curated data cannot reach a citizen.
"""
from __future__ import annotations

import re
from dataclasses import dataclass

from .dates import find_dates
from .normalize import normalize_line

PHONE = re.compile(r"(?<!\d)0\d{1,4}-\d{1,4}-\d{3,4}(?!\d)")
EMAIL = re.compile(r"[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}")
URL = re.compile(r"https?://[^\s\"'<>()「」]+")


class ExtractionMismatch(ValueError):
    """A curated contact value is not found by code on its source lines."""


@dataclass(frozen=True)
class Found:
    """A pattern found by code: ``kind`` is phone, email, url or date;
    ``value`` the normalized match (dates as ISO or 'FY2016'); ``line`` 1-based."""

    doc: str
    kind: str
    value: str
    line: int


def extract(doc_id: str, raw_lines: list[str]) -> list[Found]:
    """Every phone number, e-mail address, URL and date in a document."""
    found: list[Found] = []
    for number, raw in enumerate(raw_lines, start=1):
        line = normalize_line(raw)
        if not line:
            continue
        compact = re.sub(r"\s+", "", line)
        for m in PHONE.finditer(compact):
            found.append(Found(doc_id, "phone", m.group(), number))
        for m in EMAIL.finditer(line):
            found.append(Found(doc_id, "email", m.group().lower(), number))
        for m in URL.finditer(line):
            found.append(Found(doc_id, "url", m.group().rstrip(".,、。"), number))
        for d in find_dates(line):
            value = f"FY{d.year}" if d.fiscal else d.iso()
            found.append(Found(doc_id, "date", value, number))
    return found


def check_contacts(facts, found: list[Found]) -> None:
    """Raise ``ExtractionMismatch`` naming the fact when a curated phone, fax,
    e-mail or URL value is not among the patterns found on its lines."""
    kinds = {"phone": "phone", "fax": "phone", "email": "email", "url": "url"}
    for fact in facts:
        kind = kinds.get(fact.attribute)
        if kind is None:
            continue
        values = {f.value for f in found if f.doc == fact.doc and f.kind == kind
                  and fact.lines[0] <= f.line <= fact.lines[1]}
        pattern = {"phone": PHONE, "email": EMAIL, "url": URL}[kind]
        wanted = {m.group().lower() if kind == "email" else m.group()
                  for m in pattern.finditer(normalize_line(fact.value).replace(" ", ""))}
        if not wanted or not wanted <= values:
            raise ExtractionMismatch(
                f"fact {fact.id}: {fact.attribute} {fact.value!r} is not what the source says on "
                f"document {fact.doc} lines {fact.lines[0]}-{fact.lines[1]} "
                f"(found there: {sorted(values) or 'nothing'})"
            )
