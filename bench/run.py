"""``make bench``: accuracy and speed of this project against today's configuration and two baselines.

``python -m bench.run [EVAL_FILE ...]`` (default ``../shared/eval/public.yml``)
measures, on this machine and in this order:

1. the knowledge-base build time (into a temporary file);
2. training: ``rasa train --force`` of ``config.yml`` (into a temporary
   directory, the model is discarded), of ``bench/config_today.yml`` (kept as
   ``models/today.tar.gz``) and of ``bench/config_baseline.yml`` (kept as
   ``models/baseline.tar.gz``), all timed; with ``BENCH_TRAIN_TIME=0`` only
   ``rasa train`` of today's and the baseline's configs (Rasa's cache makes it
   quick when nothing changed) and the times of the last timed run are shown;
3. ``rasa test nlu`` of the three models on ``tests/nlu/test_nlu.yml``;
4. per-message NLU parse, Sudachi and answer times in one process
   (``bench.inprocess``), and staff search latency;
5. baseline 2 (full-text retrieval) accuracy, in process;
6. this project's servers as ``make run`` starts them (ports
   ``BENCH_RASA_PORT``/``BENCH_ACTIONS_PORT``, default 7005/7055):
   ``BENCH_WORKERS`` Sanic workers (default: one per core) with the Redis lock
   store on a redis-server of its own (one worker when Redis is missing);
   accuracy over REST, one-client latency, locust load, memory of every
   server process, CPU per answer, and a py-spy profile of every worker under
   load when a speed bar is missed;
7. today's configuration (the next two ports): ``models/today.tar.gz``, one
   worker, in-memory lock store, Rasa's schema check on every action call
   (``KUYAKUSHO_RASA_PATCHES=0``), ``bench/endpoints_today.yml``; the same
   accuracy, latency and load measurements;
8. baseline 1's servers (the next two ports): accuracy, latency, memory.

Writes ``results/bench/*.json`` and ``docs/benchmarks.md``.  Options (env):
``BENCH_LOAD_SECONDS`` (60), ``BENCH_USERS`` (20), ``BENCH_LATENCY_N`` (200),
``BENCH_TRAIN_TIME`` (1), ``BENCH_PROFILE`` (auto | 1 | 0),
``BENCH_PROFILE_SECONDS`` (30), ``BENCH_NLU`` (1: run ``rasa test nlu``),
``BENCH_INPROCESS`` (1: in-process parse times), ``BENCH_TODAY`` (1: measure
today's configuration), ``BENCH_BASELINE_SERVERS`` (1: run baseline 1 over
REST), ``BENCH_WORKERS`` (number of CPUs).  Exit code 0 even when bars are
missed (the report says so); non-zero when a step fails.
"""
from __future__ import annotations

import contextlib
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

from bot.servers import redis_on_socket, started

from . import accuracy, latency, load, machine, memory, nlu, profile, report, train
from .fts_baseline import FtsBaseline
from .stats import summarize_ms

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "results" / "bench"
DOC = ROOT / "docs" / "benchmarks.md"
DEFAULT_EVAL = "../shared/eval/public.yml"
PROJECT_MODEL = "models/kuyakusho.tar.gz"
TODAY_MODEL = "models/today.tar.gz"
BASELINE_MODEL = "models/baseline.tar.gz"
TODAY_ENDPOINTS = "bench/endpoints_today.yml"
# today's configuration: one worker, in-memory lock store, Rasa's code unpatched
TODAY_ENV = {"SANIC_WORKERS": "1", "REDIS_URL": "", "KUYAKUSHO_RASA_PATCHES": "0"}
# the options and their defaults (each read where it is used), recorded in the report
OPTIONS = {"BENCH_LOAD_SECONDS": "60", "BENCH_USERS": "20", "BENCH_LATENCY_N": "200", "BENCH_TRAIN_TIME": "1",
           "BENCH_PROFILE": "auto", "BENCH_PROFILE_SECONDS": "30", "BENCH_NLU": "1", "BENCH_INPROCESS": "1",
           "BENCH_TODAY": "1", "BENCH_BASELINE_SERVERS": "1", "BENCH_WORKERS": str(os.cpu_count() or 1),
           "BENCH_RASA_PORT": "7005", "BENCH_ACTIONS_PORT": "7055"}
MARGIN = 0.10  # "a clear margin": at least 10 percentage points of overall accuracy
# issue #12's bars
MIN_ANSWERS_PER_S = 45.0
MAX_LOAD_P95_MS = 600.0
MIN_TIMES_TODAY = 2.5
MAX_ONE_CLIENT_P95_MS = 60.0
MAX_RSS_PER_WORKER_VS_TODAY = 1.2
NLU_TOLERANCE = 0.01


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
    """Step 2 (see module doc); returns ``{"project", "today", "baseline_rasa"}`` timings."""
    kept = (("today", train.TODAY_CONFIG, "today", TODAY_MODEL),
            ("baseline_rasa", train.BASELINE_CONFIG, "baseline", BASELINE_MODEL))
    if env_int("BENCH_TRAIN_TIME", 1):
        log("training config.yml with --force (timed, model discarded) ...")
        result = {"project": train.forced_training_time("config.yml", "kuyakusho", OUT / "logs" / "train-project.log")}
        commands.append(result["project"]["command"])
        log(f"  {result['project']['seconds']} s")
        for key, config, name, model in kept:
            log(f"training {config} with --force (timed, kept as {model}) ...")
            result[key] = train.forced_training_time(config, name, OUT / "logs" / f"train-{key}.log",
                                                     keep_as=ROOT / model)
            commands.append(result[key]["command"] + f"   # then moved to {model}")
            log(f"  {result[key]['seconds']} s")
        stamp = machine.facts()["date"]
        result = {key: {**value, "date": stamp} for key, value in result.items()}
        save("training", result)
        return result
    previous = load_saved("training") or {}
    result = {key: {**value, "this_run": False} for key, value in previous.items()}
    for key, config, name, _model in kept:
        log(f"rasa train {config} (Rasa's cache makes it quick when nothing changed) ...")
        done = train.train(config, "models", name, OUT / "logs" / f"train-{key}.log")
        commands.append(done["command"])
        log(f"  {done['seconds']} s")
    return result


def check_bars(res: dict) -> list[dict]:
    """The bars (accuracy, and issue #12's speed and memory bars), each ``{"bar", "measured", "met"}``."""
    bars = []
    acc = {k: v["all"] for k, v in res["accuracy"].items()}
    proj = acc["project"]
    bars.append({"bar": "public set answered correctly ≥ 90%, no forbidden fact stated",
                 "measured": f"{report.pct(proj['accuracy'])}, {proj['forbidden']} forbidden",
                 "met": proj["accuracy"] >= 0.90 and proj["forbidden"] == 0})
    if "today" in acc:
        bars.append({"bar": "accuracy equal to or better than today's configuration, on every eval file",
                     "measured": "; ".join(
                         f"{f}: {report.pct(res['accuracy']['project']['files'][f]['accuracy'])} vs "
                         f"{report.pct(res['accuracy']['today']['files'][f]['accuracy'])}"
                         for f in res["accuracy"]["project"]["files"]),
                     "met": all(res["accuracy"]["project"]["files"][f]["accuracy"]
                                >= res["accuracy"]["today"]["files"][f]["accuracy"]
                                for f in res["accuracy"]["project"]["files"])})
    for key, label in (("baseline_rasa", "baseline 1"), ("fts", "baseline 2")):
        if key in acc:
            gap = proj["accuracy"] - acc[key]["accuracy"]
            bars.append({"bar": f"beats {label} by a clear margin (≥ {MARGIN * 100:.0f} points overall)",
                         "measured": f"{report.pct(proj['accuracy'])} vs {report.pct(acc[key]['accuracy'])} "
                                     f"({gap * 100:+.1f} points)", "met": gap >= MARGIN})
    nlu_res = res.get("nlu") or {}
    if "project" in nlu_res and "today" in nlu_res:
        for key, label in (("intent_macro_f1", "intent macro-F1"), ("entity_f1", "entity F1 (micro)")):
            new, old = nlu_res["project"].get(key), nlu_res["today"].get(key)
            if new is not None and old is not None:
                bars.append({"bar": f"NLU {label} within {NLU_TOLERANCE} of today's",
                             "measured": f"{new:.3f} vs {old:.3f} ({new - old:+.3f})",
                             "met": new >= old - NLU_TOLERANCE})
    servers = res["servers"]["project"]
    today = res["servers"].get("today") or {}
    lat = servers.get("latency") or {}
    if lat.get("n"):
        bars.append({"bar": f"1 client: p95 round trip ≤ {MAX_ONE_CLIENT_P95_MS:.0f} ms",
                     "measured": f"{lat['p95']:.0f} ms", "met": lat["p95"] <= MAX_ONE_CLIENT_P95_MS})
    ld = servers.get("load")
    if ld:
        users, secs = ld["users"], ld["seconds"]
        bars.append({"bar": f"{users} clients for {secs} s: ≥ {MIN_ANSWERS_PER_S:.0f} answers/s",
                     "measured": f"{ld['answers_per_s']:.1f}/s", "met": ld["answers_per_s"] >= MIN_ANSWERS_PER_S})
        bars.append({"bar": f"{users} clients: p95 ≤ {MAX_LOAD_P95_MS:.0f} ms", "measured": f"{ld['p95']:.0f} ms",
                     "met": (ld["p95"] or 1e9) <= MAX_LOAD_P95_MS})
        bars.append({"bar": f"{users} clients: zero errors", "measured": str(ld["failures"]),
                     "met": ld["failures"] == 0})
        old = (today.get("load") or {}).get("answers_per_s")
        if old:
            bars.append({"bar": f"{users} clients: ≥ {MIN_TIMES_TODAY}× today's configuration's throughput "
                                "(same run)",
                         "measured": f"{ld['answers_per_s']:.1f}/s vs {old:.1f}/s "
                                     f"(×{ld['answers_per_s'] / old:.2f})",
                         "met": ld["answers_per_s"] >= MIN_TIMES_TODAY * old})
    rss = (servers.get("rss_end") or {}).get("rasa") or {}
    bars.append({"bar": "peak RSS of all server processes reported",
                 "measured": f"{servers.get('rss_all_peak_mib', '?')} MiB (Rasa server "
                             f"{rss.get('peak_mib', '?')} MiB in {servers.get('workers', '?')} worker(s))",
                 "met": bool(rss)})
    old_per_worker = today.get("rasa_peak_per_worker_mib")
    new_per_worker = servers.get("rasa_peak_per_worker_mib")
    if old_per_worker and new_per_worker:
        bars.append({"bar": f"Rasa server peak RSS per worker ≤ {MAX_RSS_PER_WORKER_VS_TODAY}× today's",
                     "measured": f"{new_per_worker:.0f} vs {old_per_worker:.0f} MiB "
                                 f"(×{new_per_worker / old_per_worker:.2f})",
                     "met": new_per_worker <= MAX_RSS_PER_WORKER_VS_TODAY * old_per_worker})
    return bars


def speed_bars_missed(servers: dict) -> bool:
    """Whether a one-client or load bar of issue #12 is missed (``servers`` as measured)."""
    lat, ld = servers.get("latency") or {}, servers.get("load") or {}
    return (lat.get("p95", 0) > MAX_ONE_CLIENT_P95_MS or ld.get("answers_per_s", 1e9) < MIN_ANSWERS_PER_S
            or (ld.get("p95") or 0) > MAX_LOAD_P95_MS or ld.get("failures", 0) > 0)


def worker_pids(rasa_pid: int) -> list[int]:
    """The processes that serve requests: the Sanic workers below ``rasa_pid``, or
    ``rasa_pid`` itself when it serves alone (one worker)."""
    children = [p for p in memory.descendants(rasa_pid) if p != rasa_pid]
    return children or [rasa_pid]


def serve_and_measure(name: str, model: str, rasa_port: int, actions_port: int, eval_files: list[str],
                      questions: list[str], res: dict, commands: list[str], with_load: bool,
                      env: dict | None = None, endpoints: str = "endpoints.yml", profile_it: bool = False,
                      extra_pids: dict | None = None) -> None:
    """Start the servers for ``model`` (with ``env`` and ``endpoints``), measure them, stop them (steps 6-8).
    ``extra_pids`` are more server processes (e.g. Redis) counted in the memory figures."""
    env = dict(env or {})
    workers = int(env.get("SANIC_WORKERS") or 1)
    log(f"{name}: starting servers on {rasa_port}/{actions_port} with {model}, {workers} worker(s) ...")
    with started(rasa_port, actions_port, log_dir=OUT / "logs", model=model, env=env, endpoints=endpoints,
                 timeout=600) as servers:
        pids = {"rasa": servers.rasa.pid, "actions": servers.actions.pid}
        every = {**pids, **(extra_pids or {})}
        out = {"workers": workers, "rss_idle": {k: memory.rss_mib(p) for k, p in every.items()}}
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
            out["load"] = load.run(host, eval_files[0], users, seconds, OUT / f"locust-{name}")
            answered = max(out["load"]["requests"] - out["load"]["failures"], 1)
            out["load"]["cpu_ms_per_answer"] = {
                k: round(1000 * (memory.cpu_seconds(p) - cpu_before[k]) / answered, 1) for k, p in pids.items()}
            commands.append(out["load"]["command"])
            log(f"  {out['load']['answers_per_s']} answers/s, p95 {out['load']['p95']} ms, "
                f"{out['load']['failures']} errors, CPU ms per answer {out['load']['cpu_ms_per_answer']}")
            mode = os.environ.get("BENCH_PROFILE", "auto").strip().lower()
            if profile_it and (mode in ("1", "yes", "true") or (mode == "auto" and speed_bars_missed(out))):
                seconds = env_int("BENCH_PROFILE_SECONDS", 30)
                targets = {f"rasa-{i}": p for i, p in enumerate(worker_pids(pids["rasa"]))}
                targets["actions"] = pids["actions"]
                log(f"{name}: profiling {len(targets)} server processes with py-spy under load for {seconds} s ...")
                spies = {k: profile.start(p, seconds, OUT / f"profile-{k}.txt") for k, p in targets.items()}
                prof_load = load.run(host, eval_files[0], users, seconds + 2, OUT / "locust-profiled")
                for spy in spies.values():
                    spy.wait(timeout=seconds + 60)
                texts = {k: (OUT / f"profile-{k}.txt").read_text(encoding="utf-8")
                         for k in targets if (OUT / f"profile-{k}.txt").exists()}
                rasa_text = "\n".join(t for k, t in texts.items() if k.startswith("rasa-"))
                res["profile"] = {"seconds": seconds, "users": users, "load": prof_load, "system": name,
                                  "rasa_processes": len([k for k in targets if k.startswith("rasa-")]),
                                  "command": "py-spy record --pid PID --duration "
                                             f"{seconds} --rate 100 --nonblocking --format raw",
                                  "rasa": profile.summarize(rasa_text) if rasa_text else {},
                                  "actions": profile.summarize(texts["actions"]) if "actions" in texts else {}}
                commands.append(f".venv-bench/bin/{res['profile']['command']} --output results/bench/profile-KIND.txt"
                                "   # during a second locust run, on every Rasa worker and the action server")
        out["rss_end"] = {k: memory.rss_mib(p) for k, p in every.items()}
        out["rasa_peak_per_worker_mib"] = round(out["rss_end"]["rasa"]["peak_mib"] / workers, 1)
        out["rss_all_peak_mib"] = round(sum(v["peak_mib"] for v in out["rss_end"].values()), 1)
    res["servers"][name] = out
    shown_env = " ".join(f"{k}={shown_setting(k, v)}" for k, v in env.items() if v)
    commands.append(f"{shown_env + ' ' if shown_env else ''}python -m bot.rasa_run --port {rasa_port} --model {model} "
                    f"--endpoints {endpoints} --credentials credentials.yml   "
                    f"# + SANIC_HOST=127.0.0.1 rasa run actions --actions bot.actions --port {actions_port}")


def shown_setting(name: str, value: str) -> str:
    """An environment setting as the report shows it: a ``unix://`` ``REDIS_URL``
    with its socket path relative to the project root."""
    if name == "REDIS_URL" and value.startswith("unix://"):
        return "unix://" + rel(value[len("unix://"):].split("?")[0])
    return value


@contextlib.contextmanager
def project_environment(workers: int, res: dict):
    """This project's Rasa server environment as ``make run`` sets it, for the
    ``with`` block: yields ``(env, extra_pids)``.  ``SANIC_WORKERS`` and, for
    more than one worker, ``REDIS_URL`` of a redis-server on a Unix socket
    (its pid in ``extra_pids``); one worker when ``redis-server`` is missing
    (noted in ``res["notes"]``)."""
    if workers > 1 and not shutil.which("redis-server"):
        note = (f"redis-server not installed (scripts/install_redis.sh): this project's server ran 1 worker, "
                f"not {workers}")
        res.setdefault("notes", []).append(note)
        log(f"  {note}")
        workers = 1
    if workers > 1:
        with redis_on_socket(OUT / "redis") as redis:
            yield {"SANIC_WORKERS": str(workers), "REDIS_URL": redis.url}, {"redis": redis.pid}
        return
    yield {"SANIC_WORKERS": "1", "REDIS_URL": ""}, {}


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
        models = [("project", PROJECT_MODEL), ("today", TODAY_MODEL), ("baseline_rasa", BASELINE_MODEL)]
        for name, model in models if env_int("BENCH_TODAY", 1) else [models[0], models[2]]:
            log(f"rasa test nlu: {model} ...")
            res["nlu"][name] = nlu.measure(model, OUT / f"nlu-{name}")
            commands.append(f"rasa test nlu --nlu {nlu.TEST_FILE} --model {model} --out {res['nlu'][name]['out']}")
        save("nlu", res["nlu"])

    res["inprocess"] = {}
    runs = [("project", PROJECT_MODEL, ["--sudachi", "--answers"]), ("today", TODAY_MODEL, []),
            ("baseline_rasa", BASELINE_MODEL, [])]
    runs = [r for r in runs if r[0] != "today" or env_int("BENCH_TODAY", 1)] if env_int("BENCH_INPROCESS", 1) else []
    for name, model, extra in runs:
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

    log("answer lookup as the knowledge base grows (every fact x1, x4, x16) ...")
    from . import answer_scale

    res["answer_scale"] = answer_scale.measure(ROOT / "knowledge" / "kb.sqlite")
    commands.append("python -m bench.answer_scale --factors 1,4,16")

    log("staff search latency ...")
    from knowledge.kb import KnowledgeBase

    from . import staff_search

    kb = KnowledgeBase(ROOT / "knowledge" / "kb.sqlite")
    res["staff_search"] = summarize_ms(staff_search.measure(kb))
    commands.append("python bench/staff_search.py   # same queries; p50/p95 recomputed by bench.stats")

    log("baseline 2 (full-text retrieval) accuracy ...")
    res["accuracy"]["fts"] = accuracy.measure(eval_files, FtsBaseline(kb))

    with project_environment(env_int("BENCH_WORKERS", os.cpu_count() or 1), res) as (env, extra):
        serve_and_measure("project", PROJECT_MODEL, rasa_port, actions_port, eval_files, questions, res, commands,
                          with_load=True, env=env, profile_it=True, extra_pids=extra)
    if env_int("BENCH_TODAY", 1):
        serve_and_measure("today", TODAY_MODEL, rasa_port + 1, actions_port + 1, eval_files, questions, res,
                          commands, with_load=True, env=TODAY_ENV, endpoints=TODAY_ENDPOINTS)
    if env_int("BENCH_BASELINE_SERVERS", 1):
        serve_and_measure("baseline_rasa", BASELINE_MODEL, rasa_port + 2, actions_port + 2, eval_files, questions,
                          res, commands, with_load=False)
    res["accuracy"] = {k: res["accuracy"][k] for k in ("project", "today", "baseline_rasa", "fts")
                       if k in res["accuracy"]}
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
