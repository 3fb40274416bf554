"""Personal data: ``bot.privacy.mask``, the log filter, the masking tracker
store, and (integration) the servers storing and logging no personal data
while answering exactly as before."""
from __future__ import annotations

import asyncio
import json
import logging
import secrets
import sqlite3
import time
import urllib.request
from pathlib import Path

import pytest
from conftest import free_port
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot import privacy
from bot.privacy import ADDRESS, EMAIL, INDIVIDUAL_NUMBER, PHONE, mask

# --------------------------------------------------------------------------- mask()


@pytest.mark.parametrize("text, expected", [
    ("電話は090-1234-5678です", f"電話は{PHONE}です"),
    ("03-1234-5678", PHONE),
    ("0312345678にかけて", f"{PHONE}にかけて"),
    ("(03)1234-5678", PHONE),
    ("044(200)2459", PHONE),
    ("０９０ー１２３４ー５６７８", PHONE),
    ("090 1234 5678", PHONE),
    ("0120-123-456", PHONE),
    ("+81 90-1234-5678", PHONE),
    ("+81-3-1234-5678", PHONE),
    ("＋８１９０１２３４５６７８", PHONE),
    ("0\u200b9\u200b0-1234-5678", PHONE),
    ("連絡は taro.yamada+ku@example.co.jp まで", f"連絡は {EMAIL} まで"),
    ("ｔａｒｏ＠ｅｘａｍｐｌｅ．ｃｏｍ", EMAIL),
    ("マイナンバーは123456789012です", f"マイナンバーは{INDIVIDUAL_NUMBER}です"),
    ("1234 5678 9012", INDIVIDUAL_NUMBER),
    ("1234-5678-9012", INDIVIDUAL_NUMBER),
    ("１２３４５６７８９０１２", INDIVIDUAL_NUMBER),
    ("１２３４　５６７８　９０１２", INDIVIDUAL_NUMBER),
    ("〒211-0004", ADDRESS),
    ("郵便番号は2110004です", f"郵便番号は{ADDRESS}です"),
    ("川崎市中原区小杉町3丁目245番地に住んでいます", f"川崎市中原区{ADDRESS}に住んでいます"),
    ("神奈川県川崎市中原区小杉町3-245", f"神奈川県川崎市中原区{ADDRESS}"),
    ("東京都千代田区千代田1-1", f"東京都千代田区{ADDRESS}"),
    ("川崎市幸区戸手本町1丁目11番地の1です", f"川崎市幸区{ADDRESS}です"),
    ("川崎区本町1番2号", f"川崎区{ADDRESS}"),
    ("川崎市多摩区登戸三丁目", f"川崎市多摩区{ADDRESS}"),
    ("〒210-0001 川崎市川崎区本町1-2-3", f"{ADDRESS} 川崎市川崎区{ADDRESS}"),
])
def test_personal_data_is_masked(text, expected):
    assert mask(text) == expected


@pytest.mark.parametrize("text", [
    "住民票はどこで取れますか", "2026-11-21のイベント", "令和7年7月15日まで", "区民課3番窓口はどこ",
    "中原区民課2番窓口", "定員は30人です", "平成28（2016）年", "午前8時30分から午後5時まで", "第1号様式",
    "12345", "川崎区役所は何階？2階です", "", "😀👍🏽", "مرحبا 区役所",
])
def test_ordinary_questions_are_left_alone(text):
    assert mask(text) == text


def test_everything_but_the_personal_data_is_kept_as_typed():
    text = "ＡＢＣ　住民票😀の件、電話は０９０－１２３４－５６７８、\u200bメールは a@b.jp です。"
    assert mask(text) == f"ＡＢＣ　住民票😀の件、電話は{PHONE}、\u200bメールは {EMAIL} です。"


def test_spans_point_into_the_original_text():
    text = "ｔｅｌ：０３－１２３４－５６７８／Mail: x@y.org"
    spans = privacy.find(text)
    assert [(text[s.start:s.end], s.tag) for s in spans] == [("０３－１２３４－５６７８", PHONE), ("x@y.org", EMAIL)]


def test_offsets_move_to_the_masked_text():
    text = "電話090-1234-5678の住民票"
    spans = privacy.find(text)
    mapped = privacy.offset_mapper(text, spans)
    masked = privacy.apply(text, spans)
    start, end = text.index("住民票"), text.index("住民票") + 3
    assert masked[mapped(start):mapped(end, end=True)] == "住民票"
    assert masked[mapped(2):mapped(15, end=True)] == PHONE


def test_mask_value_masks_nested_strings():
    value = {"a": ["090-1234-5678", 3, None], "b": {"c": "x@y.jp"}, "d": ("03-1234-5678",)}
    assert privacy.mask_value(value) == {"a": [PHONE, 3, None], "b": {"c": EMAIL}, "d": (PHONE,)}


CONTEXT = st.text(alphabet=st.sampled_from(list("住民票はどこで取れますか。、教えて区役所のですカタカナ ")),
                  max_size=20)
PHONES = st.builds(lambda a, b, c, sep: f"0{a}{sep}{b}{sep}{c}", st.sampled_from(["90", "80", "70", "3", "44"]),
                   st.integers(1000, 9999), st.integers(1000, 9999), st.sampled_from(["-", "", " ", "ー", "－"]))
NUMBERS = st.builds(lambda n, sep: sep.join(f"{n:012d}"[i:i + 4] for i in (0, 4, 8)),
                    st.integers(0, 10**12 - 1), st.sampled_from(["", " ", "-"]))
MAILS = st.builds(lambda u, d: f"{u}@{d}.jp", st.from_regex(r"[a-z][a-z0-9._]{0,10}", fullmatch=True),
                  st.from_regex(r"[a-z][a-z0-9]{0,8}", fullmatch=True))
WIDE = str.maketrans("0123456789-", "０１２３４５６７８９－")


@settings(max_examples=150, deadline=None, database=None, derandomize=True,
          suppress_health_check=[HealthCheck.too_slow])
@given(CONTEXT, st.one_of(PHONES, NUMBERS, MAILS), CONTEXT, st.booleans())
def test_generated_personal_data_never_survives(before, secret, after, wide):
    secret = secret.translate(WIDE) if wide else secret
    masked = mask(before + secret + after)
    assert secret not in masked
    assert masked.startswith(before) and masked.endswith(after)
    assert any(tag in masked for tag in (PHONE, INDIVIDUAL_NUMBER, EMAIL))


@settings(max_examples=200, deadline=None, database=None, derandomize=True,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=400)
       | st.text(alphabet=st.sampled_from(list("0123456789０１２３４５６７８９-－ー +＋@＠.〒市区町丁目番地号川崎a")),
                 max_size=200))
def test_mask_never_raises_and_is_idempotent(text):
    masked = mask(text)
    assert isinstance(masked, str) and mask(masked) == masked
    for span in privacy.find(text):
        assert 0 <= span.start < span.end <= len(text)


# --------------------------------------------------------------------------- the log filter


def test_log_filter_masks_messages_arguments_json_escapes_and_tracebacks():
    records = []

    class Keep(logging.Handler):
        def emit(self, record):
            records.append(self.format(record))

    handler = Keep()
    handler.setFormatter(logging.Formatter("%(message)s"))
    handler.addFilter(privacy.LOG_FILTER)
    log = logging.getLogger("rasa.test_privacy")
    log.addHandler(handler)
    log.propagate = False
    try:
        log.warning("user said %r", "電話は090-1234-5678")
        # structlog's JSON lines escape non-ASCII
        log.warning(json.dumps({"text": "番号は１２３４５６７８９０１２です"}))
        try:
            raise ValueError("bad input: x@example.com")
        except ValueError:
            log.exception("failed")
    finally:
        log.removeHandler(handler)
    joined = "\n".join(records)
    assert "090-1234-5678" not in joined and PHONE in records[0]
    assert "\\uff11\\uff12\\uff13" not in joined and INDIVIDUAL_NUMBER in records[1]
    assert "x@example.com" not in joined and EMAIL in records[2] and "Traceback" in records[2]


def test_install_log_filter_reaches_the_root_handlers():
    root = logging.getLogger()
    handler = logging.StreamHandler()
    root.addHandler(handler)
    try:
        privacy.install_log_filter()
        assert privacy.LOG_FILTER in handler.filters
        privacy.install_log_filter()
        assert handler.filters.count(privacy.LOG_FILTER) == 1
    finally:
        root.removeHandler(handler)


# --------------------------------------------------------------------------- the tracker store (no servers)


def test_tracker_store_masks_user_events_and_keeps_bot_text(tmp_path, monkeypatch):
    from rasa.shared.core.domain import Domain
    from rasa.shared.core.events import BotUttered, SlotSet, UserUttered
    from rasa.shared.core.trackers import DialogueStateTracker

    from bot.tracker_store import MaskingSQLTrackerStore

    monkeypatch.setenv("TRACKER_DB", str(tmp_path / "t.db"))
    store = MaskingSQLTrackerStore(Domain.load("domain.yml"), db="${TRACKER_DB}", retention_days=30)
    assert store.db == str(tmp_path / "t.db")
    text = "住民票の件で090-1234-5678に電話ください"
    parse = {"text": text, "intent": {"name": "ask_contact", "confidence": 1.0},
             "entities": [{"entity": "service", "start": 0, "end": 3, "value": "住民票"},
                          {"entity": "topic", "start": 6, "end": 19, "value": "090-1234-5678"}]}
    user = UserUttered(text, parse["intent"], parse["entities"], parse, metadata={"note": "x@y.jp"})
    tracker = DialogueStateTracker.from_events("s1", [user, BotUttered("区政推進課 044-200-2459 です"),
                                                      SlotSet("topic", "住民票")])
    asyncio.run(store.save(tracker))
    assert user.text == text and user.parse_data["text"] == text  # the live tracker is not touched
    rows = sqlite3.connect(tmp_path / "t.db").execute("select type_name, data from events order by id").fetchall()
    data = {kind: json.loads(blob) for kind, blob in rows}
    stored = data["user"]
    assert stored["text"] == f"住民票の件で{PHONE}に電話ください" == stored["parse_data"]["text"]
    service, topic = stored["parse_data"]["entities"]
    assert (service["value"], service["start"], service["end"]) == ("住民票", 0, 3)
    assert topic["value"] == PHONE and stored["text"][topic["start"]:topic["end"]] == PHONE
    assert stored["metadata"]["note"] == EMAIL
    assert data["bot"]["text"] == "区政推進課 044-200-2459 です"
    # the next turn reads the masked history back without trouble
    again = asyncio.run(store.retrieve("s1"))
    assert again.get_slot("topic") == "住民票" and again.latest_message.text == stored["text"]


def test_tracker_store_deletes_conversations_older_than_the_retention(tmp_path):
    from rasa.shared.core.domain import Domain
    from rasa.shared.core.events import UserUttered
    from rasa.shared.core.trackers import DialogueStateTracker

    from bot.tracker_store import MaskingSQLTrackerStore

    db = tmp_path / "r.db"
    store = MaskingSQLTrackerStore(Domain.empty(), db=str(db), retention_days="2")
    now = time.time()
    for sender, age_days in (("old", 3), ("recent", 1), ("mixed", 5)):
        events = [UserUttered("こんにちは", timestamp=now - age_days * 86400)]
        tracker = DialogueStateTracker.from_events(sender, events)
        if sender == "mixed":
            tracker.update(UserUttered("まだいます", timestamp=now - 60))
        asyncio.run(store.save(tracker))
    assert store.prune(now) == 1
    assert sorted(asyncio.run(store.keys())) == ["mixed", "recent"]
    # a restart prunes too
    MaskingSQLTrackerStore(Domain.empty(), db=str(db), retention_days=0.5)
    assert asyncio.run(store.keys()) == ["mixed"]
    # 0 keeps everything; negative is refused
    assert MaskingSQLTrackerStore(Domain.empty(), db=str(db), retention_days=0).prune() == 0
    with pytest.raises(ValueError):
        MaskingSQLTrackerStore(Domain.empty(), db=str(db), retention_days=-1)


def test_rasa_loads_the_store_from_endpoints_yml(tmp_path, monkeypatch):
    from rasa.core.tracker_store import TrackerStore
    from rasa.shared.core.domain import Domain
    from rasa.utils.endpoints import read_endpoint_config

    from bot.servers import ROOT
    from bot.tracker_store import MaskingSQLTrackerStore

    monkeypatch.setenv("ACTION_ENDPOINT_URL", "http://localhost:1/webhook")
    monkeypatch.setenv("TRACKER_DB", str(tmp_path / "e.db"))
    config = read_endpoint_config(str(ROOT / "endpoints.yml"), "tracker_store")
    store = TrackerStore.create(config, Domain.empty())
    assert isinstance(store, MaskingSQLTrackerStore) and store.retention_days == 30
    assert store.db == str(tmp_path / "e.db")
    monkeypatch.delenv("TRACKER_DB")
    store = TrackerStore.create(read_endpoint_config(str(ROOT / "endpoints.yml"), "tracker_store"), Domain.empty())
    assert store.db == str(ROOT / "results" / "tracker.db")


# --------------------------------------------------------------------------- through the servers

MODEL = Path(__file__).resolve().parent.parent / "models" / "kuyakusho.tar.gz"
SECRETS = ["090-1234-5678", "taro.yamada@example.jp", "1234 5678 9012", "１２３４５６７８９０１２",
           "211-0004", "1100番地", "\\uff11\\uff12\\uff13\\uff14"]
PII_QUESTION = ("住民票はどこで取れますか。電話は090-1234-5678、メールはtaro.yamada@example.jp、"
                "マイナンバーは1234 5678 9012（カードは１２３４５６７８９０１２）、"
                "住所は〒211-0004 川崎市中原区新丸子東3丁目1100番地12です")
DISCRIMINATING_QUESTION = "044-200-2309はどこの電話番号ですか"  # masked, the knowledge base answers differently


@pytest.fixture(scope="module")
def servers(tmp_path_factory, kb_path):
    from bot.servers import started

    if not MODEL.exists():
        pytest.fail(f"no trained model at {MODEL}: run `make train` first")
    logs = tmp_path_factory.mktemp("privacy-logs")
    rasa_port = free_port(5605)
    with started(rasa_port, free_port(5655), log_dir=logs, rasa_args=["--debug"], api_token=secrets.token_urlsafe(24),
                 env={"KB_PATH": str(kb_path), "KUYAKUSHO_TODAY": "2026-11-21",
                      "TRACKER_DB": str(logs / "tracker.db")}) as running:
        running.db = logs / "tracker.db"
        yield running


def parse(servers, text):
    req = urllib.request.Request(servers.api("/model/parse"),
                                 data=json.dumps({"text": text}).encode(), headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=30) as resp:
        return json.loads(resp.read())


def direct_reply(parsed, text=None):
    """What the actions reply for ``parsed`` (the NLU result), run in this
    process on ``text`` (default: the text as typed)."""
    from rasa_sdk import Tracker
    from rasa_sdk.executor import CollectingDispatcher

    from bot.actions import ActionAnswer, ActionSmalltalk

    message = {**parsed, "text": parsed["text"] if text is None else text}
    smalltalk_intents = {"greet", "goodbye", "thanks", "bot_challenge", "affirm", "deny"}
    smalltalk = (parsed["intent"] or {}).get("name") in smalltalk_intents
    action = ActionSmalltalk() if smalltalk else ActionAnswer()
    dispatcher = CollectingDispatcher()
    tracker = Tracker("direct", {"topic": None}, message, [], False, None, {}, "action_listen")
    asyncio.run(action.run(dispatcher, tracker, {}))
    # a domain response (utter_out_of_scope) is turned into its text by the Rasa server, not by rasa_sdk
    return over_rest([{**m, "text": m.get("text") or response_text(m.get("response"))} for m in dispatcher.messages])


def response_text(name: str | None) -> str | None:
    """The text of domain response ``name`` (its only variant), as the Rasa server sends it."""
    if not name:
        return None
    import yaml

    domain = yaml.safe_load((Path(__file__).resolve().parents[1] / "domain.yml").read_text(encoding="utf-8"))
    (variant,) = domain["responses"][name]
    return variant["text"]


def over_rest(messages):
    """(text, status) of each message; the status without its answer id, which is new for every reply."""
    return [(m.get("text"), {k: v for k, v in m["custom"].items() if k != "answer"} if m.get("custom") else None)
            for m in messages if m.get("text") or m.get("custom")]


def stored_user_texts(db: Path, sender: str) -> list[str]:
    with sqlite3.connect(db) as conn:
        rows = conn.execute("select data from events where sender_id = ? and type_name = 'user' order by id",
                            (sender,)).fetchall()
    return [json.loads(data)["text"] for (data,) in rows]


@pytest.mark.integration
def test_personal_data_is_stored_masked_and_never_logged(servers):
    from bot.servers import post_message

    reply = post_message(servers.url, "pii-1", PII_QUESTION)
    assert over_rest(reply) and sum(1 for m in reply if m.get("custom")) == 1
    (stored,) = stored_user_texts(servers.db, "pii-1")
    for secret in SECRETS:
        assert secret not in stored
    assert all(tag in stored for tag in (PHONE, EMAIL, INDIVIDUAL_NUMBER, ADDRESS)), stored
    assert stored.startswith("住民票はどこで取れますか。") and "川崎市中原区" in stored
    with sqlite3.connect(servers.db) as conn:
        raw = [d for (d,) in conn.execute("select data from events")]
    readable = "\n".join(json.dumps(json.loads(d), ensure_ascii=False) for d in raw)
    for secret in SECRETS:
        assert secret not in readable and secret not in "\n".join(raw)
    time.sleep(1.0)  # let the log lines of the turn reach the files
    for log in (servers.rasa_log, servers.actions_log):
        text = log.read_text(errors="replace")
        for secret in SECRETS:
            assert secret not in text, f"{secret!r} in {log.name}"
    assert "DEBUG" in servers.rasa_log.read_text(errors="replace")  # the check ran on Rasa's most verbose log


@pytest.mark.integration
@pytest.mark.parametrize("question", [DISCRIMINATING_QUESTION, PII_QUESTION,
                                      "国民年金の手続きはどこ？連絡先は03-1234-5678、a@b.jp です"])
def test_the_answer_is_computed_on_the_text_as_typed(servers, kb_path, monkeypatch, question):
    monkeypatch.setenv("KB_PATH", str(kb_path))
    monkeypatch.setenv("KUYAKUSHO_TODAY", "2026-11-21")
    from bot.servers import post_message

    parsed = parse(servers, question)
    expected = direct_reply(parsed)
    sender = f"same-{abs(hash(question)) % 100_000}"
    assert over_rest(post_message(servers.url, sender, question)) == expected
    assert stored_user_texts(servers.db, sender) == [mask(question)] != [question]
    if question == DISCRIMINATING_QUESTION:  # the check can tell: the masked text gets another answer
        assert direct_reply(parsed, mask(question)) != expected


@pytest.mark.integration
def test_the_conversation_continues_after_a_masked_turn(servers):
    from bot.servers import post_message

    post_message(servers.url, "pii-2", "ミライプロジェクトのワークショップについて知りたい。私は090-1111-2222です")
    reply = post_message(servers.url, "pii-2", "しめきりはいつ？")
    assert "7月15日" in "\n".join(m.get("text") or "" for m in reply)
    assert all("090-1111-2222" not in t for t in stored_user_texts(servers.db, "pii-2"))


def test_python_warnings_are_masked():
    import warnings

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        privacy.install_log_filter()  # wraps warnings.showwarning (restored when the block ends)
        assert getattr(warnings.showwarning, "masks_personal_data", False)
        warnings.warn("Failed to parse arguments in line '/ask_counter 090-1234-5678'", UserWarning, stacklevel=2)
    (shown,) = caught
    assert "090-1234-5678" not in str(shown.message) and PHONE in str(shown.message)
