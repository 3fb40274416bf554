"""Soak test: many clients for minutes against the scale-out stack; errors and memory growth.

``make soak`` (run with ``.venv/bin/python bench/soak.py`` from the project
root).  Starts the scale-out stack of ``bot/scaleout.py`` (Redis, PostgreSQL,
two Rasa servers, one action server) in ``results/soak/`` on loopback, then:

1. warm-up: ``SOAK_WARMUP`` seconds (default 60) of the same load, so every
   server has loaded what it loads lazily;
2. samples the resident memory (RSS, /proc) of every Rasa and action server;
3. the soak: ``SOAK_SECONDS`` (300) at ``SOAK_USERS`` (20) concurrent clients
   with locust (``bench/locustfile.py`` from ``.venv-bench``, questions from
   ``BENCH_QUESTIONS``, users spread over both Rasa servers with
   ``BENCH_HOSTS``; a "cannot answer now" reply counts as a failure),
   sampling RSS every ``SOAK_SAMPLE_SECONDS`` (15);
4. samples RSS again, counts the user turns stored in PostgreSQL, stops the
   stack.

Writes ``results/soak.json`` (``SOAK_OUT``) and one line on stdout.  Exits 1
when a request failed (warm-up or soak), a server logged an exception or an
ERROR, fewer turns were stored than answered, or a server's RSS grew by
``SOAK_MAX_GROWTH`` percent (10) or more from the start to the end of the
soak.  Ports: ``SOAK_PORTS`` = ``rasa,rasa,actions,redis,postgres``
(default ``6025,6026,6075,6099,6052``).
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.load import LOCUST, locust_command, parse_stats  # noqa: E402
from bench.memory import status_kib  # noqa: E402
from bot.scaleout import Stack  # noqa: E402

BASE = ROOT / "results" / "soak"


def _env_num(name: str, default: float) -> float:
    value = os.environ.get(name, "").strip()
    return float(value) if value else default


def aggregated(prefix: Path) -> dict:
    """Locust's figures for the run written under ``prefix`` (see
    :func:`bench.load.parse_stats`), with times named in ms as in
    ``results/soak.json``.

    Raises:
        ValueError: the stats file has no Aggregated row (locust did not run).
    """
    stats = parse_stats(Path(f"{prefix}_stats.csv"), Path(f"{prefix}_failures.csv"))
    return {"requests": stats["requests"], "failures": stats["failures"], "requests_per_s": stats["requests_per_s"],
            "p50_ms": stats["p50"], "p95_ms": stats["p95"], "p99_ms": stats["p99"], "max_ms": stats["max"],
            "failure_kinds": stats["failure_kinds"]}


def run_locust(stack: Stack, users: int, seconds: int, name: str, sample_every: float = 0.0,
               samples: list | None = None, t0: float = 0.0) -> dict:
    """Run locust headless for ``seconds`` against every Rasa server of
    ``stack``; sample RSS every ``sample_every`` seconds into ``samples``.
    Returns the aggregated figures plus ``failure_kinds``."""
    prefix = BASE / f"locust-{name}"
    hosts = [stack.url(p) for p in stack.rasa_ports]
    env = {**os.environ, "BENCH_HOSTS": ",".join(hosts)}
    env.pop("PYTHONPATH", None)  # locust's own venv; the locustfile imports nothing from the project
    cmd = locust_command(hosts[0], users, seconds, prefix) + ["--stop-timeout", "60"]
    with (BASE / f"locust-{name}.log").open("wb") as log:
        proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
        next_sample = time.monotonic() + sample_every
        while proc.poll() is None:
            if sample_every and samples is not None and time.monotonic() >= next_sample:
                samples.append(sample(stack, t0))
                next_sample += sample_every
            time.sleep(0.5)
    if not Path(f"{prefix}_stats.csv").exists():
        raise RuntimeError(f"locust did not run (exit {proc.returncode}); see {BASE / f'locust-{name}.log'}")
    return aggregated(prefix)


def servers(stack: Stack) -> dict:
    """PID of every Rasa and action server, by name."""
    return {n: pid for n, pid in stack.pids().items() if n.startswith(("rasa-", "actions-"))}


def sample(stack: Stack, t0: float) -> dict:
    """RSS in KiB of every Rasa and action server, with the seconds since ``t0``."""
    return {"t": round(time.monotonic() - t0, 1), **{n: status_kib(pid, "VmRSS") for n, pid in servers(stack).items()}}


def log_errors(stack: Stack, offsets: dict) -> list:
    """Lines with an exception or an ERROR that the servers logged after ``offsets`` (bytes)."""
    found = []
    for name, offset in offsets.items():
        with stack.log(name).open("rb") as handle:
            handle.seek(offset)
            for line in handle.read().decode("utf-8", "replace").splitlines():
                if "Traceback" in line or " ERROR " in line:
                    found.append(f"{name}: {line.strip()[:300]}")
    return found


def stored_user_turns(stack: Stack) -> int:
    """Number of user turns stored in PostgreSQL."""
    import psycopg2

    with psycopg2.connect(stack.pg_dsn) as conn, conn.cursor() as cur:
        cur.execute("SELECT count(*) FROM events WHERE type_name = 'user'")
        return int(cur.fetchone()[0])


def main() -> int:
    seconds = int(_env_num("SOAK_SECONDS", 300))
    users = int(_env_num("SOAK_USERS", 20))
    warmup = int(_env_num("SOAK_WARMUP", 60))
    every = _env_num("SOAK_SAMPLE_SECONDS", 15)
    max_growth = _env_num("SOAK_MAX_GROWTH", 10.0)
    out = Path(os.environ.get("SOAK_OUT") or ROOT / "results" / "soak.json")
    ports = [int(p) for p in os.environ.get("SOAK_PORTS", "6025,6026,6075,6099,6052").split(",")]
    if not LOCUST.exists():
        print("locust not found: run `make bench-venv`", file=sys.stderr)
        return 2
    shutil.rmtree(BASE, ignore_errors=True)
    stack = Stack(BASE, rasa_ports=ports[:2], actions_ports=ports[2:3], redis_port=ports[3], pg_port=ports[4])
    print(f"soak: starting the scale-out stack in {BASE} ...", flush=True)
    started = time.monotonic()
    stack.start()
    try:
        print(f"soak: stack up in {time.monotonic() - started:.0f} s; warm-up {warmup} s, "
              f"then {seconds} s at {users} clients ...", flush=True)
        warm = run_locust(stack, users, warmup, "warmup") if warmup > 0 else {"requests": 0, "failures": 0}
        offsets = {n: stack.log(n).stat().st_size for n in servers(stack)}
        t0 = time.monotonic()
        samples = [sample(stack, t0)]
        soak = run_locust(stack, users, seconds, "soak", every, samples, t0)
        samples.append(sample(stack, t0))
        errors_in_logs = log_errors(stack, offsets)
        stored = stored_user_turns(stack)
        alive = sorted(servers(stack))
    finally:
        stack.stop()

    first, last = samples[0], samples[-1]
    rss = {}
    for name in (n for n in first if n != "t"):
        start, end = first[name], last.get(name, 0)
        rss[name] = {"start_mib": round(start / 1024, 1), "end_mib": round(end / 1024, 1),
                     "growth_pct": round(100.0 * (end - start) / start, 2) if start else None}
    total_start = sum(first[n] for n in rss)
    total_end = sum(last.get(n, 0) for n in rss)
    rss["total"] = {"start_mib": round(total_start / 1024, 1), "end_mib": round(total_end / 1024, 1),
                    "growth_pct": round(100.0 * (total_end - total_start) / total_start, 2)}
    answered = warm["requests"] - warm["failures"] + soak["requests"] - soak["failures"]
    problems = []
    if warm["failures"] or soak["failures"]:
        problems.append(f"{warm['failures'] + soak['failures']} failed request(s)")
    if errors_in_logs:
        problems.append(f"{len(errors_in_logs)} error line(s) in the server logs")
    if stored < answered:
        problems.append(f"{answered - stored} answered turn(s) not stored")
    if len(alive) != len(rss) - 1:
        problems.append("a server exited")
    grown = [n for n, r in rss.items() if r["growth_pct"] is None or r["growth_pct"] >= max_growth]
    if grown:
        problems.append(f"RSS grew {max_growth:g}% or more: {', '.join(grown)}")
    result = {
        "stack": "scale-out (bot/scaleout.py): 2 Rasa servers, 1 action server, Redis lock store, "
                 "PostgreSQL tracker store, on loopback",
        "users": users, "seconds": seconds, "warmup_seconds": warmup, "cpus": os.cpu_count(),
        **{k: v for k, v in soak.items()},
        "errors": soak["failures"] + warm["failures"] + len(errors_in_logs),
        "warmup": {"requests": warm["requests"], "failures": warm["failures"]},
        "answered_turns": answered, "stored_user_turns": stored,
        "rss": rss, "rss_samples_kib": samples, "log_errors": errors_in_logs[:20],
        "max_growth_pct": max_growth, "ok": not problems, "problems": problems,
    }
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, ensure_ascii=False, indent=1))
    print(f"soak {'OK' if not problems else 'FAILED'}: {seconds} s at {users} clients: {soak['requests']} requests, "
          f"{result['errors']} errors, {soak['requests_per_s']} req/s, p95 {soak['p95_ms']:.0f} ms; "
          f"RSS {rss['total']['start_mib']:.0f} -> {rss['total']['end_mib']:.0f} MiB "
          f"({rss['total']['growth_pct']:+.1f}%; per server "
          + ", ".join(f"{n} {r['growth_pct']:+.1f}%" for n, r in rss.items() if n != "total")
          + f"); {stored} turns stored"
          + (f"; {'; '.join(problems)}" if problems else "") + f" ({out.relative_to(ROOT)})")
    return 0 if not problems else 1


if __name__ == "__main__":
    sys.exit(main())
