"""Many clients at once: throughput and latency under load, with locust.

Runs ``bench/locustfile.py`` headless from ``.venv-bench`` (locust's pins do
not fit Rasa's) and reads the aggregated row of its CSV statistics.
"""
from __future__ import annotations

import csv
import os
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
LOCUST = ROOT / ".venv-bench" / "bin" / "locust"


def locust_command(host: str, users: int, seconds: int, csv_prefix: Path) -> list[str]:
    """The headless locust command line (all users started within one second)."""
    return [str(LOCUST), "-f", "bench/locustfile.py", "--headless", "-u", str(users), "-r", str(users),
            "-t", f"{seconds}s", "--host", host, "--csv", str(csv_prefix), "--only-summary",
            "--loglevel", "WARNING"]


def _num(value: str) -> float | None:
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


def parse_stats(stats_csv: Path, failures_csv: Path | None = None) -> dict:
    """Figures of locust's ``*_stats.csv`` "Aggregated" row.

    Returns ``{"requests", "failures", "requests_per_s", "answers_per_s"
    (successful requests per second), "p50", "p95", "p99", "mean", "max"}``
    (times in ms, as locust rounds them) and ``failure_kinds`` (message ->
    count) from ``failures_csv``.

    Raises:
        ValueError: the CSV has no Aggregated row.
    """
    with stats_csv.open(encoding="utf-8") as handle:
        rows = [r for r in csv.DictReader(handle) if r.get("Name") == "Aggregated"]
    if not rows:
        raise ValueError(f"{stats_csv}: no Aggregated row")
    row = rows[0]
    requests = int(row["Request Count"])
    failures = int(row["Failure Count"])
    rps = _num(row["Requests/s"]) or 0.0
    out = {
        "requests": requests, "failures": failures, "requests_per_s": round(rps, 2),
        "answers_per_s": round(rps * (requests - failures) / requests, 2) if requests else 0.0,
        "p50": _num(row["50%"]), "p95": _num(row["95%"]), "p99": _num(row["99%"]),
        "mean": round(_num(row["Average Response Time"]) or 0, 1), "max": _num(row["Max Response Time"]),
    }
    kinds: dict[str, int] = {}
    if failures_csv and failures_csv.exists():
        with failures_csv.open(encoding="utf-8") as handle:
            for r in csv.DictReader(handle):
                kind = r.get("Error", "?")[:200]
                kinds[kind] = kinds.get(kind, 0) + int(r.get("Occurrences") or 0)
    out["failure_kinds"] = kinds
    return out


def run(host: str, questions: str, users: int, seconds: int, out_prefix: Path) -> dict:
    """Run locust against ``host`` (base URL of the Rasa server) with
    ``users`` clients for ``seconds``; questions from the eval file
    ``questions``.  Returns :func:`parse_stats` plus ``users``, ``seconds``
    and ``command``.

    Raises:
        subprocess.CalledProcessError: locust could not run (exit code 1 only
            means some requests failed and is not an error here).
    """
    out_prefix.parent.mkdir(parents=True, exist_ok=True)
    cmd = locust_command(host, users, seconds, out_prefix)
    env = {**os.environ, "BENCH_QUESTIONS": str(Path(questions).resolve())}
    env.pop("BENCH_HOSTS", None)
    with (out_prefix.parent / f"{out_prefix.name}.log").open("wb") as log:
        proc = subprocess.run(cmd, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
    if proc.returncode not in (0, 1):
        raise subprocess.CalledProcessError(proc.returncode, cmd)
    stats = parse_stats(Path(f"{out_prefix}_stats.csv"), Path(f"{out_prefix}_failures.csv"))
    shown = [".venv-bench/bin/locust", *cmd[1:]]
    shown_prefix = out_prefix.relative_to(ROOT) if out_prefix.is_relative_to(ROOT) else out_prefix
    shown[shown.index("--csv") + 1] = str(shown_prefix)
    return {**stats, "users": users, "seconds": seconds, "command": " ".join(shown)}
