"""The scale-out lock store: a message whose ticket expired while it waited
behind a dead server's ticket is still served (Rasa's own store waits for ever).
Redis is replaced by a dict; the ticket logic is Rasa's."""
import asyncio
import uuid

import pytest
from conftest import run_coroutine
from rasa.core.lock_store import RedisLockStore
from rasa.utils.endpoints import EndpointConfig

from bot.lock_store import RequeueingRedisLockStore, holds_ticket


class FakeRedis:
    """The Redis calls the lock store makes, over a dict (one process: a
    transaction is the calls made one after the other)."""

    def __init__(self):
        self.data = {}

    def get(self, key):
        return self.data.get(key)

    def set(self, key, value):
        self.data[key] = value

    def delete(self, key):
        return self.data.pop(key, None) is not None

    def multi(self):
        pass

    def transaction(self, func, *_keys, value_from_callable=False):
        value = func(self)
        return value if value_from_callable else []


@pytest.fixture
def store():
    s = RequeueingRedisLockStore(EndpointConfig(url="localhost", port=1, max_requeues=2))
    s.red = FakeRedis()
    return s


async def serve_behind_a_dead_ticket(store, lifetime=0.3):
    """A ticket taken by a server that then died (never cleaned up), and a
    message waiting behind it that polls only after both tickets expired."""
    store.issue_ticket("c1", lifetime)
    async with store.lock("c1", lock_lifetime=lifetime, wait_time_in_seconds=lifetime * 1.5):
        return "served"


def test_rasa_store_waits_for_ever_when_both_tickets_expire_together():
    plain = RedisLockStore.__new__(RedisLockStore)  # Rasa's own store, on the same fake Redis
    plain.red, plain.key_prefix = FakeRedis(), "lock:"
    with pytest.raises(asyncio.TimeoutError):
        run_coroutine(asyncio.wait_for(serve_behind_a_dead_ticket(plain), timeout=2))


def test_waiting_message_takes_a_new_ticket_and_is_served(store):
    assert run_coroutine(asyncio.wait_for(serve_behind_a_dead_ticket(store), timeout=10)) == "served"
    assert store.get_lock("c1") is None  # nothing left behind


def test_live_ticket_ahead_is_still_waited_for(store):
    async def scenario():
        order = []

        async def first():
            async with store.lock("c2", lock_lifetime=5, wait_time_in_seconds=0.01):
                await asyncio.sleep(0.2)
                order.append("first")

        async def second():
            await asyncio.sleep(0.05)
            async with store.lock("c2", lock_lifetime=5, wait_time_in_seconds=0.01):
                order.append("second")

        await asyncio.gather(first(), second())
        return order

    assert run_coroutine(scenario()) == ["first", "second"]


def test_holds_ticket():
    from rasa.core.lock import TicketLock

    lock = TicketLock("c3")
    number = lock.issue_ticket(60)
    assert holds_ticket(lock, number) and not holds_ticket(lock, number + 1) and not holds_ticket(None, number)


# ---- REDIS_URL (endpoints.yml: url: "${REDIS_URL}")

def create(url, **kwargs):
    from rasa.core.lock_store import LockStore

    return LockStore.create(EndpointConfig(url=url, type="bot.lock_store.RequeueingRedisLockStore", **kwargs))


@pytest.mark.parametrize("url", ["${REDIS_URL}", "", None])
def test_no_redis_url_means_rasas_in_memory_store(monkeypatch, url):
    from rasa.core.lock_store import InMemoryLockStore

    monkeypatch.delenv("REDIS_URL", raising=False)
    monkeypatch.delenv("SANIC_WORKERS", raising=False)
    assert type(create(url, key_prefix="kuyakusho")) is InMemoryLockStore


def test_several_workers_without_redis_are_refused(monkeypatch):
    monkeypatch.setenv("REDIS_URL", "")
    monkeypatch.setenv("SANIC_WORKERS", "2")
    with pytest.raises(ValueError, match="SANIC_WORKERS=2 needs a shared lock store"):
        create("${REDIS_URL}")


@pytest.mark.parametrize("url,where", [
    ("redis://127.0.0.1:6399/3", {"host": "127.0.0.1", "port": 6399, "db": 3}),
    ("unix:///tmp/x/redis.sock?db=2", {"path": "/tmp/x/redis.sock", "db": 2}),
])
def test_redis_url_is_read_like_redis_py(monkeypatch, url, where):
    monkeypatch.setenv("REDIS_URL", url)
    monkeypatch.setenv("SANIC_WORKERS", "2")
    store = create("${REDIS_URL}", key_prefix="kuyakusho")  # nothing connects until the first lock
    assert isinstance(store, RequeueingRedisLockStore) and store.key_prefix == "kuyakusho:lock:"
    kwargs = store.red.connection_pool.connection_kwargs
    assert {k: kwargs.get(k) for k in where} == where


def test_host_and_port_as_rasas_redis_store():
    store = create("localhost", port=6390, db=4, max_requeues=5)
    kwargs = store.red.connection_pool.connection_kwargs
    assert (kwargs["host"], kwargs["port"], kwargs["db"], store.max_requeues) == ("localhost", 6390, 4, 5)


@pytest.mark.parametrize("value,workers", [("", 1), ("2", 2), ("x", 1), ("-3", 1)])
def test_sanic_workers(value, workers):
    from bot.lock_store import sanic_workers

    assert sanic_workers({"SANIC_WORKERS": value}) == workers


# ---- several processes on a real Redis (redis-server on a Unix socket)

def real_store(url):
    return RequeueingRedisLockStore(EndpointConfig(url=url, key_prefix="test"))


def _take_tickets(url, conversation, count, queue):
    store = real_store(url)
    queue.put([store.issue_ticket(conversation, 60) for _ in range(count)])


def _count_under_the_lock(url, conversation, rounds, queue):
    """Read-increment-write a counter in Redis while holding the conversation's lock."""
    import time

    store = real_store(url)

    async def run():
        for _ in range(rounds):
            async with store.lock(conversation, lock_lifetime=30, wait_time_in_seconds=0.002):
                value = int(store.red.get(f"counter:{conversation}") or 0)
                time.sleep(0.001)  # widen the window a lost update needs
                store.red.set(f"counter:{conversation}", value + 1)

    asyncio.run(run())
    queue.put("done")


def run_in_processes(target, args, processes=3):
    import multiprocessing

    ctx = multiprocessing.get_context("fork")
    queue = ctx.Queue()
    procs = [ctx.Process(target=target, args=(*args, queue)) for _ in range(processes)]
    for proc in procs:
        proc.start()
    results = [queue.get(timeout=120) for _ in procs]
    for proc in procs:
        proc.join(timeout=30)
    return results


def test_processes_taking_tickets_at_once_never_share_a_number(redis_url):
    conversation = f"tickets-{uuid.uuid4().hex[:8]}"
    numbers = [n for result in run_in_processes(_take_tickets, (redis_url, conversation, 60)) for n in result]
    assert len(numbers) == 180 and len(set(numbers)) == 180


def test_one_process_at_a_time_holds_a_conversation(redis_url):
    conversation = f"count-{uuid.uuid4().hex[:8]}"
    assert run_in_processes(_count_under_the_lock, (redis_url, conversation, 40)) == ["done"] * 3
    store = real_store(redis_url)
    assert int(store.red.get(f"counter:{conversation}")) == 120  # no update lost
    assert store.get_lock(conversation) is None  # the last one out deleted the lock
