"""Per-message times inside one process, and where a Rasa process's memory goes.

``python -m bench.inprocess --model MODEL --questions FILE [...] --out JSON
[--sudachi] [--answers]`` loads ``MODEL`` with Rasa's ``Agent.load`` and
times ``agent.parse_message`` (the whole NLU pipeline) over every question of
the eval files, after one warm-up pass.  With ``--sudachi`` it also times the
project's ``SudachiTokenizer`` (configured as in ``config.yml``) alone, and with
``--answers`` the knowledge-base answer (``knowledge.answer.Answerer.answer``
with the parsed intent and entities), i.e. the action server's share.

Memory (RSS, MiB) is read from ``/proc/self`` after each step: start,
``import tensorflow``, ``Agent.load``, first parse (which loads Sudachi's
dictionary lazily), so the report can say what dominates the server's RSS.
Runs in ``.venv`` (Rasa's); writes one JSON object to ``--out``.
"""
from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.stats import summarize_ms  # noqa: E402


def _proc_kib(path: str, *fields: str) -> dict:
    out = {}
    try:
        for line in Path(path).read_text().splitlines():
            key = line.split(":", 1)[0]
            if key in fields:
                out[key] = int(line.split()[1])
    except OSError:
        pass
    return out


def rss_now() -> dict:
    """``{"rss", "anon", "file"}`` of this process in MiB (``smaps_rollup``)."""
    status = _proc_kib("/proc/self/status", "VmRSS")
    rollup = _proc_kib("/proc/self/smaps_rollup", "Anonymous", "Rss")
    rss = status.get("VmRSS", rollup.get("Rss", 0))
    anon = rollup.get("Anonymous", 0)
    return {"rss": round(rss / 1024, 1), "anon": round(anon / 1024, 1), "file": round((rss - anon) / 1024, 1)}


def questions_of(paths: list[str]) -> list[str]:
    """Every question (single cases and dialogue turns) of the eval files."""
    from bot.evaluate import load_cases

    return [case["question"] for path in paths for _id, _conv, case in load_cases(path)]


def time_each(fn, items: list, warmup: bool = True) -> list[float]:
    """Milliseconds of ``fn(item)`` for each item (after one untimed pass)."""
    if warmup:
        for item in items:
            fn(item)
    timings = []
    for item in items:
        started = time.perf_counter()
        fn(item)
        timings.append((time.perf_counter() - started) * 1000)
    return timings


def sudachi_tokenizer():
    """The project's ``SudachiTokenizer`` configured like ``config.yml``'s first pipeline step."""
    import yaml

    from bot.components.sudachi_tokenizer import SudachiTokenizer

    config = yaml.safe_load((ROOT / "config.yml").read_text(encoding="utf-8"))
    step = next(s for s in config["pipeline"] if s["name"].endswith("SudachiTokenizer"))
    return SudachiTokenizer({**SudachiTokenizer.get_default_config(),
                             **{k: v for k, v in step.items() if k != "name"}})


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.inprocess")
    parser.add_argument("--model", required=True)
    parser.add_argument("--questions", nargs="+", required=True)
    parser.add_argument("--out", required=True)
    parser.add_argument("--sudachi", action="store_true")
    parser.add_argument("--answers", action="store_true")
    args = parser.parse_args(argv)
    os.environ.setdefault("RASA_TELEMETRY_ENABLED", "false")
    questions = questions_of(args.questions)
    memory = {"start": rss_now()}
    started = time.perf_counter()
    import tensorflow  # noqa: F401  (what Agent.load imports anyway; measured apart)

    memory["import_tensorflow"] = rss_now()
    from rasa.core.agent import Agent
    from rasa.utils.log_utils import configure_structlog

    configure_structlog(logging.INFO)  # as `rasa run` does: no per-message debug lines while timing

    agent = Agent.load(args.model)
    load_seconds = time.perf_counter() - started
    memory["agent_load"] = rss_now()
    loop = asyncio.new_event_loop()
    parse = lambda q: loop.run_until_complete(agent.parse_message(q))  # noqa: E731
    parse(questions[0])
    memory["first_parse"] = rss_now()
    result = {"model": args.model, "questions": len(questions), "load_seconds": round(load_seconds, 1),
              "parse_ms": summarize_ms(time_each(parse, questions))}
    memory["after_parses"] = rss_now()
    if args.sudachi:
        from rasa.shared.nlu.training_data.message import Message

        tokenizer = sudachi_tokenizer()
        result["sudachi_ms"] = summarize_ms(time_each(
            lambda q: tokenizer.tokenize(Message(data={"text": q}), "text"), questions))
        import sudachidict_core

        dic = Path(sudachidict_core.__file__).parent / "resources" / "system.dic"
        result["sudachi_dictionary_mib"] = round(dic.stat().st_size / 2**20, 1) if dic.exists() else None
    if args.answers:
        from knowledge.answer import Answerer
        from knowledge.build import DEFAULT_DB
        from knowledge.kb import KnowledgeBase

        answerer = Answerer(KnowledgeBase(os.environ.get("KB_PATH", str(DEFAULT_DB))))
        parsed = {q: parse(q) for q in questions}

        def answer(q: str) -> None:
            intent = (parsed[q].get("intent") or {}).get("name") or ""
            values = tuple(str(e["value"]) for e in parsed[q].get("entities") or [] if e.get("value"))
            answerer.answer(q, intent if intent.startswith("ask_") else None, values)

        result["answer_ms"] = summarize_ms(time_each(answer, questions))
    result["memory_mib"] = memory
    Path(args.out).write_text(json.dumps(result, ensure_ascii=False, indent=1), encoding="utf-8")
    print(json.dumps({k: v for k, v in result.items() if k != "memory_mib"}, ensure_ascii=False))
    return 0


if __name__ == "__main__":
    sys.exit(main())
