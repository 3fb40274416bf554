"""Understanding a question alone: names, cue words, topic and event context
(questions written for these tests)."""
import pytest
from conftest import TODAY

from knowledge.understand import question_span

WORKSHOP = "区役所ミライプロジェクト地域ワークショップ"


@pytest.fixture
def understand(answerer):
    """``understand(question, intent=None, topic=None, previous_intent=None)`` -> Query."""

    def _understand(question, intent=None, topic=None, previous_intent=None):
        return answerer.understander.understand(question, intent, (), topic, TODAY, previous_intent)

    return _understand


def test_ellipsis_carries_the_topic(understand):
    query = understand("締め切りはいつ？", "ask_deadline", topic=WORKSHOP)
    assert query.carried and query.subject_names == [WORKSHOP]


def test_a_carried_topic_is_retrieved_as_if_the_turn_named_it(understand):
    # 「何年に閉鎖されたの？」 after 宮前連絡所 is searched for as 「宮前連絡所は何年に閉鎖されたの？」:
    # BM25 and coverage see the topic's words, as they do when the name is typed
    alone = understand("何年に閉鎖されたの？", "ask_history")
    carried = understand("何年に閉鎖されたの？", "ask_history", topic="宮前連絡所")
    typed = understand("宮前連絡所は何年に閉鎖されたの？", "ask_history")
    assert carried.carried and not alone.subjects
    assert set(typed.terms) - set(alone.terms) <= set(carried.terms) - set(alone.terms)
    assert "連絡所" in set(carried.terms) - set(alone.terms)


def test_a_turn_with_words_of_its_own_but_no_name_still_carries_the_topic(understand):
    query = understand("建物は今どう使われているの？", "ask_history", topic="宮前連絡所")
    assert query.carried and query.subject_names == ["宮前連絡所"]


@pytest.mark.parametrize("question, topic, sibling", [
    ("菅のほうは？", "宮前連絡所", "菅連絡所"),        # 菅 + the topic's ending 連絡所
    ("田島はどう？", "大師支所", "田島支所"),
    ("登戸は？", "川崎行政サービスコーナー", "登戸行政サービスコーナー"),
])
def test_ellipsis_naming_a_sibling_of_the_topic_by_its_own_part_moves_to_it(understand, question, topic, sibling):
    query = understand(question, "ask_history", topic=topic)
    assert query.carried and query.subject_names == [sibling]


def test_a_word_that_completes_no_sibling_leaves_the_topic(understand):
    # neither 仕事連絡所 nor 前連絡所 is an entity
    for question in ("仕事のほうは？", "前は？"):
        assert understand(question, "ask_history", topic="宮前連絡所").subject_names == ["宮前連絡所"]


@pytest.mark.parametrize("question", [
    "2015年の改革カフェで、北部地区の回は何人参加しましたか",   # the series and its district named apart
    "かわさき改革カフェの北部地区は何人参加しましたか",        # the series beside its district's own name
])
def test_a_name_and_its_qualifier_named_apart_are_the_qualified_entity(understand, question):
    assert understand(question, "ask_statistics").subject_names == ["かわさき改革カフェ（北部地区）"]


def test_naming_the_ward_office_starts_a_new_topic(understand):
    query = understand("区役所は何時まで開いていますか", "ask_datetime", topic="印鑑登録")
    assert query.office and not query.carried and "印鑑登録" not in query.subject_names


def test_naming_something_the_documents_never_use_starts_a_new_topic(understand):
    query = understand("犬の登録はどうすればいい？", "ask_procedure", topic="印鑑登録")
    assert not query.carried and "犬" in query.unknown and not query.subjects


def test_a_bare_name_asks_the_previous_question_about_it(understand):
    query = understand("じゃあ支所は？", None, topic="住民票", previous_intent="ask_counter")
    assert query.elliptical and query.intent == "ask_counter"
    assert query.subject_names == ["支所・区民センター"] and query.context == ["住民票"]


def test_the_office_named_only_as_where_keeps_the_topic(understand):
    # 区役所 + の + a which-word asks which part of the office handles the topic
    for question in ("じゃあ区役所の何課に行けばいいの？", "高津区役所のどこで出せますか"):
        query = understand(question, "ask_counter", topic="戸籍", previous_intent="ask_procedure")
        assert query.office_as_place and query.carried and query.subject_names == ["戸籍"], question
    # the office asked about (its hours) starts a topic of its own
    query = understand("区役所の窓口は何時まで？", "ask_datetime", topic="印鑑登録", previous_intent="ask_counter")
    assert not query.office_as_place and not query.carried and query.subject_names == ["区役所"]


def test_a_ward_named_alone_after_a_topic_says_where_the_topic_is_asked_about(understand):
    query = understand("中原区だとどこの課ですか", "ask_counter", topic="介護保険", previous_intent="ask_counter")
    assert query.subject_names == ["介護保険"] and query.constraints == ["中原区"] and query.carried
    # asked about as a whole, the ward is the subject
    query = understand("中原区について教えて", "ask_overview", topic="介護保険", previous_intent="ask_counter")
    assert query.subject_names == ["中原区"] and not query.carried


def test_a_ward_named_by_its_office_names_the_office_in_that_ward(understand):
    query = understand("高津区役所はどこにありますか", "ask_venue")
    assert query.office and query.constraints == ["高津区"] and query.subject_names == ["区役所"]


def test_the_office_asked_about_and_nothing_else_is_the_subject(understand):
    assert understand("第2土曜日に区役所へ行っても開いていますか", "ask_datetime").subject_names == ["区役所"]
    # beside another name it is where; and only as where, it is no subject
    assert understand("区役所で住民票は取れますか", "ask_procedure").subject_names == ["住民票"]
    assert understand("区役所の何課に行けばいいですか", "ask_counter").subject_names == []
    # where something else is (区役所の中に, 区役所内に): the question is about that thing, not the office
    for question in ("区役所の中に郵便ポストはある？", "区役所内に売店はありますか", "区役所の近くにバス停はある？"):
        query = understand(question, "ask_venue")
        assert query.office_as_place and query.subject_names == [], question


def test_a_question_that_asks_in_its_own_words_keeps_its_own_intent(understand):
    # the turn before asked for a date; this one says what it asks (どこ, 何課, 手続き)
    for question in ("介護保険の手続きはどこでできますか", "児童手当の相談はどこの課ですか"):
        query = understand(question, "ask_counter", topic="印鑑登録", previous_intent="ask_datetime")
        assert query.intent == "ask_counter", question



def test_a_question_naming_nothing_about_an_events_details_assumes_the_current_event(understand):
    query = understand("会場はどこ？", "ask_venue")
    assert query.assumed == WORKSHOP and query.context == [WORKSHOP] and not query.subjects


@pytest.mark.parametrize("question, intent", [
    ("祝日も開いていますか", "ask_datetime"),          # the office's days, not an event's
    ("粗大ごみの申し込み方法を教えて", "ask_procedure"),  # says what it is about, if not by name
])
def test_no_event_is_assumed_for_questions_of_their_own(understand, question, intent):
    assert understand(question, intent).assumed is None


def test_a_specific_cue_wins_over_a_general_one(understand):
    assert understand("参加費はいくらですか").cues == ("fee",)
    assert understand("謝礼はいくら？").cues == ("reward",)


def test_a_cue_word_inside_a_name_is_part_of_the_name(understand):
    query = understand("住所変更の届出はどこの窓口？", "ask_counter")
    assert "address" not in query.cues and query.subject_names == ["住所変更の届出"]


def test_a_cue_word_that_names_a_duty_with_another_word_is_part_of_that_name(understand):
    # 住所 + 手続き is the 住所変更の届出: 住所 asks no address
    query = understand("引っ越しました。住所の手続きはどこの窓口でしますか", "ask_counter")
    assert "address" not in query.cues and "住民票" in query.subject_names


def test_a_name_also_named_on_its_own_is_not_partial(understand):
    # 介護 (an alias of 介護保険) is the head of 介護タクシー, but 介護保険 is named too
    query = understand("介護タクシーを使いたい。介護保険の窓口はどこですか", "ask_counter")
    assert "介護保険" in query.subject_names and query.partial == []


def test_context_before_the_question_is_kept_apart_from_its_focus(understand):
    query = understand("平日は仕事で行けません。日曜日に証明書を取れるところってありますか？", "ask_venue")
    focus = {norm for norm, _ in query.focus}
    assert "仕事" not in focus and {"日曜日", "証明書"} & focus


def test_place_names_where_the_citizen_lives_are_not_unknown_things(understand):
    assert understand("横浜に住んでいますが参加できますか", "ask_eligibility").unknown == []


@pytest.mark.parametrize("question, cue", [
    ("住所の届けはどこで出しますか", None),        # 住所 modifies 届け: the question is about the notification
    ("受付時間の延長はいつからですか", None),
    ("会場の住所はどこですか", "address"),          # the cue is what is asked
    ("参加費の金額はいくらですか", "fee"),           # followed by another cue word, not by what it modifies
    ("締め切りを過ぎた場合はどうなりますか", None),   # the situation, not what is asked
    ("無理な要望を言われたとき、どう対応すればいいですか", None),
    ("電話番号が変わったら何か届けがいりますか", None),
    ("何を持っていけばいいですか", "required_documents"),  # 「〜ばいい」 asks; it sets no condition
])
def test_a_cue_word_that_modifies_a_noun_or_sets_the_situation_is_not_what_is_asked(understand, question, cue):
    assert understand(question).cues == ((cue,) if cue else ())


@pytest.mark.parametrize("question, cue", [
    ("お金がかかる手続きはどこでできますか", None),      # お金 describes 手続き, which is asked about
    ("住所を変えた人が出す書類は何ですか", None),
    ("電話で申し込める講座はありますか", None),
    ("住民票を取るのにかかる手数料はいくら", "fee"),    # the cue is the noun the clause describes
    ("費用がかかるかどうか教えて", "fee"),              # no noun after the clause: it is the question
    ("何時に始まる説明会ですか", "time"),               # an interrogative is asked however deep it stands
    ("この資料はいつ発行されたものですか", "issued"),    # 〜ものですか: the clause is what is asked
    ("お礼みたいなものはもらえますか", "reward"),        # a likeness, not a clause
])
def test_a_cue_word_inside_a_clause_that_describes_a_noun_is_not_what_is_asked(understand, question, cue):
    assert understand(question).cues == ((cue,) if cue else ())


def test_a_ward_named_only_before_the_question_is_where_the_citizen_lives(understand):
    query = understand("高津区に住んでいます。介護保険の申請は区役所のどこですか", "ask_counter")
    assert query.constraints == [] and "高津区" in query.context
    assert understand("高津区の介護保険の窓口はどこですか", "ask_counter").constraints == ["高津区"]


@pytest.mark.parametrize("text, asked", [
    ("住民票はどこで取れますか。電話は090-1111-2222です", "住民票はどこで取れますか。"),
    ("高津区に住んでいます。介護保険の申請はどこで？", "介護保険の申請はどこで？"),
    ("証明書は日曜も出ますか？平日は仕事なんです", "証明書は日曜も出ますか？"),
    ("婚姻届を出したい。来月結婚します", "婚姻届を出したい。"),
    ("来月結婚します。よろしくお願いします", "よろしくお願いします"),  # nothing asks: the final sentence
])
def test_the_sentence_that_asks_is_the_question(text, asked):
    start, end = question_span(text)
    assert text[start:end] == asked


def test_what_a_citizen_states_after_the_question_is_context(understand):
    query = understand("介護保険の申請はどこの窓口ですか。電話は044-000-0000、住所は中原区です", "ask_counter")
    assert query.constraints == [] and "中原区" in query.context
    assert query.cues == () and "介護保険" in query.subject_names


def test_grammar_written_in_kana_is_not_a_misspelt_name(understand):
    # one kana off, the reading ちょうかい would match 「…いけないんでしょうか」
    query = understand("担当以外の業務も覚えないといけないんでしょうか", "ask_rule")
    assert query.subjects == []
    assert "印鑑登録" in understand("いんかんとうろくはどこでできますか", "ask_counter").subject_names


def test_an_indefinite_word_asks_nothing():
    text = "母子手帳はどこの窓口ですか？片付けていたら、どこかにいってしまいました"
    start, end = question_span(text)
    assert text[start:end] == "母子手帳はどこの窓口ですか？"


@pytest.mark.parametrize("question, units", [
    ("印鑑登録証明書の手数料はいくらですか", ("円",)),
    ("区民会議の委員は何人いるんですか", ("人", "名")),
    ("区役所サービス基準はいくつありますか", ()),
    ("区役所の受付は何時までですか", None),
    ("窓口で何時間くらい待ちますか", ("時間",)),  # a duration, not a when
    ("市内にマンションは何棟ありますか", ("棟",)),
])
def test_a_quantity_question_knows_the_unit_of_its_answer(understand, question, units):
    assert understand(question).units == units


@pytest.mark.parametrize("question, asks", [
    ("証明書コーナーはいつ開いていますか", True),
    ("何月に募集が始まりますか", True),
    ("いつも混んでいる窓口はどこですか", False),  # indefinite
    ("いつでも申請できますか", False),
    ("書類は何年間保存しますか", False),  # a duration: a quantity of 年
])
def test_a_question_asks_when_only_with_an_interrogative_time_word(understand, question, asks):
    assert understand(question).asks_when is asks


@pytest.mark.parametrize("question, cues", [
    ("保育園の申込みをしたいので、担当の課を教えていただけますか", ()),  # ただ inside いただけます
    ("借りた本を一日遅れで返しただけなのに、延滞料金がかかるんですか", ("fee",)),  # 料金; not ただ in しただけ
    ("区民祭りの駐車場って、ただで停められますか", ("parking", "fee")),
    ("その講座はタダなんですか", ("fee",)),
    ("申込みのサイトはどこにありますか", ("url",)),
    ("窓口で明日また来てくださいと言われたんですが、何時から開きますか", ("time",)),  # さいと inside くださいと
])
def test_a_kana_cue_counts_only_as_a_word_of_its_own(understand, question, cues):
    assert understand(question).cues == cues


@pytest.mark.parametrize("question, present", [
    ("いま区役所は混んでいますか", True),
    ("宮前区に住んでいます。保育園の窓口はどこですか", False),  # いま inside います
    ("現在の受付時間を教えてください", True),
])
def test_only_a_word_for_now_asks_about_the_present(understand, question, present):
    assert understand(question).present is present


def test_kana_words_match_at_token_boundaries():
    from knowledge.attributes import occurrences
    from knowledge.understand import token_boundaries

    def found(word, text):
        return list(occurrences(word, text, token_boundaries(text)))

    assert found("ただ", "いただけますか") == [] and list(occurrences("ただ", "いただけますか")) == [1]
    assert found("ただ", "ただですか") == [0]
    assert found("いま", "住んでいます") == [] and found("いま", "いま行けますか") == [0]
    assert found("はずれた", "はずれたら連絡がきますか") == [0]  # a longer kana word may end inside a token
    assert found("窓口", "区役所の窓口") == [4]  # a word with kanji matches anywhere, as before


@pytest.mark.parametrize("question, outcome", [
    ("区の再編は予定どおり進んだんですか", True),
    ("その案は結局採用されたんですか", True),
    ("区の再編の計画はどういう内容ですか", False),
])
def test_a_question_asks_whether_something_came_about(understand, question, outcome):
    assert understand(question).outcome is outcome


def test_a_quantity_word_without_a_list_of_units_is_a_schema_error(tmp_path):
    from knowledge.attributes import load

    path = tmp_path / "attributes.yml"
    path.write_text("attributes: {fee: {label: 費用}}\nintents: {}\nstatuses: {}\nquantities: {いくら: 円}\n",
                    encoding="utf-8")
    with pytest.raises(ValueError, match="いくら"):
        load(path)
    path.write_text(path.read_text(encoding="utf-8").replace("いくら: 円", "いくら: [円]"), encoding="utf-8")
    assert load(path).units("参加費はいくらですか") == ("円",)


def test_an_asking_word_listed_under_two_intents_is_a_schema_error(tmp_path):
    from knowledge.attributes import load

    path = tmp_path / "attributes.yml"
    intents = "intents: {ask_venue: {primary: [venue]}, ask_procedure: {primary: [venue]}}\n"
    path.write_text("attributes: {venue: {label: 会場}}\n" + intents + "statuses: {}\n"
                    "asking_words: {ask_venue: [どこ, 出来る], ask_procedure: [申請, 出来る]}\n", encoding="utf-8")
    with pytest.raises(ValueError, match="出来る"):
        load(path)
    path.write_text(path.read_text(encoding="utf-8").replace("どこ, 出来る", "どこ"), encoding="utf-8")
    assert load(path).hints["出来る"] == "ask_procedure"


def test_each_question_of_a_message_that_asks_two_says_what_is_asked(understand):
    assert "url" in understand("サービス向上指針の全文はどこで見られる？いつ改定されたの？").cues


def test_a_wish_before_the_question_is_its_context_not_what_is_asked(understand):
    assert "opinion" not in understand("区民会議に要望を出したいです。担当している課はどこですか").cues


def test_a_word_pair_in_the_citizens_context_is_background_like_a_typed_name(understand):
    # 結婚 … 手続 infers 婚姻届 (a 戸籍 notification) in the sentence before the question: context, not asked
    query = understand("先月、結婚の手続きを済ませました。国民健康保険の窓口はどこですか", "ask_counter")
    assert query.subject_names == ["国民健康保険"] and "戸籍" in query.context
    # the same pair inside the question is what is asked
    query = understand("国民健康保険に入っています。結婚の手続きはどこでしますか", "ask_counter")
    assert "戸籍" in query.subject_names and "国民健康保険" in query.context


def test_a_quantity_word_with_the_ordinal_suffix_asks_which_one_not_how_many():
    from knowledge.attributes import attributes

    table = attributes()
    assert "statistic" not in table.cue_attributes("理念は改定ワーキングの何回目で話し合われたんですか")
    assert table.units("何人目の委員ですか") is None
    assert "statistic" in table.cue_attributes("改定ワーキングは何回開かれたんですか")
    assert table.units("参加者は何人でしたか") == ("人", "名")
