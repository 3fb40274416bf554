"""Questions about one office, read off the org chart (knowledge/offices.py)."""
import pytest

from knowledge.offices import OfficeDuties


@pytest.fixture(scope="module")
def offices(kb):
    return OfficeDuties(kb)


@pytest.fixture
def office_reply(answerer, offices):
    """``office_reply(question, intent)`` -> the OfficeReply the org chart gives, or None."""

    def _office_reply(question, intent="ask_counter"):
        query = answerer.understander.understand(question, intent)
        return offices.reply(query, {intent} | query.hinted)

    return _office_reply


def test_a_named_office_is_one_of_its_kind(offices):
    assert offices.units("生田出張所") == ["生田出張所", "出張所"]
    assert offices.units("田島支所") == ["田島支所", "支所・区民センター"]
    assert offices.units("区民課") == ["区民課"]


def test_an_office_that_handles_the_service_says_where_the_chart_lists_it(office_reply):
    cap = office_reply("田島支所で国民年金の手続きはできますか")
    assert cap.kind == "handles" and cap.unit == "支所・区民センター"
    assert any("国民年金" in f.text and "支所" in f.text for f in cap.facts)
    assert any(f.attribute == "duties" and f.subject == "支所・区民センター" for f in cap.facts)


def test_a_service_the_office_does_not_list_is_answered_with_where_it_is_handled(office_reply):
    cap = office_reply("生田出張所で国民健康保険に入れますか", "ask_procedure")
    assert cap.kind == "not_listed" and cap.unit == "出張所"
    assert cap.facts[0].subject == "国民健康保険" and cap.facts[0].attribute == "handled_by"
    assert any(f.attribute == "duties" and f.subject == "出張所" for f in cap.facts)


def test_what_the_documents_say_of_the_office_and_the_service_together_comes_first(office_reply):
    # 出張所の届出窓口は区役所へ集約 ties 出張所 and 戸籍 (a 離婚届 is a 戸籍 notification)
    cap = office_reply("日吉出張所に離婚届を持っていってもいいですか")
    assert cap.kind == "not_listed"
    assert cap.facts[0].subject == "出張所" and "集約" in cap.facts[0].text


def test_a_certificate_is_issued_where_certificates_are(office_reply):
    cap = office_reply("戸籍抄本は橘出張所でもらえますか", "ask_procedure")
    assert cap.kind == "handles" and "各種証明書の発行" in cap.services


def test_a_kind_of_office_asked_for_in_a_ward_without_one_says_where_they_are(office_reply, ask):
    cap = office_reply("中原区に支所はありますか", "ask_venue")
    assert cap.kind == "absent" and cap.ward == "中原区" and cap.facts[0].subject == "支所・区民センター"
    reply = ask("中原区に支所はありますか", "ask_venue").text
    assert "資料では、中原区の支所・区民センターは挙がっていません。" in reply


def test_a_kind_of_office_in_a_ward_that_has_one_is_that_office(office_reply):
    cap = office_reply("多摩区の出張所で国民年金の手続きはできますか")
    assert cap.office == "生田出張所" and cap.kind == "not_listed"
    cap = office_reply("幸区に出張所はありますか", "ask_venue")
    assert cap.kind == "located" and cap.office == "日吉出張所" and cap.facts[0].subject == "日吉出張所"


@pytest.mark.parametrize("question, intent", [
    ("生田出張所は何時まで開いていますか", "ask_datetime"),     # asks a time, not whether
    ("生田出張所の手数料はいくらですか", "ask_fee_capacity"),    # a cue names what is asked
    ("戸籍はどこの課の担当ですか", "ask_counter"),               # no office
    ("行政サービスコーナーで印鑑登録できますか", "ask_procedure"),  # the documents give it no duties
])
def test_other_questions_are_left_to_the_classifier(office_reply, question, intent):
    assert office_reply(question, intent) is None


def test_the_reply_says_the_chart_does_not_list_it_then_where_to_go(ask):
    answer = ask("向丘出張所で母子手帳はもらえますか", "ask_procedure")
    assert answer.status == "answered"
    lines = answer.text.splitlines()
    assert any(line.startswith("資料では、出張所の主な取り扱い業務に") for line in lines)
    assert "出張所の主な取り扱い業務は" in answer.text
    assert any(f.startswith("001-boshitecho") for f in answer.facts)


def test_a_certificate_named_before_the_question_still_counts_and_its_inference_is_said(ask):
    answer = ask("祖父の除籍謄本が要ります。生田出張所で出してもらえますか", "ask_counter")
    assert answer.status == "answered"
    assert "除籍謄本は" in answer.text and "一般的な手続きの区分による案内" in answer.text
    assert "各種証明書の発行は、出張所" in answer.text


def test_a_service_named_around_the_question_counts_only_when_the_office_handles_it(office_reply):
    # 引っ越し (住所変更の届出) is background here; what is asked about is 国民年金
    cap = office_reply("市外から引っ越してきたばかりです。日吉出張所で国民年金の手続きはできますか")
    assert cap.services == ("国民年金",) and cap.kind == "not_listed"


def test_one_word_standing_for_two_duty_terms_says_its_reason_once(ask):
    answer = ask("はんこ証明はどこでもらえますか", "ask_counter")  # 印鑑登録 and 各種証明書の発行
    assert answer.status == "answered" and answer.text.count("印鑑証明（印鑑登録証明書）は") == 1


def test_an_office_that_no_longer_exists_is_said_to_be_closed_then_where_to_go(office_reply, kb):
    cap = office_reply("宮前連絡所で住民票をとれますか", "ask_procedure")
    assert cap.kind == "ended" and cap.facts[0].id == kb.entities["宮前連絡所"].ended_by
    assert any(f.subject == "住民票" and f.attribute == "handled_by" for f in cap.facts[1:])


def test_a_closed_office_asked_about_something_else_of_it_is_left_to_the_classifier(office_reply):
    assert office_reply("柿生連絡所の建物は今後どう使われますか", "ask_venue") is None


@pytest.mark.parametrize("written, name", [
    ("橘の出張所", "橘出張所"), ("大師の区民センター", "大師支所"), ("柿生の連絡所", "柿生連絡所"),
])
def test_an_office_written_with_no_is_that_office(answerer, written, name):
    query = answerer.understander.understand(f"{written}で住民票はとれますか", "ask_procedure")
    assert name in query.subject_names


def test_what_an_office_handles_is_its_kinds_duties(office_reply):
    for question in ("大師支所では何ができますか", "田島支所ではどんな手続きを扱っていますか"):
        cap = office_reply(question)
        assert cap.kind == "duties" and cap.unit == "支所・区民センター"
        assert cap.facts[0].attribute == "duties" and cap.facts[0].subject == "支所・区民センター"
    assert office_reply("生田出張所で何ができますか", "ask_procedure").unit == "出張所"


def test_an_overview_of_an_office_is_what_its_kind_does_then_where_it_is(office_reply):
    cap = office_reply("大師支所について教えて", "ask_overview")
    assert cap.kind == "duties"
    assert [(f.subject, f.attribute) for f in cap.facts] == [("支所・区民センター", "duties"), ("大師支所", "location")]
    # asked for something else of it (its history), it is left to the classifier
    assert office_reply("大師支所の歴史を教えて", "ask_overview") is None


def test_a_question_about_something_else_at_an_office_is_not_answered_with_its_duties(office_reply):
    # a thing the question names beside the office (a word of its own, an unknown noun) is what it asks about
    for question in ("大師支所で犬の登録はできますか", "田島支所で献血はできますか"):
        cap = office_reply(question, "ask_procedure")
        assert cap is None or cap.kind != "duties"


def test_offices_of_one_kind_named_together_are_asked_about_as_that_kind(office_reply):
    cap = office_reply("大師や田島の支所では、どんな手続きを扱っていますか")
    assert cap.kind == "duties" and cap.office == "支所・区民センター"
    cap = office_reply("大師・田島の区民センターで戸籍の届出はできますか")
    assert cap.kind == "handles" and cap.unit == "支所・区民センター"
    # where they are: each one's own location, then its kind's
    cap = office_reply("大師や田島の支所はどこにありますか", "ask_venue")
    assert cap.kind == "located"
    assert [f.subject for f in cap.facts] == ["大師支所", "田島支所", "支所・区民センター"]
    # offices of two kinds are not one question the org chart answers
    assert office_reply("橘出張所と大師支所で住民票はとれますか", "ask_procedure") is None


def test_after_whether_an_office_handles_a_service_the_topic_is_the_service(answerer):
    first = answerer.answer("子どもが生まれました。橘出張所で出生届を出せますか？", "ask_procedure")
    assert first.topic == "戸籍"
    # 「じゃあどこに出せば？」 asks where the service is handled, not where the office is
    then = answerer.answer("じゃあどこに出せばいいの？", "ask_counter", (), first.topic, None, "ask_procedure")
    assert then.status == "answered" and "区民課" in then.text and "出張所は、" not in then.text


def test_where_a_wards_office_is_is_not_answered_with_an_office_in_that_ward(ask):
    # the documents give no address of 高津区役所; 橘出張所, also in 高津区, is another office
    answer = ask("高津区役所はどこにありますか", "ask_venue")
    assert "橘出張所" not in answer.text


def test_a_services_saturday_is_declined_with_what_the_documents_say_of_the_offices_saturdays(ask):
    answer = ask("住民票は土曜日も取れますか", "ask_datetime")
    # which services the Saturday counters handle is not in the documents: still a decline
    assert answer.status == "not_found"
    assert "第2・第4土曜日" in answer.text and "取り扱う手続き" in answer.text and "区民課" in answer.text
    assert answer.sources and answer.sources[0]["doc"] == "001"
    # a day the documents say nothing of for the office adds nothing
    answer = ask("住民票は日曜日も取れますか", "ask_datetime")
    assert answer.status == "not_found" and "土曜" not in answer.text and not answer.sources


def test_a_piece_of_a_typed_name_the_nlu_returns_names_nothing_more(answerer):
    # DIET cut 「ひよししゅっちょうじょ」 into ひよ and しゅっちょう; しゅっちょう alone would add 出張所 (the kind)
    question = "ひよし しゅっちょうじょで てんきょとどけ だせますか"
    assert [m.name for m in answerer.entities(question, ("ひよ", "しゅっちょう"))].count("出張所") == 0
    decision = answerer.decision(question, "ask_counter", ("ひよ", "しゅっちょう"))
    assert decision.office is not None and decision.office.office == "日吉出張所"
