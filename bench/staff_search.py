"""Benchmark: staff quick-reference search latency per query (ms).

``python bench/staff_search.py [--db knowledge/kb.sqlite] [--rounds 5]`` runs a
fixed mix of queries (full names, kana-only, typos, 1-3 character prefixes as
typed, FTS syntax) through ``knowledge.staff.search`` and prints p50, p95 and
max in milliseconds, after one warm-up pass.  Target: under 50 ms per query.
"""
from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from knowledge import staff  # noqa: E402
from knowledge.build import DEFAULT_DB  # noqa: E402
from knowledge.kb import KnowledgeBase  # noqa: E402

QUERIES = [
    "住民票", "国民健康保険", "こくみんけんこうほけん", "国民健康保検", "保険年金課", "ほけ", "区", "区民", "区民課",
    "生活保護", "せいかつほご", "母子手帳", "放置自転車", "ワークショップ", "締切", "502", "2459", "まちのひろば",
    "ソーシャルデザイン", "町内会 加入率", "第2・第4土曜日", "区役所サービス向上指針", "委員長", "平成28年",
    '"', "NEAR(", "*", "OR", "a" * 200, "😀",
]


def measure(kb: KnowledgeBase, rounds: int = 5) -> list[float]:
    """Milliseconds of ``staff.search`` for each of ``QUERIES`` x ``rounds``,
    sorted, after one untimed warm-up pass (index build, Sudachi load)."""
    for query in QUERIES:
        staff.search(kb, query)
    timings = []
    for _ in range(rounds):
        for query in QUERIES:
            started = time.perf_counter()
            staff.search(kb, query)
            timings.append((time.perf_counter() - started) * 1000)
    return sorted(timings)


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--db", default=str(DEFAULT_DB))
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    timings = measure(KnowledgeBase(args.db), args.rounds)
    p95 = timings[int(0.95 * (len(timings) - 1))]
    print(f"staff search: {len(timings)} queries, p50 {statistics.median(timings):.2f} ms, "
          f"p95 {p95:.2f} ms, max {timings[-1]:.2f} ms (target < 50 ms)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
