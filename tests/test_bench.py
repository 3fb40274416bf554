"""The pure parts of ``make bench`` (no servers, no Rasa model)."""
from __future__ import annotations

import pytest

from bench import accuracy, load, nlu, profile, report
from bench.fts_baseline import FtsBaseline
from bench.stats import percentile, ratio, summarize_ms
from bot.evaluate import judge, load_cases, run_cases, score


def test_percentile_interpolates_between_ranks():
    values = [10, 20, 30, 40, 50]
    assert percentile(values, 0) == 10
    assert percentile(values, 50) == 30
    assert percentile(values, 100) == 50
    assert percentile(values, 95) == pytest.approx(48.0)
    assert percentile([7.0], 99) == 7.0
    assert percentile([3, 1, 2], 50) == 2  # order does not matter


@pytest.mark.parametrize("values,q", [([], 50), ([1.0], -1), ([1.0], 101)])
def test_percentile_rejects_bad_input(values, q):
    with pytest.raises(ValueError):
        percentile(values, q)


def test_summarize_ms_and_ratio():
    summary = summarize_ms([float(i) for i in range(1, 101)])
    assert summary["n"] == 100 and summary["p50"] == 50.5 and summary["max"] == 100.0
    assert summary["p95"] == pytest.approx(95.05) and summary["p99"] == pytest.approx(99.01)
    assert summarize_ms([]) == {"n": 0}
    assert ratio(3.0, 2.0) == 1.5 and ratio(1.0, 0) is None and ratio(None, 1.0) is None


EVAL = """
single:
- {id: A, question: q1, intent: venue, answerable: true, expect_all: [会議室], forbid: ['503']}
- {id: B, question: q2, intent: venue, answerable: true, expect_all: [会議室]}
- {id: C, question: q3, intent: fee_capacity, answerable: false, forbid: [無料]}
dialogues:
- id: D
  turns:
  - {turn: 1, user: q4, intent: overview, answerable: true, expect_any: [ワーク ショップ, WS]}
  - {turn: 2, user: q5, intent: venue, answerable: false}
"""

REPLIES = {  # question -> (text, status)
    "q1": ("５０２ 会議室です", "answered"),
    "q2": ("503号室", "answered"),
    "q3": ("参加費は無料です", "not_found"),
    "q4": ("ワークショップは…", "answered"),
    "q5": ("記載がありません", "not_found"),
}


@pytest.fixture
def eval_file(tmp_path):
    path = tmp_path / "eval.yml"
    path.write_text(EVAL, encoding="utf-8")
    return str(path)


def test_cases_keep_dialogue_turns_in_one_conversation(eval_file):
    cases = load_cases(eval_file)
    assert [(cid, conv) for cid, conv, _ in cases] == [("A", "A"), ("B", "B"), ("C", "C"), ("D#1", "D"), ("D#2", "D")]
    assert cases[3][2]["question"] == "q4"


def test_score_per_intent(eval_file):
    results = run_cases(load_cases(eval_file), lambda conv, q: REPLIES[q])
    summary = score(results)
    assert summary["cases"] == 5 and summary["passed"] == 3
    assert summary["answerable"] == [2, 3] and summary["unanswerable"] == [1, 2]
    assert summary["forbidden"] == 1 and summary["failures"] == ["B", "C"]
    venue = summary["intents"]["venue"]
    assert venue == {"cases": 3, "passed": 2, "answerable": [1, 2], "unanswerable": [1, 1], "forbidden": 0}
    assert summary["intents"]["fee_capacity"]["forbidden"] == 1
    assert summary["by_intent"]["venue"] == [2, 3]
    rates = accuracy.rates(summary["intents"]["fee_capacity"])
    assert rates == {"answered_ok": None, "not_found_ok": 0.0, "forbidden": 1.0, "overall": 0.0}


def test_measure_pools_files(eval_file):
    result = accuracy.measure([eval_file, eval_file], lambda conv, q: REPLIES[q])
    assert result["all"]["cases"] == 10 and result["all"]["passed"] == 6
    assert result["all"]["rates"]["overall"] == pytest.approx(0.6)
    assert set(result["files"]) == {eval_file}


def test_judge_forbidden_beats_expected():
    assert judge({"expect_all": ["a"], "forbid": ["b"]}, "a b", "answered") == (False, True)


class FakeKB:
    def __init__(self, hits):
        self.hits, self.queries = hits, []

    def search_passages(self, text, limit=5):
        self.queries.append((text, limit))
        return self.hits[:limit]


def test_fts_baseline_not_found_when_nothing_matches():
    assert FtsBaseline(FakeKB([])).reply("c", "こんにちは") == ("", "not_found")
    assert FtsBaseline(FakeKB([({"text": "  ", "path": "x"}, 1.0)])).reply("c", "q") == ("", "not_found")


def test_fts_baseline_answers_with_best_passage():
    kb = FakeKB([({"text": "502会議室で開催", "path": "<会場>"}, 9.0), ({"text": "other", "path": ""}, 1.0)])
    assert FtsBaseline(kb).reply("c", "会場は") == ("<会場>\n502会議室で開催", "answered")
    assert kb.queries == [("会場は", 1)]


def test_fts_baseline_on_the_real_kb(kb):
    baseline = FtsBaseline(kb)
    assert baseline.reply("c", "！？") == ("", "not_found")
    text, status = baseline.reply("c", "ワークショップの会場")
    assert status == "answered" and text


def test_nlu_confusions_are_unordered_pairs():
    errors = [{"intent": "a", "intent_prediction": {"name": "b"}}] * 2 + [
        {"intent": "b", "intent_prediction": {"name": "a"}}, {"intent": "c", "intent_prediction": {"name": "a"}}]
    assert nlu.confusions(errors) == [{"pair": ["a", "b"], "count": 3, "a_as_b": 2, "b_as_a": 1},
                                      {"pair": ["a", "c"], "count": 1, "a_as_b": 0, "b_as_a": 1}]


def test_locust_stats_parsing(tmp_path):
    stats = tmp_path / "x_stats.csv"
    stats.write_text(
        "Type,Name,Request Count,Failure Count,Median Response Time,Average Response Time,Min Response Time,"
        "Max Response Time,Average Content Size,Requests/s,Failures/s,50%,66%,75%,80%,90%,95%,98%,99%,99.9%,"
        "99.99%,100%\n"
        "POST,rest,100,10,200,210.5,50,900,300,20.0,2.0,200,220,230,240,300,400,500,600,900,900,900\n"
        ",Aggregated,100,10,200,210.5,50,900,300,20.0,2.0,200,220,230,240,300,400,500,600,900,900,900\n",
        encoding="utf-8")
    failures = tmp_path / "x_failures.csv"
    failures.write_text("Method,Name,Error,Occurrences\nPOST,rest,rate limited,10\n", encoding="utf-8")
    out = load.parse_stats(stats, failures)
    assert out["requests"] == 100 and out["failures"] == 10
    assert out["answers_per_s"] == 18.0 and out["p95"] == 400.0 and out["failure_kinds"] == {"rate limited": 10}


def test_profile_summary_by_area():
    root = str(profile.ROOT)
    text = "\n".join([
        f"run (x.py:1);answer ({root}/knowledge/answer.py:10);compact ({root}/knowledge/normalize.py:5) 6",
        "run (x.py:1);call (/v/site-packages/tensorflow/python/eager/execute.py:3) 3",
        "run (x.py:1);sub (/usr/lib/python3.10/re.py:2) 1",
    ])
    summary = profile.summarize(text)
    assert summary["samples"] == 10
    assert summary["areas"][0] == ["our code: knowledge/ (answer lookup)", 0.6]
    assert ["TensorFlow / Keras", 0.3] in summary["areas"]
    assert ["answer (knowledge/answer.py)", 0.6] in summary["ours"]


def test_report_formatting():
    assert report.pct(0.9344) == "93.4%" and report.pct(None) == "–"
    assert report.times(2.0, 1.0) == "×2.00" and report.times(1.0, 0.0) == "–"
    assert report.frac([3, 4]) == "3/4" and report.frac([0, 0]) == "–"


# ---- this project against today's configuration, side by side (issue #12)

def served(answers_per_s, p95, one_client_p95, peak_mib, workers, failures=0):
    return {"workers": workers, "latency": {"n": 200, "p50": one_client_p95 / 2, "p95": one_client_p95,
                                            "p99": one_client_p95 * 1.1},
            "load": {"users": 20, "seconds": 60, "answers_per_s": answers_per_s, "p50": p95 / 2, "p95": p95,
                     "p99": p95, "requests": 1000, "failures": failures,
                     "cpu_ms_per_answer": {"rasa": 30.0, "actions": 10.0}},
            "rss_idle": {"rasa": {"rss_mib": peak_mib * 0.9}, "actions": {"rss_mib": 130.0}},
            "rss_end": {"rasa": {"rss_mib": peak_mib, "peak_mib": peak_mib, "processes": workers},
                        "actions": {"rss_mib": 200.0, "peak_mib": 270.0, "processes": 1}},
            "rasa_peak_per_worker_mib": peak_mib / workers, "rss_all_peak_mib": peak_mib + 270.0}


@pytest.fixture
def side_by_side(eval_file):
    from bench import machine

    good = {q: r for q, r in REPLIES.items()}
    good["q2"] = ("５０２会議室", "answered")
    return {
        "machine": machine.facts(), "eval_files": [eval_file], "rasa_version": "3.6.20",
        "accuracy": {"project": accuracy.measure([eval_file], lambda conv, q: good[q]),
                     "today": accuracy.measure([eval_file], lambda conv, q: REPLIES[q]),
                     "fts": accuracy.measure([eval_file], lambda conv, q: ("", "not_found"))},
        "nlu": {"project": {"intent_macro_f1": 0.905, "entity_f1": 0.95, "errors": 28},
                "today": {"intent_macro_f1": 0.910, "entity_f1": 0.949, "errors": 27}},
        "servers": {"project": served(48.0, 550.0, 40.0, 2400.0, 2), "today": served(17.0, 1300.0, 80.0, 1400.0, 1)},
    }


def bars_by_name(res):
    from bench.run import check_bars

    return {b["bar"]: b for b in check_bars(res)}


def test_bars_compare_with_today_in_the_same_run(side_by_side):
    bars = bars_by_name(side_by_side)
    assert bars["20 clients for 60 s: ≥ 45 answers/s"]["met"]
    assert bars["20 clients: p95 ≤ 600 ms"]["met"] and bars["20 clients: zero errors"]["met"]
    assert bars["1 client: p95 round trip ≤ 60 ms"]["met"]
    times_today = bars["20 clients: ≥ 2.5× today's configuration's throughput (same run)"]
    assert times_today["met"] and "×2.82" in times_today["measured"]
    per_worker = bars["Rasa server peak RSS per worker ≤ 1.2× today's"]
    assert per_worker["met"] and per_worker["measured"] == "1200 vs 1400 MiB (×0.86)"
    assert bars["NLU intent macro-F1 within 0.01 of today's"]["met"]  # 0.905 vs 0.910
    assert bars["NLU entity F1 (micro) within 0.01 of today's"]["met"]
    assert bars["accuracy equal to or better than today's configuration, on every eval file"]["met"]


def test_bars_missed(side_by_side):
    side_by_side["servers"]["project"] = served(40.0, 700.0, 70.0, 3600.0, 2, failures=1)
    side_by_side["servers"]["today"]["load"]["answers_per_s"] = 20.0
    side_by_side["nlu"]["project"]["intent_macro_f1"] = 0.899
    side_by_side["accuracy"]["project"], side_by_side["accuracy"]["today"] = \
        side_by_side["accuracy"]["today"], side_by_side["accuracy"]["project"]
    missed = {name for name, bar in bars_by_name(side_by_side).items() if not bar["met"]}
    assert missed == {
        "20 clients for 60 s: ≥ 45 answers/s", "20 clients: p95 ≤ 600 ms", "20 clients: zero errors",
        "1 client: p95 round trip ≤ 60 ms", "20 clients: ≥ 2.5× today's configuration's throughput (same run)",
        "Rasa server peak RSS per worker ≤ 1.2× today's", "NLU intent macro-F1 within 0.01 of today's",
        "accuracy equal to or better than today's configuration, on every eval file",
        "public set answered correctly ≥ 90%, no forbidden fact stated"}


def test_speed_bars_missed_thresholds():
    from bench.run import speed_bars_missed

    assert not speed_bars_missed(served(45.0, 600.0, 60.0, 1.0, 1))
    assert speed_bars_missed(served(44.9, 600.0, 60.0, 1.0, 1))
    assert speed_bars_missed(served(45.0, 601.0, 60.0, 1.0, 1))
    assert speed_bars_missed(served(45.0, 600.0, 61.0, 1.0, 1))
    assert speed_bars_missed(served(45.0, 600.0, 60.0, 1.0, 1, failures=1))


def test_report_shows_today_beside_the_project(side_by_side):
    from bench.run import check_bars

    side_by_side["bars"] = check_bars(side_by_side)
    text = report.render(side_by_side)
    assert "| measure | this project | today | project / today | baseline 1 | bar |" in text
    assert "| 20 clients for 60 s (locust): answers/s | 48.0 | 17.0 | ×2.82 | – | ≥ 45/s and ≥ 2.5× today |" in text
    assert "| Rasa server peak RSS per worker | 1200 MiB | 1400 MiB | ×0.86 | – | ≤ 1.2× today |" in text
    assert "| intent macro-F1 | 0.905 | 0.910 | ×0.99 |" in text


def test_worker_pids_are_the_children_or_the_process_itself():
    import os
    import subprocess
    import time

    from bench.run import worker_pids

    parent = subprocess.Popen(["/bin/sh", "-c", "sleep 30 & sleep 30 & wait"])
    try:
        deadline = time.monotonic() + 10
        while len(worker_pids(parent.pid)) < 2 and time.monotonic() < deadline:
            time.sleep(0.05)
        workers = worker_pids(parent.pid)
        assert len(workers) == 2 and parent.pid not in workers
        assert worker_pids(workers[0]) == [workers[0]]
    finally:
        for pid in worker_pids(parent.pid):
            if pid != parent.pid:
                os.kill(pid, 15)
        parent.wait(timeout=10)


def test_replicated_knowledge_base_holds_every_fact_that_many_times(kb_path, tmp_path):
    from bench.answer_scale import replicate
    from knowledge.answer import Answerer
    from knowledge.kb import KnowledgeBase

    target = tmp_path / "kb-x3.sqlite"
    facts = replicate(kb_path, target, 3)
    original = KnowledgeBase(kb_path)
    assert facts == 3 * len(original.facts)
    copy = KnowledgeBase(target)
    assert copy.facts["001-kuminka-duties~2"].text == original.facts["001-kuminka-duties"].text
    # the copies are indexed (FTS5 too) and the lookup still answers from them
    assert any(f.id.endswith("~1") for f, _ in copy.search_facts("区民課 戸籍 住民票", limit=10))
    answer = Answerer(copy).answer("国民年金の手続きはどこの課ですか", "ask_counter")
    assert answer.status == "answered" and "保険年金課" in answer.text
