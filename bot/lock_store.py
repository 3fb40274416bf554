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

Use it in ``endpoints.scaleout.yml``::

    lock_store:
      type: bot.lock_store.RequeueingRedisLockStore
      url: localhost        # the settings of Rasa's RedisLockStore
      port: 6379
"""
from __future__ import annotations

import asyncio
import logging
from contextlib import asynccontextmanager
from typing import AsyncGenerator

from rasa.core.lock import TicketLock
from rasa.core.lock_store import LOCK_LIFETIME, LockError, RedisLockStore
from rasa.utils.endpoints import EndpointConfig

logger = logging.getLogger(__name__)

DEFAULT_MAX_REQUEUES = 3


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

    def __init__(self, endpoint_config: EndpointConfig) -> None:
        kwargs = dict(endpoint_config.kwargs)
        self.max_requeues = int(kwargs.pop("max_requeues", DEFAULT_MAX_REQUEUES))
        super().__init__(host=endpoint_config.url or "localhost", **kwargs)

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
