"""How the answer lookup's time grows with the knowledge base.

``python -m bench.answer_scale [--factors 1,4,16] [--out JSON]`` copies
``knowledge/kb.sqlite`` with every fact repeated ``factor`` times (new ids,
same content: a city with ``factor`` times the documents, as far as the
lookup's indexes can tell), and times ``Answerer.answer`` in process over
the labelled questions of ``knowledge/answerability`` (their own intents; no
Rasa needed), after one warm-up pass.  Prints and writes, per factor, the
number of facts and p50 / p95 / max in ms (``bench.stats.summarize_ms``).
"""
from __future__ import annotations

import argparse
import json
import shutil
import sqlite3
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.stats import summarize_ms  # noqa: E402

DEFAULT_FACTORS = (1, 4, 16)


def replicate(source: Path, target: Path, factor: int) -> int:
    """Copy the knowledge base ``source`` to ``target`` with every fact
    repeated ``factor`` times (ids ``<id>~<k>`` for the copies, also in the
    FTS index); returns the number of facts in ``target``."""
    shutil.copyfile(source, target)
    conn = sqlite3.connect(target)
    try:
        columns = [r[1] for r in conn.execute("pragma table_info(facts)")]
        others = ", ".join(c for c in columns if c != "id")
        for k in range(1, factor):
            conn.execute(f"insert into facts (id, {others}) select id || '~{k}', {others} "  # noqa: S608 -- our own columns
                         "from facts where id not like '%~%'")
        conn.execute("insert into facts_fts(facts_fts) values('rebuild')")
        conn.commit()
        return conn.execute("select count(*) from facts").fetchone()[0]
    finally:
        conn.close()


def measure(kb_path: Path, factors=DEFAULT_FACTORS) -> dict:
    """``{factor: {"facts", "answer_ms": summary}}`` (see module docstring)."""
    from knowledge.answer import Answerer
    from knowledge.kb import KnowledgeBase
    from knowledge.train import load_cases

    out = {}
    with tempfile.TemporaryDirectory() as tmp:
        for factor in factors:
            path = Path(tmp) / f"kb-x{factor}.sqlite"
            facts = replicate(kb_path, path, factor)
            kb = KnowledgeBase(path)
            answerer = Answerer(kb)
            cases = load_cases(facts=kb.facts)
            for case in cases:  # warm-up: Sudachi's and the caches' first calls
                answerer.answer(case.question, case.intent)
            times = []
            for case in cases:
                started = time.perf_counter()
                answerer.answer(case.question, case.intent, (), case.topic, None, case.previous_intent)
                times.append((time.perf_counter() - started) * 1000)
            out[str(factor)] = {"facts": facts, "questions": len(cases), "answer_ms": summarize_ms(times)}
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.answer_scale")
    parser.add_argument("--kb", default=str(ROOT / "knowledge" / "kb.sqlite"))
    parser.add_argument("--factors", default=",".join(str(f) for f in DEFAULT_FACTORS))
    parser.add_argument("--out", default=None)
    args = parser.parse_args(argv)
    result = measure(Path(args.kb), [int(f) for f in args.factors.split(",")])
    text = json.dumps(result, ensure_ascii=False, indent=1)
    if args.out:
        Path(args.out).write_text(text, encoding="utf-8")
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
