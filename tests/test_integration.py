"""Both servers started for real; questions sent over the REST channel."""
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from conftest import custom, texts

from bot.servers import ROOT, post_message, running

pytestmark = pytest.mark.integration
MODEL = ROOT / "models" / "kuyakusho.tar.gz"


@pytest.fixture(scope="module")
def url(tmp_path_factory, kb_path):
    if not MODEL.exists():
        pytest.fail(f"no trained model at {MODEL}: run `make train` first")
    logs = tmp_path_factory.mktemp("logs")
    with running(5205, 5255, log_dir=logs, env={"KB_PATH": str(kb_path), "KUYAKUSHO_TODAY": "2026-11-21"}) as webhook:
        yield webhook
    for log in Path(logs).glob("*.log"):
        text = log.read_text(errors="replace")
        assert "Traceback" not in text, f"exception in {log.name}:\n{text[-3000:]}"


def test_real_answer_over_http(url):
    messages = post_message(url, "it-1", "国民年金の手続きはどこでできますか")
    assert "保険年金課" in texts(messages)
    status = custom(messages)
    assert status["status"] == "answered" and status["sources"][0]["doc"] == "001"


def test_context_carries_over_between_turns(url):
    post_message(url, "it-2", "ミライプロジェクトのワークショップについて知りたい")
    messages = post_message(url, "it-2", "しめきりはいつ？")
    assert "7月15日" in texts(messages)


def test_greeting_is_smalltalk(url):
    assert custom(post_message(url, "it-3", "こんにちは"))["status"] == "smalltalk"


@pytest.mark.parametrize("text", ["", "   ", "😀😀😀", "0000000000", "<script>alert(1)</script>", "x" * 10_000,
                                  "What time does the office open?", "\u0007\u001b[31m"],
                         ids=["empty", "spaces", "emoji", "digits", "html", "10000-chars", "english", "control"])
def test_bad_input_gets_a_reply_and_the_conversation_continues(url, text):
    sender = f"it-bad-{abs(hash(text)) % 10_000}"
    messages = post_message(url, sender, text)
    assert messages and custom(messages)["status"] in {"clarify", "not_found", "answered", "smalltalk"}
    after = post_message(url, sender, "生活保護の相談はどこの課ですか")
    assert "保護課" in texts(after)


def test_malformed_request_is_not_a_server_error(url):
    req = urllib.request.Request(url, data=b"{not json", headers={"Content-Type": "application/json"})
    with pytest.raises(urllib.error.HTTPError) as err:
        urllib.request.urlopen(req, timeout=30)
    assert err.value.code < 500
