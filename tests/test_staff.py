"""Staff quick reference: knowledge.staff, `python -m knowledge show`, and the bot.web JSON API."""
from __future__ import annotations

import asyncio
import datetime as dt

import pytest
from aiohttp.test_utils import TestClient, TestServer

from bot import web as staff_web
from knowledge import staff
from knowledge.__main__ import main as knowledge_main
from knowledge.sources import SOURCES_DIR

HOSTILE = ["", "   ", '"', '""', "NEAR(", "NEAR(a b, 3)", "*", "a*", "OR", "AND NOT", "^", ":", "(", ")", "'",
           "住民票\" OR \"*", "\x00", "\ud800", "\U0001F600", "<script>alert(1)</script>", "%", "\\", "x" * 5000,
           "住民票" * 2000, "　", "\n\t"]


def _mentions(results: list[dict], name: str, top: int = 5) -> bool:
    return any(name in r["text"] or r["subject"] == name for r in results[:top])


# -- search ------------------------------------------------------------------

@pytest.mark.parametrize("query", ["国民健康保険", "こくみんけんこうほけん", "コクミンケンコウホケン", "国民健康保検",
                                   "国保", "保険", "こく", "ほけ"])
def test_search_finds_the_section_for_national_health_insurance(kb, query):
    assert _mentions(staff.search(kb, query), "保険年金課"), query


@pytest.mark.parametrize("query, name", [("住民票", "区民課"), ("じゅうみんひょう", "区民課"), ("印鑑登禄", "区民課"),
                                         ("区民か", "区民課"), ("くみ", "区民課"), ("いん", "印鑑登録"),
                                         ("2459", "区政推進課"), ("502", "502会議室")])
def test_search_as_you_type(kb, query, name):
    assert _mentions(staff.search(kb, query), name), query


def test_one_character_already_gives_results(kb):
    assert staff.search(kb, "区") and staff.search(kb, "こ")


def test_results_carry_their_source(kb):
    results = staff.search(kb, "国民健康保険")
    assert results
    for r in results:
        assert {"id", "text", "subject", "attribute", "status", "doc", "title", "section", "line_start", "line_end",
                "as_of", "quote"} <= set(r)
        assert r["doc"] in kb.documents and r["title"] == kb.documents[r["doc"]]["title"]
        assert 1 <= r["line_start"] <= r["line_end"]
        assert r["status"] in ("fact", "plan", "proposal", "example")
        assert r["section"]
    best = next(r for r in results if r["id"] == "001-kokuho-hokennenkin")
    assert (best["doc"], best["line_start"], best["as_of"], best["status"]) == ("001", 2055, "2015-04-01", "fact")
    assert best["title"] == "区役所改革の基本方針（案）"


def test_statuses_are_reported(kb):
    statuses = {r["status"] for r in staff.search(kb, "ワークショップ 意見", limit=100)}
    assert "proposal" in statuses
    assert any(r["status"] == "plan" for r in staff.search(kb, "改定", limit=50))


def test_search_respects_the_limit(kb):
    assert len(staff.search(kb, "区役所", limit=3)) == 3
    assert len(staff.search(kb, "区役所", limit=10_000)) <= staff.MAX_LIMIT
    assert staff.search(kb, "区役所", limit="x")


@pytest.mark.parametrize("query", HOSTILE)
def test_hostile_input_is_safe(kb, query):
    results = staff.search(kb, query)
    assert isinstance(results, list)


def test_long_input_is_cut_not_rejected(kb):
    assert _mentions(staff.search(kb, "住民票" + "あ" * 5000), "区民課")


# -- browsing -----------------------------------------------------------------

def test_sections_have_parent_and_duties(kb):
    units = {u["name"]: u for u in staff.sections(kb)}
    assert len(units) >= 30
    hoken = units["保険年金課"]
    assert hoken["parent"] == "区民サービス部" and "保険年金課" in units["区民サービス部"]["children"]
    assert "国民健康保険" in hoken["duties"][0]["value"] and "国民健康保険" in hoken["services"]
    assert (hoken["duties"][0]["doc"], hoken["duties"][0]["line_start"], hoken["duties"][0]["as_of"]) == \
        ("001", 2055, "2015-04-01")


@pytest.mark.parametrize("name", ["区民課", "くみんか", "区民化", "区民課窓口"])
def test_one_section_by_name_kana_or_typo(kb, name):
    unit = staff.section(kb, name)
    assert unit["name"] == "区民課"
    assert any("住民票" in d["value"] for d in unit["duties"]) and unit["facts"]


def test_unknown_section_is_none(kb):
    assert staff.section(kb, "存在しない部署") is None and staff.section(kb, "") is None


def test_contacts_have_roles(kb):
    items = staff.contacts(kb)
    assert items and all(c["role"] and c["doc"] and c["line_start"] for c in items)
    apply_phone = next(c for c in items if c["kind"] == "phone" and "2459" in c["value"])
    press_phone = next(c for c in items if c["kind"] == "phone" and "2258" in c["value"])
    assert apply_phone["role"] != press_phone["role"]
    assert "報道" in press_phone["role"] and "申込" in apply_phone["role"]
    assert press_phone["press_only"] and not apply_phone["press_only"]
    assert items.index(apply_phone) < items.index(press_phone)  # the number to give citizens comes first


def test_events_with_details(kb):
    items = staff.events(kb, today=dt.date(2026, 11, 21))
    workshop = items[0]
    assert workshop["held_on"] == "2025-08-05" and workshop["over"] is True
    assert any(d["attribute"] == "venue" and "502" in d["value"] for d in workshop["details"])
    assert staff.events(kb, today=dt.date(2025, 7, 10))[0]["over"] is False


def test_timeline_is_dated_and_sorted(kb):
    items = staff.timeline(kb)
    assert len(items) > 50
    keys = [staff.date_key(t["date"]) for t in items]
    assert keys == sorted(keys)
    assert all(t["date"] and t["date_label"] and t["doc"] and t["line_start"] for t in items)
    assert staff.date_label("FY2008") == "2008年度" and staff.date_label("2011-04-22") == "2011年4月22日"


def test_source_lines_are_verbatim(kb):
    src = staff.source(kb, "001", 2053, 2055, context=2)
    raw = (SOURCES_DIR / kb.documents["001"]["file"]).read_text(encoding="utf-8").splitlines()
    assert [ln["line"] for ln in src["lines"]] == list(range(2051, 2058))
    assert all(ln["text"] == raw[ln["line"] - 1] for ln in src["lines"])
    assert [ln["cited"] for ln in src["lines"]] == [False, False, True, True, True, False, False]
    assert "戸籍 住民票 印鑑登録" in src["lines"][2]["text"] and src["title"] == "区役所改革の基本方針（案）"


def test_source_bounds(kb):
    assert staff.source(kb, "000", 1, 1, context=5)["lines"][0]["line"] == 1
    big = staff.source(kb, "001", 99999, 1)
    assert big["cut"] and len(big["lines"]) <= staff.MAX_SOURCE_LINES
    for bad in (("999", 1, 2), ("001", "a", 2), ("001", 100000, 100001), (None, 1, 1)):
        with pytest.raises(ValueError):
            staff.source(kb, *bad)


def test_staff_functions_do_not_write(kb_path, kb):
    before = kb_path.stat().st_mtime_ns
    staff.search(kb, "住民票"), staff.sections(kb), staff.contacts(kb), staff.events(kb), staff.timeline(kb)
    assert kb_path.stat().st_mtime_ns == before


# -- `python -m knowledge show` ---------------------------------------------------

def _show(capsys, kb_path, *args) -> str:
    code = knowledge_main(["show", *args, "--db", str(kb_path), "--width", "120"])
    out = capsys.readouterr().out
    assert code == 0, out
    return out


def _column_starts(rule: str) -> list[int]:
    """Display columns where each column starts, from the ──── rule under the header."""
    starts, col, prev = [], 0, " "
    for ch in rule:
        if ch == "─" and prev == " ":
            starts.append(col)
        col += staff.char_width(ch)
        prev = ch
    return starts


def _assert_aligned(table: str) -> None:
    lines = table.splitlines()
    rule_at = next(i for i, line in enumerate(lines) if line.startswith("─"))
    starts = _column_starts(lines[rule_at])
    assert len(starts) >= 2
    for line in [lines[rule_at - 1], *lines[rule_at + 1:]]:
        if not line.strip():
            break
        cols, col = {}, 0
        for ch in line:
            cols[col] = ch
            col += staff.char_width(ch)
        for start in starts[1:]:
            if start < col:
                # every cell starts exactly on its column (a cell never runs into the next column's gap)
                assert start in cols and cols.get(start - 1) == " " and cols.get(start - 2) == " ", (line, start)
        assert staff.display_width(line) <= 120


def test_show_contacts_is_aligned(capsys, kb_path):
    out = _show(capsys, kb_path, "contacts")
    _assert_aligned(out)
    starts = _column_starts(out.splitlines()[1])
    for phone in ("044-200-2459", "044-200-2258"):
        line = next(ln for ln in out.splitlines() if phone in ln)
        assert staff.display_width(line[:line.index(phone)]) == starts[2]
    assert "報道発表資料の問合せ先" in out


@pytest.mark.parametrize("what", ["sections", "timeline"])
def test_show_tables_are_aligned(capsys, kb_path, what):
    _assert_aligned(_show(capsys, kb_path, what))


def test_show_section(capsys, kb_path):
    out = _show(capsys, kb_path, "section", "区民課")
    assert "区民サービス部" in out and "戸籍、住民票、印鑑登録" in out and "001 L2053 2015-04-01" in out
    _assert_aligned(out)


def test_show_events(capsys, kb_path):
    out = _show(capsys, kb_path, "events")
    assert "区役所ミライプロジェクト地域ワークショップ" in out and "502会議室" in out


def test_show_source(capsys, kb_path):
    out = _show(capsys, kb_path, "source", "001", "2053", "2055")
    assert "『区役所改革の基本方針（案）』" in out
    assert "> 2053 │ 戸籍 住民票 印鑑登録" in out and "  2052 │" in out


def test_show_bad_input(capsys, kb_path):
    assert knowledge_main(["show", "source", "999", "1", "2", "--db", str(kb_path)]) == 2
    assert knowledge_main(["show", "section", "存在しない部署", "--db", str(kb_path)]) == 1
    capsys.readouterr()


def test_display_width_and_pad():
    assert staff.display_width("区民課abc") == 9
    assert staff.display_width(staff.pad("区民課", 10)) == 10
    assert staff.display_width(staff.pad("区民サービス部長会議", 7)) <= 7
    assert all(staff.display_width(line) <= 10 for line in staff.wrap("国民健康保険、医療費助成、国民年金", 10))


# -- web API (aiohttp test utilities, loopback only) --------------------------------

def _with_client(kb_path, check):
    async def run():
        async with TestClient(TestServer(staff_web.make_app(kb_path))) as client:
            await check(client)

    asyncio.run(run())


def test_web_search_returns_json(kb_path):
    async def check(client):
        resp = await client.get("/staff/api/search", params={"q": "国民健康保険"})
        assert resp.status == 200 and resp.content_type == "application/json"
        assert resp.headers["Cache-Control"] == "no-store"
        data = await resp.json()
        assert data["query"] == "国民健康保険" and _mentions(data["results"], "保険年金課")
        first = data["results"][0]
        assert {"doc", "title", "section", "line_start", "line_end", "as_of", "status"} <= set(first)
        resp = await client.get("/staff/api/search", params={"q": "こくみんけんこうほけん", "limit": "2"})
        assert len((await resp.json())["results"]) == 2

    _with_client(kb_path, check)


def test_web_hostile_input_never_500(kb_path):
    async def check(client):
        for q in [h for h in HOSTILE if len(h.encode("utf-8", "surrogatepass")) < 2000] + \
                ["%ED%A0%80", "x" * 1500, "住民票" * 150]:
            resp = await client.get("/staff/api/search", params={"q": q})
            assert resp.status == 200, q[:30]
            data = await resp.json()
            assert isinstance(data["results"], list) and len(data["query"]) <= 200
        data = await (await client.get("/staff/api/search", params={"q": "住民票" * 150})).json()
        assert len(data["query"]) == 200 and _mentions(data["results"], "区民課")
        # a request line over 8 KB is refused by the HTTP layer itself (400), still never a 500
        assert (await client.get("/staff/api/search", params={"q": "住民票" * 2000})).status == 400
        for raw in ("/staff/api/search?q=%FF%FE%00", "/staff/api/search?q=%ED%A0%80", "/staff/api/search?q=%",
                    "/staff/api/search?limit=-5&q=a", "/staff/api/search?limit=99999999999999999999&q=区",
                    "/staff/api/search?q=a&q=b"):
            resp = await client.get(raw)
            assert resp.status == 200, raw
            assert isinstance((await resp.json())["results"], list)
        for params in ({}, {"doc": "001"}, {"doc": "999", "first": "1", "last": "2"}, {"doc": "001", "first": "x"},
                       {"doc": "\"*", "first": "NEAR("}, {"doc": "001", "first": "-5", "last": "-1"},
                       {"doc": "001", "first": "1" * 100, "last": "2"}, {"doc": "001", "first": "1", "last": "9" * 30}):
            resp = await client.get("/staff/api/source", params=params)
            assert resp.status == 200, params
            assert isinstance((await resp.json())["lines"], list)

    _with_client(kb_path, check)


def test_web_source(kb_path):
    async def check(client):
        resp = await client.get("/staff/api/source", params={"doc": "001", "first": "2053", "last": "2053"})
        data = await resp.json()
        assert data["title"] == "区役所改革の基本方針（案）"
        cited = [ln for ln in data["lines"] if ln["cited"]]
        assert [ln["line"] for ln in cited] == [2053] and "戸籍 住民票 印鑑登録" in cited[0]["text"]
        data = await (await client.get("/staff/api/source", params={"doc": "999", "first": "1"})).json()
        assert data["lines"] == [] and "999" in data["error"]

    _with_client(kb_path, check)


def test_web_browse_endpoints(kb_path):
    async def check(client):
        for name in ("sections", "contacts", "events", "timeline"):
            resp = await client.get(f"/staff/api/{name}")
            assert resp.status == 200 and resp.content_type == "application/json", name
            assert (await resp.json())[name], name

    _with_client(kb_path, check)


def test_web_staff_page_and_assets(kb_path):
    async def check(client):
        resp = await client.get("/staff")
        html = await resp.text()
        assert resp.status == 200 and resp.content_type == "text/html"
        assert '<label for="q">' in html and "autofocus" in html and 'lang="ja"' in html
        assert "default-src 'self'" in resp.headers["Content-Security-Policy"]
        for asset in ("/static/staff.js", "/static/staff.css"):
            assert (await client.get(asset)).status == 200, asset
        js = await (await client.get("/static/staff.js")).text()
        assert "innerHTML" not in js.replace("never innerHTML", "") and "textContent" in js
        assert (await client.get("/static/../web.py")).status == 404
        assert (await client.get("/staff/", allow_redirects=False)).status == 308

    _with_client(kb_path, check)


def test_root_is_reserved_for_the_widget(kb_path, tmp_path, monkeypatch):
    async def missing(client):
        assert (await client.get("/")).status == 404

    monkeypatch.setattr(staff_web, "STATIC_DIR", tmp_path)
    _with_client(kb_path, missing)
    (tmp_path / "index.html").write_text("<!doctype html><title>widget</title>", encoding="utf-8")

    async def present(client):
        resp = await client.get("/")
        assert resp.status == 200 and "widget" in await resp.text()

    _with_client(kb_path, present)


def test_web_has_no_write_routes(kb_path):
    async def check(client):
        for path in ("/staff/api/search", "/staff/api/source", "/staff"):
            assert (await client.post(path, data="x")).status == 405

    _with_client(kb_path, check)
