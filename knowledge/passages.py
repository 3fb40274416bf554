"""Split a source document into sections and passages with line spans.

``split_passages(doc_id, raw_lines)`` -> list of ``Passage``.  Each passage
keeps the original text of its lines (``text``), the normalized text people
would type (``normalized``), the heading path above it, and the first and
last source line (1-based) so every answer can cite its lines.

Rules (from the source notes): blank lines do not mark paragraphs in these
extractions; hard-wrapped lines are joined with no space between CJK
characters; a paragraph ends at 「。」, before a bullet or numbered item, or
at a heading; page furniture (file names, lone page numbers) is dropped.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field

from .normalize import normalize_line

MAX_CHARS = 360  # a passage longer than this is split at sentence ends
MIN_CHARS = 50  # shorter paragraphs are merged with the next one in a section

_FURNITURE = re.compile(
    r"^(?:\S*\.docx?|-?\s*\d{1,3}\s*-?|[\W_]{1,3}|ページ|\d+/\d+|目次|https?://\S+|mailto:\S+)$"
)
_BULLET = re.compile(r"^(?:[・●○■□◆◇▲△▼※★☆→⇒•\-]|[①-⑳]|\(\d+\)|\d+[.)]\s|[ア-ン][.)]|\([ア-ン]\))")
_HEADING = re.compile(
    r"^(?:#{1,6}\s*.+"
    r"|第\d+章.*|.{1,30}\s第\d+章"
    r"|【[^】]{1,30}】|〈[^〉]{1,20}〉|<[^>]{1,20}>"
    r"|\d{1,2}\s+[^\s。、]{2,30}|[^\s。、]{2,30}\s\d{1,2}"
    r"|\(\d{1,2}\)\s*[^\s。、]{2,30}|[^\s。、]{2,30}\s*\(\d{1,2}\)"
    r"|資料\d.*|参考資料.*)$"
)
_CJK_END = re.compile(r"[\u3000-\u9fff\uff00-\uffef]$")
_CJK_START = re.compile(r"^[\u3000-\u9fff\uff00-\uffef]")
_SENTENCE_END = re.compile(r"(?<=。)")


@dataclass
class Passage:
    """A searchable piece of a document.

    ``line_start``/``line_end`` are 1-based source lines; ``heading`` the
    nearest heading, ``path`` the heading path joined with " > ".
    """

    doc: str
    seq: int
    heading: str
    path: str
    text: str
    normalized: str
    line_start: int
    line_end: int
    lines: list[int] = field(default_factory=list, repr=False)


def is_furniture(norm: str) -> bool:
    """True for lines that are page furniture (footers, page numbers, links)."""
    return bool(_FURNITURE.match(norm))


def is_heading(raw: str, norm: str) -> bool:
    """True when a line looks like a heading: Markdown ``#``, 第N章, 【…】,
    a short numbered title (numbers may follow the title in these files)."""
    if raw.lstrip().startswith("#"):
        return True
    if len(norm) > 34 or norm.endswith(("。", "、")):
        return False
    return bool(_HEADING.match(norm))


def join_text(left: str, right: str) -> str:
    """Join two wrapped lines: no space between CJK characters, one otherwise."""
    if not left:
        return right
    if _CJK_END.search(left) or _CJK_START.search(right):
        return left + right
    return left + " " + right


def _split_long(text: str) -> list[str]:
    if len(text) <= MAX_CHARS:
        return [text]
    parts, current = [], ""
    for sentence in _SENTENCE_END.split(text):
        if current and len(current) + len(sentence) > MAX_CHARS:
            parts.append(current)
            current = ""
        current += sentence
    if current:
        parts.append(current)
    out = []
    for part in parts:  # sentences longer than MAX_CHARS: hard split
        out += [part[i:i + MAX_CHARS] for i in range(0, len(part), MAX_CHARS)] or [part]
    return out


def paragraphs(raw_lines: list[str]) -> list[tuple[list[int], str, str]]:
    """Group lines into ``(line_numbers, heading_path, normalized_text)``."""
    out: list[tuple[list[int], str, str]] = []
    headings: list[str] = []
    buf_lines: list[int] = []
    buf = ""

    def flush():
        nonlocal buf, buf_lines
        if buf.strip():
            out.append((buf_lines, " > ".join(headings[-2:]), buf.strip()))
        buf, buf_lines = "", []

    for number, raw in enumerate(raw_lines, start=1):
        norm = normalize_line(raw)
        if not norm or is_furniture(norm):
            continue
        if is_heading(raw, norm):
            flush()
            title = norm.strip("# ")
            if headings and headings[-1] == title:
                continue
            headings.append(title)
            headings[:] = headings[-3:]
            continue
        if _BULLET.match(norm) and buf:
            flush()
        buf = join_text(buf, norm)
        buf_lines.append(number)
        if norm.endswith(("。", "」。", ")。")):
            flush()
    flush()
    return out


def split_passages(doc_id: str, raw_lines: list[str]) -> list[Passage]:
    """Passages of one document (see module docstring), in document order."""
    merged: list[tuple[list[int], str, str]] = []
    for lines, path, text in paragraphs(raw_lines):
        if merged and merged[-1][1] == path and len(merged[-1][2]) < MIN_CHARS:
            prev_lines, _, prev_text = merged[-1]
            merged[-1] = (prev_lines + lines, path, join_text(prev_text, text))
        else:
            merged.append((lines, path, text))
    passages = []
    for lines, path, text in merged:
        for piece in _split_long(text):
            passages.append(Passage(
                doc=doc_id, seq=len(passages), heading=path.split(" > ")[-1] if path else "",
                path=path, text=" ".join(raw_lines[n - 1].strip() for n in lines)[:2000],
                normalized=piece, line_start=lines[0], line_end=lines[-1], lines=lines,
            ))
    return passages
