"""Japanese dates: era years to western years, weekday checks, fiscal years.

* ``era_to_year("平成", 28)`` -> 2016.  Nominal years past an era's end are
  converted arithmetically, as the documents do (平成40 -> 2028, 平成52 -> 2040).
* ``find_dates(text)`` -> list of ``JapaneseDate`` found in normalized text:
  era or western year, optional month and day, optional weekday, and whether
  the year is a fiscal year (年度).  A stated weekday that does not match the
  calendar is reported in ``weekday_ok``.

Input must be ``normalize_line`` output (half-width digits).
"""
from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass

ERAS = {"明治": 1867, "大正": 1911, "昭和": 1925, "平成": 1988, "令和": 2018}
ERA_INITIALS = {"M": "明治", "T": "大正", "S": "昭和", "H": "平成", "R": "令和"}
WEEKDAYS = "月火水木金土日"

_DATE = re.compile(
    r"(?:(?P<era>明治|大正|昭和|平成|令和|(?<![A-Za-z])[MTSHR](?=\d))\s*(?P<eyear>元|\d{1,2})"
    r"|(?P<wyear>(?:19|20)\d{2}))"
    r"(?:\((?P<paren>(?:19|20)\d{2})\))?"
    r"(?:年度(?P<fy>)|年|\.(?=\d))"
    r"(?:\s*(?P<month>\d{1,2})\s*[月.])?"
    r"(?:\s*(?P<day>\d{1,2})\s*日?)?"
    r"(?:\s*[(（]?(?P<wd>[月火水木金土日])[)）])?"
)


@dataclass(frozen=True)
class JapaneseDate:
    """A date found in text.  ``year`` is western; ``month``/``day`` may be None.

    ``fiscal`` is True for 年度 (a fiscal year, April to March: kept as a
    fiscal year, never turned into a calendar date).  ``weekday_ok`` is None
    when no weekday was written, else whether it matches the calendar.
    ``span`` is the (start, end) character offsets in the text.
    """

    year: int
    month: int | None
    day: int | None
    fiscal: bool
    weekday_ok: bool | None
    span: tuple[int, int]

    def iso(self) -> str | None:
        """``YYYY-MM-DD`` when day and month are known, ``YYYY-MM`` or ``YYYY`` else."""
        if self.fiscal:
            return None
        if self.month and self.day:
            return f"{self.year:04d}-{self.month:02d}-{self.day:02d}"
        if self.month:
            return f"{self.year:04d}-{self.month:02d}"
        return f"{self.year:04d}"


def era_to_year(era: str, year: int | str) -> int:
    """Western year of ``era`` year ``year`` (``"元"`` = 1).

    ``era`` is a kanji era name or its initial (H, S, R, ...).  Raises
    ``KeyError`` for an unknown era and ``ValueError`` for a year below 1.
    """
    era = ERA_INITIALS.get(era, era)
    number = 1 if year == "元" else int(year)
    if number < 1:
        raise ValueError(f"era year must be >= 1: {year}")
    return ERAS[era] + number


def find_dates(text: str) -> list[JapaneseDate]:
    """All dates in ``text`` (see module docstring), in order of appearance."""
    found = []
    for m in _DATE.finditer(text):
        if m.group("era"):
            year = era_to_year(m.group("era"), m.group("eyear"))
        else:
            year = int(m.group("wyear"))
        month = int(m.group("month")) if m.group("month") else None
        day = int(m.group("day")) if m.group("day") and month else None
        if month is not None and not 1 <= month <= 12:
            month = day = None
        weekday_ok = None
        if day and m.group("wd"):
            try:
                weekday_ok = WEEKDAYS[dt.date(year, month, day).weekday()] == m.group("wd")
            except ValueError:
                weekday_ok = False
        found.append(JapaneseDate(year, month, day, m.group("fy") is not None, weekday_ok, m.span()))
    return found


_TIME = re.compile(r"\d{1,2}\s*(?:時|月|日|週)|[月火水木金土日]曜|毎[日週月年]|[上中下]旬"
                   r"|年度(?:末|当初|初め|内)|年末|年始|当日|前日|翌日|午前|午後")


def holds_time(text: str) -> bool:
    """Whether normalized ``text`` gives a when: a date (``find_dates``), or
    a time, day, month, weekday or part of a year (17時, 第2土曜, 毎月,
    上旬, 年度末)."""
    return bool(_TIME.search(text) or _DATE.search(text))


def western(text: str) -> str:
    """``text`` with the western year added after each era year that lacks one:
    ``平成20年4月`` -> ``平成20(2008)年4月``.  Fiscal years likewise (``平成28(2016)年度``)."""

    def repl(m: re.Match) -> str:
        era = ERA_INITIALS.get(m.group(1), m.group(1))
        return f"{era}{m.group(2)}({era_to_year(era, m.group(2))})年"

    return re.sub(r"(明治|大正|昭和|平成|令和)(元|\d{1,2})年(?!\()", repl, text)


_ERA_WITH_WESTERN = re.compile(
    r"(明治|大正|昭和|平成|令和)(元|\d{1,2})\((\d{4})\)年(度)?((?:\d{1,2}月)?(?:\d{1,2}日)?)")


def readable(text: str) -> str:
    """Era dates written ``平成20(2008)年4月`` (as curated) said the way people
    read them: ``平成20年4月（2008年）``; fiscal years ``平成19年度（2007年度）``."""

    def repl(m: re.Match) -> str:
        era, number, year, fiscal, rest = m.groups()
        suffix = "年度" if fiscal else "年"
        return f"{era}{number}{suffix}{rest}（{year}{suffix}）"

    return _ERA_WITH_WESTERN.sub(repl, text)
