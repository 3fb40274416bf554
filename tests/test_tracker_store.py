"""The SQLite tracker store's write settings (WAL, synchronous=NORMAL) and
several processes (Sanic workers) starting on one new file at once."""
from __future__ import annotations

import multiprocessing
import sqlite3

import pytest
from conftest import run_coroutine as run
from rasa.shared.core.domain import Domain
from rasa.shared.core.events import UserUttered
from rasa.shared.core.trackers import DialogueStateTracker

from bot.tracker_store import MaskingSQLTrackerStore

SYNCHRONOUS = {0: "OFF", 1: "NORMAL", 2: "FULL", 3: "EXTRA"}


def pragmas(store: MaskingSQLTrackerStore) -> tuple[str, str, int]:
    """journal_mode, synchronous and secure_delete as the store's own connections see them."""
    with store.engine.connect() as conn:
        raw = conn.connection
        cur = raw.cursor()
        values = [cur.execute(f"PRAGMA {name}").fetchone()[0]
                  for name in ("journal_mode", "synchronous", "secure_delete")]
        cur.close()
    return values[0], SYNCHRONOUS[values[1]], values[2]


def save_and_read(store: MaskingSQLTrackerStore, sender: str) -> str:
    run(store.save(DialogueStateTracker.from_events(sender, [UserUttered("こんにちは")])))
    return run(store.retrieve(sender)).latest_message.text


def test_wal_and_normal_sync_by_default(tmp_path):
    store = MaskingSQLTrackerStore(Domain.empty(), db=str(tmp_path / "w.db"), retention_days=0)
    assert pragmas(store) == ("wal", "NORMAL", 1)
    assert save_and_read(store, "s") == "こんにちは"
    assert (tmp_path / "w.db-wal").exists()
    # WAL is kept in the file: another connection sees it too
    assert sqlite3.connect(tmp_path / "w.db").execute("PRAGMA journal_mode").fetchone()[0] == "wal"


@pytest.mark.parametrize("value", [False, "false", "0"])
def test_sqlite_wal_false_keeps_sqlites_defaults(tmp_path, value):
    store = MaskingSQLTrackerStore(Domain.empty(), db=str(tmp_path / "d.db"), retention_days=0, sqlite_wal=value)
    assert pragmas(store) == ("delete", "FULL", 1)
    assert save_and_read(store, "s") == "こんにちは"


def _start_store(db: str, sender: str, queue) -> None:
    try:
        queue.put(save_and_read(MaskingSQLTrackerStore(Domain.empty(), db=db, retention_days=30), sender))
    except Exception as exc:  # reported to the test, which fails on it
        queue.put(f"{type(exc).__name__}: {exc}")


def test_workers_starting_together_on_a_new_file(tmp_path):
    """Sanic workers fork and create their stores at the same moment: no
    "table already exists", every one can write and read."""
    ctx = multiprocessing.get_context("fork")
    queue = ctx.Queue()
    db = str(tmp_path / "new.db")
    procs = [ctx.Process(target=_start_store, args=(db, f"w{i}", queue)) for i in range(4)]
    for proc in procs:
        proc.start()
    results = [queue.get(timeout=120) for _ in procs]
    for proc in procs:
        proc.join(timeout=30)
    assert results == ["こんにちは"] * 4
    assert sqlite3.connect(db).execute("SELECT count(DISTINCT sender_id) FROM events").fetchone()[0] == 4
