"""``make bench``: accuracy and speed of this project against two baselines.

``python -m bench.run [EVAL_FILE ...]`` (default ``../shared/eval/public.yml``)
measures, on this machine and in this order:

1. the knowledge-base build time (into a temporary file);
2. training: ``rasa train --force`` of ``config.yml`` (into a temporary
   directory, the model is discarded) and of ``bench/config_baseline.yml``
   (kept as ``models/baseline.tar.gz``), both timed; with
   ``BENCH_TRAIN_TIME=0`` only ``rasa train`` of the baseline (skipped by
   Rasa when nothing changed) and the times of the last timed run are shown;
3. ``rasa test nlu`` of both models on ``tests/nlu/test_nlu.yml``;
4. per-message NLU parse, Sudachi and answer times in one process
   (``bench.inprocess``), and staff search latency;
5. baseline 2 (full-text retrieval) accuracy, in process;
6. this project's servers (ports ``BENCH_RASA_PORT``/``BENCH_ACTIONS_PORT``,
   default 7005/7055): accuracy over REST, one-client latency, locust load,
   memory, and a py-spy profile under load when a speed bar is missed;
7. baseline 1's servers (the next two ports): accuracy, latency, memory.

Writes ``results/bench/*.json`` and ``docs/benchmarks.md``.  Options (env):
``BENCH_LOAD_SECONDS`` (60), ``BENCH_USERS`` (20), ``BENCH_LATENCY_N`` (200),
``BENCH_TRAIN_TIME`` (1), ``BENCH_PROFILE`` (auto | 1 | 0),
``BENCH_PROFILE_SECONDS`` (30), ``BENCH_NLU`` (1: run ``rasa test nlu``),
``BENCH_INPROCESS`` (1: in-process parse times),
``BENCH_BASELINE_SERVERS`` (1: run baseline 1 over REST).  Exit code 0 even
when bars are missed (the report says so); non-zero when a step fails.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

from bot.servers import started

from . import accuracy, latency, load, machine, memory, nlu, profile, report, train
from .fts_baseline import FtsBaseline
from .stats import summarize_ms

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "results" / "bench"
DOC = ROOT / "docs" / "benchmarks.md"
DEFAULT_EVAL = "../shared/eval/public.yml"
PROJECT_MODEL = "models/kuyakusho.tar.gz"
BASELINE_MODEL = "models/baseline.tar.gz"
# the options and their defaults (each read where it is used), recorded in the report
OPTIONS = {"BENCH_LOAD_SECONDS": "60", "BENCH_USERS": "20", "BENCH_LATENCY_N": "200", "BENCH_TRAIN_TIME": "1",
           "BENCH_PROFILE": "auto", "BENCH_PROFILE_SECONDS": "30", "BENCH_NLU": "1", "BENCH_INPROCESS": "1",
           "BENCH_BASELINE_SERVERS": "1", "BENCH_RASA_PORT": "7005", "BENCH_ACTIONS_PORT": "7055"}
MARGIN = 0.10  # "a clear margin": at least 10 percentage points of overall accuracy


def env_int(name: str, default: int) -> int:
    """Integer option from the environment (``default`` when unset or empty)."""
    value = os.environ.get(name, "").strip()
    return int(value) if value else default


def log(message: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {message}", flush=True)


def save(name: str, data) -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    (OUT / f"{name}.json").write_text(json.dumps(data, ensure_ascii=False, indent=1), encoding="utf-8")


def load_saved(name: str):
    path = OUT / f"{name}.json"
    return json.loads(path.read_text(encoding="utf-8")) if path.exists() else None


def rel(path: str | Path) -> str:
    path = Path(path).resolve()
    return str(path.relative_to(ROOT)) if path.is_relative_to(ROOT) else os.path.relpath(path, ROOT)


def training(commands: list[str]) -> dict:
    """Step 2 (see module doc); returns ``{"project", "baseline_rasa"}`` timings."""
    if env_int("BENCH_TRAIN_TIME", 1):
        log("training config.yml with --force (timed, model discarded) ...")
        project = train.forced_training_time("config.yml", "kuyakusho", OUT / "logs" / "train-project.log")
        log(f"  {project['seconds']} s; training bench/config_baseline.yml with --force (timed) ...")
        base = train.forced_training_time(train.BASELINE_CONFIG, "baseline", OUT / "logs" / "train-baseline.log",
                                          keep_as=ROOT / BASELINE_MODEL)
        log(f"  {base['seconds']} s")
        stamp = machine.facts()["date"]
        result = {"project": {**project, "date": stamp}, "baseline_rasa": {**base, "date": stamp}}
        save("training", result)
        commands += [project["command"], base["command"] + f"   # then moved to {BASELINE_MODEL}"]
        return result
    log("rasa train for the baseline (Rasa skips it when nothing changed) ...")
    base = train.train(train.BASELINE_CONFIG, "models", "baseline", OUT / "logs" / "train-baseline.log")
    commands.append(base["command"])
    previous = load_saved("training") or {}
    result = {key: {**value, "this_run": False} for key, value in previous.items()}
    if base["trained"]:
        log(f"  trained in {base['seconds']} s (Rasa's cache allowed, so not a --force time)")
    return result


def check_bars(res: dict) -> list[dict]:
    """The issue's bars, each ``{"bar", "measured", "met"}``."""
    bars = []
    acc = {k: v["all"] for k, v in res["accuracy"].items()}
    proj = acc["project"]
    bars.append({"bar": "public set answered correctly ≥ 90%, no forbidden fact stated",
                 "measured": f"{report.pct(proj['accuracy'])}, {proj['forbidden']} forbidden",
                 "met": proj["accuracy"] >= 0.90 and proj["forbidden"] == 0})
    for key, label in (("baseline_rasa", "baseline 1"), ("fts", "baseline 2")):
        if key in acc:
            gap = proj["accuracy"] - acc[key]["accuracy"]
            bars.append({"bar": f"beats {label} by a clear margin (≥ {MARGIN * 100:.0f} points overall)",
                         "measured": f"{report.pct(proj['accuracy'])} vs {report.pct(acc[key]['accuracy'])} "
                                     f"({gap * 100:+.1f} points)", "met": gap >= MARGIN})
    servers = res["servers"]["project"]
    lat = servers.get("latency") or {}
    if lat.get("n"):
        bars.append({"bar": "1 client: p95 round trip ≤ 150 ms", "measured": f"{lat['p95']:.0f} ms",
                     "met": lat["p95"] <= 150})
    ld = servers.get("load")
    if ld:
        bars.append({"bar": f"{ld['users']} clients: ≥ 30 answers/s", "measured": f"{ld['answers_per_s']:.1f}/s",
                     "met": ld["answers_per_s"] >= 30})
        bars.append({"bar": f"{ld['users']} clients: p95 ≤ 600 ms", "measured": f"{ld['p95']:.0f} ms",
                     "met": (ld["p95"] or 1e9) <= 600})
        bars.append({"bar": f"{ld['users']} clients: zero errors", "measured": str(ld["failures"]),
                     "met": ld["failures"] == 0})
    rss = (servers.get("rss_end") or {}).get("rasa") or {}
    bars.append({"bar": "Rasa server RSS reported (what dominates: see Speed and memory)",
                 "measured": f"{rss.get('peak_mib', '?')} MiB peak", "met": bool(rss)})
    return bars


def speed_bars_missed(servers: dict) -> bool:
    lat, ld = servers.get("latency") or {}, servers.get("load") or {}
    return (lat.get("p95", 0) > 150 or ld.get("answers_per_s", 1e9) < 30 or (ld.get("p95") or 0) > 600
            or ld.get("failures", 0) > 0)


def serve_and_measure(name: str, model: str, rasa_port: int, actions_port: int, eval_files: list[str],
                      questions: list[str], res: dict, commands: list[str], with_load: bool) -> None:
    """Start the servers for ``model``, measure them, stop them (step 6/7)."""
    log(f"{name}: starting servers on {rasa_port}/{actions_port} with {model} ...")
    with started(rasa_port, actions_port, log_dir=OUT / "logs", model=model) as servers:
        pids = {"rasa": servers.rasa.pid, "actions": servers.actions.pid}
        out = {"rss_idle": {k: memory.rss_mib(p) for k, p in pids.items()}}
        log(f"{name}: accuracy over REST ...")
        res["accuracy"][name] = accuracy.measure(eval_files, accuracy.rest_replier(servers.url))
        log(f"  overall {report.pct(res['accuracy'][name]['all']['accuracy'])}; one-client latency ...")
        out["latency"] = latency.round_trips(servers.url, questions, env_int("BENCH_LATENCY_N", 200))
        log(f"  p50 {out['latency']['p50']} ms, p95 {out['latency']['p95']} ms")
        if with_load:
            users, seconds = env_int("BENCH_USERS", 20), env_int("BENCH_LOAD_SECONDS", 60)
            host = f"http://localhost:{rasa_port}"
            log(f"{name}: locust, {users} clients for {seconds} s ...")
            cpu_before = {k: memory.cpu_seconds(p) for k, p in pids.items()}
            out["load"] = load.run(host, eval_files[0], users, seconds, OUT / "locust")
            answered = max(out["load"]["requests"] - out["load"]["failures"], 1)
            out["load"]["cpu_ms_per_answer"] = {
                k: round(1000 * (memory.cpu_seconds(p) - cpu_before[k]) / answered, 1) for k, p in pids.items()}
            commands.append(out["load"]["command"])
            log(f"  {out['load']['answers_per_s']} answers/s, p95 {out['load']['p95']} ms, "
                f"{out['load']['failures']} errors, CPU ms per answer {out['load']['cpu_ms_per_answer']}")
            mode = os.environ.get("BENCH_PROFILE", "auto").strip().lower()
            if mode in ("1", "yes", "true") or (mode == "auto" and speed_bars_missed(out)):
                seconds = env_int("BENCH_PROFILE_SECONDS", 30)
                log(f"{name}: profiling both servers with py-spy under load for {seconds} s ...")
                spies = {k: profile.start(p, seconds, OUT / f"profile-{k}.txt") for k, p in pids.items()}
                prof_load = load.run(host, eval_files[0], users, seconds + 2, OUT / "locust-profiled")
                for spy in spies.values():
                    spy.wait(timeout=seconds + 60)
                res["profile"] = {"seconds": seconds, "users": users, "load": prof_load,
                                  "command": "py-spy record --pid PID --duration "
                                             f"{seconds} --rate 100 --nonblocking --format raw",
                                  **{k: profile.summarize((OUT / f"profile-{k}.txt").read_text(encoding="utf-8"))
                                     if (OUT / f"profile-{k}.txt").exists() else {} for k in pids}}
                commands.append(f".venv-bench/bin/{res['profile']['command']} --output results/bench/profile-KIND.txt"
                                "   # during a second locust run")
        out["rss_end"] = {k: memory.rss_mib(p) for k, p in pids.items()}
    res["servers"][name] = out
    commands.append(f"python -m bot.rasa_run --port {rasa_port} --model {model} --endpoints endpoints.yml "
                    f"--credentials credentials.yml   # + SANIC_HOST=127.0.0.1 rasa run actions --actions bot.actions "
                    f"--port {actions_port}")


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    eval_files = list(dict.fromkeys(argv or [DEFAULT_EVAL]))
    for path in eval_files:
        if not Path(path).is_file():
            print(f"error: eval file not found: {path}", file=sys.stderr)
            return 2
    os.environ["RASA_TELEMETRY_ENABLED"] = "false"
    OUT.mkdir(parents=True, exist_ok=True)
    rasa_port, actions_port = env_int("BENCH_RASA_PORT", 7005), env_int("BENCH_ACTIONS_PORT", 7055)
    settings = {**OPTIONS, **{k: os.environ[k] for k in sorted(os.environ) if k.startswith("BENCH_") and os.environ[k]}}
    res: dict = {"machine": machine.facts(), "eval_files": [rel(p) for p in eval_files], "accuracy": {},
                 "servers": {}, "settings": settings}
    import rasa

    res["rasa_version"] = rasa.__version__
    commands = ["make bench   # = make train bench-venv, then: python -m bench.run "
                + " ".join(rel(p) for p in eval_files)]
    questions = [c["question"] for p in eval_files for _id, _conv, c in accuracy.load_cases(p)]

    log("knowledge-base build time ...")
    res["kb_build"] = train.time_kb_build(OUT / "logs" / "kb-build.log")
    commands.append(res["kb_build"]["command"])
    res["training"] = training(commands)

    if env_int("BENCH_NLU", 1):
        res["nlu"] = {}
        for name, model in (("project", PROJECT_MODEL), ("baseline_rasa", BASELINE_MODEL)):
            log(f"rasa test nlu: {model} ...")
            res["nlu"][name] = nlu.measure(model, OUT / f"nlu-{name}")
            commands.append(f"rasa test nlu --nlu {nlu.TEST_FILE} --model {model} --out {res['nlu'][name]['out']}")
        save("nlu", res["nlu"])

    res["inprocess"] = {}
    for name, model, extra in (("project", PROJECT_MODEL, ["--sudachi", "--answers"]),
                               ("baseline_rasa", BASELINE_MODEL, [])) if env_int("BENCH_INPROCESS", 1) else ():
        log(f"in-process parse times: {model} ...")
        target = OUT / f"inprocess-{name}.json"
        cmd = [sys.executable, "-m", "bench.inprocess", "--model", model, "--questions", *eval_files,
               "--out", str(target), *extra]
        with (OUT / "logs" / f"inprocess-{name}.log").open("wb") as handle:
            subprocess.run(cmd, cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)}, stdout=handle,
                           stderr=subprocess.STDOUT, check=True)
        res["inprocess"][name] = json.loads(target.read_text(encoding="utf-8"))
        commands.append(f"python -m bench.inprocess --model {model} --questions "
                        f"{' '.join(rel(p) for p in eval_files)} --out {rel(target)} {' '.join(extra)}".rstrip())

    log("staff search latency ...")
    from knowledge.kb import KnowledgeBase

    from . import staff_search

    kb = KnowledgeBase(ROOT / "knowledge" / "kb.sqlite")
    res["staff_search"] = summarize_ms(staff_search.measure(kb))
    commands.append("python bench/staff_search.py   # same queries; p50/p95 recomputed by bench.stats")

    log("baseline 2 (full-text retrieval) accuracy ...")
    res["accuracy"]["fts"] = accuracy.measure(eval_files, FtsBaseline(kb))

    serve_and_measure("project", PROJECT_MODEL, rasa_port, actions_port, eval_files, questions, res, commands,
                      with_load=True)
    if env_int("BENCH_BASELINE_SERVERS", 1):
        serve_and_measure("baseline_rasa", BASELINE_MODEL, rasa_port + 1, actions_port + 1, eval_files, questions,
                          res, commands, with_load=False)
    res["accuracy"] = {k: res["accuracy"][k] for k in ("project", "baseline_rasa", "fts") if k in res["accuracy"]}
    res["bars"] = check_bars(res)
    res["commands"] = commands
    for name, data in res["accuracy"].items():
        save(f"accuracy-{name}", data)
    save("bench", res)  # everything; `python -m bench.report` re-renders the Markdown from it
    DOC.parent.mkdir(parents=True, exist_ok=True)
    DOC.write_text(report.render(res), encoding="utf-8")
    log(f"wrote {rel(DOC)} and {rel(OUT)}/*.json")
    for bar in res["bars"]:
        print(f"  {'MET ' if bar['met'] else 'MISS'} {bar['bar']}: {bar['measured']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
