"""Render the benchmark results (``bench.run``'s dict) as Markdown.

``python -m bench.report [results/bench/bench.json] [docs/benchmarks.md]``
re-renders the report from the saved results (e.g. after editing
``bench/findings.md``) without measuring again.
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

from .stats import ratio

SYSTEMS = [
    ("project", "this project"),
    ("today", "today: the configuration before issue #12"),
    ("baseline_rasa", "baseline 1: Rasa default NLU, no Japanese tokenizer"),
    ("fts", "baseline 2: full-text retrieval only"),
]
FINDINGS = Path(__file__).with_name("findings.md")


CONTENDED = " (other work was running: absolute times are contended)"

def pct(value: float | None) -> str:
    """``0.934`` -> ``"93.4%"``; None -> ``"–"``."""
    return "–" if value is None else f"{100 * value:.1f}%"


def num(value: float | None, unit: str = "", digits: int = 1) -> str:
    """A number with ``digits`` decimals and a unit; None -> ``"–"``."""
    return "–" if value is None else f"{value:.{digits}f}{unit}"


def times(value: float | None, base: float | None) -> str:
    """``value / base`` as ``"×1.23"``, or ``"–"``."""
    r = ratio(value, base)
    return "–" if r is None else f"×{r:.2f}"


def frac(pair: list[int]) -> str:
    """``[ok, n]`` as ``"ok/n"`` (``"–"`` when n is 0)."""
    return f"{pair[0]}/{pair[1]}" if pair[1] else "–"


def _table(header: list[str], rows: list[list[str]]) -> list[str]:
    out = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    return out + ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]


def accuracy_section(acc: dict, files: list[str]) -> list[str]:
    """Overall and per-intent accuracy of every system, with ratios."""
    present = [(key, label) for key, label in SYSTEMS if key in acc]
    lines = ["## Answer accuracy", "",
             f"Eval files: {', '.join(f'`{f}`' for f in files)} (scored like `make eval`: NFKC, whitespace "
             "removed, plain substrings). Same questions, same knowledge base for every system. Ratios are "
             "this project's share divided by the baseline's.", ""]
    header = ["measure", *[label for _, label in present]]
    header += [f"vs {label.split(':')[0]}" for key, label in present if key != "project"]
    everything = {key: acc[key]["all"] for key, _ in present}

    def row(name: str, get, fmt, higher_is_better: bool = True) -> list[str]:
        values = [get(everything[key]) for key, _ in present]
        cells = [name, *[fmt(v, everything[key]) for v, (key, _) in zip(values, present, strict=False)]]
        base = values[0]
        for v, (key, _) in zip(values, present, strict=False):
            if key != "project":
                cells.append(times(base, v))
        return cells

    rows = [
        row("answerable: every expected fact, nothing forbidden", lambda s: s["rates"]["answered_ok"],
            lambda v, s: f"{pct(v)} ({frac(s['answerable'])})"),
        row("unanswerable: answered `not_found`", lambda s: s["rates"]["not_found_ok"],
            lambda v, s: f"{pct(v)} ({frac(s['unanswerable'])})"),
        row("cases stating a forbidden fact (lower is better)", lambda s: s["rates"]["forbidden"],
            lambda v, s: f"{pct(v)} ({s['forbidden']}/{s['cases']})"),
        row("**overall passed**", lambda s: s["rates"]["overall"],
            lambda v, s: f"**{pct(v)}** ({s['passed']}/{s['cases']})"),
    ]
    lines += _table(header, rows)
    if len(files) > 1:
        lines += ["", "Per file (overall passed):", ""]
        lines += _table(["file", *[label for _, label in present]],
                        [[f"`{f}`", *[pct(acc[key]["files"][f]["rates"]["overall"]) for key, _ in present]]
                         for f in files])
    intents = sorted({i for key, _ in present for i in everything[key]["intents"]})
    lines += ["", "Per intent (passed/cases; the intent is the eval file's label, not the NLU's):", ""]
    intent_rows = []
    for intent in intents:
        cells = [intent]
        for key, _ in present:
            bucket = everything[key]["intents"].get(intent)
            cells.append(f"{pct(bucket['passed'] / bucket['cases'])} ({bucket['passed']}/{bucket['cases']})"
                         + (f", {bucket['forbidden']} forbidden" if bucket["forbidden"] else "") if bucket else "–")
        intent_rows.append(cells)
    lines += _table(["intent", *[label.split(":")[0] for _, label in present]], intent_rows)
    failures = everything["project"]["failures"] if "project" in everything else []
    if failures:
        lines += ["", f"This project's failed cases: {', '.join(failures)}."]
    return lines


def nlu_section(nlu: dict) -> list[str]:
    """Intent and entity F1 of the project, today's configuration and baseline 1 on the NLU test file."""
    if not nlu:
        return []
    keys = [k for k in ("project", "today", "baseline_rasa") if k in nlu]
    labels = {"project": "this project", "today": "today", "baseline_rasa": "baseline 1"}
    others = [k for k in keys if k != "project"]
    lines = ["## NLU quality", "", "`rasa test nlu` on the held-out `tests/nlu/test_nlu.yml` "
             "(entity F1: Rasa's micro average over entity labels, DIETClassifier).", ""]
    rows = []
    for name, key, fmt in [("intent macro-F1", "intent_macro_f1", lambda v: num(v, digits=3)),
                           ("intent accuracy", "intent_accuracy", lambda v: num(v, digits=3)),
                           ("entity F1 (micro)", "entity_f1", lambda v: num(v, digits=3)),
                           ("entity F1 (macro)", "entity_macro_f1", lambda v: num(v, digits=3)),
                           ("misclassified test messages", "errors", lambda v: str(v))]:
        values = {k: nlu[k].get(key) for k in keys}
        cells = [name, *[fmt(values[k]) for k in keys]]
        if "project" in nlu:
            cells += [times(values["project"], values[k]) if key != "errors" else "–" for k in others]
        rows.append(cells)
    header = ["measure", *[labels[k] for k in keys]] + [f"project / {labels[k]}" for k in others]
    lines += _table(header, rows)
    for key in keys:
        pairs = nlu[key].get("confusions") or []
        worst = ", ".join(f"{p['pair'][0]} ↔ {p['pair'][1]} {p['count']} ({p['a_as_b']}→, {p['b_as_a']}←)"
                          for p in pairs) or "none"
        weakest = ", ".join(f"{name} {f1:.2f}" for name, f1 in nlu[key].get("worst_intents") or [])
        lines += ["", f"- {labels[key]}: most confused intent pairs: {worst}. Lowest intent F1: {weakest}."]
    return lines


def _ms(summary: dict | None, key: str) -> float | None:
    return (summary or {}).get(key)


def speed_section(res: dict) -> list[str]:
    """Latency, throughput, per-message times, build/training times, memory:
    this project against today's configuration (same run) and baseline 1."""
    servers = res.get("servers", {})
    proj, today, base = servers.get("project", {}), servers.get("today", {}), servers.get("baseline_rasa", {})
    inproc = res.get("inprocess", {})
    ip, it, ib = inproc.get("project", {}), inproc.get("today", {}), inproc.get("baseline_rasa", {})
    lines = ["## Speed and memory", "",
             "Over HTTP against the running servers (Rasa REST channel → action server → knowledge base), "
             "then inside one process. Absolute times depend on the machine (see the top). "
             f"This project ran {proj.get('workers', '?')} Sanic worker(s) with the Redis lock store, as "
             "`make run` starts it; today's configuration one worker.", ""]
    rows = []

    def add(name: str, p, t, b, unit: str, bar: str = "", digits: int = 1):
        rows.append([name, num(p, unit, digits), num(t, unit, digits), times(p, t) if t is not None else "–",
                     num(b, unit, digits), bar])

    lat_p, lat_t, lat_b = proj.get("latency"), today.get("latency"), base.get("latency")
    n = (lat_p or {}).get("n")
    add(f"REST round trip, 1 client, p50 ({n} requests)", _ms(lat_p, "p50"), _ms(lat_t, "p50"), _ms(lat_b, "p50"),
        " ms")
    add("REST round trip, 1 client, p95", _ms(lat_p, "p95"), _ms(lat_t, "p95"), _ms(lat_b, "p95"), " ms", "≤ 60 ms")
    add("REST round trip, 1 client, p99", _ms(lat_p, "p99"), _ms(lat_t, "p99"), _ms(lat_b, "p99"), " ms")
    load, load_t = proj.get("load") or {}, today.get("load") or {}
    if load:
        users, secs = load.get("users"), load.get("seconds")
        add(f"{users} clients for {secs} s (locust): answers/s", load.get("answers_per_s"),
            load_t.get("answers_per_s"), None, "", "≥ 45/s and ≥ 2.5× today")

        def trio(ld: dict) -> str:
            return (f"{num(ld.get('p50'), '', 0)} / {num(ld.get('p95'), '', 0)} / {num(ld.get('p99'), ' ms', 0)}"
                    if ld else "–")

        rows.append([f"{users} clients: p50 / p95 / p99", trio(load), trio(load_t),
                     times(load.get("p95"), load_t.get("p95")), "–", "p95 ≤ 600 ms"])
        rows.append([f"{users} clients: requests / errors", f"{load.get('requests')} / {load.get('failures')}",
                     f"{load_t.get('requests')} / {load_t.get('failures')}" if load_t else "–", "–", "–", "0 errors"])
        cpu, cpu_t = load.get("cpu_ms_per_answer") or {}, load_t.get("cpu_ms_per_answer") or {}
        if cpu:
            add(f"{users} clients: CPU time per answer, Rasa server (all workers)", cpu.get("rasa"), cpu_t.get("rasa"),
                None, " ms")
            add(f"{users} clients: CPU time per answer, action server", cpu.get("actions"), cpu_t.get("actions"),
                None, " ms")
    add("NLU parse per message, in process, p50", _ms(ip.get("parse_ms"), "p50"), _ms(it.get("parse_ms"), "p50"),
        _ms(ib.get("parse_ms"), "p50"), " ms", digits=2)
    add("NLU parse per message, in process, p95", _ms(ip.get("parse_ms"), "p95"), _ms(it.get("parse_ms"), "p95"),
        _ms(ib.get("parse_ms"), "p95"), " ms", digits=2)
    rows.append(["Sudachi tokenization per message, p50 / p95",
                 f"{num(_ms(ip.get('sudachi_ms'), 'p50'), '', 3)} / {num(_ms(ip.get('sudachi_ms'), 'p95'), ' ms', 3)}",
                 "same", "–", "(whitespace split)", ""])
    rows.append(["knowledge-base answer per message (action server's work), p50 / p95",
                 f"{num(_ms(ip.get('answer_ms'), 'p50'), '', 1)} / {num(_ms(ip.get('answer_ms'), 'p95'), ' ms', 1)}",
                 "same", "–", "same", ""])
    kb = res.get("kb_build") or {}
    rows.append(["knowledge-base build (`python -m knowledge build`)", num(kb.get("seconds"), " s"), "same", "–",
                 "same", ""])
    train = res.get("training") or {}
    tp, tt, tb = train.get("project") or {}, train.get("today") or {}, train.get("baseline_rasa") or {}
    note = lambda t: "" if t.get("this_run", True) else f" (from {t.get('date', '?')})"  # noqa: E731
    rows.append(["training, `rasa train --force`", num(tp.get("seconds"), " s") + note(tp),
                 num(tt.get("seconds"), " s") + note(tt) if tt else "–", times(tp.get("seconds"), tt.get("seconds")),
                 num(tb.get("seconds"), " s") + note(tb), ""])

    def rss(system: dict, when: str, who: str, key: str):
        return ((system.get(when) or {}).get(who) or {}).get(key)

    for who, label in (("rasa", "Rasa server (all its processes)"), ("actions", "action server"),
                       ("redis", "Redis (lock store)")):
        if not any(rss(x, "rss_end", who, "peak_mib") for x in (proj, today, base)):
            continue
        add(f"{label} RSS after start", rss(proj, "rss_idle", who, "rss_mib"), rss(today, "rss_idle", who, "rss_mib"),
            rss(base, "rss_idle", who, "rss_mib"), " MiB", digits=0)
        add(f"{label} peak RSS (VmHWM, after all tests)", rss(proj, "rss_end", who, "peak_mib"),
            rss(today, "rss_end", who, "peak_mib"), rss(base, "rss_end", who, "peak_mib"), " MiB", digits=0)
    add("Rasa server peak RSS per worker", proj.get("rasa_peak_per_worker_mib"), today.get("rasa_peak_per_worker_mib"),
        base.get("rasa_peak_per_worker_mib"), " MiB", "≤ 1.2× today", digits=0)
    add("peak RSS of all server processes together", proj.get("rss_all_peak_mib"), today.get("rss_all_peak_mib"),
        base.get("rss_all_peak_mib"), " MiB", digits=0)
    for factor, scale in sorted((res.get("answer_scale") or {}).items(), key=lambda kv: int(kv[0])):
        ms = scale.get("answer_ms") or {}
        bar = "≤ 3 ms p95" if factor == "1" else ("≤ 10 ms p95" if factor == "16" else "")
        rows.append([f"answer lookup in process, every fact ×{factor} ({scale.get('facts')} facts, "
                     f"{scale.get('questions')} labelled questions), p50 / p95",
                     f"{num(ms.get('p50'), '', 2)} / {num(ms.get('p95'), ' ms', 2)}", "–", "–", "–", bar])
    staff = res.get("staff_search") or {}
    rows.append([f"staff search per query ({staff.get('n')} queries), p50 / p95",
                 f"{num(staff.get('p50'), '', 2)} / {num(staff.get('p95'), ' ms', 2)}", "–", "–", "–", "< 50 ms"])
    lines += _table(["measure", "this project", "today", "project / today", "baseline 1", "bar"], rows)
    lines += ["", "Peak RSS is each process's own high-water mark (VmHWM), summed over the processes; forked "
              "Sanic workers share some pages with their parent, so the sum overstates what they use together."]
    mem = ip.get("memory_mib")
    if mem:
        tf = mem["import_tensorflow"]["rss"] - mem["start"]["rss"]
        agent = mem["agent_load"]["rss"] - mem["import_tensorflow"]["rss"]
        sudachi = mem["first_parse"]["rss"] - mem["agent_load"]["rss"]
        total = mem["after_parses"]["rss"]
        lines += ["", "**What the Rasa server's memory is made of** (one process loading the same model, RSS "
                  "after each step):", "",
                  *_table(["step", "RSS added", "of which file-backed"], [
                      ["Python + Rasa's imports before TensorFlow", f"{mem['start']['rss']:.0f} MiB", "–"],
                      ["`import tensorflow`", f"{tf:.0f} MiB",
                       f"{mem['import_tensorflow']['file'] - mem['start']['file']:.0f} MiB"],
                      ["`Agent.load` (Rasa, the model's graph: DIET, policies, featurizers, lookup regexes)",
                       f"{agent:.0f} MiB", f"{mem['agent_load']['file'] - mem['import_tensorflow']['file']:.0f} MiB"],
                      ["first parse (Sudachi's dictionary, mapped lazily; "
                       f"{ip.get('sudachi_dictionary_mib', '?')} MiB on disk)", f"{sudachi:.0f} MiB",
                       f"{mem['first_parse']['file'] - mem['agent_load']['file']:.0f} MiB"],
                      [f"total after {ip.get('questions')} parses", f"{total:.0f} MiB",
                       f"{mem['after_parses']['file']:.0f} MiB"]])]
        tf_share = (tf + agent) / total if total else 0
        lines += ["", f"TensorFlow and the models it runs dominate: importing it and loading the model account for "
                  f"{pct(tf_share)} of this process's RSS; Sudachi's dictionary adds {sudachi:.0f} MiB of "
                  "file-backed pages (memory-mapped, shared with other processes using the same file)."]
    return lines


def profile_section(profile: dict | None) -> list[str]:
    """py-spy shares by area and by function, per server."""
    if not profile:
        return []
    lines = ["## Profile under load", "",
             f"py-spy ({profile.get('command', '')}) attached to every Rasa worker "
             f"({profile.get('rasa_processes', 1)} process(es), samples pooled) and to the action server during a "
             f"separate {profile.get('seconds')} s locust run with {profile.get('users')} clients "
             f"({num(profile.get('load', {}).get('answers_per_s'))} answers/s while sampled). "
             "Shares of on-CPU samples.", ""]
    for who, label in (("rasa", "Rasa server"), ("actions", "action server")):
        summary = profile.get(who) or {}
        if not summary.get("samples"):
            lines += [f"- {label}: no samples.", ""]
            continue
        lines += [f"**{label}** ({summary['samples']} samples):", ""]
        lines += _table(["area (deepest matching frame)", "share"], [[a, pct(s)] for a, s in summary["areas"]])
        lines += ["", "Hottest functions (self): " + "; ".join(f"`{f}` {pct(s)}" for f, s in summary["self"][:6]),
                  "", "Our code, inclusive of what it calls (the REST channel's `handle` wraps the whole turn): "
                  + ("; ".join(f"`{f}` {pct(s)}" for f, s in summary["ours"][:6]) or "none"), ""]
    return lines


def render(res: dict) -> str:
    """The whole ``docs/benchmarks.md``."""
    m = res["machine"]
    lines = ["# Benchmarks", "",
             f"Written by `make bench` (`bench/run.py`) on **{m['date']}**. Do not edit by hand; rerun it.", "",
             f"**Machine:** {m['cpu_count']} CPUs ({m['cpu_model']}), {m['memory_gib']} GiB memory, "
             f"Linux {m['kernel']}, Python {m['python']}, Rasa {res.get('rasa_version', '?')}. Load average "
             f"when the run started: {' / '.join(str(x) for x in m['load_avg'])}"
             f"{CONTENDED if m['load_avg'][0] > 0.5 * m['cpu_count'] else ''}.",
             "", "Systems compared, on the same questions and the same knowledge base (`knowledge/kb.sqlite`):", ""]
    lines += [
        "1. **this project**, as `make run` starts it: `config.yml` (SudachiTokenizer, regex/lookup, lexical and "
        "count features, DIET, fallback; RulePolicy and MemoizationPolicy) → rules → `action_answer` → "
        "`knowledge.answer`; one Sanic worker per CPU with the Redis lock store, Rasa's action-reply schema "
        "checked once (`bot/rasa_patches.py`), SQLite tracker store in WAL mode, selective domain.",
        "2. **today**: the configuration before issue #12, measured in the same run: `bench/config_today.yml` "
        "(DIET with its default transformer, TEDPolicy), one worker, in-memory lock store, Rasa's schema check on "
        "every action call (`KUYAKUSHO_RASA_PATCHES=0`), `bench/endpoints_today.yml` (whole domain sent, SQLite's "
        "default journal); model `models/today.tar.gz`.",
        "3. **baseline 1**: `bench/config_baseline.yml`, Rasa's default NLU without a Japanese tokenizer "
        "(WhitespaceTokenizer, character n-gram CountVectorsFeaturizer, DIET, synonyms, fallback), same policies, "
        "training data, domain and actions as this project; model `models/baseline.tar.gz`.",
        "4. **baseline 2**: `bench/fts_baseline.py`, full-text retrieval alone: the best FTS5 passage "
        "(`KnowledgeBase.search_passages`) is the answer, `not_found` when nothing matches; no NLU, no "
        "conversation memory.", ""]
    lines += [f"**Note:** {note}" for note in res.get("notes", [])] + ([""] if res.get("notes") else [])
    lines += ["## Bars", ""]
    lines += _table(["bar", "measured", "met"], [[b["bar"], b["measured"], "yes" if b["met"] else "**no**"]
                                                 for b in res.get("bars", [])])
    lines += [""] + accuracy_section(res["accuracy"], res["eval_files"]) + [""]
    lines += nlu_section(res.get("nlu") or {}) + [""]
    lines += speed_section(res) + [""]
    lines += profile_section(res.get("profile")) + [""]
    if FINDINGS.exists():
        lines += [FINDINGS.read_text(encoding="utf-8").strip(), ""]
    lines += ["## Commands", "", "Settings: " + ", ".join(f"`{k}={v}`" for k, v in res.get("settings", {}).items()),
              "", "```bash", *res.get("commands", []), "```", ""]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    root = Path(__file__).resolve().parent.parent
    source = Path(argv[0]) if argv else root / "results" / "bench" / "bench.json"
    target = Path(argv[1]) if len(argv) > 1 else root / "docs" / "benchmarks.md"
    target.write_text(render(json.loads(source.read_text(encoding="utf-8"))), encoding="utf-8")
    print(f"wrote {target}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
