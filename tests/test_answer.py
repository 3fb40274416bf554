"""Answer behaviour over the real knowledge base (questions written for these
tests; the dev set in ../shared/eval is never used here)."""
import datetime as dt

import pytest

WORKSHOP = "区役所ミライプロジェクト地域ワークショップ"


def test_counter_question_names_the_section_with_source_and_as_of(ask):
    answer = ask("国民年金の手続きはどこの課ですか", "ask_counter")
    assert answer.status == "answered"
    assert "保険年金課" in answer.text
    assert any(s["doc"] == "001" and s["as_of"] == "2015-04-01" for s in answer.sources)
    assert "出典：『区役所改革の基本方針（案）』" in answer.text


def test_fact_comes_before_the_source(ask):
    text = ask("生活保護の相談窓口は", "ask_counter").text
    assert text.index("保護課") < text.index("出典")


def test_past_event_is_said_to_be_over(ask):
    answer = ask("ワークショップの会場を教えて", "ask_venue")
    assert "502" in answer.text and "終了" in answer.text


def test_event_before_its_date_is_not_said_to_be_over(ask):
    answer = ask("ワークショップの会場を教えて", "ask_venue", today=dt.date(2025, 7, 10))
    assert "502" in answer.text and "終了" not in answer.text


def test_unstated_fee_is_not_found_with_the_application_contact(ask):
    answer = ask("ワークショップの参加費はいくらですか", "ask_fee_capacity")
    assert answer.status == "not_found"
    assert "2459" in answer.text and "無料" not in answer.text


def test_follow_up_uses_the_topic(ask):
    answer = ask("申込の締め切りはいつ？", "ask_deadline", topic=WORKSHOP)
    assert answer.status == "answered" and "7月15日" in answer.text
    assert answer.topic == WORKSHOP


def test_application_answer_gives_the_application_phone_not_the_press_one(ask):
    answer = ask("電話で申し込みできますか", "ask_procedure", topic=WORKSHOP)
    assert "2459" in answer.text and "2258" not in answer.text


def test_press_contact_is_kept_apart_with_its_role(answerer):
    facts = [f for f in answerer.kb.facts.values() if f.attribute == "phone" and "2258" in f.value]
    assert facts and all("報道" in (f.role or "") for f in facts)


def test_citizen_proposal_is_said_as_a_proposal(ask):
    answer = ask("南部地区の改革カフェではトイレについてどんな意見が出ましたか", "ask_history")
    assert answer.status == "answered"
    assert any(s["status"] == "proposal" for s in answer.sources)
    assert "施策ではありません" in answer.text


def test_plan_is_said_as_a_plan(ask):
    answer = ask("柿生分庁舎はどうなる予定ですか", "ask_history")
    assert any(s["status"] == "plan" for s in answer.sources)
    assert any(marker in answer.text for marker in ("予定", "計画", "方針"))


def test_era_dates_are_said_with_the_western_year(ask):
    answer = ask("道路公園センターはいつ設置されましたか", "ask_history")
    assert "平成22年度（2010年度）" in answer.text


def test_another_ward_is_a_constraint_not_a_topic(ask):
    answer = ask("多摩区でもワークショップはありますか", "ask_datetime", topic=WORKSHOP)
    assert answer.status == "not_found"


def test_unknown_matter_is_not_answered(ask):
    answer = ask("図書館の本の返却期限はいつですか", "ask_deadline")
    assert answer.status == "not_found"
    assert "記載がありません" in answer.text


def test_a_fact_that_names_a_section_only_as_an_example_is_not_said_about_it(ask):
    # 003-iinkai-members says the committee may add heads of organisations in the building other than the ward
    # office; the 市税証明発行コーナー is one only by an inference the fact does not state (``about`` in facts/)
    answer = ask("市税の証明書は区役所で取れますか", "ask_counter")
    assert answer.status == "answered"
    assert answer.facts[0] == "001-shizei-shomei-handled"
    assert "003-iinkai-members" not in answer.facts


def test_a_decline_names_as_missing_only_what_the_question_asks(ask):
    # a statement with no asking word: the NLU's guess (a question of numbers) is not said back as what was asked
    stated = ask("自転車が撤去されたみたいです", "ask_fee_capacity")
    assert stated.status == "not_found"
    assert "放置自転車" in stated.text and "人数" not in stated.text
    asked = ask("放置自転車の保管料はいくらですか", "ask_fee_capacity")
    assert asked.status == "not_found"
    assert "放置自転車の金額については" in asked.text


def test_opening_hours_are_never_invented(ask):
    answer = ask("区役所の土曜日の受付は何時までですか", "ask_datetime")
    assert answer.status == "not_found"
    for hour in ("8:30", "8時30分", "17:15", "17時15分", "12時30分"):
        assert hour not in answer.text


def test_typo_in_a_service_name_is_understood(ask):
    answer = ask("国民健康保検の窓口はどこ", "ask_counter")
    assert "保険年金課" in answer.text


def test_kana_only_service_name_is_understood(ask):
    answer = ask("こくほのまどぐちはどこ", "ask_counter")
    assert "保険年金課" in answer.text


def test_answers_offer_quick_replies(ask):
    answer = ask("ワークショップについて教えて", "ask_overview")
    assert answer.buttons and all(b["title"] and b["payload"] for b in answer.buttons)


@pytest.mark.parametrize("text", ['"', "NEAR(", "*", "OR AND", "'; drop table facts; --", "<script>alert(1)</script>",
                                  "あ" * 10_000, "\u202e\u0301\u200b", "😀😀", ""],
                         ids=["quote", "near", "star", "or-and", "sql", "html", "10000-chars", "rtl-combining", "emoji",
                              "empty"])
def test_hostile_or_odd_input_never_raises(ask, text):
    answer = ask(text, None)
    assert answer.status in {"answered", "not_found", "clarify"}


def test_question_naming_nothing_gets_a_clarifying_question(ask):
    answer = ask("それについて教えて", "ask_overview")
    assert answer.status == "clarify" and answer.buttons
    # 区役所 only as where: which counter, for what?
    for question in ("区役所の何課に行けばいいですか", "区役所のどこに行けばいい？"):
        assert ask(question, "ask_counter").status == "clarify", question


def test_the_office_named_as_where_does_not_make_an_unknown_thing_known(ask):
    # 区役所 is only where: the question still names nothing but 犬, which the documents never use
    answer = ask("犬の登録は区役所のどこでできますか", "ask_counter")
    assert answer.status == "not_found" and "印鑑" not in answer.text


def test_thing_the_documents_never_name_is_not_answered_from_a_neighbour(ask):
    answer = ask("パスポートの申請窓口はどこですか", "ask_counter")
    assert answer.status == "not_found" and "パスポート" in answer.text


def test_issue_date_missing_from_the_manifest_is_not_found(answerer):
    question = "コミュニティ施策の基本的考え方を策定した部署は？"
    answer = answerer.answer(question, "ask_counter", (), None, dt.date(2026, 11, 21))
    assert answer.status == "not_found" and "担当部署" in answer.text


def test_where_to_read_a_document_is_not_invented(ask):
    answer = ask("区役所サービス向上指針の全文はどこで読めますか", "ask_procedure")
    assert answer.status == "not_found"


def test_another_subjects_plan_is_never_said_as_the_named_subjects_service(ask):
    # マイナンバー制度 appears in plans for other subjects; asked in the present tense, none of
    # them may be given as what the named subject is or does today
    answer = ask("マイナンバー制度で今できる手続きは何ですか", "ask_procedure")
    if answer.status == "answered":
        assert "計画" in answer.text or "予定" in answer.text or "方針" in answer.text


def test_a_card_the_documents_only_mention_in_passing_is_not_answered(ask):
    # マイナンバーカード appears only as the means of コンビニ交付; where to get one is not stated
    answer = ask("マイナンバーカードはどこで作れますか", "ask_procedure")
    assert answer.status == "not_found"
    assert "コンビニ" not in answer.text and "めざす" not in answer.text


def test_the_card_still_answers_for_what_it_is_used_for(ask):
    answer = ask("マイナンバーカードでコンビニで住民票とれる？", "ask_procedure")
    assert answer.status == "answered" and "コンビニ" in answer.text


def test_question_naming_two_subjects_is_answered_for_both(ask):
    answer = ask("コンビニ交付と柿生分庁舎はいつから？", "ask_history")
    assert answer.status == "answered"
    assert "コンビニ交付" in answer.text and "柿生分庁舎" in answer.text


def test_a_moving_notification_is_a_resident_record_notification_said_as_such(ask):
    # 転入届 -> 住所変更の届出, a 住民票 notification (general knowledge, said so) -> 区民課 (the org chart)
    answer = ask("来月この区に引っ越してきます。転入届はどこの窓口に出せばいいですか", "ask_counter")
    assert answer.status == "answered"
    assert "区民課" in answer.text and "住民票" in answer.text and "一般的な手続きの区分" in answer.text


@pytest.mark.parametrize("intent", ["ask_overview", "ask_rule"])
def test_an_article_asked_by_number_is_not_answered_with_another_article(answerer, intent):
    decision = answerer.decision("自治基本条例の第24条には何が書いてありますか", intent)
    assert not any("第3条" in fact.text or "第6条" in fact.text for fact in decision.facts)
    if intent == "ask_rule":
        assert decision.kind == "answer" and "第24条" in decision.facts[0].text
