"""The source documents and their manifest (``knowledge/sources/``).

``load_manifest()`` -> list of ``Document``; ``read_lines(doc)`` -> the raw
lines of a document.  Missing or unreadable files raise ``SourceError`` with
the path and what to do about it.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import yaml

SOURCES_DIR = Path(__file__).parent / "sources"
MANIFEST = SOURCES_DIR / "manifest.yml"


class SourceError(RuntimeError):
    """A source document or the manifest is missing or unreadable."""


@dataclass
class Document:
    """One source document as described in ``manifest.yml``."""

    id: str
    file: str
    title: str
    issuer: str | None
    date: str | None
    as_of: str | None
    kind: str
    note: str | None = None
    contact: dict | None = None


def load_manifest(sources_dir: Path = SOURCES_DIR) -> list[Document]:
    """Parse ``manifest.yml`` in ``sources_dir``.  Raises ``SourceError``."""
    path = sources_dir / "manifest.yml"
    try:
        rows = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise SourceError(f"cannot read the source manifest {path}: {exc}") from exc
    docs = []
    for row in rows or []:
        row = {k: (v.isoformat() if hasattr(v, "isoformat") else v) for k, v in row.items()}
        docs.append(Document(**row))
    return docs


def read_lines(doc: Document, sources_dir: Path = SOURCES_DIR) -> list[str]:
    """The raw lines of ``doc`` (index 0 = line 1), newline characters removed.

    Raises ``SourceError`` when the file is missing, empty or not UTF-8.
    """
    path = sources_dir / doc.file
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError as exc:
        raise SourceError(f"source document {doc.id} is missing: {path} (copy it from ../shared/seeds/)") from exc
    except (OSError, UnicodeDecodeError) as exc:
        raise SourceError(f"source document {doc.id} is unreadable: {path}: {exc}") from exc
    if not text.strip():
        raise SourceError(f"source document {doc.id} is empty: {path}")
    return text.split("\n")


def load_sources(sources_dir: Path = SOURCES_DIR) -> dict[str, list[str]]:
    """Map every manifest id to its raw lines.  Raises ``SourceError``."""
    return {doc.id: read_lines(doc, sources_dir) for doc in load_manifest(sources_dir)}
