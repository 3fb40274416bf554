"""Building the knowledge base from the real documents."""
import shutil
import sqlite3

import pytest
import yaml

from knowledge import curated
from knowledge.build import build
from knowledge.sources import SOURCES_DIR, SourceError


@pytest.fixture
def db(kb_path):
    conn = sqlite3.connect(kb_path)
    conn.row_factory = sqlite3.Row
    yield conn
    conn.close()


def test_every_table_is_filled(db):
    for table in ("documents", "source_lines", "passages", "entities", "facts", "organisation", "services",
                  "events", "contacts", "definitions", "timeline", "statistics", "patterns", "lexicon",
                  "near_misses"):
        assert db.execute(f"select count(*) from {table}").fetchone()[0] > 0, table


def test_documents_match_the_manifest(db):
    rows = {r["id"]: r for r in db.execute("select * from documents")}
    assert set(rows) == {"000", "001", "002", "003", "004"}
    assert rows["001"]["as_of"] == "2016-02-01"
    assert rows["000"]["lines"] == 205  # 204 lines and the final newline


def test_source_lines_map_back_to_the_original(db):
    raw, norm = db.execute("select raw, normalized from source_lines where doc='001' and line=1980").fetchone()
    assert "保 険 年 金 課" in raw and "保険年金課" in norm


@pytest.mark.parametrize("name", ["保険年金課", "区民センター", "中原区"])
def test_spaced_out_names_are_found_in_normalized_lines(db, name):
    assert db.execute("select count(*) from source_lines where normalized like ?", (f"%{name}%",)).fetchone()[0] > 0


def test_org_chart_sections_with_parent_and_duties(db):
    row = db.execute("select * from organisation where name='保険年金課'").fetchone()
    assert "国民健康保険" in row["duties"] and row["as_of"] == "2015-04-01" and row["doc"] == "001"


def test_services_name_their_section(db):
    sections = {r["section"] for r in db.execute("select section from services where service='住民票'")}
    assert "区民課" in sections


def test_event_row_has_its_details(db):
    row = db.execute("select * from events where held_on='2025-08-05'").fetchone()
    assert "502" in row["venue"] and "18" in row["time"] and "7月15日" in row["deadline"]


def test_contacts_keep_roles_apart(db):
    rows = db.execute("select value, role from contacts where attribute='phone'")
    phones = {r["value"][:12]: r["role"] for r in rows}
    assert "044-200-2459" in phones and "044-200-2258" in phones
    assert phones["044-200-2459"] != phones["044-200-2258"]
    assert "044-200-2309" in phones


def test_statistics_carry_their_source(db):
    row = db.execute("select * from statistics where text like '%61.1%'").fetchone()
    assert row["doc"] == "004" and row["quote"]


def test_proposals_and_plans_are_marked(db):
    statuses = db.execute("select distinct status from facts where doc='002' and attribute='opinion'")
    assert {r[0] for r in statuses} == {"proposal"}
    assert db.execute("select count(*) from facts where status='plan'").fetchone()[0] > 0


def test_code_found_patterns(db):
    kinds = {r[0] for r in db.execute("select distinct kind from patterns")}
    assert kinds == {"phone", "email", "url", "date"}


def test_fts_finds_passages_by_normalized_forms(kb):
    for variant in ("申し込み", "申込み", "申込"):
        hits = kb.search_passages(variant, limit=5)
        assert hits and any(row["doc"] == "000" for row, _ in hits), variant


def test_fts_query_syntax_in_input_is_harmless(kb):
    for text in ['"', "NEAR(", "*", "OR", "a AND", ")", '住民票" OR "*']:
        assert isinstance(kb.search_passages(text), list), text
        assert isinstance(kb.search_facts(text), list), text
    # quoted as plain terms: the word inside the FTS syntax is still found
    assert any(f.subject == "住民票" for f, _ in kb.search_facts('住民票" OR "*'))


def _copy_tree(tmp_path):
    sources = tmp_path / "sources"
    shutil.copytree(SOURCES_DIR, sources)
    facts = tmp_path / "facts"
    shutil.copytree(curated.FACTS_DIR, facts)
    return sources, facts


def test_wrong_quote_fails_the_build_naming_the_fact(tmp_path):
    sources, facts = _copy_tree(tmp_path)
    data = yaml.safe_load((facts / "000.yml").read_text(encoding="utf-8"))
    data["facts"][0]["quote"] = "この文は資料にありません"
    (facts / "000.yml").write_text(yaml.dump(data, allow_unicode=True), encoding="utf-8")
    with pytest.raises(curated.CurationError, match=data["facts"][0]["id"]):
        build(tmp_path / "kb.sqlite", sources, facts, verbose=False)
    assert not (tmp_path / "kb.sqlite").exists()


def test_an_entity_of_an_undeclared_kind_fails_the_build_naming_it(tmp_path):
    sources, facts = _copy_tree(tmp_path)
    data = yaml.safe_load((facts / "000.yml").read_text(encoding="utf-8"))
    data["entities"][0]["kind"] = "どこにもない出張所"
    (facts / "000.yml").write_text(yaml.dump(data, allow_unicode=True), encoding="utf-8")
    with pytest.raises(curated.CurationError, match=f"{data['entities'][0]['name']}.*どこにもない出張所"):
        build(tmp_path / "kb.sqlite", sources, facts, verbose=False)


def test_an_ended_by_that_is_not_a_fact_about_the_entity_fails_the_build(tmp_path):
    sources, facts = _copy_tree(tmp_path)
    data = yaml.safe_load((facts / "000.yml").read_text(encoding="utf-8"))
    other = next(f["id"] for f in data["facts"] if f["subject"] != data["entities"][0]["name"])
    data["entities"][0]["ended_by"] = other
    (facts / "000.yml").write_text(yaml.dump(data, allow_unicode=True), encoding="utf-8")
    with pytest.raises(curated.CurationError, match=f"ended_by {other!r}"):
        build(tmp_path / "kb.sqlite", sources, facts, verbose=False)


def test_offices_know_the_kind_they_are_one_of(kb):
    assert kb.entities["橘出張所"].kind == "出張所"
    assert kb.entities["出張所"].kind is None


def test_missing_source_gives_a_clear_error(tmp_path):
    sources, facts = _copy_tree(tmp_path)
    (sources / "003_901ddf8fdfbafd1d.txt").unlink()
    with pytest.raises(SourceError, match="003.*missing"):
        build(tmp_path / "kb.sqlite", sources, facts, verbose=False)


def test_unreadable_source_gives_a_clear_error(tmp_path):
    sources, facts = _copy_tree(tmp_path)
    (sources / "002_328f9dd19d8720c0.txt").write_bytes(b"\xff\xfe\x00bad")
    with pytest.raises(SourceError, match="002.*unreadable"):
        build(tmp_path / "kb.sqlite", sources, facts, verbose=False)


def test_guideline_committee_and_definition_from_document_003(db):
    chair = db.execute("select chair from committees where name='区役所サービス向上委員会'").fetchone()
    assert chair and "区民サービス部長" in chair["chair"]
    definition = db.execute("select text from definitions where doc='003' and text like '%直接提供%'").fetchone()
    assert definition is not None


def test_timeline_dates_are_western(db):
    dates = {r["date"] for r in db.execute("select date from timeline where text like '%道路公園センター%設置%'")}
    assert "FY2010" in dates  # 平成22年度: a fiscal year stays a fiscal year


def test_search_command_prints_facts_and_sources(kb_path, capsys):
    from knowledge.__main__ import main

    assert main(["search", "国民健康保険", "--db", str(kb_path)]) == 0
    out = capsys.readouterr().out
    assert "保険年金課" in out and "L1980" in out or "L2055" in out


def test_lexicon_export_feeds_rasa_lookups_and_synonyms(kb_path, tmp_path):
    from knowledge.lexicon import export_nlu

    out = tmp_path / "lookups.yml"
    assert export_nlu(kb_path, out) > 100
    data = yaml.safe_load(out.read_text(encoding="utf-8"))
    lookups = {item["lookup"]: item["examples"] for item in data["nlu"] if "lookup" in item}
    synonyms = {item["synonym"]: item["examples"] for item in data["nlu"] if "synonym" in item}
    assert {"section", "service", "event", "facility", "ward", "topic"} <= set(lookups)
    assert "- 保険年金課" in lookups["section"]
    assert "国保" in synonyms["国民健康保険"]


def test_an_office_of_a_kind_is_also_written_with_no():
    kind = curated.Entity("支所・区民センター", "office", "001", aliases=["支所", "区民センター"])
    office = curated.Entity("大師支所", "office", "001", aliases=["大師区民センター", "川崎区役所大師支所"],
                            kind="支所・区民センター")
    forms = curated.possessive_forms(office, {e.name: e for e in (kind, office)})
    assert "大師の支所" in forms and "大師の区民センター" in forms
    assert not any(form.startswith("川崎区役所") for form in forms)  # a ward office's name is no place part
    assert curated.possessive_forms(kind, {kind.name: kind}) == []
