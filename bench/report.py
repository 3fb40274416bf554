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
    ("baseline_rasa", "baseline 1: Rasa default NLU, no Japanese tokenizer"),
    ("fts", "baseline 2: full-text retrieval only"),
]
FINDINGS = Path(__file__).with_name("findings.md")


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
        cells = [name, *[fmt(v, everything[key]) for v, (key, _) in zip(values, present)]]
        base = values[0]
        for v, (key, _) in zip(values, present):
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
    """Intent and entity F1 of the project and baseline 1 on the NLU test file."""
    if not nlu:
        return []
    keys = [k for k in ("project", "baseline_rasa") if k in nlu]
    labels = {"project": "this project", "baseline_rasa": "baseline 1"}
    lines = ["## NLU quality", "", "`rasa test nlu` on the held-out `tests/nlu/test_nlu.yml` "
             "(entity F1: Rasa's micro average over entity labels, DIETClassifier).", ""]
    rows = []
    for name, key, fmt in [("intent macro-F1", "intent_macro_f1", lambda v: num(v, digits=3)),
                           ("intent accuracy", "intent_accuracy", lambda v: num(v, digits=3)),
                           ("entity F1 (micro)", "entity_f1", lambda v: num(v, digits=3)),
                           ("entity F1 (macro)", "entity_macro_f1", lambda v: num(v, digits=3)),
                           ("misclassified test messages", "errors", lambda v: str(v))]:
        values = [nlu[k].get(key) for k in keys]
        cells = [name, *[fmt(v) for v in values]]
        if len(keys) == 2:
            cells.append(times(values[0], values[1]) if key != "errors" else "–")
        rows.append(cells)
    header = ["measure", *[labels[k] for k in keys]] + (["project / baseline 1"] if len(keys) == 2 else [])
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
    """Latency, throughput, per-message times, build/training times, memory."""
    servers = res.get("servers", {})
    proj, base = servers.get("project", {}), servers.get("baseline_rasa", {})
    inproc = res.get("inprocess", {})
    ip, ib = inproc.get("project", {}), inproc.get("baseline_rasa", {})
    load = proj.get("load") or {}
    bars = res.get("bar_values", {})
    lines = ["## Speed and memory", "",
             "Over HTTP against the running servers (Rasa REST channel → action server → knowledge base), "
             "then inside one process. Absolute times depend on the machine (see the top).", ""]
    rows = []

    def add(name: str, p, b, unit: str, bar: str = "", digits: int = 1):
        rows.append([name, num(p, unit, digits), num(b, unit, digits),
                     times(p, b) if b is not None else "–", bar])

    lat_p, lat_b = proj.get("latency"), base.get("latency")
    n = (lat_p or {}).get("n")
    add(f"REST round trip, 1 client, p50 ({n} requests)", _ms(lat_p, "p50"), _ms(lat_b, "p50"), " ms")
    add("REST round trip, 1 client, p95", _ms(lat_p, "p95"), _ms(lat_b, "p95"), " ms", "≤ 150 ms")
    add("REST round trip, 1 client, p99", _ms(lat_p, "p99"), _ms(lat_b, "p99"), " ms")
    if load:
        users, secs = load.get("users"), load.get("seconds")
        rows.append([f"{users} clients for {secs} s (locust): answers/s", num(load.get("answers_per_s")), "–", "–",
                     "≥ 30/s"])
        rows.append([f"{users} clients: p50 / p95 / p99", f"{num(load.get('p50'), '', 0)} / "
                     f"{num(load.get('p95'), '', 0)} / {num(load.get('p99'), ' ms', 0)}", "–", "–", "p95 ≤ 600 ms"])
        rows.append([f"{users} clients: requests / errors", f"{load.get('requests')} / {load.get('failures')}",
                     "–", "–", "0 errors"])
        cpu = load.get("cpu_ms_per_answer") or {}
        if cpu:
            rows.append([f"{users} clients: CPU time per answer, Rasa server / action server",
                         f"{num(cpu.get('rasa'))} / {num(cpu.get('actions'), ' ms')}", "–", "–", ""])
    add("NLU parse per message, in process, p50", _ms(ip.get("parse_ms"), "p50"), _ms(ib.get("parse_ms"), "p50"), " ms",
        digits=2)
    add("NLU parse per message, in process, p95", _ms(ip.get("parse_ms"), "p95"), _ms(ib.get("parse_ms"), "p95"), " ms",
        digits=2)
    rows.append(["Sudachi tokenization per message, p50 / p95",
                 f"{num(_ms(ip.get('sudachi_ms'), 'p50'), '', 3)} / {num(_ms(ip.get('sudachi_ms'), 'p95'), ' ms', 3)}",
                 "(whitespace split)", "–", ""])
    rows.append(["knowledge-base answer per message (action server's work), p50 / p95",
                 f"{num(_ms(ip.get('answer_ms'), 'p50'), '', 1)} / {num(_ms(ip.get('answer_ms'), 'p95'), ' ms', 1)}",
                 "same", "–", ""])
    kb = res.get("kb_build") or {}
    rows.append(["knowledge-base build (`python -m knowledge build`)", num(kb.get("seconds"), " s"), "same", "–", ""])
    train = res.get("training") or {}
    tp, tb = train.get("project") or {}, train.get("baseline_rasa") or {}
    note = lambda t: "" if t.get("this_run", True) else f" (from {t.get('date', '?')})"  # noqa: E731
    rows.append(["training, `rasa train --force`", num(tp.get("seconds"), " s") + note(tp),
                 num(tb.get("seconds"), " s") + note(tb), times(tp.get("seconds"), tb.get("seconds")), ""])
    for who, label in (("rasa", "Rasa server"), ("actions", "action server")):
        idle_p, peak_p = (proj.get("rss_idle") or {}).get(who, {}), (proj.get("rss_end") or {}).get(who, {})
        idle_b, peak_b = (base.get("rss_idle") or {}).get(who, {}), (base.get("rss_end") or {}).get(who, {})
        add(f"{label} RSS after start", idle_p.get("rss_mib"), idle_b.get("rss_mib"), " MiB", digits=0)
        add(f"{label} peak RSS (VmHWM, after all tests)", peak_p.get("peak_mib"), peak_b.get("peak_mib"), " MiB",
            digits=0)
    staff = res.get("staff_search") or {}
    rows.append([f"staff search per query ({staff.get('n')} queries), p50 / p95",
                 f"{num(staff.get('p50'), '', 2)} / {num(staff.get('p95'), ' ms', 2)}", "–", "–", "< 50 ms"])
    lines += _table(["measure", "this project", "baseline 1", "project / baseline 1", "bar"], rows)
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
                      ["`Agent.load` (Rasa, the model's graph: DIET, TED, featurizers, lookup regexes)",
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
             f"py-spy ({profile.get('command', '')}) attached to both servers during a separate "
             f"{profile.get('seconds')} s locust run with {profile.get('users')} clients "
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
             f"{' (other work was running: absolute times are contended)' if m['load_avg'][0] > 0.5 * m['cpu_count'] else ''}.",
             "", "Systems compared, on the same questions and the same knowledge base (`knowledge/kb.sqlite`):", ""]
    lines += [
        "1. **this project**: `config.yml` (SudachiTokenizer, regex/lookup, lexical and count features, DIET, "
        "fallback) → rules → `action_answer` → `knowledge.answer`.",
        "2. **baseline 1**: `bench/config_baseline.yml`, Rasa's default NLU without a Japanese tokenizer "
        "(WhitespaceTokenizer, character n-gram CountVectorsFeaturizer, DIET, synonyms, fallback), same policies, "
        "training data, domain and actions; model `models/baseline.tar.gz`.",
        "3. **baseline 2**: `bench/fts_baseline.py`, full-text retrieval alone: the best FTS5 passage "
        "(`KnowledgeBase.search_passages`) is the answer, `not_found` when nothing matches; no NLU, no "
        "conversation memory.", ""]
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
