"""Shared state: ledger totals, budgets (reserve, then settle) and rate limits.

:class:`MemoryState` keeps everything in the process (the default). :class:`RedisState` keeps it in a
Redis server, so any number of workers and replicas share it:

* **Budgets.** Before a request's calls, ``reserve`` atomically (one Lua script) checks, for every
  budget that applies (the global one and the client key's), that ``spent + open reservations +
  amount <= limit`` and records the reservation; ``settle`` then removes it and adds what was really
  spent, together with the ledger totals, in one MULTI/EXEC transaction. Concurrent requests therefore
  cannot overspend a budget by more than what one request spends beyond its reservation (nothing,
  when the reservation is the request's worst case). A reservation whose worker died is dropped by the
  next ``reserve`` once ``reservation_timeout_s`` has passed.
* **Rate limits.** A fixed window per scope (``requests`` per ``per_seconds``), checked and counted for
  every scope of a request in one Lua script.
* **Ledger totals.** Calls, tokens (input, output, cached) and USD, overall, per tier and per purpose.

Keys live under ``{prefix}:`` (default ``automix:``). Lua scripts address keys built from their
arguments, so use a single Redis server (or a primary), not Redis Cluster.
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from collections.abc import Awaitable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar

__all__ = ["BudgetScope", "MemoryState", "RateScope", "RedisState", "State", "UsageRecord", "guarded", "open_state"]

log = logging.getLogger("automix_server")
T = TypeVar("T")

_FIELDS = ("calls", "input_tokens", "output_tokens", "cached_tokens", "cost")


@dataclass(frozen=True)
class UsageRecord:
    """One billed call, as the state stores it."""

    model: str
    purpose: str
    input_tokens: int
    output_tokens: int
    cost: float
    requests: int = 1
    cached_tokens: int = 0


@dataclass(frozen=True)
class BudgetScope:
    """A budget: ``name`` (e.g. ``global``, ``key:team-a``) and its cap in USD (None: only counted)."""

    name: str
    limit: float | None


@dataclass(frozen=True)
class RateScope:
    name: str
    requests: int
    per_seconds: float


class State(Protocol):
    async def check_rate(self, scopes: Sequence[RateScope]) -> tuple[str, float] | None:
        """Count one request in every scope; ``(scope, retry_after_s)`` of the first exhausted one, else None
        (then nothing was counted)."""
        ...

    async def reserve(self, rid: str, amount: float, scopes: Sequence[BudgetScope], ttl: float) -> str | None:
        """Reserve ``amount`` USD under id ``rid`` in every scope with a limit; the name of the first
        scope that has no room (nothing reserved then), else None."""
        ...

    async def settle(self, rid: str, scopes: Sequence[BudgetScope], usages: Sequence[UsageRecord]) -> None:
        """Drop reservation ``rid`` and add ``usages`` to the spent totals and the ledger."""
        ...

    async def totals(self) -> dict[str, Any]: ...

    async def ping(self) -> bool: ...

    async def aclose(self) -> None: ...


def _empty() -> dict[str, float]:
    return dict.fromkeys(_FIELDS, 0)


def _add(t: dict[str, float], u: UsageRecord) -> None:
    t["calls"] += u.requests
    t["input_tokens"] += u.input_tokens
    t["output_tokens"] += u.output_tokens
    t["cached_tokens"] += u.cached_tokens
    t["cost"] += u.cost


def _ints(t: dict[str, float]) -> dict[str, Any]:
    return {k: (float(v) if k == "cost" else int(v)) for k, v in t.items()}


class MemoryState:
    """All state in this process (one worker). Every method runs without awaiting, so it is atomic."""

    def __init__(self, clock: Any = time.monotonic) -> None:
        self._clock = clock
        self._spent: dict[str, float] = {}
        self._resv: dict[str, dict[str, tuple[float, float]]] = {}  # scope -> rid -> (amount, expiry)
        self._windows: dict[str, tuple[int, int]] = {}  # scope -> (window index, count)
        self._total = _empty()
        self._by_model: dict[str, dict[str, float]] = {}
        self._by_purpose: dict[str, dict[str, float]] = {}

    async def check_rate(self, scopes: Sequence[RateScope]) -> tuple[str, float] | None:
        now = self._clock()
        for s in scopes:
            w = int(now // s.per_seconds)
            idx, count = self._windows.get(s.name, (w, 0))
            if idx == w and count >= s.requests:
                return s.name, max(0.001, (w + 1) * s.per_seconds - now)
        for s in scopes:
            w = int(now // s.per_seconds)
            idx, count = self._windows.get(s.name, (w, 0))
            self._windows[s.name] = (w, count + 1 if idx == w else 1)
        return None

    async def reserve(self, rid: str, amount: float, scopes: Sequence[BudgetScope], ttl: float) -> str | None:
        now = self._clock()
        limited = [s for s in scopes if s.limit is not None]
        for s in limited:
            resv = self._resv.setdefault(s.name, {})
            for r in [r for r, (_, exp) in resv.items() if exp <= now]:
                del resv[r]
            used = self._spent.get(s.name, 0.0) + sum(a for a, _ in resv.values())
            assert s.limit is not None
            if used + amount > s.limit:
                return s.name
        for s in limited:
            self._resv[s.name][rid] = (amount, now + ttl)
        return None

    async def settle(self, rid: str, scopes: Sequence[BudgetScope], usages: Sequence[UsageRecord]) -> None:
        cost = sum(u.cost for u in usages)
        for s in scopes:
            self._resv.get(s.name, {}).pop(rid, None)
            self._spent[s.name] = self._spent.get(s.name, 0.0) + cost
        for u in usages:
            _add(self._total, u)
            _add(self._by_model.setdefault(u.model, _empty()), u)
            _add(self._by_purpose.setdefault(u.purpose, _empty()), u)

    async def totals(self) -> dict[str, Any]:
        now = self._clock()
        return {
            "total": _ints(self._total),
            "by_model": {k: _ints(v) for k, v in self._by_model.items()},
            "by_purpose": {k: _ints(v) for k, v in self._by_purpose.items()},
            "budgets": {k: {"spent_usd": v, "reserved_usd": sum(a for a, e in self._resv.get(k, {}).values()
                                                                if e > now)}
                        for k, v in self._spent.items()},
        }

    async def ping(self) -> bool:
        return True

    async def aclose(self) -> None:
        return None


_RESERVE = """
-- KEYS: for each scope: resv hash, expiry zset, spent key. ARGV: rid, amount, now_ms, expiry_ms, limits...
local n = #KEYS / 3
local amount = tonumber(ARGV[2])
local now = tonumber(ARGV[3])
for i = 0, n - 1 do
  local resv, exp, spent = KEYS[3*i+1], KEYS[3*i+2], KEYS[3*i+3]
  local old = redis.call('ZRANGEBYSCORE', exp, '-inf', now)
  for _, m in ipairs(old) do
    redis.call('HDEL', resv, m)
    redis.call('ZREM', exp, m)
  end
  local used = tonumber(redis.call('GET', spent) or '0')
  for _, v in ipairs(redis.call('HVALS', resv)) do used = used + tonumber(v) end
  if used + amount > tonumber(ARGV[5 + i]) then return i + 1 end
end
for i = 0, n - 1 do
  redis.call('HSET', KEYS[3*i+1], ARGV[1], ARGV[2])
  redis.call('ZADD', KEYS[3*i+2], tonumber(ARGV[4]), ARGV[1])
end
return 0
"""

_RATE = """
-- KEYS: one counter per scope (its current window). ARGV: limit_i, ttl_ms_i pairs
for i = 1, #KEYS do
  local c = tonumber(redis.call('GET', KEYS[i]) or '0')
  if c >= tonumber(ARGV[2*i-1]) then
    local ttl = redis.call('PTTL', KEYS[i])
    return {i, ttl}
  end
end
for i = 1, #KEYS do
  local c = redis.call('INCR', KEYS[i])
  if c == 1 then redis.call('PEXPIRE', KEYS[i], tonumber(ARGV[2*i])) end
end
return {0, 0}
"""


class RedisState:
    """State shared through a Redis server (``redis://host:port/db``)."""

    def __init__(self, url: str, prefix: str = "automix") -> None:
        import redis.asyncio as aioredis

        self.url = url
        self.prefix = prefix
        self.client: Any = aioredis.Redis.from_url(url, decode_responses=True, socket_timeout=10,
                                                   socket_connect_timeout=5, health_check_interval=30)
        self._reserve = self.client.register_script(_RESERVE)
        self._rate = self.client.register_script(_RATE)

    def _k(self, *parts: str) -> str:
        return ":".join((self.prefix, *parts))

    async def check_rate(self, scopes: Sequence[RateScope]) -> tuple[str, float] | None:
        if not scopes:
            return None
        now = time.time()
        keys, args = [], []
        for s in scopes:
            w = int(now // s.per_seconds)
            keys.append(self._k("rate", s.name, str(w)))
            args += [s.requests, max(1, math.ceil(s.per_seconds * 1000))]
        idx, ttl = await self._rate(keys=keys, args=args)
        if int(idx) == 0:
            return None
        return scopes[int(idx) - 1].name, max(0.001, int(ttl) / 1000)

    async def reserve(self, rid: str, amount: float, scopes: Sequence[BudgetScope], ttl: float) -> str | None:
        limited = [s for s in scopes if s.limit is not None]
        if not limited:
            return None
        now_ms = int(time.time() * 1000)
        keys: list[str] = []
        for s in limited:
            keys += [self._k("budget", s.name, "resv"), self._k("budget", s.name, "exp"),
                     self._k("budget", s.name, "spent")]
        args: list[Any] = [rid, repr(float(amount)), now_ms, now_ms + int(ttl * 1000)]
        args += [repr(float(s.limit)) for s in limited if s.limit is not None]
        refused = int(await self._reserve(keys=keys, args=args))
        return None if refused == 0 else limited[refused - 1].name

    async def settle(self, rid: str, scopes: Sequence[BudgetScope], usages: Sequence[UsageRecord]) -> None:
        cost = sum(u.cost for u in usages)
        async with self.client.pipeline(transaction=True) as pipe:
            for s in scopes:
                pipe.hdel(self._k("budget", s.name, "resv"), rid)
                pipe.zrem(self._k("budget", s.name, "exp"), rid)
                if cost:
                    pipe.incrbyfloat(self._k("budget", s.name, "spent"), cost)
            for u in usages:
                for key in (self._k("ledger", "total"), self._k("ledger", "model", u.model),
                            self._k("ledger", "purpose", u.purpose)):
                    pipe.hincrby(key, "calls", u.requests)
                    pipe.hincrby(key, "input_tokens", u.input_tokens)
                    pipe.hincrby(key, "output_tokens", u.output_tokens)
                    pipe.hincrby(key, "cached_tokens", u.cached_tokens)
                    pipe.hincrbyfloat(key, "cost", u.cost)
                pipe.sadd(self._k("ledger", "models"), u.model)
                pipe.sadd(self._k("ledger", "purposes"), u.purpose)
            for s in scopes:
                pipe.sadd(self._k("budgets"), s.name)
            await pipe.execute()

    async def _hash(self, key: str) -> dict[str, Any]:
        raw = await self.client.hgetall(key)
        out: dict[str, Any] = {}
        for f in _FIELDS:
            v = raw.get(f, "0")
            out[f] = float(v) if f == "cost" else int(v)
        return out

    async def totals(self) -> dict[str, Any]:
        models = sorted(await self.client.smembers(self._k("ledger", "models")))
        purposes = sorted(await self.client.smembers(self._k("ledger", "purposes")))
        budgets = sorted(await self.client.smembers(self._k("budgets")))
        now_ms = int(time.time() * 1000)
        out_budgets: dict[str, Any] = {}
        for b in budgets:
            spent = float(await self.client.get(self._k("budget", b, "spent")) or 0.0)
            live = set(await self.client.zrangebyscore(self._k("budget", b, "exp"), now_ms, "+inf"))
            amounts = await self.client.hgetall(self._k("budget", b, "resv"))
            out_budgets[b] = {"spent_usd": spent, "reserved_usd": sum(float(v) for r, v in amounts.items()
                                                                       if r in live)}
        return {
            "total": await self._hash(self._k("ledger", "total")),
            "by_model": {m: await self._hash(self._k("ledger", "model", m)) for m in models},
            "by_purpose": {p: await self._hash(self._k("ledger", "purpose", p)) for p in purposes},
            "budgets": out_budgets,
        }

    async def ping(self) -> bool:
        try:
            return bool(await asyncio.wait_for(self.client.ping(), 3))
        except Exception:
            return False

    async def aclose(self) -> None:
        await self.client.aclose()


async def guarded(call: Awaitable[T], on_error: str, what: str, fallback: T) -> T:
    """``await call``; when the state cannot be reached: a 503 naming the cause (``on_error="closed"``), or
    ``fallback`` with a warning that ``what`` went unchecked (``"open"``)."""
    from .errors import APIError

    try:
        return await call
    except Exception as exc:
        cause = f"{type(exc).__name__}: {exc}"
    if on_error == "open":
        log.warning("shared state unreachable (%s): %s not checked for this request (budget.on_state_error: open)",
                    cause, what)
        return fallback
    log.error("shared state unreachable (%s): request refused, %s cannot be checked (budget.on_state_error: "
              "closed)", cause, what)
    raise APIError(503, f"The server's shared state (Redis) is unreachable, so its {what} cannot be checked; "
                   "the request was refused (budgets fail closed). Retry shortly.", type="server_error",
                   code="state_unavailable", headers={"retry-after": "2"})


def open_state(url: str, prefix: str = "automix") -> State:
    """``"memory"`` or a Redis URL -> a state backend."""
    if url == "memory":
        return MemoryState()
    return RedisState(url, prefix)
