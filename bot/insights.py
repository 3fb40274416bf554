"""Staff insights: what citizens ask, what the bot could not answer, which answers they rated down.

    python -m bot.insights [--since DATE] [--until DATE] [--period day|week] [--csv DIR]
                           [--endpoints endpoints.yml] [--kb knowledge/kb.sqlite]

Everything is read, never written, from the tracker store that Rasa writes
(the ``events`` table of ``bot.tracker_store.MaskingSQLTrackerStore``: SQLite
by default, PostgreSQL in scale-out; ``bot.tracker_db`` reads its settings
from the endpoints file).  User text there is already masked.  The staff page
``/staff/insights`` (``bot/web.py``) and this command both call
:func:`compute`, and both write CSV with :func:`to_csv`, so they always show
the same numbers.

How a conversation is read (``read_turns``):

* A **turn** is one user event and the bot events after it.  Its outcome is
  the ``status`` of its status message (``bot/actions/replies.py``):
  ``answered``, ``not_found``, ``clarify``, ``smalltalk`` or ``rated``; a
  turn with no status message is ``unavailable`` (the action server was down
  or failed, so the citizen got the channel's apology).
* A **question** is a turn that is answered, not_found, clarify or
  unavailable; greetings and other small talk, payloads such as ``/greet``,
  and ratings are not questions.
* A **conversation** is a Rasa session (``session_started`` starts one) with
  at least one question; it counts in the period of its first question.
* A **rating** is a ``rate_answer`` turn (``bot/ratings.py``).  It counts
  when the answer with its id is a question of the same sender (any session)
  that was answered or not_found; when an answer was rated more than once,
  only the last rating counts, in the period it was given.
* Days and weeks (Monday to Sunday) are in Japan time (:data:`TIMEZONE`);
  ``since`` and ``until`` are inclusive dates.
* **Retention**: a conversation whose last event is older than the store's
  ``retention_days`` is left out even before Rasa's hourly prune deletes it.

Tables (each a list of dicts; the column keys and Japanese headers are in
:data:`COLUMNS`): ``periods`` (one row per day or week, with every day or
week of the range), ``unanswered`` (not_found questions grouped so that
near-identical ones count as one: rapidfuzz ``ratio`` >= :data:`SIMILARITY`
on NFKC-folded text), ``down_rated`` (answers rated down at least once,
grouped by the facts they state, else by their text).
"""
from __future__ import annotations

import argparse
import csv
import datetime as dt
import io
import json
import os
import sys
import time
import unicodedata
from collections import Counter, defaultdict
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from rapidfuzz import fuzz, process
from rapidfuzz.utils import default_process

from bot import ratings, tracker_db

TIMEZONE = ZoneInfo("Asia/Tokyo")
OUTCOMES = ("answered", "not_found", "clarify", "unavailable")
# the intents action_smalltalk answers (bot/actions/smalltalk.py RESPONSES; a test keeps them equal)
SMALLTALK_INTENTS = frozenset({"greet", "goodbye", "thanks", "bot_challenge", "affirm", "deny"})
SIMILARITY = 88.0  # rapidfuzz ratio (0-100) from which two unanswered questions are one
MAX_VARIANTS = 5  # other wordings listed per group of unanswered questions
MAX_DAYS = 800  # most days one request may span (about two years)
EVENT_TYPES = ("user", "bot", "session_started")
PERIODS = ("day", "week")

# (key, header) of each table's columns, in order: the page, the CSV files and the terminal use them.
COLUMNS: dict[str, list[tuple[str, str]]] = {
    "periods": [
        ("period", "期間"), ("conversations", "会話数"), ("questions", "質問数"),
        ("answered", "回答"), ("not_found", "資料に記載なし"), ("clarify", "聞き返し"), ("unavailable", "応答不能"),
        ("answered_pct", "回答の割合(%)"), ("not_found_pct", "記載なしの割合(%)"),
        ("clarify_pct", "聞き返しの割合(%)"), ("unavailable_pct", "応答不能の割合(%)"),
        ("ratings_up", "役に立った"), ("ratings_down", "役に立たなかった"),
    ],
    "unanswered": [
        ("count", "件数"), ("first_seen", "初回"), ("last_seen", "最終"), ("example", "質問の例"),
        ("intent", "NLUの推定意図"), ("variants", "ほかの言い方"),
    ],
    "down_rated": [
        ("down", "役に立たなかった"), ("up", "役に立った"), ("status", "回答の種類"), ("question", "質問"),
        ("answer", "回答"), ("facts", "使った記載"), ("sources", "出典"), ("last_rated", "最終評価"),
    ],
}
TABLE_TITLES = {"periods": "期間ごとの集計", "unanswered": "答えられなかった質問",
                "down_rated": "「役に立たなかった」の多い回答"}


class InsightsError(RuntimeError):
    """The tracker store cannot be read (missing file, wrong settings, database down)."""


class NoConversations(InsightsError):
    """The tracker store's SQLite file does not exist yet (nothing was stored)."""


@dataclass
class Turn:
    """One user event and the bot's reply to it, as stored (text masked).

    ``conversation`` is (sender id, session number) and never leaves this
    module; ``at`` is the user event's time (Unix seconds); ``status`` as in
    the module docstring; ``answer_id``, ``facts`` (fact ids) and ``sources``
    come from the status message; ``reply`` is the bot's first text;
    ``rating`` is (rating, answer id) for a ``rate_answer`` turn.
    """

    conversation: tuple[str, int]
    at: float
    text: str
    intent: str | None
    status: str | None = None
    answer_id: str | None = None
    facts: list[str] = field(default_factory=list)
    sources: list[dict] = field(default_factory=list)
    reply: str = ""
    rating: tuple[str, str] | None = None

    @property
    def is_question(self) -> bool:
        """Whether this turn counts as a question (see the module docstring)."""
        if self.intent == ratings.RATE_INTENT or self.status not in OUTCOMES:
            return False
        if self.status == "unavailable":
            return not (self.intent in SMALLTALK_INTENTS or self.text.startswith("/"))
        return True


# --------------------------------------------------------------------------- reading the store

_EVENTS = sa.table("events", sa.column("id"), sa.column("sender_id"), sa.column("type_name"),
                   sa.column("timestamp"), sa.column("data"))


def open_store(settings: tracker_db.TrackerDB) -> sa.engine.Engine:
    """A read-only engine on the tracker store's database.

    SQLite is opened with ``mode=ro``; PostgreSQL connections run read-only
    transactions.

    Raises:
        NoConversations: the SQLite file does not exist (Rasa has not stored
            a conversation yet, or ``TRACKER_DB`` names another file).
    """
    if settings.is_sqlite and settings.db != ":memory:" and not Path(settings.db).is_file():
        raise NoConversations(f"no conversations stored yet: {settings.db} does not exist")
    options: dict[str, Any] = {}
    if settings.dialect.startswith("postgresql"):
        options["execution_options"] = {"postgresql_readonly": True}
        options["connect_args"] = {"connect_timeout": 10}
    return sa.create_engine(settings.url(read_only=True), future=True, **options)


def _epoch(day: dt.date) -> float:
    return dt.datetime.combine(day, dt.time(), TIMEZONE).timestamp()


def read_turns(engine: sa.engine.Engine, since: dt.date | None = None, until: dt.date | None = None,
               retention_days: float = 0.0, now: float | None = None) -> list[Turn]:
    """Every turn of the conversations that have an event between ``since``
    and ``until`` (inclusive Japan-time dates, None: no bound) and are within
    the retention period (``retention_days`` before ``now``, Unix seconds;
    0: no limit), in order of sender and time.  Turns outside the dates are
    included (a rating may be given days after its answer); :func:`compute`
    filters them.

    Raises:
        InsightsError: the database cannot be read.
    """
    now = time.time() if now is None else now
    senders = sa.select(_EVENTS.c.sender_id).group_by(_EVENTS.c.sender_id)
    last = sa.func.max(_EVENTS.c.timestamp)
    if retention_days:
        senders = senders.having(last >= now - retention_days * 86400.0)
    if since is not None:
        senders = senders.having(last >= _epoch(since))
    if until is not None:
        senders = senders.having(sa.func.min(_EVENTS.c.timestamp) < _epoch(until + dt.timedelta(days=1)))
    query = (sa.select(_EVENTS.c.sender_id, _EVENTS.c.type_name, _EVENTS.c.timestamp, _EVENTS.c.data)
             .where(_EVENTS.c.type_name.in_(EVENT_TYPES), _EVENTS.c.sender_id.in_(senders.scalar_subquery()))
             .order_by(_EVENTS.c.sender_id, _EVENTS.c.timestamp, _EVENTS.c.id))
    try:
        with engine.connect() as conn:
            rows = conn.execution_options(stream_results=True).execute(query)
            return list(_turns(rows))
    except sa.exc.SQLAlchemyError as err:
        reason = err.args[0] if err.args else err
        raise InsightsError(f"the tracker store cannot be read: {type(err).__name__}: {reason}") from err


def _turns(rows: Iterable[Any]) -> Iterator[Turn]:
    """Turns from ``(sender_id, type_name, timestamp, data)`` rows ordered by sender and time."""
    sender, session, turn = None, 0, None
    for row_sender, kind, timestamp, blob in rows:
        if row_sender != sender:
            if turn is not None:
                yield _finish(turn)
            sender, session, turn = row_sender, 0, None
        try:
            data = json.loads(blob) if isinstance(blob, str) else {}
        except ValueError:
            data = {}
        data = data if isinstance(data, dict) else {}
        if kind == "session_started":
            if turn is not None:  # a new session: bot events before its first user event are nobody's reply
                yield _finish(turn)
            session, turn = session + 1, None
        elif kind == "user":
            if turn is not None:
                yield _finish(turn)
            turn = _user_turn((sender, session), float(timestamp or 0.0), data)
        elif kind == "bot" and turn is not None:
            _add_bot_event(turn, data)
    if turn is not None:
        yield _finish(turn)


def _user_turn(conversation: tuple[str, int], at: float, data: dict) -> Turn:
    parse = data.get("parse_data") if isinstance(data.get("parse_data"), dict) else {}
    intent = (parse.get("intent") or {}).get("name") if isinstance(parse.get("intent"), dict) else None
    text = data.get("text") if isinstance(data.get("text"), str) else ""
    turn = Turn(conversation, at, text, intent)
    if intent == ratings.RATE_INTENT:
        turn.rating = ratings.from_entities(parse.get("entities"))
    return turn


def _add_bot_event(turn: Turn, data: dict) -> None:
    extra = data.get("data") if isinstance(data.get("data"), dict) else {}
    status = extra.get("custom")
    if isinstance(status, dict) and isinstance(status.get("status"), str):
        if turn.status is None:  # the first status message of the turn is the turn's
            turn.status = status["status"]
            answer_id = status.get(ratings.ANSWER_ENTITY)
            turn.answer_id = answer_id if isinstance(answer_id, str) else None
            turn.facts = [str(f) for f in status.get("facts") or [] if isinstance(f, (str, int))]
            turn.sources = [s for s in status.get("sources") or [] if isinstance(s, dict)]
        return
    if not turn.reply and isinstance(data.get("text"), str):
        turn.reply = data["text"]


def _finish(turn: Turn) -> Turn:
    if turn.status is None:
        turn.status = "unavailable"
    return turn


# --------------------------------------------------------------------------- computing

def local(at: float) -> dt.datetime:
    """Unix seconds as a Japan-time datetime."""
    return dt.datetime.fromtimestamp(at, TIMEZONE)


def period_start(day: dt.date, period: str) -> dt.date:
    """The first day of the day or week (Monday) holding ``day``."""
    return day - dt.timedelta(days=day.weekday()) if period == "week" else day


def _pct(part: int, whole: int) -> float:
    return round(100.0 * part / whole, 1) if whole else 0.0


def _time_label(at: float) -> str:
    return local(at).strftime("%Y-%m-%d %H:%M")


def check_range(since: dt.date | None, until: dt.date | None, period: str = "day") -> None:
    """Raises ValueError for an unknown ``period``, ``since`` after ``until``,
    or more than :data:`MAX_DAYS` days between them."""
    if period not in PERIODS:
        raise ValueError(f"period must be one of {PERIODS}, not {period!r}")
    if since and until and since > until:
        raise ValueError("since must not be after until")
    if since and until and (until - since).days >= MAX_DAYS:
        raise ValueError(f"choose at most {MAX_DAYS} days")


def compute(turns: Iterable[Turn], since: dt.date | None = None, until: dt.date | None = None,
            period: str = "day", facts: Any | None = None) -> dict:
    """The insights over ``turns`` (from :func:`read_turns`) between ``since``
    and ``until`` (inclusive Japan-time dates; None: from the first / to the
    last turn).

    Args:
        period: "day" or "week".
        facts: a callable ``fact id -> dict`` (e.g. the staff view of a
            knowledge-base fact, ``knowledge.staff.fact_dict``), or None; a
            fact it does not know (returns None) is shown as ``{"id": id}``.

    Returns:
        ``{"since", "until" (ISO dates or None), "period", "timezone",
        "totals": {...}, "periods": [...], "unanswered": [...],
        "down_rated": [...]}``; the rows have the keys of :data:`COLUMNS`
        (``down_rated`` rows also ``facts_detail`` and ``sources_detail``,
        ``unanswered`` rows ``variants`` as a list).

    Raises:
        ValueError: an unknown period, ``since`` after ``until``, or a range
            of more than :data:`MAX_DAYS` days.
    """
    check_range(since, until, period)
    turns = list(turns)
    start = _epoch(since) if since else float("-inf")
    end = _epoch(until + dt.timedelta(days=1)) if until else float("inf")

    def in_range(at: float) -> bool:
        return start <= at < end

    questions = [t for t in turns if t.is_question and in_range(t.at)]
    by_answer = {(t.conversation[0], t.answer_id): t for t in turns
                 if t.is_question and t.answer_id and t.status in ratings.RATEABLE_STATUSES}
    last_rating: dict[tuple[str, str], tuple[Turn, str]] = {}
    for turn in turns:  # in time order per sender: the last rating of an answer wins
        if turn.rating and (turn.conversation[0], turn.rating[1]) in by_answer:
            last_rating[(turn.conversation[0], turn.rating[1])] = (turn, turn.rating[0])
    rated = [(when, value, by_answer[key]) for key, (when, value) in last_rating.items() if in_range(when.at)]

    first_day = min([local(t.at).date() for t in questions] + [local(w.at).date() for w, _, _ in rated], default=None)
    last_day = max([local(t.at).date() for t in questions] + [local(w.at).date() for w, _, _ in rated], default=None)
    first_day, last_day = since or first_day, until or last_day
    if (since or until) and first_day and last_day and (last_day - first_day).days >= MAX_DAYS:
        raise ValueError(f"choose at most {MAX_DAYS} days")

    rows: dict[dt.date, dict] = {}
    if first_day and last_day:
        day = period_start(first_day, period)
        while day <= last_day:
            rows[day] = _empty_row(day)
            day += dt.timedelta(days=7 if period == "week" else 1)
    seen_conversations: set[tuple[str, int]] = set()
    for turn in sorted(questions, key=lambda t: t.at):
        row = rows[period_start(local(turn.at).date(), period)]
        row["questions"] += 1
        row[turn.status] += 1
        if turn.conversation not in seen_conversations:
            seen_conversations.add(turn.conversation)
            row["conversations"] += 1
    for when, value, _answer in rated:
        rows[period_start(local(when.at).date(), period)]["ratings_" + value] += 1
    periods = [_with_shares(row) for row in rows.values()]
    totals = _empty_row(None)
    for row in periods:
        for key in ("conversations", "questions", *OUTCOMES, "ratings_up", "ratings_down"):
            totals[key] += row[key]
    totals = _with_shares(totals)
    del totals["period"]
    return {
        "since": since.isoformat() if since else None, "until": until.isoformat() if until else None,
        "period": period, "timezone": str(TIMEZONE), "totals": totals, "periods": periods,
        "unanswered": unanswered_groups([t for t in questions if t.status == "not_found"]),
        "down_rated": down_rated_answers(rated, facts),
    }


def _empty_row(day: dt.date | None) -> dict:
    return {"period": day.isoformat() if day else None, "conversations": 0, "questions": 0,
            **{k: 0 for k in OUTCOMES}, "ratings_up": 0, "ratings_down": 0}


def _with_shares(row: dict) -> dict:
    out = {key: row[key] for key in ("period", "conversations", "questions", *OUTCOMES)}
    out.update({f"{k}_pct": _pct(row[k], row["questions"]) for k in OUTCOMES})
    out.update(ratings_up=row["ratings_up"], ratings_down=row["ratings_down"])
    return out


def fold(text: str) -> str:
    """The form two questions are compared in: NFKC, lower case, symbols and
    spaces dropped (rapidfuzz's ``default_process`` after NFKC)."""
    return "".join(default_process(unicodedata.normalize("NFKC", text or "")).split())


def unanswered_groups(turns: Iterable[Turn]) -> list[dict]:
    """not_found questions grouped so that near-identical wordings count as one.

    Each distinct folded text (most frequent first) joins the first group
    whose first text it matches with rapidfuzz ``ratio`` >= :data:`SIMILARITY`,
    else starts a group.  Returns rows ``{"count", "first_seen",
    "last_seen", "example" (the commonest wording of the group's commonest
    folded form, masked as stored), "intent" (the NLU intent guessed most
    often), "variants" (up to :data:`MAX_VARIANTS` other wordings)}``, the
    biggest groups first, then the most recent.
    """
    by_text: dict[str, list[Turn]] = defaultdict(list)
    for turn in turns:
        by_text[fold(turn.text) or turn.text].append(turn)
    order = sorted(by_text, key=lambda k: (-len(by_text[k]), min(t.at for t in by_text[k])))
    leaders: list[str] = []
    members: dict[str, list[str]] = {}
    for key in order:
        match = process.extractOne(key, leaders, scorer=fuzz.ratio, score_cutoff=SIMILARITY) if leaders else None
        if match is None:
            leaders.append(key)
            members[key] = [key]
        else:
            members[match[0]].append(key)
    groups = []
    for leader in leaders:
        group = [t for key in members[leader] for t in by_text[key]]
        wordings = Counter(t.text for t in group)
        folded = Counter(fold(t.text) or t.text for t in group)
        latest = {t.text: t.at for t in sorted(group, key=lambda t: t.at)}
        # the example is the commonest wording of the commonest form; then the other wordings
        ranked = sorted(wordings, key=lambda w: (-folded[fold(w) or w], -wordings[w], -latest[w]))
        intents = Counter(t.intent or "" for t in group)
        last = max(t.at for t in group)
        groups.append((-len(group), -last, {
            "count": len(group),
            "first_seen": _time_label(min(t.at for t in group)),
            "last_seen": _time_label(last),
            "example": ranked[0],
            "intent": sorted(intents, key=lambda i: (-intents[i], i))[0],
            "variants": ranked[1:1 + MAX_VARIANTS],
        }))
    return [row for *_, row in sorted(groups, key=lambda g: g[:2])]


def down_rated_answers(rated: Iterable[tuple[Turn, str, Turn]], facts: Any | None = None) -> list[dict]:
    """Answers rated down at least once, most down-ratings first.

    ``rated`` holds (rating turn, "up" | "down", rated question turn), one per
    answer (its last rating).  Answers are grouped by their status and fact
    ids, or, with no facts, by their text.  Each row: ``{"down", "up",
    "status", "question" (the latest down-rated question, masked), "answer"
    (that reply's text), "facts" / "sources" (one line each, for CSV),
    "facts_detail" (fact dicts, see :func:`compute`), "sources_detail"
    (``{"doc", "lines", "as_of", "status"}``), "last_rated"}``.
    """
    groups: dict[tuple, dict] = {}
    for when, value, answer in sorted(rated, key=lambda r: r[0].at):
        key = (answer.status, tuple(answer.facts)) if answer.facts else (answer.status, answer.reply)
        group = groups.setdefault(key, {"down": 0, "up": 0, "status": answer.status, "question": answer.text,
                                        "answer": answer.reply, "facts_": answer.facts,
                                        "sources_detail": answer.sources, "last_rated": when.at})
        group[value] += 1
        group["last_rated"] = max(group["last_rated"], when.at)
        if value == ratings.DOWN:
            group.update(question=answer.text, answer=answer.reply, sources_detail=answer.sources)
    rows = []
    for group in groups.values():
        if not group["down"]:
            continue
        detail = [_fact(fact_id, facts) for fact_id in group.pop("facts_")]
        group["facts_detail"] = detail
        group["facts"] = " | ".join(f"{d['id']}: {d['text']}" if d.get("text") else d["id"] for d in detail)
        group["sources"] = " | ".join(_cite(s) for s in group["sources_detail"])
        last = group["last_rated"]
        group["last_rated"] = _time_label(last)
        rows.append((-group["down"], group["up"], -last, group))
    return [row for *_, row in sorted(rows, key=lambda r: r[:3])]


def _fact(fact_id: str, facts: Any | None) -> dict:
    found = None
    if facts is not None:
        try:
            found = facts(fact_id)
        except (KeyError, LookupError):
            found = None
    return found if isinstance(found, dict) else {"id": fact_id}


def _cite(source: dict) -> str:
    lines = source.get("lines") or []
    span = "-".join(str(n) for n in lines[:2]) if lines else ""
    return f"{source.get('doc', '')}:{span} ({source.get('as_of') or '-'})"


def kb_facts(kb: Any):
    """``fact id -> staff fact dict`` over a ``knowledge.kb.KnowledgeBase``
    (``knowledge.staff.fact_dict``); None for an id the knowledge base does
    not have (it may have been rebuilt since)."""
    from knowledge import staff

    def lookup(fact_id: str) -> dict | None:
        fact = kb.facts.get(fact_id)
        return staff.fact_dict(kb, fact) if fact is not None else None

    return lookup


def insights(settings: tracker_db.TrackerDB, since: dt.date | None = None, until: dt.date | None = None,
             period: str = "day", facts: Any | None = None, now: float | None = None,
             engine: sa.engine.Engine | None = None) -> dict:
    """Read the store named by ``settings`` and :func:`compute` the insights
    (the one function behind the page and the command).  ``engine`` reuses
    an engine from :func:`open_store`.  The result also has ``"store"`` (the
    dialect) and ``"retention_days"``.

    Raises:
        InsightsError: the store cannot be read.
        ValueError: bad ``period`` or dates (see :func:`compute`).
    """
    check_range(since, until, period)  # before reading anything
    own = engine is None
    engine = open_store(settings) if own else engine
    try:
        turns = read_turns(engine, since, until, settings.retention_days, now)
    finally:
        if own:
            engine.dispose()
    result = compute(turns, since, until, period, facts)
    result.update(store=settings.dialect, retention_days=settings.retention_days)
    return result


# --------------------------------------------------------------------------- CSV and the terminal

_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def _cell(value: Any) -> str:
    """A CSV cell; text that a spreadsheet would run as a formula gets a leading ``'``."""
    if value is None:
        return ""
    if isinstance(value, list):
        value = " / ".join(str(v) for v in value)
    text = str(value)
    if isinstance(value, str) and text.startswith(_FORMULA_START):
        return "'" + text
    return text


def to_csv(result: dict, table: str) -> bytes:
    """One table of ``result`` (from :func:`compute`) as CSV: UTF-8 with a
    byte-order mark (so that Excel reads Japanese), Japanese headers from
    :data:`COLUMNS`, CRLF line ends.

    Raises:
        KeyError: no such table.
    """
    columns = COLUMNS[table]
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow([header for _, header in columns])
    for row in result[table]:
        writer.writerow([_cell(row.get(key)) for key, _ in columns])
    return out.getvalue().encode("utf-8-sig")


def format_text(result: dict, width: int = 120) -> str:
    """The three tables for a terminal (Japanese columns aligned)."""
    from knowledge.staff import format_table

    totals = result["totals"]
    scope = f"{result['since'] or '最初'} 〜 {result['until'] or '最後'}（{result['timezone']}、" \
            f"{'日' if result['period'] == 'day' else '週'}ごと）"
    lines = [f"期間: {scope}",
             f"会話 {totals['conversations']}件、質問 {totals['questions']}件: 回答 {totals['answered']}"
             f"（{totals['answered_pct']}%）、記載なし {totals['not_found']}（{totals['not_found_pct']}%）、"
             f"聞き返し {totals['clarify']}（{totals['clarify_pct']}%）、応答不能 {totals['unavailable']}"
             f"（{totals['unavailable_pct']}%）; 評価 役に立った {totals['ratings_up']}、"
             f"役に立たなかった {totals['ratings_down']}"]
    for table in COLUMNS:
        keys = [key for key, _ in COLUMNS[table]]
        rows = [[_cell(row.get(k)) for k in keys] for row in result[table]]
        lines += ["", f"■ {TABLE_TITLES[table]}（{len(rows)}件）"]
        if rows:
            # the questions are shown whole; other long cells are cut at 40 columns
            lines.append(format_table([h for _, h in COLUMNS[table]], rows, total_width=width,
                                      max_widths=[None if k in ("example", "question") else 40 for k in keys]))
    return "\n".join(lines)


def write_csv(result: dict, directory: Path | str) -> list[Path]:
    """Write ``periods.csv``, ``unanswered.csv`` and ``down_rated.csv`` into
    ``directory`` (created if needed); the paths written."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    written = []
    for table in COLUMNS:
        path = directory / f"{table}.csv"
        path.write_bytes(to_csv(result, table))
        written.append(path)
    return written


def parse_date(value: str | None) -> dt.date | None:
    """An ISO date (``2026-11-21``) or None for an empty value.

    Raises:
        ValueError: not such a date.
    """
    value = (value or "").strip()
    if not value:
        return None
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        raise ValueError(f"not a date (YYYY-MM-DD): {value[:20]!r}") from None


def main(argv: list[str] | None = None) -> int:
    """The command line (see the module docstring); exit status 0, or 2 on bad input or an unreadable store."""
    parser = argparse.ArgumentParser(prog="python -m bot.insights",
                                     description="staff insights from the stored conversations")
    parser.add_argument("--since", help="first day, YYYY-MM-DD (Japan time; default: the first stored)")
    parser.add_argument("--until", help="last day, YYYY-MM-DD (default: the last stored)")
    parser.add_argument("--period", choices=PERIODS, default="day", help="rows per day or per week")
    parser.add_argument("--csv", metavar="DIR", help="also write periods.csv, unanswered.csv, down_rated.csv here")
    parser.add_argument("--endpoints", default=str(tracker_db.DEFAULT_ENDPOINTS),
                        help="endpoints file naming the tracker store (default endpoints.yml)")
    parser.add_argument("--kb", default=None, help="knowledge base for the facts' text "
                        "(default $KB_PATH or knowledge/kb.sqlite; facts are shown by id without it)")
    args = parser.parse_args(argv)
    try:
        since, until = parse_date(args.since), parse_date(args.until)
        settings = tracker_db.from_endpoints(args.endpoints)
        result = insights(settings, since, until, args.period, _facts_from(args.kb))
    except (ValueError, FileNotFoundError, InsightsError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    print(format_text(result))
    if args.csv:
        for path in write_csv(result, args.csv):
            print(f"wrote {path}")
    return 0


def _facts_from(kb_path: str | None):
    from knowledge.build import DEFAULT_DB
    from knowledge.kb import KnowledgeBase, KnowledgeBaseError

    path = kb_path or os.environ.get("KB_PATH") or str(DEFAULT_DB)
    try:
        return kb_facts(KnowledgeBase(path))
    except KnowledgeBaseError as err:
        if kb_path:
            raise ValueError(str(err)) from err
        print(f"note: {err}; facts are shown by id", file=sys.stderr)
        return None


if __name__ == "__main__":
    sys.exit(main())
