"""Citizens' words for the documents' duty terms (``knowledge/vocabulary.yml``).

The documents name services in the city's words (戸籍, 放置自転車,
地域住民組織等支援); citizens write 婚姻届, 自転車が撤去された, 町内会.  Each
vocabulary entry maps a citizen's word to one or more knowledge-base entity
names with a one-sentence reason.  This is general knowledge of Japanese
municipal procedures, not a fact about Kawasaki, so an answer that rests on
it says the reason openly.

``Vocabulary.load(path)`` reads and checks the file; ``find(folded_text,
taken)`` -> list of :class:`Inference` found in a question (see
``entities.fold``), longest first, never overlapping each other or the spans
in ``taken`` (entity names the question types itself win).
"""
from __future__ import annotations

from dataclasses import dataclass, replace
from functools import lru_cache
from pathlib import Path

import yaml

from .entities import VariantIndex, fold

PATH = Path(__file__).with_name("vocabulary.yml")
MIN_VARIANT_CHARS = 2  # shorter variants would match inside unrelated words


@dataclass(frozen=True)
class Entry:
    """One vocabulary entry: the citizen's ``term``, its ``variants``
    (spellings, kana readings, common slips), co-occurrence sets ``with_``
    (tuples of words that all must occur), the entity names it ``means`` and
    the ``reason`` (one Japanese sentence)."""

    term: str
    variants: tuple[str, ...]
    with_: tuple[tuple[str, ...], ...]
    means: tuple[str, ...]
    reason: str


@dataclass(frozen=True)
class Inference:
    """A vocabulary entry found in a question: ``entry``, the text that
    matched (``matched``, folded) and its span (``start``, ``end``; -1 for a
    co-occurrence match); ``at``: where it is found (characters into the
    folded question: ``start``, or for a co-occurrence match the first
    occurrence of its last-appearing word); ``spans``: the span of each word
    of the entry's first co-occurrence set found in the question (where it
    first occurs), also when the entry's own word is found, else ()."""

    entry: Entry
    matched: str
    start: int
    end: int
    at: int = -1
    spans: tuple[tuple[int, int], ...] = ()


class VocabularyError(ValueError):
    """The vocabulary file breaks its schema (message names the entry)."""


class Vocabulary:
    """Matcher over vocabulary entries (see module docstring)."""

    def __init__(self, entries: list[Entry]):
        self.entries = entries
        forms: dict[str, Entry] = {}
        for entry in entries:
            for form in (entry.term, *entry.variants):
                key = fold(form)
                if len(key) >= MIN_VARIANT_CHARS:
                    forms.setdefault(key, entry)
        self._forms = forms
        self._index = VariantIndex(forms)
        self._sets = [(tuple(fold(w) for w in words), entry) for entry in entries for words in entry.with_]
        self.known = set(forms)

    @classmethod
    def load(cls, path: Path | str = PATH, entity_names: set[str] | None = None) -> Vocabulary:
        """Read ``path``; with ``entity_names``, also check that every
        ``means`` names a knowledge-base entity.

        Raises:
            VocabularyError: a missing ``term``/``means``/``reason``, a
                variant shorter than 2 characters, an unknown entity name.
        """
        data = yaml.safe_load(Path(path).read_text(encoding="utf-8")) or {}
        entries = []
        for i, raw in enumerate(data.get("entries") or []):
            where = f"{path}: entry {i + 1}" + (f" ({raw.get('term')!r})" if isinstance(raw, dict) else "")
            if not isinstance(raw, dict) or not raw.get("term") or not raw.get("means") or not raw.get("reason"):
                raise VocabularyError(f"{where}: needs term, means and reason")
            unknown = set(raw) - {"term", "variants", "with", "means", "reason"}
            if unknown:
                raise VocabularyError(f"{where}: unknown keys {sorted(unknown)}")
            variants = tuple(str(v) for v in raw.get("variants") or ())
            short = [v for v in (raw["term"], *variants) if len(fold(v)) < MIN_VARIANT_CHARS]
            if short:
                raise VocabularyError(f"{where}: variants shorter than {MIN_VARIANT_CHARS} characters: {short}")
            with_ = tuple(tuple(str(w) for w in words) for words in raw.get("with") or ())
            if any(len(words) < 2 or any(not w.strip() for w in words) for words in with_):
                raise VocabularyError(f"{where}: each `with` set needs two or more words")
            means = tuple(str(m) for m in raw["means"])
            if entity_names is not None:
                missing = [m for m in means if m not in entity_names]
                if missing:
                    raise VocabularyError(f"{where}: means names no entity of the knowledge base: {missing}")
            entries.append(Entry(str(raw["term"]), variants, with_, means, str(raw["reason"]).strip()))
        return cls(entries)

    def find(self, folded: str, taken: list[tuple[int, int]] = ()) -> list[Inference]:
        """Entries found in ``folded`` (a question folded with ``entities.fold``).

        ``taken``: character spans already explained (entity names, which
        win, except that an entry whose word, or a word of whose ``with``
        set, is exactly such a name still matches: 町内会 is an entity and
        also a 地域住民組織; 認知症 + 相談 is a 高齢者支援 question).  Each
        entry is reported once, in order of appearance; co-occurrence
        matches come last.
        """
        used = [False] * len(folded)
        for start, end in taken:
            for i in range(max(start, 0), min(end, len(folded))):
                used[i] = True
        exact = {(start, end) for start, end in taken}
        found: dict[str, Inference] = {}
        for at, form in self._index.occurrences(folded):  # longest first, then leftmost
            end = at + len(form)
            if not any(used[at:end]) or (at, end) in exact:
                for i in range(at, end):
                    used[i] = True
                found.setdefault(self._forms[form].term, Inference(self._forms[form], form, at, end, at))
        ordered = sorted(found.values(), key=lambda inf: inf.start)
        free = "".join(ch if not used[i] else " " for i, ch in enumerate(folded))
        names = {folded[start:end]: start for start, end in sorted(exact, reverse=True) if start >= 0}
        for words, entry in self._sets:
            # a word of the set is in the free text, or is exactly a name the question types (認知症 + 相談)
            if not all(w in free or w in names for w in words):
                continue
            starts = [free.find(w) if w in free else names[w] for w in words]
            spans = tuple((start, start + len(w)) for start, w in zip(starts, words, strict=True))
            have = found.get(entry.term)
            if have is None:
                found[entry.term] = Inference(entry, "+".join(words), -1, -1, max(starts), spans)
                ordered.append(found[entry.term])
            elif not have.spans:  # found by its own word too (引っ越し … 住所の手続き): the set's words are its
                ordered[ordered.index(have)] = found[entry.term] = replace(have, spans=spans)
        return ordered


@lru_cache(maxsize=4)
def vocabulary(path: str = str(PATH)) -> Vocabulary:
    """The vocabulary at ``path`` (default ``knowledge/vocabulary.yml``),
    loaded once; an empty vocabulary when the file does not exist."""
    if not Path(path).is_file():
        return Vocabulary([])
    return Vocabulary.load(path)
