"""Answer accuracy of one system on eval files, scored like ``make eval``.

Scoring is ``bot.evaluate``'s (``load_cases`` / ``run_cases`` / ``score``):
NFKC, whitespace removed, plain substrings.  A *system* is anything with
``reply(conversation, question) -> (text, status)``: the bot over REST
(``bot.evaluate.rest_replier``) or :class:`bench.fts_baseline.FtsBaseline`.
"""
from __future__ import annotations

from pathlib import Path

from bot.evaluate import load_cases, rest_replier, run_cases, score  # noqa: F401  (re-exported)


def measure(paths: list[str], reply) -> dict:
    """Score every eval file in ``paths`` with ``reply``.

    Returns ``{"files": {path: summary}, "all": summary}`` where a summary is
    :func:`bot.evaluate.score`'s dict plus ``rates`` (see :func:`rates`) and
    ``answers`` (case id -> ``[status, first 300 characters of the reply]``).
    ``all`` pools the cases of every file (ids prefixed with the file name
    when there is more than one).
    """
    pooled = []
    files = {}
    for path in paths:
        results = run_cases(load_cases(path), reply)
        files[path] = _summary(results)
        prefix = f"{Path(path).stem}:" if len(paths) > 1 else ""
        pooled += [(prefix + case_id, case, text, status) for case_id, case, text, status in results]
    return {"files": files, "all": _summary(pooled)}


def _summary(results: list) -> dict:
    summary = score(results)
    summary["rates"] = rates(summary)
    summary["intent_rates"] = {name: rates(b) for name, b in summary["intents"].items()}
    summary["answers"] = {case_id: [status, text.strip()[:300]] for case_id, _case, text, status in results}
    return summary


def rates(bucket: dict) -> dict:
    """Shares (0..1, None when there is no such case) of one summary bucket:
    ``answered_ok`` answerable cases with every expected fact and no forbidden
    string, ``not_found_ok`` unanswerable cases answered ``not_found`` without a
    forbidden string, ``forbidden`` cases stating a forbidden string, and
    ``overall`` passed cases."""
    share = lambda ok, n: ok / n if n else None  # noqa: E731
    return {
        "answered_ok": share(*bucket["answerable"]),
        "not_found_ok": share(*bucket["unanswerable"]),
        "forbidden": share(bucket["forbidden"], bucket["cases"]),
        "overall": share(bucket["passed"], bucket["cases"]),
    }
