"""Text normalization shared by documents, training data and user input.

One module, one set of rules (see DEVELOPERS.md "Normalize once"):

* ``normalize_chars(text)`` -- NFKC plus the fixes NFKC misses: Kangxi and
  CJK-radical look-alikes (``⿊`` -> 黒, ``⺠`` -> 民), dashes inside phone
  numbers, U+FFFD replacement characters, zero-width characters and control
  characters.  Length may change; use it on whole strings.
* ``normalize_line(line)`` -- ``normalize_chars`` plus removal of HTML and
  Markdown markup, joining of letter-spaced CJK (``保 険 年 金 課`` ->
  保険年金課) and of spaces around numbers in dates (``令 和 ７ 年`` -> 令和7年).
* ``compact(text)`` -- ``normalize_chars`` with every whitespace removed: the
  form in which quotes are checked against sources and answers are scored.
* ``normalize_query(text)`` -- what user input goes through before lookup.

All functions take and return ``str`` and never raise on any Unicode input
(surrogates aside).
"""
from __future__ import annotations

import html
import re
import unicodedata

# CJK radicals (U+2E80-2EFF) are not decomposed by NFKC; Kangxi radicals
# (U+2F00-2FDF) are, but some to the traditional form rather than the
# Japanese one.  Both tables map to the form Japanese users type.
_RADICALS = {
    "⺠": "民", "⺟": "母", "⻑": "長", "⻄": "西", "⻘": "青", "⻝": "食",
    "⻩": "黄", "⻤": "鬼", "⻭": "歯", "⻲": "亀", "⻨": "麦", "⻆": "角",
    "⻁": "虎", "⻂": "衣", "⻌": "辶", "⺬": "示", "⺮": "竹", "⺯": "糸",
    "⻏": "阝", "⻖": "阝", "⺅": "亻", "⺡": "氵", "⺘": "扌", "⺖": "忄",
}
_KANGXI_TO_JAPANESE = {
    "黑": "黒", "靑": "青", "戶": "戸", "齒": "歯", "龜": "亀", "麥": "麦",
    "黃": "黄", "齊": "斉", "辵": "辶",
}
_DASHES = "\u2010\u2011\u2012\u2013\u2014\u2015\u2212\uff0d\u30fc\u2500\u2501"
_PHONE_DASH = re.compile(r"(?<=\d)\s*[" + _DASHES + r"-]\s*(?=\d)")
_CIRCLED = re.compile("[\u2460-\u2473]")  # ①-⑳ survive NFKC (it maps them to digits)
_PUA = re.compile("[\ue000-\uf8ff]")
_ZERO_WIDTH = re.compile("[\u200b\u200c\u200d\u2060\ufeff\u00ad]")
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")

_CJK = r"\u3005\u3006\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\uff66-\uff9f"
_CJK_PUNCT = r"\u3000-\u303f\uff01-\uff0f\uff1a-\uff20\uff3b-\uff40\uff5b-\uff65・「」『』（）〔〕【】＜＞〈〉"
_SPACED_RUN = re.compile(rf"(?<![{_CJK}])((?:[{_CJK}]\s){{2,}}[{_CJK}])(?![{_CJK}])")
_SPACED_PAIR = re.compile(rf"(?<=[{_CJK}])[ \t\u3000](?=[{_CJK}][ \t\u3000]|[{_CJK}]$)")
_SPACE_NUM_BEFORE = re.compile(rf"(?<=[{_CJK}{_CJK_PUNCT}(])[ \t]+(?=[0-9])")
_SPACE_NUM_AFTER = re.compile(rf"(?<=[0-9])[ \t]+(?=[{_CJK}{_CJK_PUNCT})%])")
_SPACE_AROUND_PUNCT = re.compile(rf"[ \t]*([{_CJK_PUNCT}])[ \t]*")
_TAG = re.compile(r"</?(?:b|i|u|p|ul|ol|li|br|span|div|strong|em|sup|sub)(?:\s[^<>]*)?/?>", re.I)
_BR = re.compile(r"<br\s*/?>", re.I)
_MD_EMPHASIS = re.compile(r"\*\*(.+?)\*\*")
_MD_HEADING = re.compile(r"^\s*#{1,6}\s*")
_MD_TABLE_RULE = re.compile(r"^\s*\|?\s*:?-{3,}")
_SPACES = re.compile(r"[ \t\u3000]+")
_WHITESPACE = re.compile(r"\s+")


def _fold_char(ch: str) -> str:
    if ch in _RADICALS:
        return _RADICALS[ch]
    if "\u2f00" <= ch <= "\u2fdf":
        folded = unicodedata.normalize("NFKC", ch)
        return _KANGXI_TO_JAPANESE.get(folded, folded)
    return ch


def normalize_chars(text: str) -> str:
    """Fold code points to what people type; keep layout (spaces, newlines).

    NFKC, then: radicals to Japanese ideographs, U+FFFD to a space,
    zero-width and control characters removed (tab and newline kept),
    any dash between two digits to ``-`` (``044—200-2459`` -> ``044-200-2459``).
    Circled numbers (①-⑳) are kept: they number list items in the sources.
    """
    if not text:
        return ""
    text = "".join(_fold_char(ch) for ch in text)
    text = text.replace("\ufffd", " ")
    text = _ZERO_WIDTH.sub("", text)
    text = _CONTROL.sub(" ", text)
    text = _PUA.sub("", text)
    text = _CIRCLED.sub(lambda m: chr(0xE000 + ord(m.group()) - 0x2460), text)
    text = unicodedata.normalize("NFKC", text)
    text = _PUA.sub(lambda m: chr(0x2460 + ord(m.group()) - 0xE000), text)
    text = "".join(_KANGXI_TO_JAPANESE.get(ch, ch) for ch in text) if any(
        ch in _KANGXI_TO_JAPANESE for ch in text) else text
    return _PHONE_DASH.sub("-", text)


def strip_markup(text: str) -> str:
    """Remove the HTML and Markdown that PDF extraction left inside cells.

    ``<br>`` becomes a space, known inline tags are dropped (``<考え方>`` is not
    an HTML tag and is kept), ``**bold**`` loses its asterisks, heading hashes
    and table pipes become spaces.  Entities are unescaped.
    """
    text = _BR.sub(" ", text)
    text = _TAG.sub(" ", text)
    text = _MD_EMPHASIS.sub(r"\1", text)
    text = _MD_HEADING.sub("", text)
    if _MD_TABLE_RULE.match(text):
        return ""
    text = text.replace("|", " ")
    return html.unescape(text)


def join_spaced(text: str) -> str:
    """Join letter-spaced CJK runs and spaces around numbers and punctuation.

    ``保 険 年 金 課`` -> ``保険年金課``; ``令和 7 年`` -> ``令和7年``;
    ``平成 28（2016）年`` -> ``平成28(2016)年``.  Spaces between two words of
    two or more characters (``川崎市 市民文化局``) are kept.
    """
    text = _SPACED_RUN.sub(lambda m: _WHITESPACE.sub("", m.group(1)), text)
    text = _SPACED_PAIR.sub("", text)
    text = _SPACE_NUM_BEFORE.sub("", text)
    text = _SPACE_NUM_AFTER.sub("", text)
    text = _SPACE_AROUND_PUNCT.sub(r"\1", text)
    return text


def normalize_line(line: str) -> str:
    """One source line as people would type it (see module docstring)."""
    text = strip_markup(normalize_chars(line))
    text = _SPACES.sub(" ", text).strip()
    return join_spaced(text).strip()


def is_kana(text: str) -> bool:
    """True when ``text`` is non-empty and all hiragana, katakana or ー."""
    return bool(text) and all("\u3041" <= ch <= "\u30ff" or ch == "ー" for ch in text)


def compact(text: str) -> str:
    """``normalize_chars`` + markup removal with all whitespace removed.

    The form used to verify curated quotes against sources and to score
    answers: ``compact("保 険 年 金 課")`` == ``"保険年金課"``.
    """
    return _WHITESPACE.sub("", strip_markup(normalize_chars(text)))


def normalize_query(text: str, max_chars: int = 500) -> str:
    """User input before lookup: ``normalize_line`` on at most ``max_chars``
    characters (longer input is cut, not rejected), newlines folded."""
    text = (text or "")[: max_chars * 2]
    text = normalize_line(_WHITESPACE.sub(" ", text))
    return text[:max_chars]
