"""Command line: ``python -m knowledge {build,search,show,check,export}``."""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from . import curated
from .sources import SourceError, load_sources


def _check(args) -> int:
    sources = load_sources()
    if not args.files:
        entities, facts = curated.load_all(sources)
        print(f"ok: {len(entities)} entities, {len(facts)} facts")
        return 0
    entities = []
    for path in sorted(curated.FACTS_DIR.glob("*.yml")):
        try:
            entities += curated.load_file(path)[0]
        except curated.CurationError:
            pass
    names = {e.name for e in entities}
    bad = 0
    for name in args.files:
        ents, facts = curated.load_file(Path(name))
        for fact in facts:
            try:
                if fact.subject not in names:
                    raise curated.CurationError(f"fact {fact.id}: subject {fact.subject!r} is not a declared entity")
                missing = [a for a in fact.about if a not in names]
                if missing:
                    raise curated.CurationError(f"fact {fact.id}: about names undeclared entities {missing}")
                curated.verify_quote(fact, sources[fact.doc])
            except curated.CurationError as exc:
                bad += 1
                print(f"ERROR {exc}")
        print(f"{name}: {len(ents)} entities, {len(facts)} facts, {bad} errors")
    return 1 if bad else 0


def _build(args) -> int:
    from .build import DEFAULT_DB, build

    build(args.db or DEFAULT_DB)
    return 0


def _train(args) -> int:
    import json

    import sqlite_utils

    from .build import DEFAULT_DB
    from .kb import KnowledgeBase
    from .train import evaluate, load_cases, train

    path = args.db or DEFAULT_DB
    kb = KnowledgeBase(path)
    cases = load_cases(facts=kb.facts)
    model = kb.answer_model() if args.report_only else train(kb, cases)
    if model is None:
        print(f"error: {path} has no answer model; run without --report-only", file=sys.stderr)
        return 2
    if not args.report_only:
        db = sqlite_utils.Database(path)
        db["answer_model"].delete_where()
        db["answer_model"].insert({"model": json.dumps(model.to_dict(), ensure_ascii=False)})
        db.conn.commit()
        print(f"trained on {model.report['train_cases']} questions; threshold {model.threshold:.3f}")
    r = evaluate(kb, model, cases)
    print(f"answerability on the held-out fifth of knowledge/answerability ({r['cases']} questions, "
          f"{r['answerable']} answerable): precision {r['precision']:.3f} ({r['right']}/{r['answered']} answers "
          f"right), recall {r['recall']:.3f} ({r['right']}/{r['answerable']}), unanswerable declined "
          f"{r['declined_unanswerable']}/{r['unanswerable']}")
    return 0


def _export(args) -> int:
    from .build import DEFAULT_DB
    from .intent_examples import DEFAULT_OUT as EXAMPLES_OUT
    from .intent_examples import export_intent_examples
    from .lexicon import DEFAULT_OUT, export_nlu

    db = args.db or DEFAULT_DB
    count = export_nlu(db, args.out or DEFAULT_OUT)
    print(f"wrote {count} variants to {args.out or DEFAULT_OUT}")
    count = export_intent_examples(db, args.examples_out or EXAMPLES_OUT)
    print(f"wrote {count} intent examples to {args.examples_out or EXAMPLES_OUT}")
    return 0


def _search(args) -> int:
    from .build import DEFAULT_DB
    from .kb import KnowledgeBase

    kb = KnowledgeBase(args.db or DEFAULT_DB)
    query = " ".join(args.query)
    print(f"facts for {query!r}:")
    for fact, _score in kb.search_facts(query, limit=args.limit):
        title = kb.documents[fact.doc]["title"]
        as_of = fact.as_of or "-"
        print(f"  [{fact.status:8s}] {fact.text}")
        print(f"             {fact.doc} L{fact.line_start}-{fact.line_end}  as of {as_of}  『{title}』  ({fact.id})")
    print(f"passages for {query!r}:")
    for row, _score in kb.search_passages(query, limit=args.limit):
        print(f"  {row['doc']} L{row['line_start']}-{row['line_end']}  {row['path'] or '-'}")
        print(f"             {row['normalized'][:160]}")
    return 0


SHOW_USAGE = ("show section NAME | show sections | show contacts | show events | show timeline | "
              "show source DOC FIRST [LAST]")


def _show(args) -> int:
    import shutil

    from . import staff
    from .build import DEFAULT_DB
    from .kb import KnowledgeBase

    kb = KnowledgeBase(args.db or DEFAULT_DB)
    width = args.width or max(shutil.get_terminal_size((120, 24)).columns, 60)
    what, rest = args.what, args.args
    if what == "section":
        if not rest:
            raise ValueError(f"show section needs a name ({SHOW_USAGE})")
        unit = staff.section(kb, " ".join(rest))
        if unit is None:
            print(f"no section, office or committee matches {' '.join(rest)!r} (try `show sections`)", file=sys.stderr)
            return 1
        print(staff.format_section(unit, width))
    elif what == "sections":
        print(staff.format_sections(staff.sections(kb), width))
    elif what == "contacts":
        print(staff.format_contacts(staff.contacts(kb), width))
    elif what == "events":
        print(staff.format_events(staff.events(kb), width))
    elif what == "timeline":
        print(staff.format_timeline(staff.timeline(kb), width))
    elif what == "source":
        if len(rest) not in (2, 3):
            raise ValueError(f"show source needs DOC FIRST [LAST] ({SHOW_USAGE})")
        doc, first, last = rest[0], rest[1], rest[-1]
        print(staff.format_source(staff.source(kb, doc, first, last, context=args.context)))
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m knowledge")
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("check", help="verify curated facts against the sources")
    p.add_argument("files", nargs="*")
    p.set_defaults(func=_check)
    p = sub.add_parser("build", help="build the SQLite knowledge base")
    p.add_argument("--db", default=None, help="output path (default knowledge/kb.sqlite or $KB_PATH)")
    p.set_defaults(func=_build)
    p = sub.add_parser("search", help="print the best facts and passages for a query")
    p.add_argument("query", nargs="+")
    p.add_argument("--db", default=None)
    p.add_argument("--limit", type=int, default=5)
    p.set_defaults(func=_search)
    p = sub.add_parser("show", help="staff quick reference: sections, contacts, events, timeline, source lines",
                       description=SHOW_USAGE)
    p.add_argument("what", choices=["section", "sections", "contacts", "events", "timeline", "source"])
    p.add_argument("args", nargs="*", help="section: NAME; source: DOC FIRST [LAST]")
    p.add_argument("--db", default=None)
    p.add_argument("--width", type=int, default=None, help="output width in columns (default: the terminal's)")
    p.add_argument("--context", type=int, default=2, help="source: lines of context on each side (default 2)")
    p.set_defaults(func=_show)
    p = sub.add_parser("train", help="retrain the answer model of a built knowledge base; print its held-out figures")
    p.add_argument("--db", default=None)
    p.add_argument("--report-only", action="store_true", help="only print the figures of the stored model")
    p.set_defaults(func=_train)
    p = sub.add_parser("export", help="write the NLU lookup tables and synonyms, and the labelled questions' "
                                      "training split as intent examples")
    p.add_argument("--db", default=None)
    p.add_argument("--out", default=None, help="lookup file (default bot/data/nlu/lookups.yml)")
    p.add_argument("--examples-out", default=None, help="intent examples (default bot/data/nlu/ask_labelled.yml)")
    p.set_defaults(func=_export)
    args = parser.parse_args(argv)
    try:
        return args.func(args)
    except (SourceError, curated.CurationError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
