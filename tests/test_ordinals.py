"""Ordinal references (knowledge/ordinals.py; texts written for these tests)."""
import pytest

from knowledge.ordinals import conflicts, kanji_number, ordinals


@pytest.mark.parametrize(("text", "value"), [("三", 3), ("十", 10), ("十二", 12), ("二十四", 24), ("九十九", 99)])
def test_kanji_numerals_below_one_hundred_are_read(text, value):
    assert kanji_number(text) == value


@pytest.mark.parametrize("text", ["", "百", "二十十", "三四五", "x"])
def test_what_is_not_a_small_kanji_numeral_is_none(text):
    assert kanji_number(text) is None


def test_articles_sessions_and_terms_are_read_in_any_digits():
    assert ordinals("自治基本条例第２４条と第6期、第三次計画、第 1 回") == {(24, "条"), (6, "期"), (3, "次"), (1, "回")}


def test_days_of_the_month_and_bare_numbers_are_no_ordinals():
    assert ordinals("毎月第2・第4土曜日に開設、24条件") == frozenset()


def test_a_text_naming_only_another_article_conflicts():
    asked = ordinals("第24条には何が書いてある")
    assert conflicts(asked, "第3条でいう市民は…")
    assert not conflicts(asked, "第24条により、市民は情報の開示を求めることができます")
    assert not conflicts(asked, "第3条と第24条")


def test_a_text_naming_no_ordinal_of_that_kind_does_not_conflict():
    asked = ordinals("第1号被保険者の手続き")
    assert not conflicts(asked, "介護保険は高齢・障害課が取り扱っています")
    assert not conflicts(asked, "第6期の区民会議")
    assert not conflicts(frozenset(), "第3条")
