"""Japanese analysis for full-text search: SudachiPy normalized forms.

SQLite FTS5's tokenizers cannot segment Japanese, so the index stores, per
passage, a space-separated string of terms that FTS5's ``unicode61``
tokenizer splits on spaces.  The same ``terms()`` function builds the index and
the query, so 申込み / 申し込み / 申込 (all normalized to 申し込み) and
kana/kanji variants with the same Sudachi normalized form meet.

Terms of a text are: the normalized forms of split mode C (whole compounds)
and of split mode A (their parts), and the katakana reading of nouns, so
kana-only input (こくみんけんこうほけん) still finds the kanji word.
"""
from __future__ import annotations

import math
import re
import threading
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from functools import lru_cache

from .normalize import is_kana

_MAX_CHUNK = 2000  # characters per Sudachi call; well below its byte limits even for expanding characters
_CACHED_CHARS = 1000  # texts up to this long keep their analysis (morphemes)
_SURROGATE = re.compile("[\ud800-\udfff]")
_lock = threading.Lock()
_SYMBOL = re.compile(r"^[\W_]+$")
CONTENT_POS = {"名詞", "動詞", "形容詞", "形状詞", "接頭辞", "副詞"}
STOP_TERMS = {
    "為る", "居る", "成る", "有る", "言う", "事", "物", "此の", "其の", "何", "所", "方", "様",
    "ん", "の", "よう", "もの", "こと", "ところ", "ほう", "いい", "良い", "教える", "知る",
    "思う", "分かる", "出来る", "ある", "いる", "する", "なる", "くれる", "下さる", "もらう",
    "頂く", "御", "お", "ご", "ちょっと", "今", "それ", "これ", "あれ", "どれ", "どこ", "いつ",
    "駄目", "ダメ", "大丈夫", "本当", "結局", "やっぱり", "矢張り", "一寸", "なん", "何て", "どう", "如何",
    "ください", "下さい", "おしえる", "教え", "知りたい", "わかる", "って", "とか", "など", "です",
    "つく", "付く", "関する", "対する", "聞く", "聴く", "尋ねる", "質問",
    "相談", "担当", "課", "したい", "行く", "いける", "行ける",
}


@dataclass(frozen=True)
class Morpheme:
    """One Sudachi morpheme: ``surface`` text, ``normalized`` form, ``reading``
    (katakana), ``pos`` (first part-of-speech level), character offsets, and
    ``detail`` (the second and third levels, e.g. ("普通名詞", "サ変可能")) and
    ``form``, the conjugation form of a predicate ("連体形-一般"; "*" for
    words that do not conjugate)."""

    surface: str
    normalized: str
    reading: str
    pos: str
    start: int
    end: int
    detail: tuple[str, str] = ("", "")
    form: str = ""


@lru_cache(maxsize=1)
def _dictionary():
    from sudachipy import Dictionary

    return Dictionary(dict="core")


@lru_cache(maxsize=2)
def _tokenizer(mode: str):
    from sudachipy import SplitMode

    return _dictionary().tokenizer(mode=getattr(SplitMode, mode))


def morphemes(text: str, mode: str = "C") -> list[Morpheme]:
    """Sudachi morphemes of ``text`` in split mode ``mode`` ("A", "B", "C").

    Whitespace morphemes are dropped; offsets are character offsets into
    ``text``.  Long text is analysed in chunks of ``_MAX_CHUNK`` characters.
    The analyses of the last few hundred short texts (up to
    ``_CACHED_CHARS`` characters) are kept: understanding one question reads
    the same sentence in several ways.  A new list is returned each time.
    """
    if not text or not text.strip():
        return []
    return list(_cached(text, mode) if len(text) <= _CACHED_CHARS else _analyse(text, mode))


@lru_cache(maxsize=512)
def _cached(text: str, mode: str) -> tuple[Morpheme, ...]:
    return _analyse(text, mode)


def _analyse(text: str, mode: str) -> tuple[Morpheme, ...]:
    out: list[Morpheme] = []
    tok = _tokenizer(mode)
    text = _SURROGATE.sub(" ", text)  # same length, so offsets hold
    for base in range(0, len(text), _MAX_CHUNK):
        chunk = text[base:base + _MAX_CHUNK]
        with _lock:  # Sudachi tokenizers are not thread-safe
            result = [(m.surface(), m.normalized_form(), m.reading_form(), m.part_of_speech(), m.begin(), m.end())
                      for m in tok.tokenize(chunk)]
        for surface, norm, reading, pos, begin, end in result:
            if surface.strip():
                out.append(Morpheme(surface, norm, reading, pos[0], base + begin, base + end, (pos[1], pos[2]), pos[5]))
    return tuple(out)


def _hira_to_kata(text: str) -> str:
    return "".join(chr(ord(ch) + 0x60) if "\u3041" <= ch <= "\u3096" else ch for ch in text)


def terms(text: str, content_only: bool = False) -> list[str]:
    """Search terms of ``text`` (see module docstring), de-duplicated, in order.

    ``content_only`` keeps nouns, verbs, adjectives and the like and drops
    stop terms (for queries); the index keeps every non-symbol term.
    """
    seen: dict[str, None] = {}
    for mode in ("C", "A"):
        for m in morphemes(text, mode):
            if _SYMBOL.match(m.surface):
                continue
            if content_only and (m.pos not in CONTENT_POS or m.normalized in STOP_TERMS or m.surface in STOP_TERMS):
                continue
            seen.setdefault(m.normalized.lower(), None)
            if m.pos == "名詞" and len(m.reading) > 1:
                seen.setdefault(m.reading, None)
            if is_kana(m.surface) and len(m.surface) > 1:
                seen.setdefault(_hira_to_kata(m.surface), None)
    return [t for t in seen if t]


def idf(documents: Iterable[Iterable[str]]) -> dict[str, float]:
    """Smoothed inverse document frequency, ln(1 + N / df), of every term
    of ``documents`` (each an iterable of distinct terms; N their number,
    at least 1)."""
    df: Counter[str] = Counter()
    n = 0
    for document in documents:
        df.update(document)
        n += 1
    return {t: math.log(1 + max(n, 1) / c) for t, c in df.items()}


def index_text(text: str) -> str:
    """The space-joined terms stored in the FTS index for ``text``."""
    return " ".join(terms(text))


def fts_query(text: str) -> str | None:
    """An FTS5 MATCH expression (terms OR-ed, each double-quoted so no FTS5
    syntax in user input survives) for the content terms of ``text``, or None
    when it has none."""
    return fts_terms_query(terms(text, content_only=True))


def fts_terms_query(query_terms: list[str], limit: int = 32) -> str | None:
    """The FTS5 MATCH expression for ``query_terms`` (at most ``limit`` of
    them, each double-quoted, OR-ed), or None for none."""
    quoted = ['"' + t.replace('"', '""') + '"' for t in query_terms[:limit] if t]
    return " OR ".join(quoted) or None
