"""Find the knowledge base's entities in a question.

``EntityMatcher(lexicon).find(text)`` -> list of ``EntityMatch``: exact
matches of any name, kana reading or variant in the normalized text (longest
first, no overlaps), then fuzzy matches (rapidfuzz) for typos such as
印鑑登禄 -> 印鑑登録.  ``resolve(value)`` maps one NLU entity value to a
canonical name.
"""
from __future__ import annotations

from dataclasses import dataclass

from rapidfuzz import fuzz, process

from .normalize import compact


def fold(text: str) -> str:
    """Matching form: ``compact``, lower case, katakana folded to hiragana
    (so くやくしょサービス meets くやくしょさーびす)."""
    return "".join(chr(ord(ch) - 0x60) if "\u30a1" <= ch <= "\u30f6" else ch for ch in compact(text).lower())

FUZZY_MIN_CHARS = 4  # variants shorter than this are matched exactly only
FUZZY_CUTOFF = 74.0  # rapidfuzz partial_ratio score (0-100)


@dataclass(frozen=True)
class EntityMatch:
    """``name`` (canonical) of ``type`` found as ``variant`` at character
    span ``start``-``end`` of the folded text (see ``fold``); ``score``
    100 = exact."""

    name: str
    type: str
    variant: str
    start: int
    end: int
    score: float


class EntityMatcher:
    """Matcher over lexicon rows ``{"variant", "name", "type"}``."""

    def __init__(self, lexicon: list[dict]):
        self._variants: dict[str, tuple[str, str]] = {}
        for row in lexicon:
            key = fold(row["variant"])
            if len(key) >= 2 or row["type"] == "ward":
                self._variants.setdefault(key, (row["name"], row["type"]))
        self.known = set(self._variants)
        self._by_length = sorted(self._variants, key=len, reverse=True)
        self._fuzzy = [v for v in self._by_length if len(v) >= FUZZY_MIN_CHARS]
        # variants by their first two characters (one for one-character ward names): a scan of the
        # text looks up each position instead of searching the text for every variant
        self._by_prefix: dict[str, list[str]] = {}
        for variant in self._by_length:
            self._by_prefix.setdefault(variant[:2], []).append(variant)
        # fuzzy candidates by character: a typo'd name still has all its characters but one
        self._by_char: dict[str, list[str]] = {}
        for variant in self._fuzzy:
            for ch in set(variant):
                self._by_char.setdefault(ch, []).append(variant)

    def find(self, text: str, fuzzy: bool = True) -> list[EntityMatch]:
        """Entities in ``text``, in order of appearance."""
        haystack = fold(text)
        taken = [False] * len(haystack)
        found: list[EntityMatch] = []
        occurrences = []  # (length, start, variant) of every variant occurring in the text
        for start in range(len(haystack)):
            for key in (haystack[start:start + 2], haystack[start]):
                for variant in self._by_prefix.get(key, ()):
                    if haystack.startswith(variant, start):
                        occurrences.append((-len(variant), start, variant))
        for _, start, variant in sorted(set(occurrences)):  # longest first, then leftmost; no overlaps
            end = start + len(variant)
            if not any(taken[start:end]):
                name, etype = self._variants[variant]
                found.append(EntityMatch(name, etype, variant, start, end, 100.0))
                for i in range(start, end):
                    taken[i] = True
        if fuzzy and self._fuzzy and len(haystack) >= FUZZY_MIN_CHARS:
            free = "".join(ch if not taken[i] else " " for i, ch in enumerate(haystack))[:300]
            hits: dict[str, int] = {}
            for ch in set(free) - {" "}:
                for variant in self._by_char.get(ch, ()):
                    hits[variant] = hits.get(variant, 0) + 1
            # at most one character of the name differs
            choices = [v for v, n in hits.items() if n >= len(set(v)) - 1]
            for variant, score, _ in process.extract(free, choices, scorer=fuzz.partial_ratio,
                                                     score_cutoff=FUZZY_CUTOFF, limit=5):
                name, etype = self._variants[variant]
                if score >= 100 or any(m.name == name for m in found):
                    continue
                found.append(EntityMatch(name, etype, variant, -1, -1, score))
        return sorted(found, key=lambda m: (m.start < 0, m.start))

    def resolve(self, value: str) -> str | None:
        """Canonical name for an NLU entity value (exact, then fuzzy), or None."""
        key = fold(value)
        if key in self._variants:
            return self._variants[key][0]
        if len(key) < 2:
            return None
        best = process.extractOne(key, list(self._variants), scorer=fuzz.ratio, score_cutoff=80)
        return self._variants[best[0]][0] if best else None
