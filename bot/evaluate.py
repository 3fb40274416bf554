"""Score an eval file (``../shared/eval/public.yml`` format) over the REST channel.

``python -m bot.evaluate FILE... [--url URL]``: with no ``--url`` it starts
both servers itself.  Prints, per file, one line per case and the share of answerable cases
whose reply holds every expected fact, unanswerable cases answered
``not_found``, and cases that state a forbidden string.  Scoring follows the
eval README: NFKC, all whitespace removed, plain substrings
(``knowledge.scoring``); the last lines give each file's figures.
"""
from __future__ import annotations

import argparse
import sys
import uuid
from collections import defaultdict

import yaml

from knowledge.scoring import judge, squash  # noqa: F401  (squash is re-exported)

from .servers import post_message, running


def reply_of(messages: list[dict]) -> tuple[str, str | None]:
    """``(all reply text joined, custom status or None)`` of one turn."""
    text = "\n".join(m.get("text") or "" for m in messages)
    text += "\n" + "\n".join(b.get("title", "") for m in messages for b in m.get("buttons") or [])
    statuses = [m["custom"].get("status") for m in messages if isinstance(m.get("custom"), dict)]
    return text, statuses[0] if statuses else None


def load_cases(path: str) -> list[tuple[str, str, dict]]:
    """Cases of an eval file in order: ``(case_id, conversation, case)``.

    Single cases are conversations of their own; the turns of a dialogue share
    the dialogue's id as ``conversation`` and are ids ``D-01#2`` (the turn's
    ``turn`` number, else its position from 1).  Each case
    dict has ``question`` (a turn's ``user``) and the eval fields.
    """
    with open(path, encoding="utf-8") as handle:
        data = yaml.safe_load(handle) or {}
    cases = [(case["id"], case["id"], case) for case in data.get("single") or []]
    for dialogue in data.get("dialogues") or []:
        for number, turn in enumerate(dialogue["turns"], start=1):
            cases.append((f"{dialogue['id']}#{turn.get('turn', number)}", dialogue["id"],
                          {**turn, "question": turn["user"]}))
    return cases


def rest_replier(url: str):
    """``reply(conversation, question) -> (text, status)`` over the REST
    webhook at ``url``, one fresh sender per conversation."""
    senders: dict[str, str] = {}

    def reply(conversation: str, question: str) -> tuple[str, str | None]:
        sender = senders.setdefault(conversation, f"eval-{uuid.uuid4().hex[:8]}")
        return reply_of(post_message(url, sender, question))

    return reply


def run_cases(cases: list[tuple[str, str, dict]], reply) -> list[tuple[str, dict, str, str | None]]:
    """Ask every case through ``reply(conversation, question)``; returns
    ``(case_id, case, text, status)`` per case, in order."""
    return [(case_id, case, *reply(conversation, case["question"])) for case_id, conversation, case in cases]


def _blank() -> dict:
    return {"cases": 0, "passed": 0, "answerable": [0, 0], "unanswerable": [0, 0], "forbidden": 0}


def _add(bucket: dict, case: dict, ok: bool, forbidden: bool) -> None:
    bucket["cases"] += 1
    bucket["passed"] += ok
    bucket["forbidden"] += forbidden
    pair = bucket["answerable"] if case.get("answerable", True) else bucket["unanswerable"]
    pair[0] += ok
    pair[1] += 1


def score(results: list[tuple[str, dict, str, str | None]]) -> dict:
    """Summary of judged results (see :func:`run_cases`).

    Keys: ``cases``, ``passed``, ``accuracy`` (passed / cases, 0..1),
    ``answerable`` and ``unanswerable`` as ``[passed, total]``, ``forbidden``
    (cases stating a forbidden string), ``by_intent`` (intent -> ``[passed,
    total]``), ``intents`` (intent -> the same keys as the top level, without
    ``accuracy``) and ``failures`` (ids of failed cases).
    """
    total = _blank()
    intents: dict[str, dict] = defaultdict(_blank)
    failures = []
    for case_id, case, text, status in results:
        ok, forbidden = judge(case, text, status)
        _add(total, case, ok, forbidden)
        _add(intents[case.get("intent", "?")], case, ok, forbidden)
        if not ok:
            failures.append(case_id)
    return {
        **total, "accuracy": total["passed"] / max(total["cases"], 1),
        "by_intent": {name: [b["passed"], b["cases"]] for name, b in intents.items()},
        "intents": dict(intents), "failures": failures,
    }


def report(results: list[tuple[str, dict, str, str | None]], summary: dict) -> None:
    """Print one line per case (and the reply of each failure), then the summary."""
    for case_id, case, text, status in results:
        ok = case_id not in summary["failures"]
        print(f"{'PASS' if ok else 'FAIL'} {case_id:8s} [{status}] {case['question']}")
        if not ok:
            print("      " + text.replace("\n", " / ")[:300])
    answerable, unanswerable = summary["answerable"], summary["unanswerable"]
    print("\nper intent:")
    for intent, (ok, n) in sorted(summary["by_intent"].items()):
        print(f"  {intent:14s} {ok}/{n}")
    print(f"\nanswerable cases with every expected fact: {answerable[0]}/{answerable[1]}")
    print(f"unanswerable cases answered not_found:     {unanswerable[0]}/{unanswerable[1]}")
    print(f"cases stating a forbidden string:          {summary['forbidden']}")
    print(f"overall: {summary['passed']}/{summary['cases']} = {100 * summary['accuracy']:.1f}%")


def evaluate(path: str, url: str, quiet: bool = False) -> dict:
    """Run every case of ``path`` against the REST webhook ``url``; print the
    report unless ``quiet``; return the summary (see :func:`score`)."""
    results = run_cases(load_cases(path), rest_replier(url))
    summary = score(results)
    if not quiet:
        report(results, summary)
    return summary


def summary_line(path: str, summary: dict) -> str:
    """One line of figures for an eval file's summary (see :func:`score`)."""
    (a_ok, a_n), (u_ok, u_n) = summary["answerable"], summary["unanswerable"]
    share = lambda ok, n: f"{ok}/{n} = {100 * ok / n:.1f}%" if n else "0/0"  # noqa: E731
    return (f"{path}: answerable {share(a_ok, a_n)}, unanswerable declined {share(u_ok, u_n)}, "
            f"forbidden {summary['forbidden']}, overall {summary['passed']}/{summary['cases']}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bot.evaluate")
    parser.add_argument("files", nargs="+", help="eval files (the format of ../shared/eval/public.yml)")
    parser.add_argument("--url", default=None, help="REST webhook URL of running servers")
    parser.add_argument("--rasa-port", type=int, default=5105)
    parser.add_argument("--actions-port", type=int, default=5155)
    args = parser.parse_args(argv)

    def run_all(url: str) -> list[tuple[str, dict]]:
        out = []
        for path in args.files:
            print(f"===== {path}")
            out.append((path, evaluate(path, url)))
        return out

    if args.url:
        summaries = run_all(args.url)
    else:
        with running(args.rasa_port, args.actions_port) as url:
            summaries = run_all(url)
    print("\n" + "\n".join(summary_line(path, summary) for path, summary in summaries))
    return 0


if __name__ == "__main__":
    sys.exit(main())
