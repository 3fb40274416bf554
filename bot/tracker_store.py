"""An SQL tracker store that keeps no personal data and forgets old conversations.

``endpoints.yml``::

    tracker_store:
      type: bot.tracker_store.MaskingSQLTrackerStore
      dialect: sqlite
      db: "${TRACKER_DB}"        # unset or empty -> results/tracker.db
      retention_days: 30

* Before a ``user`` event is written (and before it is published to an event
  broker, if one is configured), its ``text``, ``parse_data.text``, the
  values of entities found inside a masked span, and string values in its
  ``metadata`` are masked with :func:`bot.privacy.mask` (phone numbers,
  e-mail addresses, individual numbers, addresses).  Entity offsets are moved
  to the masked text.  Bot utterances are stored as they are: they hold the
  office's published contacts, not the user's.
* Rasa saves the tracker AFTER the turn's actions have run, so the action
  server still sees the message as typed and the answer is the same; only
  what is written (and read back in later turns) is masked.
* Conversations whose last event is older than ``retention_days`` are
  deleted when the store starts and then at most once an hour, on save
  (``retention_days: 0`` keeps them forever).  On SQLite, ``secure_delete``
  is on, so deleted events are overwritten in the file.
* On SQLite the file is in WAL mode with ``synchronous=NORMAL``
  (``sqlite_wal: true``, the default): a commit appends to the write-ahead
  log and is not synced to disk, which makes each turn's write cheaper.  The
  trade: on a power loss or OS crash the last turns may be lost, never the
  file (a crash of Rasa alone loses nothing).  WAL also lets several worker
  processes share the file (readers do not block the writer).
  ``sqlite_wal: false`` keeps SQLite's defaults (rollback journal, full
  sync), as before; ``make bench`` uses it for today's configuration.
  Several processes starting at once (Sanic workers) create the tables one
  after the other (a lock file next to the database).
* Importing this module applies ``bot.rasa_patches`` (the Rasa server loads
  it through ``endpoints.yml``).
* Importing this module installs :data:`bot.privacy.LOG_FILTER` on the log
  handlers, so Rasa's own log lines (which may quote the user) are masked.

Rasa expands an unquoted ``${VAR}`` itself and refuses to start when it is
unset; quoted values reach this class as written and are expanded here, an
unset variable meaning the default.  A relative ``db`` path is relative to
the project root.
"""
from __future__ import annotations

import copy
import fcntl
import json
import logging
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from rasa.core.brokers.broker import EventBroker
from rasa.core.tracker_store import SQLTrackerStore
from rasa.shared.core.domain import Domain
from rasa.shared.core.events import Event
from rasa.shared.core.trackers import DialogueStateTracker
from rasa.shared.nlu.constants import INTENT_NAME_KEY

from bot import privacy, rasa_patches, tracker_db
from bot.channels.line_api import resolve_setting

logger = logging.getLogger(__name__)
DEFAULT_RETENTION_DAYS = tracker_db.DEFAULT_RETENTION_DAYS
PRUNE_INTERVAL = 3600.0  # seconds between two prunes while running

privacy.install_log_filter()
rasa_patches.apply()


def mask_event(data: dict[str, Any]) -> dict[str, Any]:
    """A copy of the serialised event ``data`` with the user's personal data
    masked (only ``user`` and ``entities`` events change)."""
    kind = data.get("event")
    if kind not in ("user", "entities"):
        return data
    data = copy.deepcopy(data)
    if kind == "entities":
        data["entities"] = [_mask_entity(e, None, None) for e in data.get("entities") or []]
        return data
    text = data.get("text")
    spans = privacy.find(text) if isinstance(text, str) else []
    if spans:
        data["text"] = privacy.apply(text, spans)
    parse_data = data.get("parse_data")
    if isinstance(parse_data, dict):
        pd_text = parse_data.get("text")
        pd_spans = spans if pd_text == text else (privacy.find(pd_text) if isinstance(pd_text, str) else [])
        if pd_spans:
            parse_data["text"] = privacy.apply(pd_text, pd_spans)
        mapper = privacy.offset_mapper(pd_text, pd_spans) if pd_spans else None
        parse_data["entities"] = [_mask_entity(e, pd_spans, mapper) for e in parse_data.get("entities") or []]
        if mapper and isinstance(parse_data.get("text_tokens"), list):
            parse_data["text_tokens"] = [_remap_pair(t, mapper) for t in parse_data["text_tokens"]]
    if data.get("metadata"):
        data["metadata"] = privacy.mask_value(data["metadata"])
    return data


def _remap_pair(pair: Any, mapper) -> Any:
    try:
        start, end = pair
        return [mapper(int(start)), mapper(int(end), end=True)]
    except (TypeError, ValueError):
        return pair


def _mask_entity(entity: Any, spans: list[privacy.Span] | None, mapper) -> Any:
    """The entity with its value masked: the tag of the masked span it was
    taken from, else ``mask(value)``; offsets moved to the masked text."""
    if not isinstance(entity, dict):
        return entity
    entity = dict(entity)
    start, end = entity.get("start"), entity.get("end")
    inside = None
    if spans and isinstance(start, int) and isinstance(end, int):
        inside = next((s for s in spans if start < s.end and s.start < end), None)
    if inside is not None:
        entity["value"] = inside.tag
    else:
        entity["value"] = privacy.mask_value(entity.get("value"))
    if mapper and isinstance(start, int) and isinstance(end, int):
        entity["start"], entity["end"] = mapper(start), mapper(end, end=True)
    return entity


class MaskingSQLTrackerStore(SQLTrackerStore):
    """``SQLTrackerStore`` that masks personal data and prunes old conversations
    (see the module docstring)."""

    def __init__(self, domain: Domain | None = None, dialect: str = "sqlite", host: str | None = None,
                 port: int | None = None, db: str | None = None, username: str = None,
                 password: str = None, event_broker: EventBroker | None = None,
                 login_db: str | None = None, query: dict | None = None,
                 retention_days: Any = DEFAULT_RETENTION_DAYS, sqlite_wal: Any = True, **kwargs: Any) -> None:
        settings = tracker_db.resolve(dialect, db, retention_days)  # the same reading as bot.insights
        dialect, db, days = settings.dialect, settings.db, settings.retention_days
        if settings.is_sqlite and db != ":memory:":
            Path(db).parent.mkdir(parents=True, exist_ok=True)
        self.retention_days = days
        self.sqlite_wal = resolve_setting(sqlite_wal, "true").lower() not in ("false", "0", "no", "off")
        self._last_prune = 0.0
        privacy.install_log_filter()
        with _one_at_a_time(db if dialect == "sqlite" and db != ":memory:" else None):
            super().__init__(domain, dialect, resolve_setting(host) or None, port, db,
                             resolve_setting(username) or None, resolve_setting(password) or None,
                             event_broker, login_db, query, **kwargs)
            if self.engine.dialect.name == "sqlite":
                if db != ":memory:":
                    self._keep_connections()
                sa.event.listen(self.engine, "connect", _sqlite_pragmas if self.sqlite_wal else _secure_delete)
                self.engine.dispose()  # pooled connections get the pragmas on reconnect
            self.db = db
            removed = self.prune()
        logger.info("Tracker store: %s (user text masked; conversations kept %s; %d expired removed at start)",
                    db if dialect == "sqlite" else dialect,
                    f"{days:g} days" if days else "forever", removed)

    def _keep_connections(self) -> None:
        """Keep SQLite connections open in a pool (SQLAlchemy 1.4 opens and
        closes one per session for a file): no reconnect and pragmas per
        turn, and the WAL is not checkpointed and deleted each time the last
        connection closes.  The tracker store runs on the event loop's
        thread; a pooled connection is used by one thread at a time."""
        old = self.engine
        self.engine = sa.create_engine(old.url, poolclass=sa.pool.QueuePool,
                                       connect_args={"check_same_thread": False})
        old.dispose()
        self.sessionmaker = sa.orm.session.sessionmaker(bind=self.engine)

    # ------------------------------------------------------------ retention

    def prune(self, now: float | None = None) -> int:
        """Delete every conversation whose last event is older than
        ``retention_days``; the number of conversations deleted."""
        now = time.time() if now is None else now
        self._last_prune = time.monotonic()
        if not self.retention_days:
            return 0
        cutoff = now - self.retention_days * 86400.0
        event = self.SQLEvent
        with self.session_scope() as session:
            expired = [sender for (sender,) in session.query(event.sender_id).group_by(event.sender_id)
                       .having(sa.func.max(event.timestamp) < cutoff).all()]
            for start in range(0, len(expired), 500):
                session.query(event).filter(event.sender_id.in_(expired[start:start + 500])) \
                    .delete(synchronize_session=False)
            session.commit()
        if expired:
            logger.info("Tracker store: %d conversation(s) older than %g days deleted", len(expired),
                        self.retention_days)
        return len(expired)

    def _maybe_prune(self) -> None:
        if self.retention_days and time.monotonic() - self._last_prune >= PRUNE_INTERVAL:
            try:
                self.prune()
            except Exception:  # never lose a turn to housekeeping
                logger.exception("Tracker store: pruning old conversations failed")

    # ------------------------------------------------------------ saving

    async def save(self, tracker: DialogueStateTracker) -> None:
        """Write the tracker's new events, masked (see ``mask_event``)."""
        await self.stream_events(tracker)
        with self.session_scope() as session:
            for event in self._additional_events(session, tracker):
                data = mask_event(event.as_dict())
                session.add(self.SQLEvent(
                    sender_id=tracker.sender_id,
                    type_name=event.type_name,
                    timestamp=data.get("timestamp"),
                    intent_name=((data.get("parse_data") or {}).get("intent") or {}).get(INTENT_NAME_KEY),
                    action_name=data.get("name"),
                    data=json.dumps(data),
                ))
            session.commit()
        logger.debug("Tracker with sender_id '%s' stored to database", tracker.sender_id)
        self._maybe_prune()

    async def _stream_new_events(self, event_broker: EventBroker, new_events: list[Event], sender_id: str) -> None:
        """Publish the new events to the event broker, masked."""
        for event in new_events:
            body = {"sender_id": sender_id}
            body.update(mask_event(event.as_dict()))
            event_broker.publish(body)


@contextmanager
def _one_at_a_time(db_path: str | None) -> Iterator[None]:
    """Hold an exclusive lock on ``DB_PATH.init-lock`` (nothing when None), so
    that processes starting together (Sanic workers) do not race to create
    the tables (SQLite: "table events already exists")."""
    if db_path is None:
        yield
        return
    with open(f"{db_path}.init-lock", "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _secure_delete(dbapi_connection: Any, _record: Any) -> None:
    """Connect listener: deleted data is overwritten in the file."""
    cursor = dbapi_connection.cursor()
    try:
        cursor.execute("PRAGMA secure_delete = ON")
    finally:
        cursor.close()


def _sqlite_pragmas(dbapi_connection: Any, record: Any) -> None:
    """Connect listener: ``secure_delete``, WAL (kept in the file) and
    ``synchronous=NORMAL`` (per connection); see the module docstring."""
    _secure_delete(dbapi_connection, record)
    cursor = dbapi_connection.cursor()
    try:
        cursor.execute("PRAGMA journal_mode = WAL")
        cursor.execute("PRAGMA synchronous = NORMAL")
    finally:
        cursor.close()
