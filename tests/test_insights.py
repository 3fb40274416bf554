"""Staff insights (bot/insights.py) over conversations written by the real tracker store
(bot.tracker_store.MaskingSQLTrackerStore on SQLite), and the insights API and CSV of the
web server (bot/web.py).  No Rasa server runs here."""
from __future__ import annotations

import asyncio
import csv
import datetime as dt
import io
import json
import os
import subprocess
import sys
import urllib.error
import urllib.request

import pytest
from conftest import ROOT, web_server

from bot import insights, ratings, tracker_db
from bot.insights import TIMEZONE

DAY = dt.date(2026, 11, 16)  # a Monday


def at(day: dt.date, hour: int = 10, minute: int = 0) -> float:
    """Unix seconds of ``day`` ``hour``:``minute`` Japan time."""
    return dt.datetime.combine(day, dt.time(hour, minute), TIMEZONE).timestamp()


class Conversations:
    """Writes conversations through the real store; ``settings`` names its database."""

    def __init__(self, path, retention_days=0):
        from rasa.shared.core.domain import Domain

        from bot.tracker_store import MaskingSQLTrackerStore

        self.store = MaskingSQLTrackerStore(Domain.load(str(ROOT / "domain.yml")), db=str(path),
                                            retention_days=retention_days)
        self.settings = tracker_db.resolve(db=str(path), retention_days=retention_days)

    def save(self, sender: str, turns: list, session_at: float | None = None) -> list[str]:
        """Store ``turns`` of ``sender`` as one more session; returns each turn's answer id.

        A turn is ``(time, text, intent, status)`` (status None: no reply was
        stored), optionally with the facts as a 5th item; a rating turn is
        ``(time, "rate", "up"|"down", answer id)``.
        """
        from rasa.shared.core.events import ActionExecuted, BotUttered, SessionStarted, UserUttered

        from bot.actions.replies import new_answer_id

        start = session_at if session_at is not None else turns[0][0] - 1
        events = [ActionExecuted("action_session_start", timestamp=start), SessionStarted(timestamp=start),
                  ActionExecuted("action_listen", timestamp=start)]
        ids = []
        for turn in turns:
            when = turn[0]
            if turn[1] == "rate":
                rating, answer_id = turn[2], turn[3]
                text, intent, status, facts = ratings.payload(rating, answer_id), "rate_answer", "rated", ()
                entities = [{"entity": "rating", "value": rating}, {"entity": "answer", "value": answer_id}]
            else:
                text, intent, status = turn[1], turn[2], turn[3]
                facts = turn[4] if len(turn) > 4 else (("001-nenkin-hokennenkin",) if status == "answered" else ())
                entities = []
            parse = {"text": text, "intent": {"name": intent, "confidence": 0.9}, "entities": entities}
            events.append(UserUttered(text, parse["intent"], entities, parse, timestamp=when))
            answer_id = new_answer_id()
            ids.append(answer_id)
            if status is not None:
                events.append(BotUttered(f"{text}への返事", timestamp=when + 1))
                source = {"doc": "001", "lines": [2055, 2055], "as_of": "2015-04-01", "status": "fact"}
                sources = [source] if facts else []
                events.append(BotUttered(None, {"custom": {"status": status, "intent": intent, "sources": sources,
                                                           "facts": list(facts), "answer": answer_id}},
                                         timestamp=when + 1))
            events.append(ActionExecuted("action_listen", timestamp=when + 2))
        self._append(sender, events)
        return ids

    def _append(self, sender, events):
        from rasa.shared.core.trackers import DialogueStateTracker

        tracker = asyncio.run(self.store.retrieve_full_tracker(sender)) if sender in asyncio.run(
            self.store.keys()) else None
        if tracker is None:
            tracker = DialogueStateTracker.from_events(sender, events)
        else:
            for event in events:
                tracker.update(event)
        asyncio.run(self.store.save(tracker))

    def result(self, since=None, until=None, period="day", now=None, facts=None):
        return insights.insights(self.settings, since, until, period, facts, now=now or at(DAY + dt.timedelta(days=20)))


@pytest.fixture
def conversations(tmp_path):
    return Conversations(tmp_path / "tracker.db")


def test_counts_per_day_questions_outcomes_conversations_and_ratings(conversations):
    d1, d2 = DAY, DAY + dt.timedelta(days=2)
    a = conversations.save("web-a", [
        (at(d1, 9), "/greet", "greet", "smalltalk"),
        (at(d1, 9, 1), "国民年金の手続きはどこですか", "ask_counter", "answered"),
        (at(d1, 9, 2), "区役所にコピー機はありますか", "ask_venue", "not_found"),
        (at(d1, 9, 3), "😀", "nlu_fallback", "clarify"),
        (at(d1, 9, 4), "ありがとう", "thanks", "smalltalk"),
    ])
    conversations.save("web-a", [(at(d1, 9, 5), "rate", "down", a[1])], session_at=at(d1, 9, 5) - 1)
    conversations.save("web-b", [
        (at(d2, 14), "住民票はどこで取れますか", "ask_counter", None),      # the action server was down
        (at(d2, 14, 1), "こんにちは", "greet", None),                      # small talk is never a question
        (at(d2, 14, 2), "住民票はどこで取れますか", "ask_counter", "answered"),
    ])
    result = conversations.result()
    assert result["totals"] == {
        "conversations": 2, "questions": 5, "answered": 2, "not_found": 1, "clarify": 1, "unavailable": 1,
        "answered_pct": 40.0, "not_found_pct": 20.0, "clarify_pct": 20.0, "unavailable_pct": 20.0,
        "ratings_up": 0, "ratings_down": 1}
    rows = {r["period"]: r for r in result["periods"]}
    assert list(rows) == ["2026-11-16", "2026-11-17", "2026-11-18"]  # the day without questions is there too
    assert (rows["2026-11-16"]["questions"], rows["2026-11-16"]["conversations"]) == (3, 1)
    assert rows["2026-11-16"]["ratings_down"] == 1
    assert rows["2026-11-17"] == {**rows["2026-11-17"], "questions": 0, "conversations": 0, "answered_pct": 0.0}
    assert (rows["2026-11-18"]["answered"], rows["2026-11-18"]["unavailable"]) == (1, 1)
    # the rating was a new session, but it is neither a conversation nor a question
    week = conversations.result(period="week")
    assert [(r["period"], r["questions"], r["conversations"]) for r in week["periods"]] == [("2026-11-16", 5, 2)]


def test_days_are_japan_time_and_the_range_is_inclusive(conversations):
    conversations.save("late", [(at(DAY, 23, 59), "区役所にコピー機はありますか", "ask_venue", "not_found"),
                                (at(DAY + dt.timedelta(days=1), 0, 1), "区役所に売店はありますか", "ask_venue",
                                 "not_found")])
    result = conversations.result()
    assert [(r["period"], r["questions"]) for r in result["periods"]] == [("2026-11-16", 1), ("2026-11-17", 1)]
    only = conversations.result(since=DAY, until=DAY)
    assert only["totals"]["questions"] == 1 and [r["period"] for r in only["periods"]] == ["2026-11-16"]
    later = conversations.result(since=DAY + dt.timedelta(days=1))
    assert later["totals"]["questions"] == 1 and later["unanswered"][0]["example"] == "区役所に売店はありますか"
    assert conversations.result(since=DAY + dt.timedelta(days=5))["totals"]["questions"] == 0
    with pytest.raises(ValueError):
        conversations.result(since=DAY, until=DAY - dt.timedelta(days=1))
    with pytest.raises(ValueError):
        conversations.result(period="month")


def test_the_last_rating_of_an_answer_counts_and_only_for_the_senders_own_answers(conversations):
    ids = conversations.save("u1", [(at(DAY, 10), "国民年金の手続きはどこですか", "ask_counter", "answered"),
                                    (at(DAY, 10, 1), "区役所にコピー機はありますか", "ask_venue", "not_found"),
                                    (at(DAY, 10, 2), "😀", "nlu_fallback", "clarify")])
    conversations.save("u1", [(at(DAY, 10, 3), "rate", "down", ids[0]),
                              (at(DAY, 10, 4), "rate", "up", ids[0]),       # changed: up counts, down does not
                              (at(DAY, 10, 5), "rate", "down", ids[1]),
                              (at(DAY, 10, 6), "rate", "down", ids[2]),     # a clarify reply cannot be rated
                              (at(DAY, 10, 7), "rate", "down", ratings.new_answer_id())],  # no such answer
                       session_at=at(DAY, 10, 3) - 1)
    conversations.save("u2", [(at(DAY, 11), "rate", "down", ids[0])])   # someone else's answer
    result = conversations.result()
    assert (result["totals"]["ratings_up"], result["totals"]["ratings_down"]) == (1, 1)
    (row,) = result["down_rated"]
    assert (row["down"], row["up"], row["status"]) == (1, 0, "not_found")
    assert row["question"] == "区役所にコピー機はありますか"
    assert result["totals"]["questions"] == 3  # ratings are not questions


def test_a_rating_given_later_counts_on_its_own_day_with_its_answer(conversations):
    ids = conversations.save("u1", [(at(DAY, 10), "国民年金の手続きはどこですか", "ask_counter", "answered")])
    conversations.save("u1", [(at(DAY + dt.timedelta(days=3), 9), "rate", "down", ids[0])],
                       session_at=at(DAY + dt.timedelta(days=3), 9) - 1)
    result = conversations.result(since=DAY + dt.timedelta(days=3))
    assert result["totals"]["questions"] == 0 and result["totals"]["ratings_down"] == 1
    assert result["down_rated"][0]["question"] == "国民年金の手続きはどこですか"
    assert conversations.result(until=DAY)["totals"]["ratings_down"] == 0


def test_unanswered_questions_are_grouped_masked_and_sorted_by_count(conversations):
    rows = [
        (at(DAY, 9), "区役所にコピー機はありますか", "ask_venue", "not_found"),
        (at(DAY, 10), "区役所にｺﾋﾟｰ機はありますか？", "ask_venue", "not_found"),
        (at(DAY, 11), "区役所にコピー機はありますか。", "ask_counter", "not_found"),
        (at(DAY, 12), "区役所にはコピー機はありますか", "ask_venue", "not_found"),
        (at(DAY, 13), "090-1234-5678に折り返し電話をください", "ask_contact", "not_found"),
        (at(DAY, 14), "区役所に宝くじ売り場はありますか", "ask_venue", "not_found"),
        (at(DAY, 15), "国民年金の手続きはどこですか", "ask_counter", "answered"),
    ]
    conversations.save("u1", rows)
    groups = conversations.result()["unanswered"]
    copier = groups[0]
    assert copier["count"] == 4 and copier["intent"] == "ask_venue"
    assert copier["example"] in {"区役所にコピー機はありますか", "区役所にｺﾋﾟｰ機はありますか？",
                                 "区役所にコピー機はありますか。"}
    assert "区役所にはコピー機はありますか" in copier["variants"]
    assert (copier["first_seen"], copier["last_seen"]) == ("2026-11-16 09:00", "2026-11-16 12:00")
    examples = [g["example"] for g in groups]
    assert examples[1:] == ["区役所に宝くじ売り場はありますか", "＜電話番号＞に折り返し電話をください"]  # newest first
    assert all("5678" not in json.dumps(g, ensure_ascii=False) for g in groups)
    assert sum(g["count"] for g in groups) == 6


def test_down_rated_answers_show_question_facts_and_sources(conversations, kb):
    ids = conversations.save("u1", [(at(DAY, 9), "国民年金の手続きはどこですか", "ask_counter", "answered"),
                                    (at(DAY, 9, 1), "国民年金はどこ", "ask_counter", "answered")])
    other = conversations.save("u2", [(at(DAY, 9, 2), "国民年金の窓口は", "ask_counter", "answered",
                                       ("001-nenkin-hokennenkin", "no-such-fact"))])
    conversations.save("u1", [(at(DAY, 9, 5), "rate", "down", ids[0]), (at(DAY, 9, 6), "rate", "down", ids[1])],
                       session_at=at(DAY, 9, 5) - 1)
    conversations.save("u2", [(at(DAY, 9, 7), "rate", "down", other[0])], session_at=at(DAY, 9, 7) - 1)
    rows = conversations.result(facts=insights.kb_facts(kb))["down_rated"]
    assert [(r["down"], r["question"]) for r in rows] == [(2, "国民年金はどこ"), (1, "国民年金の窓口は")]
    fact = rows[0]["facts_detail"][0]
    assert fact["id"] == "001-nenkin-hokennenkin" and "保険年金課" in fact["text"]
    assert (fact["doc"], fact["line_start"], fact["line_end"]) == ("001", 2055, 2055)
    assert rows[0]["sources"] == "001:2055-2055 (2015-04-01)"
    assert rows[1]["facts_detail"][1] == {"id": "no-such-fact"}  # a fact the knowledge base no longer has
    assert rows[1]["facts"].endswith(" | no-such-fact")


def test_retention_conversations_past_it_are_left_out_and_pruned_ones_are_gone(tmp_path):
    conv = Conversations(tmp_path / "r.db", retention_days=30)
    now = at(DAY + dt.timedelta(days=40))
    conv.save("old", [(at(DAY, 9), "区役所にコピー機はありますか", "ask_venue", "not_found")])
    conv.save("new", [(at(DAY + dt.timedelta(days=35)), "区役所に売店はありますか", "ask_venue", "not_found")])
    result = conv.result(now=now)  # not pruned yet: still in the file, but past the retention
    assert result["totals"]["questions"] == 1 and result["unanswered"][0]["example"] == "区役所に売店はありますか"
    assert conv.store.prune(now) == 1
    kept = insights.insights(conv.settings, now=now)  # and after Rasa's prune it is gone from the file
    assert kept["totals"]["questions"] == 1
    assert insights.insights(tracker_db.resolve(db=str(tmp_path / "r.db"), retention_days=0),
                             now=now)["totals"]["questions"] == 1


def test_the_store_is_opened_read_only(conversations):
    conversations.save("u1", [(at(DAY, 9), "区役所にコピー機はありますか", "ask_venue", "not_found")])
    import sqlalchemy as sa

    engine = insights.open_store(conversations.settings)
    with pytest.raises(sa.exc.OperationalError, match="readonly"):
        with engine.begin() as conn:
            conn.execute(sa.text("DELETE FROM events"))
    assert conversations.result()["totals"]["questions"] == 1


def test_a_missing_store_is_reported_not_created(tmp_path):
    settings = tracker_db.resolve(db=str(tmp_path / "none.db"))
    with pytest.raises(insights.NoConversations):
        insights.insights(settings)
    assert not (tmp_path / "none.db").exists()


def test_smalltalk_intents_match_the_smalltalk_action(monkeypatch, kb_path):
    monkeypatch.setenv("KB_PATH", str(kb_path))
    from bot.actions.smalltalk import RESPONSES

    assert insights.SMALLTALK_INTENTS == set(RESPONSES)


def test_csv_has_japanese_headers_a_bom_and_no_formulas(conversations):
    conversations.save("u1", [(at(DAY, 9), "=HYPERLINK(\"http://example.com\")", "out_of_scope", "not_found"),
                              (at(DAY, 9, 1), "-1+2 はなんですか", "out_of_scope", "not_found")])
    result = conversations.result()
    raw = insights.to_csv(result, "unanswered")
    assert raw.startswith(b"\xef\xbb\xbf")
    rows = list(csv.reader(io.StringIO(raw.decode("utf-8-sig"))))
    assert rows[0] == [h for _, h in insights.COLUMNS["unanswered"]]
    assert sorted(r[3] for r in rows[1:]) == ["'-1+2 はなんですか", "'=HYPERLINK(\"http://example.com\")"]
    periods = list(csv.reader(io.StringIO(insights.to_csv(result, "periods").decode("utf-8-sig"))))
    assert periods[1][:3] == ["2026-11-16", "1", "2"]


def run_cli(*args, env=None):
    return subprocess.run([sys.executable, "-m", "bot.insights", *args], cwd=ROOT, capture_output=True, text=True,
                          env={**os.environ, "PYTHONPATH": str(ROOT), **(env or {})}, timeout=120)


def test_cli_bad_input_gets_a_clear_message(tmp_path):
    done = run_cli("--since", "2026-13-01")
    assert done.returncode == 2 and "not a date (YYYY-MM-DD)" in done.stderr
    done = run_cli("--endpoints", str(tmp_path / "nope.yml"))
    assert done.returncode == 2 and "endpoints file not found" in done.stderr
    done = run_cli(env={"TRACKER_DB": str(tmp_path / "missing.db")})
    assert done.returncode == 2 and "no conversations stored yet" in done.stderr


def get(url):
    with urllib.request.urlopen(url, timeout=30) as resp:
        return resp.status, resp.headers, resp.read()


def test_the_page_api_and_the_cli_give_the_same_numbers(conversations, kb_path, tmp_path):
    # endpoints.yml keeps conversations 30 days from now: the data must be recent
    monday = dt.date.today() - dt.timedelta(days=14)
    monday -= dt.timedelta(days=monday.weekday())
    ids = conversations.save("u1", [(at(monday, 9), "国民年金の手続きはどこですか", "ask_counter", "answered"),
                                    (at(monday, 9, 1), "区役所にコピー機はありますか 090-1234-5678", "ask_venue",
                                     "not_found")])
    conversations.save("u1", [(at(monday, 9, 2), "rate", "down", ids[0])], session_at=at(monday, 9, 2) - 1)
    conversations.save("u2", [(at(monday + dt.timedelta(days=8), 9), "区役所に売店はありますか", "ask_venue",
                               "not_found")])
    env = {"TRACKER_DB": conversations.settings.db}
    since, until = monday.isoformat(), (monday + dt.timedelta(days=14)).isoformat()
    out = tmp_path / "csv"
    done = run_cli("--since", since, "--until", until, "--period", "week", "--csv", str(out), "--kb", str(kb_path),
                   env=env)
    assert done.returncode == 0, done.stderr
    assert "会話 2件、質問 3件" in done.stdout and "区役所にコピー機はありますか ＜電話番号＞" in done.stdout
    with web_server(kb_path, tmp_path / "web.log", env=env) as base:
        query = f"since={since}&until={until}&period=week"
        status, _, body = get(f"{base}/staff/api/insights?{query}")
        page = json.loads(body)
        assert status == 200 and page["totals"]["questions"] == 3 and page["totals"]["ratings_down"] == 1
        weeks = [(monday + dt.timedelta(days=7 * i)).isoformat() for i in range(3)]
        assert [(r["period"], r["questions"]) for r in page["periods"]] == list(zip(weeks, [2, 1, 0], strict=False))
        assert page["columns"]["periods"][0] == ["period", "期間"]
        for table in insights.COLUMNS:
            status, headers, body = get(f"{base}/staff/api/insights.csv?table={table}&{query}")
            assert status == 200 and headers["Content-Type"].startswith("text/csv")
            assert headers["Content-Disposition"] == f'attachment; filename="{table}_{since}_{until}_week.csv"'
            assert body == (out / f"{table}.csv").read_bytes(), table
        with pytest.raises(urllib.error.HTTPError) as err:
            urllib.request.urlopen(f"{base}/staff/api/insights?since=yesterday", timeout=10)
        assert err.value.code == 400 and "YYYY-MM-DD" in json.loads(err.value.read())["error"]
        with pytest.raises(urllib.error.HTTPError) as err:
            urllib.request.urlopen(f"{base}/staff/api/insights.csv?table=events", timeout=10)
        assert err.value.code == 400


def test_a_turn_ends_with_its_session():
    def row(kind, at, data):
        return ("s1", kind, at, json.dumps(data))

    status = {"event": "bot", "data": {"custom": {"status": "answered", "answer": "abcdefghijklmnop"}}}
    turns = list(insights._turns([
        row("session_started", 1, {}),
        row("user", 2, {"event": "user", "text": "住民票はどこで取れますか",
                        "parse_data": {"intent": {"name": "ask_counter"}}}),
        row("session_started", 3, {}),
        row("bot", 4, status),  # bot-initiated in the new session: not the reply to the turn before
        row("user", 5, {"event": "user", "text": "こんにちは", "parse_data": {"intent": {"name": "greet"}}}),
    ]))
    assert [(t.conversation, t.status) for t in turns] == [(("s1", 1), "unavailable"), (("s1", 2), "unavailable")]
    assert [t.is_question for t in turns] == [True, False]
