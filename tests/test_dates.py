"""Era conversion, weekday checks and fiscal years."""
import pytest

from knowledge.dates import era_to_year, find_dates, holds_time, western


@pytest.mark.parametrize("era, year, western_year", [
    ("令和", 7, 2025), ("令和", "元", 2019), ("平成", 28, 2016), ("平成", 40, 2028),  # nominal 平成40
    ("平成", 52, 2040), ("昭和", 64, 1989), ("H", 22, 2010),
])
def test_era_to_year(era, year, western_year):
    assert era_to_year(era, year) == western_year


def test_unknown_era_raises():
    with pytest.raises(KeyError):
        era_to_year("天平", 1)


def test_full_date_with_correct_weekday():
    (d,) = find_dates("令和7年8月5日(火)18時")
    assert d.iso() == "2025-08-05" and d.weekday_ok is True


def test_wrong_weekday_is_reported():
    (d,) = find_dates("令和7年8月5日(水)")
    assert d.weekday_ok is False


def test_fiscal_year_stays_a_fiscal_year():
    (d,) = find_dates("H22年度")
    assert d.fiscal and d.year == 2010 and d.iso() is None


def test_western_year_added_once():
    assert western("平成20年4月に策定") == "平成20(2008)年4月に策定"
    assert western("平成40(2028)年") == "平成40(2028)年"


@pytest.mark.parametrize("text, holds", [
    ("平成27年度に開設されました", True),
    ("毎月第2・第4土曜日に開庁します", True),
    ("8時30分から受け付けます", True),
    ("年度末に結果を報告します", True),
    ("機能再編を行う予定です", False),
    ("区民課が取り扱っています", False),
])
def test_holds_time_finds_any_when(text, holds):
    assert holds_time(text) is holds
