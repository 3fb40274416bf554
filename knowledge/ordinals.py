"""Ordinal references: 第24条, 第6期, 第1回, 第三次.

A question that names 第24条 asks about that article; a fact that speaks of
第3条 (and not of 第24条) is about another one and does not answer it, however
close its words are.  ``ordinals(text)`` reads the references,
``conflicts(asked, text)`` tells whether a text names only others of the same
kind.
"""
from __future__ import annotations

import re
import unicodedata

COUNTERS = "条回期次号章節項"  # what an ordinal counts: articles, sessions, terms, editions, items ...
_KANJI_DIGITS = {d: i for i, d in enumerate("〇一二三四五六七八九")}
_ORDINAL = re.compile(rf"第\s*([0-9]+|[〇一二三四五六七八九十]+)\s*([{COUNTERS}])")


def kanji_number(text: str) -> int | None:
    """The value of a kanji numeral below 100 (三 -> 3, 十二 -> 12, 二十四 -> 24),
    or None when ``text`` is not one."""
    if not text or any(c not in _KANJI_DIGITS and c != "十" for c in text) or text.count("十") > 1:
        return None
    if "十" not in text:
        return _KANJI_DIGITS[text] if len(text) == 1 else None
    tens, _, ones = text.partition("十")
    if len(tens) > 1 or len(ones) > 1:
        return None
    return (_KANJI_DIGITS[tens] if tens else 1) * 10 + (_KANJI_DIGITS[ones] if ones else 0)


def ordinals(text: str) -> frozenset[tuple[int, str]]:
    """The ordinal references in ``text`` as ``(number, counter)`` pairs
    (「自治基本条例第２４条」 -> {(24, "条")}); full-width digits are read too."""
    found = set()
    for number, counter in _ORDINAL.findall(unicodedata.normalize("NFKC", text)):
        value = int(number) if number.isdigit() else kanji_number(number)
        if value is not None:
            found.add((value, counter))
    return frozenset(found)


def conflicts(asked: frozenset[tuple[int, str]], text: str) -> bool:
    """Whether ``text`` names, for a counter the question uses, only other
    numbers than the question's (asked 第24条, the text names 第3条 alone).
    A text that names no ordinal of that counter does not conflict."""
    if not asked:
        return False
    named = ordinals(text)
    for counter in {c for _, c in asked}:
        theirs = {n for n, c in named if c == counter}
        if theirs and not theirs & {n for n, c in asked if c == counter}:
            return True
    return False
