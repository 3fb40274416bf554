"""The staff page in a real browser: Debian's headless Chromium driven by Playwright.

Needs /usr/bin/chromium (``apt-get install -y chromium fonts-noto-cjk``) and the
``playwright`` Python package; Playwright's own browser download is never used.
The web web runs on a free loopback port; nothing leaves the machine.
Writes a screenshot to tests/artifacts/staff.png (git-ignored).
"""
from __future__ import annotations

import re
from pathlib import Path

import pytest
from conftest import CHROMIUM

ROOT = Path(__file__).resolve().parent.parent
ARTIFACTS = ROOT / "tests" / "artifacts"

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not CHROMIUM.exists(),
                       reason="/usr/bin/chromium is missing (apt-get install -y chromium fonts-noto-cjk)"),
]








@pytest.fixture
def page(browser):
    context = browser.new_context(viewport={"width": 900, "height": 1100}, locale="ja-JP")
    pg = context.new_page()
    pg.set_default_timeout(15_000)
    errors: list[str] = []
    pg.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)
    pg.on("pageerror", lambda exc: errors.append(str(exc)))
    pg.errors = errors
    try:
        yield pg
    finally:
        context.close()


def test_search_shows_answer_source_and_passage(web, page):
    from playwright.sync_api import expect

    page.goto(web + "/staff")
    assert page.evaluate("document.activeElement && document.activeElement.id") == "q"  # autofocus
    page.locator("#q").press_sequentially("住民票", delay=40)  # as a person types

    results = page.locator("#results > li")
    expect(results.first).to_be_visible()
    card = results.filter(has_text="区民課").first
    expect(card).to_be_visible()
    expect(card.locator(".title")).to_have_text("『区役所改革の基本方針（案）』")
    expect(card.locator(".lines")).to_have_text("2053行目")
    expect(card.locator(".asof")).to_have_text("2015年4月1日時点")
    expect(card.locator(".badge")).to_have_text("事実")
    expect(page.locator("#search-status")).to_contain_text("件")

    button = card.get_by_role("button", name="原文を表示")
    button.click()
    expect(button).to_have_attribute("aria-expanded", "true")
    passage = card.locator("pre.src-text")
    expect(passage).to_be_visible()
    expect(passage).to_contain_text("戸籍 住民票 印鑑登録")
    expect(passage.locator(".src-line.cited")).to_contain_text("2053")
    expect(card.locator(".src-caption")).to_contain_text("2053行目")

    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "staff.png"), full_page=False)

    button.click()
    expect(button).to_have_attribute("aria-expanded", "false")
    expect(passage).to_be_hidden()
    assert not page.errors, page.errors


def test_kana_and_typo_input(web, page):
    from playwright.sync_api import expect

    page.goto(web + "/staff")
    for query in ("こくみんけんこうほけん", "国民健康保検", "ほけ"):
        page.locator("#q").fill(query)
        expect(page.locator("#results")).to_contain_text("保険年金課")
    page.locator("#q").fill('NEAR("*')
    expect(page.locator("#search-status")).to_contain_text("見つかりませんでした")
    assert not page.errors, page.errors


def test_a_citizens_word_finds_the_duty_and_says_it_is_an_inference(web, page):
    from playwright.sync_api import expect

    page.goto(web + "/staff")
    page.locator("#q").fill("婚姻届")
    first = page.locator("#results .result").first
    expect(first).to_contain_text("戸籍")
    expect(first.locator(".inference")).to_contain_text("婚姻届は戸籍の届出です")
    expect(first.locator(".inference")).to_contain_text("推定")
    assert not page.errors, page.errors


def test_browsing_tabs_by_keyboard(web, page):
    from playwright.sync_api import expect

    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.goto(web + "/staff")
    page.get_by_role("tab", name="検索").focus()
    page.keyboard.press("ArrowRight")
    expect(page.get_by_role("tab", name="組織・担当")).to_have_attribute("aria-selected", "true")
    sections = page.locator("#panel-sections")
    expect(sections).to_be_visible()
    hoken = sections.locator("li").filter(has=page.locator("h3", has_text=re.compile("^保険年金課")))
    expect(hoken).to_contain_text("担当業務：国民健康保険、医療費助成、国民年金")
    expect(hoken).to_contain_text("2055行目")

    page.keyboard.press("ArrowRight")
    contacts = page.locator("#panel-contacts")
    expect(contacts).to_be_visible()
    expect(contacts.locator("li", has_text="2258")).to_contain_text("報道発表資料の問合せ先")
    expect(contacts.locator("li", has_text="2258").locator(".badge-press")).to_be_visible()
    page.screenshot(path=str(ARTIFACTS / "staff-contacts.png"))
    expect(contacts.locator("li", has_text="2459").first).to_contain_text("申込み・問合せ")

    page.keyboard.press("ArrowRight")
    expect(page.locator("#panel-events")).to_contain_text("502会議室")
    page.keyboard.press("End")
    timeline = page.locator("#panel-timeline")
    expect(timeline).to_be_visible()
    expect(timeline.locator("li").first).to_contain_text("1972年")
    assert not page.errors, page.errors


def test_narrow_screen(web, browser):
    from playwright.sync_api import expect

    context = browser.new_context(viewport={"width": 375, "height": 812}, locale="ja-JP", is_mobile=True)
    try:
        page = context.new_page()
        page.goto(web + "/staff")
        page.locator("#q").fill("住民票")
        card = page.locator("#results > li", has_text="区民課").first
        expect(card).to_be_visible()
        card.get_by_role("button", name="原文を表示").click()
        expect(card.locator("pre.src-text")).to_be_visible()
        width = page.evaluate("document.documentElement.scrollWidth")
        assert width <= 375, f"page is {width}px wide at a 375px viewport"
        page.screenshot(path=str(ARTIFACTS / "staff-375.png"))
    finally:
        context.close()
