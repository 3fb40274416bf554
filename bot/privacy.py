"""Masking of personal data in what users type, before it is stored or logged.

``mask(text)`` replaces, in the user's own characters:

* phone numbers -- Japanese (``090-1234-5678``, ``03-1234-5678``,
  ``0312345678``, ``(03)1234-5678``, 10 or 11 digits starting with 0) and
  international (``+81 90-1234-5678``) -- with ``＜電話番号＞``;
* e-mail addresses with ``＜メール＞``;
* 12-digit individual numbers (マイナンバー: ``123456789012``,
  ``1234 5678 9012``, ``1234-5678-9012``) with ``＜個人番号＞``;
* postal codes (``〒123-4567``, ``郵便番号 123-4567``) and the number-bearing
  part of street addresses after a prefecture / city / ward name
  (``川崎市中原区小杉町3丁目245番地`` -> ``川崎市中原区＜住所＞``; ``1-2-3``,
  ``3丁目``, ``245番地``, ``1番2号`` forms) with ``＜住所＞``.

Detection runs on a per-character ``knowledge.normalize.normalize_chars``
form of the text (full-width digits, ``＠`` and ``＋`` folded, zero-width
characters and combining marks ignored, any dash allowed between digit
groups); the replacement is made on the matching span of the ORIGINAL text,
so everything else the user typed is kept as typed.  ``find(text)`` returns
the spans.  Both never raise.

Only user text is masked: the bot's own answers quote published office
numbers (044-200-2459 ...) and are left alone.

``MaskingFilter`` is a ``logging.Filter`` that masks log records (message,
arguments, traceback text; ``\\uXXXX`` escapes in JSON log lines are read as
the characters they stand for).  ``install_log_filter()`` adds it to the
root logger's handlers and to every handler already configured, and masks
Python warnings too: Rasa reports a message in its ``/intent{...}`` syntax
that it cannot parse with ``warnings.warn``, quoting the user's text, which
goes to stderr without passing through any log handler.
"""
from __future__ import annotations

import logging
import re
import unicodedata
import warnings
from collections.abc import Iterable
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from knowledge.normalize import normalize_chars

PHONE = "＜電話番号＞"
EMAIL = "＜メール＞"
INDIVIDUAL_NUMBER = "＜個人番号＞"
ADDRESS = "＜住所＞"
TAGS = (PHONE, EMAIL, INDIVIDUAL_NUMBER, ADDRESS)


@dataclass(frozen=True)
class Span:
    """``text[start:end]`` (original characters) is personal data of kind ``tag``."""

    start: int
    end: int
    tag: str


# ------------------------------------------------------------------ patterns
# All patterns run on the detection form, where every digit is ASCII.
_DASH = r"[-\u2010-\u2015\u2212\u30fc\u2500\u2501\ufe63\uff0d\uff70]"
_SEP = rf"(?:[ \t\u3000]*{_DASH}[ \t\u3000]*|[ \t\u3000])?"  # between digit groups: a dash, a space or nothing
_EMAIL = re.compile(r"(?<![A-Za-z0-9._%+\-])[A-Za-z0-9._%+\-]{1,64}@"
                    r"[A-Za-z0-9](?:[A-Za-z0-9\-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9\-]{0,61}[A-Za-z0-9])?)+")
_INDIVIDUAL = re.compile(rf"(?<![0-9+])[0-9]{{4}}{_SEP}[0-9]{{4}}{_SEP}[0-9]{{4}}(?![0-9])")
_PHONE_INTL = re.compile(rf"(?<![0-9])\+[ \t]*[0-9]{{1,3}}{_SEP}(?:\(0\){_SEP})?\(?[0-9]{{1,4}}\)?{_SEP}"
                         rf"[0-9]{{1,4}}{_SEP}[0-9]{{2,4}}(?![0-9])")
_PHONE_JP = re.compile(rf"(?<![0-9+])\(?0[0-9]{{1,4}}\)?{_SEP}\(?[0-9]{{1,4}}\)?{_SEP}[0-9]{{3,4}}(?![0-9])")
_POSTAL = re.compile(rf"(?:〒|郵便番号[ \t\u3000]*[:は]?)[ \t\u3000]*(?P<part>[0-9]{{3}}{_SEP}[0-9]{{4}})(?![0-9])")

_PLACE = r"[\u3005\u30a1-\u30fa\u30fc\u4e00-\u9fff\uf900-\ufaff]"  # kanji, katakana, 々
_N = r"[0-9]+"
_HEAD = (rf"(?:{_PLACE}{{1,5}}?[都道府県](?:{_PLACE}{{1,6}}?[市郡])?(?:{_PLACE}{{1,5}}?区)?"
         rf"|{_PLACE}{{1,6}}?[市郡](?:{_PLACE}{{1,5}}?区)?"
         rf"|{_PLACE}{{1,5}}?区)")
_S = r"[ \t\u3000]*"
_UNIT = r"(?:丁目|番地|番|号)"
_NUMBERS = (rf"(?:(?:{_N}|[一二三四五六七八九十]+){_S}丁目|{_N}{_S}番地|{_N}{_S}番(?={_S}[0-9])"
            rf"|{_N}(?={_S}{_DASH}{_S}[0-9]))"
            rf"(?:{_S}(?:{_DASH}|の)?{_S}{_N}(?:{_S}{_UNIT})?){{0,3}}(?![0-9])")
_STREET = re.compile(rf"(?P<head>{_HEAD})(?P<part>{_PLACE}{{0,12}}?{_NUMBERS})")

_QUICK = re.compile(r"[0-9@〒]|丁目")
_ESCAPE = re.compile(r"\\u([dD][89abAB][0-9a-fA-F]{2})\\u([dD][c-fC-F][0-9a-fA-F]{2})|\\u([0-9a-fA-F]{4})")


@lru_cache(maxsize=8192)
def _detect_char(ch: str) -> str:
    """The detection form of one character: ``normalize_chars`` with digits
    made ASCII; "" for zero-width, format and combining characters."""
    if " " <= ch <= "~":
        return ch
    if unicodedata.category(ch) in ("Mn", "Me", "Cf", "Cs"):
        return ""
    try:
        folded = normalize_chars(ch)
    except Exception:  # never raise on odd input
        return " "
    out = []
    for c in folded:
        if not ("0" <= c <= "9") and unicodedata.category(c) == "Nd":
            c = str(unicodedata.decimal(c, 0))
        out.append(c)
    return "".join(out)


def _detection_form(text: str) -> tuple[str, list[int]]:
    """``(form, origin)``: the detection string and, for each of its
    characters, the index of the original character it comes from."""
    pieces, origin = [], []
    for i, ch in enumerate(text):
        piece = _detect_char(ch)
        pieces.append(piece)
        origin.extend([i] * len(piece))
    return "".join(pieces), origin


def _digits(s: str) -> int:
    return sum(c.isdigit() for c in s)


def find(text: str) -> list[Span]:
    """Spans of ``text`` holding personal data, in order, not overlapping."""
    if not text or not isinstance(text, str):
        return []
    try:
        if not _QUICK.search(normalize_chars(text)) and "＠" not in text:
            return []
        form, origin = _detection_form(text)
    except Exception:  # pragma: no cover - normalize_chars does not raise; be safe anyway
        return []
    found: list[tuple[int, int, str]] = []

    def add(start: int, end: int, tag: str) -> None:
        if end <= start or any(start < e and s < end for s, e, _ in found):
            return
        found.append((start, end, tag))

    if "@" in form:
        for m in _EMAIL.finditer(form):
            add(m.start(), m.end(), EMAIL)
    for m in _INDIVIDUAL.finditer(form):
        add(m.start(), m.end(), INDIVIDUAL_NUMBER)
    if "+" in form:
        for m in _PHONE_INTL.finditer(form):
            if 8 <= _digits(m.group()) <= 15:
                add(m.start(), m.end(), PHONE)
    for m in _PHONE_JP.finditer(form):
        if _digits(m.group()) in (10, 11):
            add(m.start(), m.end(), PHONE)
    for m in _POSTAL.finditer(form):
        add(m.start() if form[m.start()] == "〒" else m.start("part"), m.end(), ADDRESS)
    for m in _STREET.finditer(form):
        add(m.start("part"), m.end("part"), ADDRESS)
    spans = [Span(origin[s], origin[e - 1] + 1, tag) for s, e, tag in sorted(found)]
    return spans


def apply(text: str, spans: Iterable[Span]) -> str:
    """``text`` with each span replaced by its tag."""
    out, pos = [], 0
    for span in spans:
        out.append(text[pos:span.start])
        out.append(span.tag)
        pos = span.end
    out.append(text[pos:])
    return "".join(out)


def mask(text: str) -> str:
    """``text`` with phone numbers, e-mail addresses, individual numbers and
    addresses replaced by ＜電話番号＞, ＜メール＞, ＜個人番号＞, ＜住所＞."""
    if not isinstance(text, str):
        return text
    spans = find(text)
    return apply(text, spans) if spans else text


def offset_mapper(text: str, spans: list[Span]):
    """A function mapping an offset in ``text`` to the offset in
    ``apply(text, spans)``; offsets inside a span go to the tag's start
    (``end=False``) or end (``end=True``)."""

    def mapped(pos: int, end: bool = False) -> int:
        shift = 0
        for span in spans:
            if pos <= span.start:
                break
            if pos < span.end:  # inside the span
                return span.start + shift + (len(span.tag) if end else 0)
            shift += len(span.tag) - (span.end - span.start)
        return pos + shift

    return mapped


def mask_value(value: Any) -> Any:
    """Strings masked, recursively through lists, tuples and dict values."""
    if isinstance(value, str):
        return mask(value)
    if isinstance(value, dict):
        return {k: mask_value(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return type(value)(mask_value(v) for v in value)
    return value


# ------------------------------------------------------------------ logging

def _unescape(match: re.Match) -> str:
    if match.group(3):
        code = int(match.group(3), 16)
        return chr(code) if code >= 0x80 and not 0xD800 <= code <= 0xDFFF else match.group()
    high, low = int(match.group(1), 16), int(match.group(2), 16)
    return chr(0x10000 + ((high - 0xD800) << 10) + (low - 0xDC00))


def mask_log_text(text: str) -> str:
    """``mask`` for log lines: JSON ``\\uXXXX`` escapes of non-ASCII characters
    (structlog's JSON lines) are read as the characters they stand for, so a
    full-width number is found too; an unchanged line is returned as it was."""
    if "\\u" in text:
        readable = _ESCAPE.sub(_unescape, text)
        masked = mask(readable)
        return masked if masked != readable else text
    return mask(text)


class MaskingFilter(logging.Filter):
    """Masks personal data in every record it sees; never drops a record."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
            masked = mask_log_text(message)
            if masked != message:
                record.msg, record.args = masked, None
            if record.exc_info and not record.exc_text:
                record.exc_text = logging.Formatter().formatException(record.exc_info)
            if record.exc_text:
                record.exc_text = mask_log_text(record.exc_text)
            if record.stack_info:
                record.stack_info = mask_log_text(record.stack_info)
        except Exception:  # noqa: S110 -- a log record must never be lost to the filter (logging here could recurse)
            pass
        return True


LOG_FILTER = MaskingFilter()


def _masking_showwarning(show):
    def showwarning(message, category, filename, lineno, file=None, line=None):
        try:
            message = mask_log_text(str(message))
        except Exception:  # noqa: S110 -- a warning must never be lost to the masking
            pass
        return show(message, category, filename, lineno, file, line)

    showwarning.masks_personal_data = True
    return showwarning


def install_log_filter() -> int:
    """Add ``LOG_FILTER`` to the root logger's handlers and to every handler of
    every logger configured so far (records of the ``rasa`` loggers reach the
    root handlers by propagation), and mask the text of Python warnings.
    Idempotent; returns the handler count."""
    if not getattr(warnings.showwarning, "masks_personal_data", False):
        warnings.showwarning = _masking_showwarning(warnings.showwarning)
    handlers = list(logging.getLogger().handlers)
    for logger in list(logging.Logger.manager.loggerDict.values()):
        if isinstance(logger, logging.Logger):
            handlers.extend(logger.handlers)
    for handler in handlers:
        if LOG_FILTER not in handler.filters:
            handler.addFilter(LOG_FILTER)
    return len(handlers)
