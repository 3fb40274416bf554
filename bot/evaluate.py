"""Score an eval file (``../shared/eval/public.yml`` format) over the REST channel.

``python -m bot.evaluate FILE [--url URL]``: with no ``--url`` it starts both
servers itself.  Prints one line per case and the share of answerable cases
whose reply holds every expected fact, unanswerable cases answered
``not_found``, and cases that state a forbidden string.  Scoring follows the
eval README: NFKC, all whitespace removed, plain substrings.
"""
from __future__ import annotations

import argparse
import re
import sys
import unicodedata
import uuid
from collections import defaultdict

import yaml

from .servers import post_message, running


def squash(text: str) -> str:
    """NFKC with all whitespace removed (the eval's comparison form)."""
    return re.sub(r"\s+", "", unicodedata.normalize("NFKC", text))


def reply_of(messages: list[dict]) -> tuple[str, str | None]:
    """``(all reply text joined, custom status or None)`` of one turn."""
    text = "\n".join(m.get("text") or "" for m in messages)
    text += "\n" + "\n".join(b.get("title", "") for m in messages for b in m.get("buttons") or [])
    statuses = [m["custom"].get("status") for m in messages if isinstance(m.get("custom"), dict)]
    return text, statuses[0] if statuses else None


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


def evaluate(path: str, url: str) -> dict:
    """Run every case of ``path`` against ``url``; return the summary dict."""
    data = yaml.safe_load(open(path, encoding="utf-8"))
    results = []
    for case in data.get("single") or []:
        text, status = reply_of(post_message(url, f"eval-{uuid.uuid4().hex[:8]}", case["question"]))
        results.append((case["id"], case, text, status))
    for dialogue in data.get("dialogues") or []:
        sender = f"eval-{uuid.uuid4().hex[:8]}"
        for turn in dialogue["turns"]:
            text, status = reply_of(post_message(url, sender, turn["user"]))
            results.append((f"{dialogue['id']}#{turn['turn']}", {**turn, "question": turn["user"]}, text, status))
    by_intent = defaultdict(lambda: [0, 0])
    answerable = [0, 0]
    unanswerable = [0, 0]
    forbidden_count = 0
    for case_id, case, text, status in results:
        ok, forbidden = judge(case, text, status)
        forbidden_count += forbidden
        bucket = answerable if case.get("answerable", True) else unanswerable
        bucket[0] += ok
        bucket[1] += 1
        by_intent[case.get("intent", "?")][0] += ok
        by_intent[case.get("intent", "?")][1] += 1
        print(f"{'PASS' if ok else 'FAIL'} {case_id:8s} [{status}] {case['question']}")
        if not ok:
            print("      " + text.replace("\n", " / ")[:300])
    passed = answerable[0] + unanswerable[0]
    summary = {
        "cases": len(results), "passed": passed, "accuracy": passed / max(len(results), 1),
        "answerable": answerable, "unanswerable": unanswerable, "forbidden": forbidden_count,
        "by_intent": dict(by_intent),
    }
    print("\nper intent:")
    for intent, (ok, n) in sorted(by_intent.items()):
        print(f"  {intent:14s} {ok}/{n}")
    print(f"\nanswerable cases with every expected fact: {answerable[0]}/{answerable[1]}")
    print(f"unanswerable cases answered not_found:     {unanswerable[0]}/{unanswerable[1]}")
    print(f"cases stating a forbidden string:          {forbidden_count}")
    print(f"overall: {passed}/{len(results)} = {100 * summary['accuracy']:.1f}%")
    return summary


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bot.evaluate")
    parser.add_argument("file")
    parser.add_argument("--url", default=None, help="REST webhook URL of running servers")
    parser.add_argument("--rasa-port", type=int, default=5105)
    parser.add_argument("--actions-port", type=int, default=5155)
    args = parser.parse_args(argv)
    if args.url:
        evaluate(args.file, args.url)
    else:
        with running(args.rasa_port, args.actions_port) as url:
            evaluate(args.file, url)
    return 0


if __name__ == "__main__":
    sys.exit(main())
