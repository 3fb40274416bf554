"""How a reply is judged against a labelled case (the dev sets' scoring).

The rules of ``../shared/eval/README.md``: normalize the reply with NFKC and
remove all whitespace; keys are plain substrings in that form.  Used by
``bot.evaluate`` (replies over REST) and ``knowledge.train`` (which facts
answer a labelled question).
"""
from __future__ import annotations

import re
import unicodedata


def squash(text: str) -> str:
    """NFKC with all whitespace removed (the eval's comparison form)."""
    return re.sub(r"\s+", "", unicodedata.normalize("NFKC", str(text)))


def judge(case: dict, text: str, status: str | None) -> tuple[bool, bool]:
    """``(passed, stated_forbidden)`` for one case or dialogue turn."""
    body = squash(text)
    forbidden = any(squash(f) in body for f in case.get("forbid") or [])
    if not case.get("answerable", True):
        return status == "not_found" and not forbidden, forbidden
    ok = all(squash(k) in body for k in case.get("expect_all") or [])
    if case.get("expect_any"):
        ok = ok and any(squash(k) in body for k in case["expect_any"])
    return ok and not forbidden, forbidden
