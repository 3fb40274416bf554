"""The citizen chat widget (GET /, bot/static/chat.js) in a real browser, talking
to real Rasa and action servers over Rasa's socket.io channel.

Debian's headless Chromium driven by Playwright, as in test_staff_browser.py
(needs /usr/bin/chromium and fonts-noto-cjk; Playwright's own browser download
is never used).  Everything runs on free loopback ports; nothing leaves the
machine.  Screenshots go to tests/artifacts/widget*.png (git-ignored).
"""
from __future__ import annotations

import json
import re
import secrets
import urllib.request
from pathlib import Path

import pytest
from conftest import CHROMIUM, free_port

from bot.servers import started

ROOT = Path(__file__).resolve().parent.parent
MODEL = ROOT / "models" / "kuyakusho.tar.gz"
ARTIFACTS = ROOT / "tests" / "artifacts"
ANSWER_TIMEOUT = 45_000  # ms; the first answers after the model loads can be slow
API_TOKEN = secrets.token_urlsafe(24)

pytestmark = [
    pytest.mark.browser,
    pytest.mark.integration,
    pytest.mark.skipif(not CHROMIUM.exists(),
                       reason="/usr/bin/chromium is missing (apt-get install -y chromium fonts-noto-cjk)"),
]


@pytest.fixture(scope="module")
def rasa(web, kb_path, tmp_path_factory):
    """Port of the Rasa server (socket.io channel from credentials.yml, which
    accepts the demo page's origin ``web``) with the action server; its HTTP
    API is on with :data:`API_TOKEN` so that the test can read the tracker."""
    if not MODEL.exists():
        pytest.fail(f"no trained model at {MODEL}: run `make train` first")
    logs = tmp_path_factory.mktemp("widget-logs")
    port, actions_port = free_port(), free_port()
    with started(port, actions_port, log_dir=logs, api_token=API_TOKEN,
                 env={"KB_PATH": str(kb_path), "KUYAKUSHO_TODAY": "2026-11-21", "WIDGET_ORIGINS": web}):
        yield port
    for log in Path(logs).glob("*.log"):
        text = log.read_text(errors="replace")
        assert "Traceback" not in text, f"exception in {log.name}:\n{text[-3000:]}"
        assert "never awaited" not in text, f"un-awaited coroutine in {log.name}:\n{text[-3000:]}"


def _new_page(browser, **options):
    context = browser.new_context(locale="ja-JP", **{"viewport": {"width": 1000, "height": 800}, **options})
    page = context.new_page()
    page.set_default_timeout(15_000)
    errors: list[str] = []
    page.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.errors = errors
    return context, page


def _wait_connected(page) -> None:
    """Wait until the widget has its session confirmed by the Rasa server; fail with the page's errors."""
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    try:
        page.wait_for_function("() => window.KuyakushoChat.connected && window.KuyakushoChat.connected()",
                               timeout=ANSWER_TIMEOUT)
    except PlaywrightTimeout:
        status = page.locator(".kc-status").text_content()
        pytest.fail(f"the widget did not connect to the Rasa server (status: {status!r}); "
                    f"browser errors: {page.errors}")


def _tracker(rasa_port: int, session_id: str) -> dict:
    url = f"http://127.0.0.1:{rasa_port}/conversations/{session_id}/tracker?token={API_TOKEN}"
    with urllib.request.urlopen(url, timeout=10) as resp:
        return json.loads(resp.read().decode("utf-8"))


def _user_texts(tracker: dict) -> list[str]:
    return [e.get("text") for e in tracker["events"] if e.get("event") == "user"]


def test_conversation_sources_quick_reply_and_reload(web, rasa, browser):
    from playwright.sync_api import expect

    context, page = _new_page(browser)
    try:
        page.goto(f"{web}/?server=http://127.0.0.1:{rasa}")
        launcher = page.locator("button#kc-launcher")
        panel = page.locator("#kc-panel")
        expect(launcher).to_have_attribute("aria-expanded", "false")
        expect(panel).to_be_hidden()

        launcher.click()
        expect(launcher).to_have_attribute("aria-expanded", "true")
        expect(panel).to_be_visible()
        expect(panel.locator("h2")).to_have_text("川崎市 区役所案内チャット")
        expect(page.locator("#kc-input")).to_be_focused()
        expect(page.locator("#kc-input")).to_have_attribute("placeholder", "ご質問を入力してください")
        log = page.locator("#kc-log")
        expect(log).to_have_attribute("aria-live", "polite")

        _wait_connected(page)
        # The first session: the page sends /greet itself (and does not show it as the user's message).
        bots = log.locator(".kc-bot")
        expect(bots.first).to_contain_text("こんにちは", timeout=ANSWER_TIMEOUT)
        expect(log.locator(".kc-user")).to_have_count(0)
        expect(bots.first).to_have_attribute("data-status", "smalltalk", timeout=ANSWER_TIMEOUT)

        page.locator("#kc-input").fill("国民年金の手続きはどこですか")
        page.locator("#kc-input").press("Enter")
        expect(log.locator(".kc-user").last).to_have_text("国民年金の手続きはどこですか")
        answer = bots.nth(1)
        expect(answer).to_contain_text("保険年金課", timeout=ANSWER_TIMEOUT)
        expect(answer.locator(".kc-text")).to_contain_text("国民年金は、区役所の保険年金課が取り扱っています。")
        expect(answer.locator(".kc-text")).not_to_contain_text("出典")
        source = answer.locator(".kc-source")
        expect(source).to_have_text(re.compile(r"^出典：『区役所改革の基本方針（案）』\d+行目、2015年4月1日時点"))
        assert float(source.evaluate("e => parseFloat(getComputedStyle(e).fontSize)")) < float(
            answer.locator(".kc-text").evaluate("e => parseFloat(getComputedStyle(e).fontSize)"))
        # the status message is metadata, never text
        expect(answer).to_have_attribute("data-status", "answered", timeout=ANSWER_TIMEOUT)
        for raw in ('"status"', "sources", "{", "answered"):
            expect(log).not_to_contain_text(raw)

        quick = log.locator(".kc-quick button")
        expect(quick.first).to_be_visible()
        title = quick.first.inner_text()
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / "widget.png"))
        quick.first.click()
        expect(log.locator(".kc-user").last).to_have_text(title)
        expect(bots).to_have_count(3, timeout=ANSWER_TIMEOUT)
        expect(bots.nth(2).locator(".kc-text")).not_to_be_empty()
        expect(bots.nth(2)).to_have_attribute("data-status", re.compile(r"^(answered|not_found|clarify)$"),
                                              timeout=ANSWER_TIMEOUT)
        before = log.inner_text()
        session_id = page.evaluate("localStorage.getItem('kuyakusho-chat.session')")
        assert session_id and re.fullmatch(r"[A-Za-z0-9_-]{8,64}", session_id), session_id

        # Reload: same session, the same messages, the panel still open; the server continues the conversation.
        page.reload()
        expect(panel).to_be_visible()
        expect(log.locator(".kc-bot")).to_have_count(3)
        assert log.inner_text() == before
        _wait_connected(page)
        assert page.evaluate("window.KuyakushoChat.sessionId()") == session_id
        assert page.evaluate("localStorage.getItem('kuyakusho-chat.session')") == session_id
        page.locator("#kc-input").fill("住民票はどこで取れますか")
        page.keyboard.press("Enter")
        expect(log.locator(".kc-bot").nth(3)).to_contain_text("区民課", timeout=ANSWER_TIMEOUT)
        expect(log.locator(".kc-bot")).to_have_count(4)  # no second greeting
        texts = _user_texts(_tracker(rasa, session_id))
        # the quick reply's payload names its topic (国民年金はどこの課の担当？); the title is its short form
        assert texts[:2] == ["/greet", "国民年金の手続きはどこですか"] and texts[3:] == ["住民票はどこで取れますか"]
        assert texts[2].endswith(title.rstrip("？")) or texts[2].endswith(title)

        launcher.click()
        expect(launcher).to_have_attribute("aria-expanded", "false")
        expect(panel).to_be_hidden()
        assert not page.errors, page.errors
    finally:
        context.close()


def test_bot_text_is_rendered_as_text_never_html(web, browser):
    context, page = _new_page(browser)
    try:
        page.goto(f"{web}/?server=http://127.0.0.1:{free_port()}")  # nobody listens there
        crafted = ('<img src=x onerror="window.pwned=1"><b>太字</b> 詳しくは https://www.city.kawasaki.jp/a?b=1&c=2。'
                   'javascript:alert(1) と <script>window.pwned=2</script>\n'
                   '出典：『区役所改革の基本方針（案）』2055行目、2015年4月1日時点 <a href="javascript:alert(1)">x</a>')
        result = page.evaluate("""text => {
            const node = window.KuyakushoChat.renderBotText(text);
            document.body.appendChild(node);
            const tags = [...node.querySelectorAll('*')].map(e => e.tagName + (e.className ? '.' + e.className : ''));
            const links = [...node.querySelectorAll('a')].map(a => ({href: a.getAttribute('href'), rel: a.rel,
                                                                    target: a.target, text: a.textContent}));
            return {tags, links, className: node.className,
                    body: node.querySelector('.kc-text').textContent,
                    source: node.querySelector('.kc-source').textContent, pwned: window.pwned || null};
        }""", crafted)
        assert result["className"] == "kc-msg kc-bot"
        assert result["tags"] == ["P.kc-text", "A", "P.kc-source"], result["tags"]
        assert result["links"] == [{"href": "https://www.city.kawasaki.jp/a?b=1&c=2", "rel": "noopener noreferrer",
                                    "target": "_blank", "text": "https://www.city.kawasaki.jp/a?b=1&c=2"}]
        body, source = crafted.split("\n")
        assert result["body"] == body
        assert result["source"] == source
        assert result["pwned"] is None
        page.wait_for_timeout(500)
        assert page.evaluate("window.pwned || null") is None
        # the launcher was never opened, so the page did not even try to connect
        assert page.evaluate("window.KuyakushoChat.connected()") is False
        assert not page.errors, page.errors
    finally:
        context.close()


def test_keyboard_only_on_a_phone_screen(web, rasa, browser):
    from playwright.sync_api import expect

    context, page = _new_page(browser, viewport={"width": 375, "height": 667}, is_mobile=True, has_touch=True)
    try:
        page.goto(f"{web}/?server=http://127.0.0.1:{rasa}")
        for _ in range(10):
            page.keyboard.press("Tab")
            if page.evaluate("document.activeElement.id") == "kc-launcher":
                break
        launcher = page.locator("#kc-launcher")
        expect(launcher).to_be_focused()
        assert launcher.evaluate("e => e.tagName") == "BUTTON"
        assert launcher.evaluate("e => getComputedStyle(e).outlineStyle") != "none"  # visible focus
        page.keyboard.press("Enter")
        expect(launcher).to_have_attribute("aria-expanded", "true")
        expect(page.locator("#kc-input")).to_be_focused()
        log = page.locator("#kc-log")
        _wait_connected(page)
        expect(log.locator(".kc-bot").first).to_contain_text("こんにちは", timeout=ANSWER_TIMEOUT)

        page.keyboard.type("国民年金の手続きはどこですか")
        page.keyboard.press("Enter")
        answer = log.locator(".kc-bot").nth(1)
        expect(answer).to_contain_text("保険年金課", timeout=ANSWER_TIMEOUT)
        expect(answer.locator(".kc-source")).to_contain_text("出典：")
        expect(page.locator("#kc-input")).to_be_focused()

        # Tab from the input reaches the send button; Shift+Tab back past the input reaches the last quick reply.
        page.keyboard.press("Tab")
        expect(page.locator(".kc-send")).to_be_focused()
        page.keyboard.press("Shift+Tab")
        page.keyboard.press("Shift+Tab")
        last_reply = log.locator(".kc-quick button").last
        expect(last_reply).to_be_focused()
        assert last_reply.evaluate("e => getComputedStyle(e).outlineStyle") != "none"
        title = last_reply.inner_text()
        page.keyboard.press("Enter")
        expect(log.locator(".kc-user").last).to_have_text(title)
        expect(log.locator(".kc-bot")).to_have_count(3, timeout=ANSWER_TIMEOUT)

        # A URL in an answer is a link that opens a new tab.
        page.locator("#kc-input").focus()
        page.keyboard.type("ワークショップはホームページから申し込めますか")
        page.keyboard.press("Enter")
        link = log.locator(".kc-bot").nth(3).locator(".kc-text a").first  # the answer may say the URL twice
        expect(link).to_have_attribute("href", "https://logoform.jp/form/FUQz/1096652", timeout=ANSWER_TIMEOUT)
        expect(link).to_have_attribute("target", "_blank")
        expect(link).to_have_attribute("rel", re.compile(r"\bnoopener\b"))

        width = page.evaluate("document.documentElement.scrollWidth")
        assert width <= 375, f"page is {width}px wide at a 375px viewport"
        box = page.locator("#kc-panel").bounding_box()
        assert box["x"] >= 0 and box["x"] + box["width"] <= 375 and box["y"] >= 0, box
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / "widget-375.png"))

        page.keyboard.press("Escape")
        expect(page.locator("#kc-panel")).to_be_hidden()
        expect(launcher).to_be_focused()
        expect(launcher).to_have_attribute("aria-expanded", "false")
        page.screenshot(path=str(ARTIFACTS / "widget-375-closed.png"))
        assert not page.errors, page.errors
    finally:
        context.close()
