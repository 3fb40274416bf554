"""One client, one request at a time: REST round-trip latency."""
from __future__ import annotations

import itertools
import time
import uuid

from bot.servers import post_message

from .stats import summarize_ms

TURNS_PER_SENDER = 8  # well under the REST channel's 20 messages per minute per sender


def round_trips(url: str, questions: list[str], count: int, warmup: int = 5) -> dict:
    """POST ``count`` questions (cycling through ``questions``) to the REST
    webhook ``url`` one after another, a new sender every
    ``TURNS_PER_SENDER`` turns, after ``warmup`` untimed ones.

    Returns :func:`bench.stats.summarize_ms` of the round trips (ms) plus
    ``errors`` (exceptions or replies without a ``custom`` status) and
    ``seconds`` (wall time of the timed part).
    """
    cycle = itertools.cycle(questions)
    for _ in range(warmup):
        post_message(url, f"warm-{uuid.uuid4().hex[:8]}", next(cycle))
    timings, errors = [], 0
    sender = ""
    started = time.perf_counter()
    for i in range(count):
        if i % TURNS_PER_SENDER == 0:
            sender = f"lat-{uuid.uuid4().hex[:12]}"
        question = next(cycle)
        began = time.perf_counter()
        try:
            reply = post_message(url, sender, question)
            ok = any(isinstance(m.get("custom"), dict) and m["custom"].get("status") for m in reply)
        except Exception:
            ok = False
        timings.append((time.perf_counter() - began) * 1000)
        errors += not ok
    return {**summarize_ms(timings), "errors": errors, "seconds": round(time.perf_counter() - started, 1)}
