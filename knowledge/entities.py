"""Find the knowledge base's entities in a question.

``EntityMatcher(lexicon).find(text)`` -> list of ``EntityMatch``: exact
matches of any name, kana reading or variant in the normalized text (longest
first, no overlaps), then fuzzy matches (rapidfuzz) for typos such as
印鑑登禄 -> 印鑑登録.  ``resolve(value)`` maps one NLU entity value to a
canonical name.
"""
from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from functools import lru_cache
from itertools import chain

from rapidfuzz import fuzz, process

from .normalize import compact, is_kana


@lru_cache(maxsize=8192)
def fold(text: str) -> str:
    """Matching form: ``compact``, lower case, katakana folded to hiragana
    (so くやくしょサービス meets くやくしょさーびす)."""
    return "".join(chr(ord(ch) - 0x60) if "\u30a1" <= ch <= "\u30f6" else ch for ch in compact(text).lower())

FUZZY_MIN_CHARS = 4  # variants shorter than this are matched exactly only
FUZZY_CUTOFF = 74.0  # rapidfuzz partial_ratio score (0-100)
# kana-only variants shorter than this are matched exactly only: one kana off, they match grammar
# (ちょうかい in 「いけないんでしょうか」)
FUZZY_MIN_KANA = 6
# what joins names that share a head (「大師や田島の支所」, 「大師・田島の区民センター」)
COORDINATORS = frozenset("やと・、,")
COORDINATED_MAX_CHARS = 8  # the longest first conjunct tried (a place part is 1-4 characters)


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


def spans_name(text: str, variant: str) -> bool:
    """Whether the best partial alignment of ``variant`` in ``text`` is a
    typo of it or a shortening: it covers all of its characters but one (a
    typo changes one character, 印鑑登禄), or it is a run of at least
    ``FUZZY_MIN_CHARS`` characters of the variant as written (あり方検討部会
    for 区役所のあり方検討部会).  「いいの」 at the end of 「どこに言えばいいの」
    aligns with 3 of the 5 characters of いこいの家 and is neither."""
    alignment = fuzz.partial_ratio_alignment(text, variant)
    if alignment is None:
        return False
    span = text[alignment.src_start:alignment.src_end]
    return len(span) >= len(variant) - 1 or (len(span) >= FUZZY_MIN_CHARS and span in variant)


class VariantIndex:
    """Every occurrence of a set of strings in a text, by their first two
    characters (one for one-character strings): a scan of the text looks up
    each position instead of searching the text for every string.

    ``VariantIndex(variants).occurrences(text)`` -> ``[(start, variant)]``,
    longest first, then leftmost (overlaps included)."""

    def __init__(self, variants):
        self.by_prefix: dict[str, list[str]] = {}
        for variant in sorted(set(variants), key=len, reverse=True):
            self.by_prefix.setdefault(variant[:2], []).append(variant)

    def occurrences(self, text: str) -> list[tuple[int, str]]:
        """``(start, variant)`` of every occurrence in ``text``."""
        found = []
        for start in range(len(text)):
            for key in {text[start:start + 2], text[start]}:
                for variant in self.by_prefix.get(key, ()):
                    if text.startswith(variant, start):
                        found.append((-len(variant), start, variant))
        return [(start, variant) for _, start, variant in sorted(found)]


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
        self._fuzzy = [v for v in self._by_length
                       if len(v) >= (FUZZY_MIN_KANA if is_kana(v) else FUZZY_MIN_CHARS)]
        self._index = VariantIndex(self._variants)
        # fuzzy candidates by character: a typo'd name still has all its characters but one
        self._by_char: dict[str, list[str]] = {}
        self._distinct = {v: len(set(v)) for v in self._fuzzy}
        for variant in self._fuzzy:
            for ch in set(variant):
                self._by_char.setdefault(ch, []).append(variant)

    def find(self, text: str, fuzzy: bool = True) -> list[EntityMatch]:
        """Entities in ``text``, in order of appearance."""
        haystack = fold(text)
        taken = [False] * len(haystack)
        found: list[EntityMatch] = []
        for start, variant in self._index.occurrences(haystack):  # longest first, then leftmost; no overlaps
            end = start + len(variant)
            if not any(taken[start:end]):
                name, etype = self._variants[variant]
                found.append(EntityMatch(name, etype, variant, start, end, 100.0))
                for i in range(start, end):
                    taken[i] = True
        found += self._coordinated(haystack, taken, found)
        if fuzzy and self._fuzzy and len(haystack) >= FUZZY_MIN_CHARS:
            free = "".join(ch if not taken[i] else " " for i, ch in enumerate(haystack))[:300]
            hits = Counter(chain.from_iterable(self._by_char.get(ch, ()) for ch in set(free) - {" "}))
            # at most one character of the name differs
            distinct = self._distinct
            choices = [v for v, n in hits.items() if n >= distinct[v] - 1]
            for variant, score, _ in process.extract(free, choices, scorer=fuzz.partial_ratio,
                                                     score_cutoff=FUZZY_CUTOFF, limit=5):
                name, etype = self._variants[variant]
                if score >= 100 or any(m.name == name for m in found) or not spans_name(free, variant):
                    continue
                found.append(EntityMatch(name, etype, variant, -1, -1, score))
        return sorted(found, key=lambda m: (m.start < 0, m.start))

    def _coordinated(self, haystack: str, taken: list[bool], found: list[EntityMatch]) -> list[EntityMatch]:
        """Names that share the head of a matched ``<place>の<head>`` name
        through a coordinator before it: in 「大師や田島の支所」 田島の支所
        is matched and 大師 + の支所 is the name 大師の支所 (大師支所).  Each
        conjunct, read right to left, is the longest run before its
        coordinator that makes a known name of the same type; marks
        ``taken``.  Returns the new exact matches."""
        out = []
        for match in found:
            cut = match.variant.find("の")
            if cut <= 0:
                continue
            head, end = match.variant[cut:], match.start
            while end >= 2 and haystack[end - 1] in COORDINATORS:
                for size in range(min(COORDINATED_MAX_CHARS, end - 1), 0, -1):
                    start = end - 1 - size
                    key = haystack[start:end - 1] + head
                    if key in self._variants and self._variants[key][1] == match.type and not any(taken[start:end - 1]):
                        name, etype = self._variants[key]
                        out.append(EntityMatch(name, etype, key, start, end - 1, 100.0))
                        taken[start:end - 1] = [True] * (end - 1 - start)
                        end = start
                        break
                else:
                    break
        return out

    def resolve(self, value: str) -> str | None:
        """Canonical name for an NLU entity value (exact, then fuzzy), or None."""
        key = fold(value)
        if key in self._variants:
            return self._variants[key][0]
        if len(key) < 2:
            return None
        best = process.extractOne(key, list(self._variants), scorer=fuzz.ratio, score_cutoff=80)
        return self._variants[best[0]][0] if best else None
