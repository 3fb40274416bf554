"""The normalizer's fixes, on strings taken from the real documents."""
import pytest

from knowledge.normalize import compact, normalize_chars, normalize_line, normalize_query


@pytest.mark.parametrize("raw, expected", [
    ("東急東横線・⽬⿊線「武蔵⼩杉駅」", "東急東横線・目黒線「武蔵小杉駅」"),  # Kangxi radicals; ⿊ -> 黒 not 黑
    ("川崎市�市⺠⽂化局", "川崎市 市民文化局"),  # CJK radical ⺠, U+FFFD
    ("電 話 ０４４—２００－２４５９", "電話044-200-2459"),  # em dash inside a phone number
    ("保 険 年 金 課", "保険年金課"),
    ("令 和 ７ 年 ７ 月 １ 日", "令和7年7月1日"),
    ("区 民 サ ー ビ ス 部 区 民 課", "区民サービス部区民課"),
    ("平成 28（2016）年３月に", "平成28(2016)年3月に"),
    ("総勢３0 名", "総勢30名"),  # mixed-width digits
    ("| <b>住民票の写しを発行する行為</b><br>・住民基本台帳法 |", "住民票の写しを発行する行為・住民基本台帳法"),
    ("「**市民の立場から見てどうか**」", "「市民の立場から見てどうか」"),
])
def test_normalize_line_fixes_extraction_damage(raw, expected):
    assert normalize_line(raw) == expected


def test_circled_numbers_survive_nfkc():
    assert normalize_line("①�住所��②�⽒名") == "① 住所 ② 氏名"


def test_spaces_between_words_are_kept():
    assert normalize_line("川崎市 市民文化局 コミュニティ推進部") == "川崎市 市民文化局 コミュニティ推進部"


def test_compact_removes_all_whitespace():
    assert compact(" 中原区役所 502 会議室\n") == "中原区役所502会議室"


def test_control_and_zero_width_characters_are_removed():
    assert normalize_chars("住\u200b民\x07票") == "住民 票"


def test_query_is_cut_not_rejected():
    assert len(normalize_query("あ" * 10_000)) == 500
    assert normalize_query("") == ""
