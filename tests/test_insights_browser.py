"""Acceptance: ratings in the widget reach the staff insights page (/staff/insights).

Real Rasa and action servers (socket.io channel) write to an SQLite tracker
store; the web server (bot/web.py) reads the same file; Debian's headless
Chromium driven by Playwright plays the citizen, then the staff.  A citizen
asks an answerable and an unanswerable question (with a phone number), rates
the first answer (up, then changes it to down, by keyboard); the insights page
then shows the unanswerable question masked, the down-rated answer with its
facts and their verbatim source, counts that match the conversation, and
charts that are drawn.  Screenshots: results/insights/*.png.
"""
from __future__ import annotations

import csv
import io
import json
import re
import sqlite3
import urllib.request
from pathlib import Path

import pytest
from conftest import CHROMIUM, ROOT, free_port, web_server
from test_widget_browser import ANSWER_TIMEOUT, API_TOKEN, _new_page, _wait_connected

from bot import ratings
from bot.servers import started
from knowledge import staff

MODEL = ROOT / "models" / "kuyakusho.tar.gz"
SHOTS = ROOT / "results" / "insights"
ANSWERABLE = "国民年金の手続きはどこですか"
UNANSWERABLE = "区役所に売店はありますか。折り返しは090-1234-5678にお願いします"
MASKED = "区役所に売店はありますか。折り返しは＜電話番号＞にお願いします"

pytestmark = [
    pytest.mark.browser,
    pytest.mark.integration,
    pytest.mark.skipif(not CHROMIUM.exists(),
                       reason="/usr/bin/chromium is missing (apt-get install -y chromium fonts-noto-cjk)"),
]


@pytest.fixture(scope="module")
def stack(kb_path, tmp_path_factory):
    """(servers, web base URL, tracker db) sharing one SQLite tracker store; the
    Rasa server accepts the web page's origin for the widget and has its HTTP
    API on with :data:`API_TOKEN`, so that the test can read the tracker."""
    if not MODEL.exists():
        pytest.fail(f"no trained model at {MODEL}: run `make train` first")
    logs = tmp_path_factory.mktemp("insights-logs")
    db = logs / "tracker.db"
    with web_server(kb_path, logs / "web.log", env={"TRACKER_DB": str(db)}) as base:
        env = {"KB_PATH": str(kb_path), "KUYAKUSHO_TODAY": "2026-11-21", "TRACKER_DB": str(db),
               "WIDGET_ORIGINS": base}
        with started(free_port(), free_port(), log_dir=logs, env=env, api_token=API_TOKEN) as servers:
            yield servers, base, db
    for log in Path(logs).glob("*.log"):
        text = log.read_text(errors="replace")
        assert "Traceback" not in text, f"exception in {log.name}:\n{text[-3000:]}"


def _tracker(servers, sender: str) -> dict:
    with urllib.request.urlopen(servers.api(f"/conversations/{sender}/tracker"), timeout=10) as resp:
        return json.loads(resp.read().decode("utf-8"))


def _statuses(tracker: dict) -> list[dict]:
    return [e["data"]["custom"] for e in tracker["events"]
            if e.get("event") == "bot" and isinstance((e.get("data") or {}).get("custom"), dict)]


def test_ratings_and_unanswered_questions_reach_the_insights_page(stack, browser, kb):
    from playwright.sync_api import expect

    servers, web, db = stack
    port = servers.rasa_port
    context, page = _new_page(browser)
    try:
        # -- the citizen -----------------------------------------------------------------
        page.goto(f"{web}/?server=http://127.0.0.1:{port}")
        page.locator("#kc-launcher").click()
        _wait_connected(page)
        log = page.locator("#kc-log")
        bots = log.locator(".kc-bot")
        expect(bots.first).to_contain_text("こんにちは", timeout=ANSWER_TIMEOUT)
        expect(bots.first.locator(".kc-rate")).to_have_count(0)  # a greeting is not rated

        page.locator("#kc-input").fill(ANSWERABLE)
        page.locator("#kc-input").press("Enter")
        answer = bots.nth(1)
        expect(answer).to_have_attribute("data-status", "answered", timeout=ANSWER_TIMEOUT)
        up, down = answer.locator(".kc-rate-btn[data-rating=up]"), answer.locator(".kc-rate-btn[data-rating=down]")
        expect(up).to_have_text("役に立った")
        expect(down).to_have_text("役に立たなかった")
        expect(up).to_have_attribute("aria-pressed", "false")
        expect(answer.locator(".kc-rate")).to_have_attribute("role", "group")

        page.locator("#kc-input").fill(UNANSWERABLE)
        page.locator("#kc-input").press("Enter")
        expect(bots.nth(2)).to_have_attribute("data-status", "not_found", timeout=ANSWER_TIMEOUT)
        expect(bots.nth(2).locator(".kc-rate-btn[data-rating=down]")).to_be_visible()

        # rate the first answer by keyboard: up, then change it to down
        up.focus()
        page.keyboard.press("Enter")
        expect(up).to_have_attribute("aria-pressed", "true")
        expect(bots.nth(3)).to_have_text("ご評価ありがとうございます。", timeout=ANSWER_TIMEOUT)
        page.keyboard.press("Tab")
        expect(down).to_be_focused()
        assert down.evaluate("e => getComputedStyle(e).outlineStyle") != "none"  # visible focus
        page.keyboard.press("Enter")
        expect(down).to_have_attribute("aria-pressed", "true")
        expect(up).to_have_attribute("aria-pressed", "false")
        expect(bots.nth(4)).to_contain_text("改善に役立てます", timeout=ANSWER_TIMEOUT)
        page.keyboard.press("Enter")  # the same rating again sends nothing
        page.wait_for_timeout(1000)
        expect(bots).to_have_count(5)
        expect(log.locator(".kc-user")).to_have_count(2)  # ratings are not shown as the citizen's messages
        SHOTS.mkdir(parents=True, exist_ok=True)
        answer.scroll_into_view_if_needed()
        page.screenshot(path=str(SHOTS / "widget-rated.png"))

        # the rating survives a reload of the page
        page.reload()
        expect(log.locator(".kc-bot").nth(1).locator(".kc-rate-btn[data-rating=down]")) \
            .to_have_attribute("aria-pressed", "true")

        # -- what was stored: the same conversation, the ratings tied to the answer ---------
        sender = page.evaluate("window.KuyakushoChat.sessionId()")
        tracker = _tracker(servers, sender)
        statuses = _statuses(tracker)
        first = next(s for s in statuses if s["status"] == "answered")
        user = [e for e in tracker["events"] if e.get("event") == "user"]
        rated = [e for e in user if (e.get("parse_data") or {}).get("intent", {}).get("name") == "rate_answer"]
        assert [ratings.from_entities(e["parse_data"]["entities"]) for e in rated] == \
               [("up", first["answer"]), ("down", first["answer"])]
        assert tracker["slots"]["topic"]  # the ratings left the conversation's topic alone
        with sqlite3.connect(db) as conn:
            stored = [json.loads(d)["text"] for (d,) in conn.execute(
                "select data from events where sender_id = ? and type_name = 'user' order by id", (sender,))]
        assert MASKED in stored and UNANSWERABLE not in stored

        # -- the staff ---------------------------------------------------------------------
        staff_page = context.new_page()
        staff_page.set_default_timeout(15_000)
        errors: list[str] = []
        staff_page.on("pageerror", lambda exc: errors.append(str(exc)))
        staff_page.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)
        staff_page.set_viewport_size({"width": 1100, "height": 1600})
        staff_page.goto(f"{web}/staff/insights")
        expect(staff_page.locator("#status")).to_contain_text("質問 2件")
        totals = staff_page.locator("#totals")
        for label, value in (("会話数", "1件"), ("質問数", "2件"), ("回答", "1件（50.0%）"),
                             ("資料に記載なし", "1件（50.0%）"), ("聞き返し", "0件（0.0%）"),
                             ("応答不能", "0件（0.0%）"),
                             ("役に立った", "0件"), ("役に立たなかった", "1件")):
            expect(totals.locator(f"[data-key='{label}'] dd")).to_have_text(value)

        # the unanswerable question, masked, with the intent the NLU guessed
        unanswered = staff_page.locator("#table-unanswered tbody tr")
        expect(unanswered).to_have_count(1)
        expect(unanswered.locator("[data-col=example]")).to_have_text(MASKED)
        expect(unanswered.locator("[data-col=count]")).to_have_text("1")
        guessed = next(e for e in user if e.get("text") == MASKED)["parse_data"]["intent"]["name"]
        expect(unanswered.locator("[data-col=intent]")).to_have_text(guessed)
        expect(staff_page.locator("main")).not_to_contain_text("5678")

        # the down-rated answer with its question and facts, one click to the verbatim source
        card = staff_page.locator("#down-rated > li")
        expect(card).to_have_count(1)
        expect(card.locator(".count-down")).to_have_text("役に立たなかった 1件")
        expect(card.locator(".question")).to_have_text("質問：" + ANSWERABLE)
        facts = [staff.fact_dict(kb, kb.facts[f]) for f in first["facts"]]
        assert facts
        for fact in facts:
            expect(card.locator(".fact-item", has_text=fact["id"]).locator(".fact")).to_have_text(fact["text"])
        source_button = card.locator(".fact-item").first.get_by_role("button", name="原文を表示")
        source_button.click()
        passage = card.locator(".fact-item").first.locator("pre.src-text")
        expect(passage).to_be_visible()
        expect(passage.locator(".src-line.cited").first).to_contain_text(str(facts[0]["line_start"]))

        # the table of the day and the charts agree with the totals; the charts are drawn
        row = staff_page.locator("#table-periods tbody tr").last
        for col, value in (("conversations", "1"), ("questions", "2"), ("answered", "1"), ("not_found", "1"),
                           ("answered_pct", "50.0"), ("ratings_down", "1"), ("ratings_up", "0")):
            expect(row.locator(f"[data-col={col}]")).to_have_text(value)
        drawn = staff_page.evaluate("""() => ['chart-outcomes', 'chart-ratings'].map(id => {
            const c = document.getElementById(id), d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
            let painted = 0;
            for (let i = 3; i < d.length; i += 4) if (d[i]) painted++;
            const chart = Chart.getChart(c);
            return {painted, size: c.width * c.height,
                    sums: chart.data.datasets.map(s => s.data.reduce((a, b) => a + b, 0))};
        })""")
        assert all(chart["painted"] > 1000 for chart in drawn), drawn
        assert drawn[0]["sums"] == [1, 1, 0, 0] and drawn[1]["sums"] == [0, 1], drawn

        # each table downloads as CSV with the same range
        for table in ("periods", "unanswered", "down_rated"):
            link = staff_page.locator(f"a.csv[data-table={table}]")
            expect(link).to_have_attribute("href", re.compile(rf"^/staff/api/insights\.csv\?table={table}$"))
        with staff_page.expect_download() as download:
            staff_page.locator("a.csv[data-table=unanswered]").click()
        content = Path(download.value.path()).read_bytes().decode("utf-8-sig")
        assert MASKED in content and "5678" not in content
        # the page's table shows what the CSV (and `python -m bot.insights --csv`) holds
        with staff_page.expect_download() as download:
            staff_page.locator("a.csv[data-table=periods]").click()
        csv_rows = list(csv.reader(io.StringIO(Path(download.value.path()).read_bytes().decode("utf-8-sig"))))
        shown = staff_page.evaluate("""() => [...document.querySelectorAll('#table-periods tr')].map(
            tr => [...tr.children].map(td => td.textContent))""")
        assert shown == csv_rows

        staff_page.screenshot(path=str(SHOTS / "insights.png"), full_page=True)

        # a date range without conversations empties the page; the URL keeps the range
        staff_page.locator("#since").fill("2020-01-01")
        staff_page.locator("#until").fill("2020-01-31")
        staff_page.get_by_role("button", name="表示", exact=True).click()
        expect(staff_page.locator("#totals [data-key='質問数'] dd")).to_have_text("0件")
        assert "since=2020-01-01" in staff_page.url
        expect(staff_page.locator("a.csv[data-table=periods]")).to_have_attribute(
            "href", re.compile(r"since=2020-01-01&until=2020-01-31"))
        assert not errors, errors
        assert not page.errors, page.errors
    finally:
        context.close()
