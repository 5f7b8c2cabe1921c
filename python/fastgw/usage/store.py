"""Where API keys and quota counters live: one interface, :class:`UsageStore`, and two implementations.

- :class:`SqliteUsageStore`, the default: one local file shared by every worker process on the machine and by
  the ``fastgw keys`` command.
- :class:`RedisUsageStore`, for gateways on several machines.

Both keep the same things, and neither ever sees a key's value (only its SHA-256, :mod:`fastgw.usage.keys`):

- API keys, each with a *change version*: every create/enable/disable takes the next number of one counter
  and writes it on the key. ``keys_changed_since(v)`` returns the keys changed after ``v`` and the current
  version, so a running gateway polls every few seconds at the cost of one indexed read, and sees new and
  disabled keys without restarting (AWS itself takes minutes to propagate them). A version lower than the
  one asked about means the store was replaced or emptied (a Redis without persistence restarted): the
  caller reloads everything with ``keys_changed_since(0)`` and forgets keys it does not get back.
- quota counters, one per (key id, usage plan, period start): ``reserve`` grants requests *before* they are
  admitted (:mod:`fastgw.usage.quota` explains why), atomically, so ``used`` never exceeds the limit however
  many processes or nodes reserve at once; ``release`` gives back what a worker reserved and did not serve.
- the moment each usage plan was first used, for the quota ``offset`` (:mod:`fastgw.usage.periods`).

SQLite schema (``PRAGMA user_version`` = 1)::

    api_keys(id PK, name UNIQUE, value_hash UNIQUE, enabled, created (epoch s), plan, description,
             changed INDEXED)        -- changed = the key's change version; the current version is max(changed)
    quota_usage(key_id, plan, period_start (epoch s), used)   PK (key_id, plan, period_start), WITHOUT ROWID
    plan_first_use(plan PK, first_used (epoch s))

The file is in WAL mode (readers never wait for the writer) with ``synchronous=NORMAL``: a committed
reservation survives a process crash, which is the failure the quota bound is about; a power loss may roll
back the last commits (and so re-grant up to those requests). Every write is a ``BEGIN IMMEDIATE``
transaction: it takes the write lock first and waits (``busy_timeout``) for other processes, so a
read-then-write such as ``reserve`` can never interleave with another process's. Calls run on one dedicated
thread per store (``run_in_executor``), not on the event loop: most take microseconds, but a write can wait
for another process's lock, and that wait must not stall every request of the worker. One thread also gives
the connection the thread affinity sqlite3 wants and serialises this process's calls for free. The thread
hop costs tens of microseconds, paid once per reserved block of requests, not per request.

Redis layout (``prefix`` default ``fastgw:``)::

    {prefix}key:{id}                         hash: id name value_hash enabled created plan description
    {prefix}key-by-name                      hash: name -> id
    {prefix}key-by-hash                      hash: value_hash -> id
    {prefix}keys:version                     counter of key changes
    {prefix}keys:changed                     sorted set: id scored by its change version
    {prefix}quota:{key_id}:{period_start}:{plan}   counter, expires 40 days after its last reservation
    {prefix}plan-first-use:{plan}            epoch seconds

Every check-then-write is one Lua script (``register_script``), so it is atomic on the server. The client has
short socket and connect timeouts and *no retries* (redis-py retries 10 times by default): a retried
``reserve`` whose first attempt did reach the server would count twice, and a dead Redis must cost a request
one short timeout, not many. Connection failures and timeouts, with either store, raise
:class:`StoreUnavailableError`, and nothing else does, so the caller has one thing to catch to apply its
fail-open/fail-closed policy. For Redis Cluster, put a hash tag in the prefix (``{fastgw}:``) so that the
scripts' keys share a slot.
"""

from __future__ import annotations

import asyncio
import os
import sqlite3
from collections.abc import Callable, Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Protocol, TypeVar

import redis.asyncio
import redis.exceptions
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff

from fastgw.errors import FastgwError
from fastgw.usage.keys import ApiKey, check_key_name, check_key_value, generate_key_id, generate_key_value, hash_key

T = TypeVar("T")

SCHEMA_VERSION = 1
#: How long Redis keeps a quota counter after its last reservation: longer than any period (31 days), so the
#: counter outlives its period and last period's count stays readable for a while.
QUOTA_COUNTER_TTL = timedelta(days=40)


class StoreUnavailableError(FastgwError):
    """The store cannot be reached in time (Redis down or slow, SQLite file locked too long or unreadable)."""


#: The same exception under the name the data plane was promised.
StoreUnavailable = StoreUnavailableError


class UsageStore(Protocol):
    """API keys and quota counters, shared by every worker (and, with Redis, every node)."""

    async def create_key(
        self,
        name: str,
        *,
        value: str | None = None,
        plan: str | None = None,
        enabled: bool = True,
        description: str = "",
    ) -> tuple[ApiKey, str]:
        """Add a key; returns it and its value, the only time the value is ever available. The value is
        generated when None. ValueError for a bad name or value, or one that another key already has."""
        ...

    async def list_keys(self) -> list[ApiKey]:
        """Every key, oldest first."""
        ...

    async def get_key(self, id_or_name: str) -> ApiKey | None:
        """The key with this id or, failing that, this name."""
        ...

    async def set_enabled(self, id_or_name: str, enabled: bool) -> ApiKey | None:
        """Enable or disable a key; returns it as it is now, None when there is no such key."""
        ...

    async def find_by_hash(self, value_hash: str) -> ApiKey | None:
        """The key whose value hashes to ``value_hash`` (:func:`fastgw.usage.keys.hash_key`)."""
        ...

    async def keys_changed_since(self, version: int) -> tuple[int, list[ApiKey]]:
        """The current change version and the keys created or changed after ``version`` (0: all keys).
        A current version below ``version`` means the store was emptied or replaced: reload from 0."""
        ...

    async def reserve(
        self, key_id: str, plan: str, period_start: datetime, limit: int, n: int, *, share: int = 1
    ) -> int:
        """Atomically count and grant up to ``n`` requests of the period, never letting its count exceed
        ``limit``; returns how many were granted (0: exhausted). With ``share`` > 1 the grant is also at
        most 1/share of what is left (at least 1), so blocks shrink as the quota runs out."""
        ...

    async def release(self, key_id: str, plan: str, period_start: datetime, n: int) -> None:
        """Give back ``n`` reserved requests that were not served (the count never goes below 0)."""
        ...

    async def usage(self, key_id: str, plan: str, period_start: datetime) -> int:
        """Requests counted (reserved) for the key in the plan's period starting at ``period_start``."""
        ...

    async def plan_first_used(self, plan: str, now: datetime) -> datetime:
        """When the gateway first used ``plan``: recorded as ``now`` by the first call, returned ever after."""
        ...

    async def close(self) -> None: ...


def grant_size(used: int, limit: int, n: int, share: int) -> int:
    """What ``reserve`` grants (the Redis script computes the same in Lua)."""
    left = limit - used
    if left <= 0 or n <= 0:
        return 0
    return min(n, left, max(1, left // max(1, share)))


def _epoch(moment: datetime) -> int:
    return int(moment.timestamp())


def _utc(epoch: float) -> datetime:
    return datetime.fromtimestamp(epoch, UTC)


def _new_key(name: str, value: str | None, plan: str | None, enabled: bool, description: str) -> tuple[ApiKey, str]:
    """Check the input and build the key to store (its id may still change if it is taken)."""
    check_key_name(name)
    if value is None:
        value = generate_key_value()
    else:
        check_key_value(value)
    created = datetime.now(UTC).replace(microsecond=0)  # stores keep whole seconds
    key = ApiKey(generate_key_id(), name, hash_key(value), enabled, created, plan, description)
    return key, value


# --- SQLite ------------------------------------------------------------------------------------------------

_SCHEMA = (
    """CREATE TABLE IF NOT EXISTS api_keys (
        id TEXT PRIMARY KEY,
        name TEXT NOT NULL UNIQUE,
        value_hash TEXT NOT NULL UNIQUE,
        enabled INTEGER NOT NULL,
        created INTEGER NOT NULL,
        plan TEXT,
        description TEXT NOT NULL DEFAULT '',
        changed INTEGER NOT NULL
    )""",
    "CREATE INDEX IF NOT EXISTS api_keys_changed ON api_keys (changed)",
    """CREATE TABLE IF NOT EXISTS quota_usage (
        key_id TEXT NOT NULL,
        plan TEXT NOT NULL,
        period_start INTEGER NOT NULL,
        used INTEGER NOT NULL,
        PRIMARY KEY (key_id, plan, period_start)
    ) WITHOUT ROWID""",
    "CREATE TABLE IF NOT EXISTS plan_first_use (plan TEXT PRIMARY KEY, first_used INTEGER NOT NULL)",
)
_KEY_COLUMNS = "id, name, value_hash, enabled, created, plan, description"


def _key_from_row(row: tuple[str, str, str, int, int, str | None, str]) -> ApiKey:
    key_id, name, value_hash, enabled, created, plan, description = row
    return ApiKey(key_id, name, value_hash, bool(enabled), _utc(created), plan, description)


class SqliteUsageStore:
    """The embedded store: one SQLite file (created if missing) that processes on one machine share."""

    def __init__(self, path: str | os.PathLike[str], *, busy_timeout: float = 2.0) -> None:
        self.path = os.fspath(path)
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="fastgw-sqlite")
        self._db: sqlite3.Connection | None = None
        try:
            with self._errors():
                self._executor.submit(self._open, busy_timeout).result()
        except BaseException:
            self._executor.shutdown()
            raise

    # Runs on the store's thread.
    def _open(self, busy_timeout: float) -> None:
        # isolation_level=None: no implicit transactions; we issue BEGIN IMMEDIATE / COMMIT ourselves.
        self._db = sqlite3.connect(self.path, timeout=busy_timeout, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        with self._transaction() as db:
            (version,) = db.execute("PRAGMA user_version").fetchone()
            if version > SCHEMA_VERSION:
                raise sqlite3.OperationalError(f"schema version {version} is newer than this fastgw ({SCHEMA_VERSION})")
            for statement in _SCHEMA:
                db.execute(statement)
            db.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")

    @contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        assert self._db is not None, "the store is closed"
        self._db.execute("BEGIN IMMEDIATE")
        try:
            yield self._db
        except BaseException:
            self._db.execute("ROLLBACK")
            raise
        self._db.execute("COMMIT")

    @contextmanager
    def _errors(self) -> Iterator[None]:
        try:
            yield
        except sqlite3.DatabaseError as error:
            # OperationalError: locked too long, unreadable file, disk full...; DatabaseError itself: "file is
            # not a database". Other subclasses (IntegrityError, ProgrammingError) are bugs: let them through.
            if type(error) not in (sqlite3.OperationalError, sqlite3.DatabaseError):
                raise
            raise StoreUnavailableError(f"SQLite state {self.path}: {error}") from error

    async def _run(self, function: Callable[..., T], *args: object) -> T:
        with self._errors():
            return await asyncio.get_running_loop().run_in_executor(self._executor, function, *args)

    def _select_key(self, where: str, *params: object) -> ApiKey | None:
        assert self._db is not None, "the store is closed"
        row = self._db.execute(f"SELECT {_KEY_COLUMNS} FROM api_keys WHERE {where}", params).fetchone()
        return _key_from_row(row) if row else None

    def _lookup(self, id_or_name: str) -> ApiKey | None:
        return self._select_key("id = ?", id_or_name) or self._select_key("name = ?", id_or_name)

    def _insert_key(self, key: ApiKey) -> ApiKey:
        with self._transaction() as db:
            if db.execute("SELECT 1 FROM api_keys WHERE name = ?", (key.name,)).fetchone():
                raise ValueError(f"an API key named {key.name!r} already exists")
            if db.execute("SELECT 1 FROM api_keys WHERE value_hash = ?", (key.value_hash,)).fetchone():
                raise ValueError("another API key already has this value")
            while db.execute("SELECT 1 FROM api_keys WHERE id = ?", (key.id,)).fetchone():
                key = replace(key, id=generate_key_id())
            (version,) = db.execute("SELECT coalesce(max(changed), 0) + 1 FROM api_keys").fetchone()
            db.execute(
                f"INSERT INTO api_keys ({_KEY_COLUMNS}, changed) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    key.id,
                    key.name,
                    key.value_hash,
                    int(key.enabled),
                    _epoch(key.created),
                    key.plan,
                    key.description,
                    version,
                ),
            )
        return key

    def _update_enabled(self, id_or_name: str, enabled: bool) -> ApiKey | None:
        with self._transaction() as db:
            key = self._lookup(id_or_name)
            if key is None or key.enabled == enabled:
                return key
            (version,) = db.execute("SELECT max(changed) + 1 FROM api_keys").fetchone()
            db.execute("UPDATE api_keys SET enabled = ?, changed = ? WHERE id = ?", (int(enabled), version, key.id))
        return replace(key, enabled=enabled)

    def _changed_since(self, version: int) -> tuple[int, list[ApiKey]]:
        assert self._db is not None, "the store is closed"
        # The version first: a key changed between the two reads is returned now and again at the next poll,
        # where reading the keys first could miss it for good.
        (current,) = self._db.execute("SELECT coalesce(max(changed), 0) FROM api_keys").fetchone()
        rows = self._db.execute(
            f"SELECT {_KEY_COLUMNS} FROM api_keys WHERE changed > ? ORDER BY changed", (version,)
        ).fetchall()
        return int(current), [_key_from_row(row) for row in rows]

    def _list(self) -> list[ApiKey]:
        assert self._db is not None, "the store is closed"
        rows = self._db.execute(f"SELECT {_KEY_COLUMNS} FROM api_keys ORDER BY created, name").fetchall()
        return [_key_from_row(row) for row in rows]

    def _reserve(self, key_id: str, plan: str, period_start: int, limit: int, n: int, share: int) -> int:
        with self._transaction() as db:
            row = db.execute(
                "SELECT used FROM quota_usage WHERE key_id = ? AND plan = ? AND period_start = ?",
                (key_id, plan, period_start),
            ).fetchone()
            granted = grant_size(row[0] if row else 0, limit, n, share)
            if granted:
                db.execute(
                    "INSERT INTO quota_usage VALUES (?, ?, ?, ?) ON CONFLICT (key_id, plan, period_start)"
                    " DO UPDATE SET used = used + excluded.used",
                    (key_id, plan, period_start, granted),
                )
        return granted

    def _release(self, key_id: str, plan: str, period_start: int, n: int) -> None:
        assert self._db is not None, "the store is closed"
        self._db.execute(  # one statement: atomic without an explicit transaction
            "UPDATE quota_usage SET used = max(0, used - ?) WHERE key_id = ? AND plan = ? AND period_start = ?",
            (n, key_id, plan, period_start),
        )

    def _usage(self, key_id: str, plan: str, period_start: int) -> int:
        assert self._db is not None, "the store is closed"
        row = self._db.execute(
            "SELECT used FROM quota_usage WHERE key_id = ? AND plan = ? AND period_start = ?",
            (key_id, plan, period_start),
        ).fetchone()
        return int(row[0]) if row else 0

    def _first_used(self, plan: str, now: int) -> int:
        with self._transaction() as db:
            db.execute("INSERT OR IGNORE INTO plan_first_use VALUES (?, ?)", (plan, now))
            (first,) = db.execute("SELECT first_used FROM plan_first_use WHERE plan = ?", (plan,)).fetchone()
        return int(first)

    def _close(self) -> None:
        if self._db is not None:
            self._db.close()
            self._db = None

    async def create_key(
        self,
        name: str,
        *,
        value: str | None = None,
        plan: str | None = None,
        enabled: bool = True,
        description: str = "",
    ) -> tuple[ApiKey, str]:
        key, value = _new_key(name, value, plan, enabled, description)
        return await self._run(self._insert_key, key), value

    async def list_keys(self) -> list[ApiKey]:
        return await self._run(self._list)

    async def get_key(self, id_or_name: str) -> ApiKey | None:
        return await self._run(self._lookup, id_or_name)

    async def set_enabled(self, id_or_name: str, enabled: bool) -> ApiKey | None:
        return await self._run(self._update_enabled, id_or_name, enabled)

    async def find_by_hash(self, value_hash: str) -> ApiKey | None:
        return await self._run(self._select_key, "value_hash = ?", value_hash)

    async def keys_changed_since(self, version: int) -> tuple[int, list[ApiKey]]:
        return await self._run(self._changed_since, version)

    async def reserve(
        self, key_id: str, plan: str, period_start: datetime, limit: int, n: int, *, share: int = 1
    ) -> int:
        return await self._run(self._reserve, key_id, plan, _epoch(period_start), limit, n, share)

    async def release(self, key_id: str, plan: str, period_start: datetime, n: int) -> None:
        if n > 0:
            await self._run(self._release, key_id, plan, _epoch(period_start), n)

    async def usage(self, key_id: str, plan: str, period_start: datetime) -> int:
        return await self._run(self._usage, key_id, plan, _epoch(period_start))

    async def plan_first_used(self, plan: str, now: datetime) -> datetime:
        return _utc(await self._run(self._first_used, plan, _epoch(now)))

    async def close(self) -> None:
        """Close the file. Idempotent."""
        if self._db is not None:
            await self._run(self._close)
        self._executor.shutdown()


# --- Redis -------------------------------------------------------------------------------------------------

#: What "Redis is unavailable" looks like from redis-py (BusyLoadingError and AuthenticationError are
#: ConnectionErrors); OSError covers what a socket raises before redis-py wraps it.
REDIS_DOWN_ERRORS: tuple[type[BaseException], ...] = (
    redis.exceptions.ConnectionError,
    redis.exceptions.TimeoutError,
    redis.exceptions.ReadOnlyError,
    redis.exceptions.OutOfMemoryError,
    OSError,
)


def connect_redis(url: str, *, timeout: float = 0.5) -> redis.asyncio.Redis:
    """A Redis client for the data plane: ``timeout`` bounds connecting and every reply, and nothing is retried
    (see the module docstring). Connects lazily, on the first command."""
    return redis.asyncio.Redis.from_url(
        url,
        socket_timeout=timeout,
        socket_connect_timeout=timeout,
        retry=Retry(NoBackoff(), 0),
        decode_responses=True,
    )


@contextmanager
def redis_errors(what: str) -> Iterator[None]:
    """Turn Redis connection failures and timeouts into :class:`StoreUnavailableError`."""
    try:
        yield
    except REDIS_DOWN_ERRORS as error:
        raise StoreUnavailableError(f"Redis unavailable ({what}): {error or type(error).__name__}") from error


_CREATE_KEY = """
-- KEYS: key hash, key-by-name, key-by-hash, keys:version, keys:changed
-- ARGV: id, name, value_hash, enabled, created, plan ('' = none), description
if redis.call('HEXISTS', KEYS[2], ARGV[2]) == 1 then return 'name' end
if redis.call('HEXISTS', KEYS[3], ARGV[3]) == 1 then return 'value' end
if redis.call('EXISTS', KEYS[1]) == 1 then return 'id' end
local version = redis.call('INCR', KEYS[4])
redis.call('HSET', KEYS[1], 'id', ARGV[1], 'name', ARGV[2], 'value_hash', ARGV[3], 'enabled', ARGV[4],
           'created', ARGV[5], 'plan', ARGV[6], 'description', ARGV[7])
redis.call('HSET', KEYS[2], ARGV[2], ARGV[1])
redis.call('HSET', KEYS[3], ARGV[3], ARGV[1])
redis.call('ZADD', KEYS[5], version, ARGV[1])
return 'ok'
"""

_SET_ENABLED = """
-- KEYS: key hash, keys:version, keys:changed; ARGV: '1' or '0', id
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
if redis.call('HGET', KEYS[1], 'enabled') ~= ARGV[1] then
  local version = redis.call('INCR', KEYS[2])
  redis.call('HSET', KEYS[1], 'enabled', ARGV[1])
  redis.call('ZADD', KEYS[3], version, ARGV[2])
end
return 1
"""

_RESERVE = """
-- KEYS: quota counter; ARGV: limit, n, share, time to live (s). Same rule as grant_size().
local left = tonumber(ARGV[1]) - tonumber(redis.call('GET', KEYS[1]) or '0')
local n = tonumber(ARGV[2])
if left <= 0 or n <= 0 then return 0 end
local granted = math.min(n, left, math.max(1, math.floor(left / tonumber(ARGV[3]))))
redis.call('INCRBY', KEYS[1], granted)
redis.call('EXPIRE', KEYS[1], ARGV[4])
return granted
"""

_RELEASE = """
-- KEYS: quota counter; ARGV: n. Never below 0.
local back = math.min(tonumber(redis.call('GET', KEYS[1]) or '0'), tonumber(ARGV[1]))
if back > 0 then redis.call('DECRBY', KEYS[1], back) end
return back
"""

_FIRST_USE = """
-- KEYS: plan-first-use; ARGV: now (epoch s)
redis.call('SET', KEYS[1], ARGV[1], 'NX')
return redis.call('GET', KEYS[1])
"""


def _text(value: bytes | str) -> str:
    """redis-py's replies are typed ``bytes | str``; with ``decode_responses=True`` they are str."""
    return value.decode() if isinstance(value, bytes) else value


def _key_from_hash(reply: Mapping[bytes | str, bytes | str]) -> ApiKey | None:
    if not reply:
        return None
    fields = {_text(name): _text(value) for name, value in reply.items()}
    return ApiKey(
        id=fields["id"],
        name=fields["name"],
        value_hash=fields["value_hash"],
        enabled=fields["enabled"] == "1",
        created=_utc(int(fields["created"])),
        plan=fields["plan"] or None,
        description=fields["description"],
    )


class RedisUsageStore:
    """The store for several nodes: one Redis (``redis://``, ``rediss://`` or ``unix://`` URL).

    ``client`` is public so that :class:`fastgw.usage.redis_buckets.RedisBuckets` can share its connections;
    :meth:`close` closes it."""

    def __init__(self, url: str, prefix: str = "fastgw:", *, timeout: float = 0.5) -> None:
        self.client = connect_redis(url, timeout=timeout)
        self.prefix = prefix
        self._by_name = f"{prefix}key-by-name"
        self._by_hash = f"{prefix}key-by-hash"
        self._version = f"{prefix}keys:version"
        self._changed = f"{prefix}keys:changed"
        self._create_script = self.client.register_script(_CREATE_KEY)
        self._set_enabled_script = self.client.register_script(_SET_ENABLED)
        self._reserve_script = self.client.register_script(_RESERVE)
        self._release_script = self.client.register_script(_RELEASE)
        self._first_use_script = self.client.register_script(_FIRST_USE)

    def _key(self, key_id: str) -> str:
        return f"{self.prefix}key:{key_id}"

    def _counter(self, key_id: str, plan: str, period_start: datetime) -> str:
        return f"{self.prefix}quota:{key_id}:{_epoch(period_start)}:{plan}"

    async def _keys_by_id(self, ids: list[str]) -> list[ApiKey]:
        async with self.client.pipeline(transaction=False) as pipe:
            for key_id in ids:
                pipe.hgetall(self._key(key_id))
            found = [_key_from_hash(fields) for fields in await pipe.execute()]
        return [key for key in found if key is not None]

    async def _id_of(self, id_or_name: str) -> str | None:
        if await self.client.exists(self._key(id_or_name)):
            return id_or_name
        key_id = await self.client.hget(self._by_name, id_or_name)
        return _text(key_id) if key_id else None

    async def create_key(
        self,
        name: str,
        *,
        value: str | None = None,
        plan: str | None = None,
        enabled: bool = True,
        description: str = "",
    ) -> tuple[ApiKey, str]:
        key, value = _new_key(name, value, plan, enabled, description)
        with redis_errors("create_key"):
            while True:
                keys = [self._key(key.id), self._by_name, self._by_hash, self._version, self._changed]
                args: list[str | int] = [
                    key.id,
                    key.name,
                    key.value_hash,
                    int(key.enabled),
                    _epoch(key.created),
                    key.plan or "",
                    key.description,
                ]
                outcome = await self._create_script(keys=keys, args=args)
                if outcome != "id":
                    break
                key = replace(key, id=generate_key_id())
        if outcome == "name":
            raise ValueError(f"an API key named {key.name!r} already exists")
        if outcome == "value":
            raise ValueError("another API key already has this value")
        return key, value

    async def list_keys(self) -> list[ApiKey]:
        with redis_errors("list_keys"):
            keys = await self._keys_by_id([_text(key_id) for key_id in await self.client.hvals(self._by_name)])
        return sorted(keys, key=lambda key: (key.created, key.name))

    async def get_key(self, id_or_name: str) -> ApiKey | None:
        with redis_errors("get_key"):
            key_id = await self._id_of(id_or_name)
            return _key_from_hash(await self.client.hgetall(self._key(key_id))) if key_id else None

    async def set_enabled(self, id_or_name: str, enabled: bool) -> ApiKey | None:
        with redis_errors("set_enabled"):
            # Keys are never deleted or renamed, so the id found here is still the key's when the script runs.
            key_id = await self._id_of(id_or_name)
            if key_id is None:
                return None
            keys = [self._key(key_id), self._version, self._changed]
            await self._set_enabled_script(keys=keys, args=["1" if enabled else "0", key_id])
            return _key_from_hash(await self.client.hgetall(self._key(key_id)))

    async def find_by_hash(self, value_hash: str) -> ApiKey | None:
        with redis_errors("find_by_hash"):
            key_id = await self.client.hget(self._by_hash, value_hash)
            return _key_from_hash(await self.client.hgetall(self._key(_text(key_id)))) if key_id else None

    async def keys_changed_since(self, version: int) -> tuple[int, list[ApiKey]]:
        with redis_errors("keys_changed_since"):
            async with self.client.pipeline(transaction=True) as pipe:
                pipe.get(self._version)
                pipe.zrangebyscore(self._changed, f"({version}", "+inf")
                current, ids = await pipe.execute()
            return int(current or 0), await self._keys_by_id([_text(key_id) for key_id in ids])

    async def reserve(
        self, key_id: str, plan: str, period_start: datetime, limit: int, n: int, *, share: int = 1
    ) -> int:
        with redis_errors("reserve"):
            granted = await self._reserve_script(
                keys=[self._counter(key_id, plan, period_start)],
                args=[limit, n, max(1, share), int(QUOTA_COUNTER_TTL.total_seconds())],
            )
        return int(granted)

    async def release(self, key_id: str, plan: str, period_start: datetime, n: int) -> None:
        if n > 0:
            with redis_errors("release"):
                await self._release_script(keys=[self._counter(key_id, plan, period_start)], args=[n])

    async def usage(self, key_id: str, plan: str, period_start: datetime) -> int:
        with redis_errors("usage"):
            return int(await self.client.get(self._counter(key_id, plan, period_start)) or 0)

    async def plan_first_used(self, plan: str, now: datetime) -> datetime:
        with redis_errors("plan_first_used"):
            first = await self._first_use_script(keys=[f"{self.prefix}plan-first-use:{plan}"], args=[_epoch(now)])
        return _utc(int(first))

    async def close(self) -> None:
        await self.client.aclose()
