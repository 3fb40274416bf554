"""Rasa's Redis lock store, with no request left waiting on an expired ticket.

Rasa serves one conversation's messages one at a time with ticket locks: a
message takes a ticket and waits until its number is served.  Every ticket
expires after ``TICKET_LOCK_LIFETIME`` seconds (default 60), which frees the
conversation when the server holding a ticket dies.  But a message that
waits behind a dead server's ticket was issued its own ticket about as long
ago, so both tend to expire at the same poll; Rasa's ``LockStore.lock`` then
waits for a ticket that no longer exists, for ever (seen in
``tests/test_scaleout.py`` after a SIGKILL: the retried request never got a
reply).  :class:`RequeueingRedisLockStore` takes a new ticket instead, and
gives up with Rasa's ``LockError`` only after ``max_requeues`` new tickets.

Rasa's Redis store also changes a lock by reading it, changing it in Python
and writing it back, so two processes taking a ticket for the same
conversation at the same moment can both get the same number and both run
(seen with two Sanic workers: one of two turns sent at once was lost from the
tracker).  Here every change (issue a ticket, drop expired ones, finish,
clean up) is one Redis transaction on the lock's key (redis-py's
``transaction``: WATCH, read, MULTI, write, EXEC, retried when another
process changed the key in between).

``url`` may be a Redis URL (``redis://HOST:PORT/DB``, ``rediss://...``,
``unix:///path/redis.sock?db=0``, as redis-py's ``from_url`` reads them) or,
as for Rasa's ``type: redis``, a host name with ``port`` and ``db``.  In
``endpoints.yml`` it is ``"${REDIS_URL}"`` (quoted: unset must not stop
Rasa): when that is unset or empty, the store is Rasa's
``InMemoryLockStore`` instead, which is right for one Sanic worker only;
with ``SANIC_WORKERS`` above 1 and no ``REDIS_URL`` it refuses to start.
With a URL, the other settings of Rasa's store (``port``, ``db``,
``password``, ...) are read from the URL; ``key_prefix``, ``socket_timeout``
and ``max_requeues`` still apply.  ``endpoints.scaleout.yml`` uses
``${REDIS_URL}`` unquoted (must be set)::

    lock_store:
      type: bot.lock_store.RequeueingRedisLockStore
      url: "${REDIS_URL}"   # e.g. redis://127.0.0.1:6379/0; unset or empty: in memory
      key_prefix: kuyakusho
"""
from __future__ import annotations

import asyncio
import json
import logging
import os
from collections.abc import AsyncGenerator, Callable, Mapping
from contextlib import asynccontextmanager
from typing import Any

from rasa.core.lock import TicketLock
from rasa.core.lock_store import (
    DEFAULT_SOCKET_TIMEOUT_IN_SECONDS,
    LOCK_LIFETIME,
    InMemoryLockStore,
    LockError,
    RedisLockStore,
)
from rasa.utils.endpoints import EndpointConfig

from bot.channels.line_api import resolve_setting

logger = logging.getLogger(__name__)

DEFAULT_MAX_REQUEUES = 3
URL_SCHEMES = ("redis://", "rediss://", "unix://")
KEEP = object()  # a change that leaves the stored lock as it is


def sanic_workers(environ: Mapping[str, str] | None = None) -> int:
    """The number of Sanic workers asked for in ``$SANIC_WORKERS`` (1 when unset or not a number)."""
    value = (os.environ if environ is None else environ).get("SANIC_WORKERS", "").strip()
    return int(value) if value.isdigit() else 1


def holds_ticket(lock: TicketLock | None, ticket: int) -> bool:
    """Whether ``ticket`` is still queued (issued and not expired) in ``lock``."""
    if lock is None:
        return False
    lock.remove_expired_tickets()
    return any(t.number == ticket for t in lock.tickets)


class RequeueingRedisLockStore(RedisLockStore):
    """``RedisLockStore`` whose waiting message takes a new ticket when its own
    expired while it waited, so that it is served rather than left waiting.

    Configured like Rasa's ``type: redis`` lock store (``url``, ``port``,
    ``db``, ``password``, ``key_prefix``, ...), plus ``max_requeues`` (int,
    default 3): how many new tickets one message may take before
    ``LockError`` is raised.
    """

    def __new__(cls, endpoint_config: EndpointConfig | None = None,
                *args: Any, **kwargs: Any) -> RequeueingRedisLockStore | InMemoryLockStore:
        """Rasa's ``InMemoryLockStore`` when the configured ``url`` is unset or
        empty (see the module docstring), else a new instance of this class.

        Raises:
            ValueError: no ``url`` but ``$SANIC_WORKERS`` asks for more than
                one worker (an in-memory lock cannot keep workers in order).
        """
        if endpoint_config is not None and not resolve_setting(endpoint_config.url):
            workers = sanic_workers()
            if workers > 1:
                raise ValueError(f"SANIC_WORKERS={workers} needs a shared lock store: set REDIS_URL "
                                 "(e.g. redis://127.0.0.1:6379/0), or run one worker")
            logger.info("Lock store: in memory (REDIS_URL unset), for one Rasa process with one worker")
            return InMemoryLockStore()
        return super().__new__(cls)

    def __init__(self, endpoint_config: EndpointConfig) -> None:
        kwargs = dict(endpoint_config.kwargs)
        self.max_requeues = int(kwargs.pop("max_requeues", DEFAULT_MAX_REQUEUES))
        url = resolve_setting(endpoint_config.url, "localhost")
        if url.startswith(URL_SCHEMES):
            import redis

            super().__init__(key_prefix=kwargs.get("key_prefix"))
            self.red = redis.StrictRedis.from_url(
                url, socket_timeout=float(kwargs.get("socket_timeout", DEFAULT_SOCKET_TIMEOUT_IN_SECONDS)))
        else:
            super().__init__(host=url, **kwargs)
        where = self.red.connection_pool.connection_kwargs
        logger.info("Lock store: Redis at %s (db %s)", where.get("path") or f"{where.get('host')}:{where.get('port')}",
                    where.get("db", 0))

    # ------------------------------------------------------------ atomic changes of one lock

    def _change(self, conversation_id: str,
                change: Callable[[TicketLock | None], tuple[Any, Any]]) -> Any:
        """Apply ``change`` to the conversation's stored lock in one Redis
        transaction and return its first value.

        ``change(lock_or_None)`` returns ``(result, after)``: ``after`` is the
        lock to store, None to delete the key, or ``KEEP``.  It may run more
        than once (when another process changed the key meanwhile).
        """
        key = self.key_prefix + conversation_id

        def run(pipe: Any) -> Any:
            raw = pipe.get(key)
            lock = TicketLock.from_dict(json.loads(raw)) if raw else None
            result, after = change(lock)
            pipe.multi()
            if after is None:
                pipe.delete(key)
            elif after is not KEEP:
                pipe.set(key, after.dumps())
            return result

        return self.red.transaction(run, key, value_from_callable=True)

    def issue_ticket(self, conversation_id: str, lock_lifetime: float = LOCK_LIFETIME) -> int:
        """A new ticket (its number) in the conversation's lock, valid for
        ``lock_lifetime`` seconds; the lock is created when missing.

        Raises:
            LockError: Redis failed (as Rasa's store raises it).
        """
        def change(lock: TicketLock | None) -> tuple[int, TicketLock]:
            lock = lock or self.create_lock(conversation_id)
            return lock.issue_ticket(lock_lifetime), lock

        try:
            return self._change(conversation_id, change)
        except Exception as e:
            raise LockError(f"Error while acquiring lock. Error:\n{e}") from e

    def update_lock(self, conversation_id: str) -> None:
        """Drop the expired tickets of the conversation's lock."""
        def change(lock: TicketLock | None) -> tuple[None, Any]:
            if lock is None:
                return None, KEEP
            lock.remove_expired_tickets()
            return None, lock

        self._change(conversation_id, change)

    def finish_serving(self, conversation_id: str, ticket_number: int) -> None:
        """Remove ticket ``ticket_number`` from the conversation's lock."""
        def change(lock: TicketLock | None) -> tuple[None, Any]:
            if lock is None:
                return None, KEEP
            lock.remove_ticket_for(ticket_number)
            return None, lock

        self._change(conversation_id, change)

    def cleanup(self, conversation_id: str, ticket_number: int) -> None:
        """Remove ticket ``ticket_number``; delete the lock when no one else waits."""
        def change(lock: TicketLock | None) -> tuple[None, Any]:
            if lock is None:
                return None, KEEP
            lock.remove_ticket_for(ticket_number)
            return None, (lock if lock.is_someone_waiting() else None)

        self._change(conversation_id, change)

    # ------------------------------------------------------------ waiting for one's turn

    @asynccontextmanager
    async def lock(self, conversation_id: str, lock_lifetime: float = LOCK_LIFETIME,
                   wait_time_in_seconds: float = 1) -> AsyncGenerator[TicketLock, None]:
        """Hold the conversation's lock while the block runs (Rasa's
        ``LockStore.lock``; ``lock_lifetime`` and ``wait_time_in_seconds`` in
        seconds).

        Raises:
            LockError: the message's ticket expired more than ``max_requeues`` times.
        """
        ticket = self.issue_ticket(conversation_id, lock_lifetime)
        requeues = 0
        try:
            while True:
                lock = self.get_lock(conversation_id)
                if lock is not None and not lock.is_locked(ticket):
                    break
                if not holds_ticket(lock, ticket):
                    if requeues >= self.max_requeues:
                        raise LockError(f"Could not acquire lock for conversation_id '{conversation_id}'.")
                    requeues += 1
                    logger.info("Ticket %d for a conversation expired while waiting; taking a new one", ticket)
                    ticket = self.issue_ticket(conversation_id, lock_lifetime)
                    continue
                await asyncio.sleep(wait_time_in_seconds)
                self.update_lock(conversation_id)
            yield lock
        finally:
            self.cleanup(conversation_id, ticket)
