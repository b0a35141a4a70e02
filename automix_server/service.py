"""The server's runtime: routes built from a config, client keys, and one request's cascade.

Everything a config describes is built by :meth:`Runtime.build` before any of it is used, so a reload
(SIGHUP) either swaps in a complete new runtime or keeps the old one. The cascade itself is the core's
:class:`~automix_core.AutoMix`, built once per route with its tiers (over each tier's shared client, a
:class:`~.tiers.RouteAnswerer` answers and a :class:`~.tiers.RouteVerifier` verifies). Each request runs
that engine with its own :class:`~automix_core.RequestContext` (:func:`engine_request`: the caller's
messages and fields, its temperature and max_tokens, the collector of each tier's raw choice), its own
ledger and a per-request cap equal to its budget reservation (:func:`request_budget`). A request addressed to one tier
runs the same engine with ``tier=``.
"""

from __future__ import annotations

import hmac
import json
import logging
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import httpx

from automix_core import (
    AutoMix,
    AutoMixResult,
    Budget,
    ConfigError,
    Generation,
    Ledger,
    OpenAICompatibleModel,
    Price,
    PriceTable,
    RequestContext,
    Router,
    Tier,
    Usage,
)
from automix_core.errors import UnknownPriceError
from automix_core.integration import count_tokens

from .config import ClientKeyConfig, RateLimitConfig, RouteConfig, ServerConfig, TierConfig
from .errors import APIError, Scrubber
from .schema import ChatRequest
from .state import BudgetScope, RateScope, UsageRecord
from .tiers import RouteAnswerer, RouteVerifier, first_choice, request_context, upstream_model

__all__ = ["ClientKey", "RequestLedger", "RouteRuntime", "Runtime", "TierRuntime", "engine_request",
           "estimate_reservation", "request_budget"]

# prompt tokens of the verification prompt beyond the question, context and answer (its instructions and
# few-shot examples), used only to size budget reservations
VERIFY_PROMPT_OVERHEAD = 1500


@dataclass
class TierRuntime:
    config: TierConfig
    upstream: OpenAICompatibleModel
    price: Price
    home: tuple[str, int] = ("", 0)
    """The first route that has this tier and its index there: a request naming the tier runs that route's
    engine with ``tier=index`` (one call, no verification)."""

    @property
    def name(self) -> str:
        return self.config.name


log = logging.getLogger("automix_server")


@dataclass
class RouteRuntime:
    name: str
    config: RouteConfig
    tiers: list[TierRuntime]
    router: Router
    prices: PriceTable
    engine: AutoMix
    """The route's cascade, built once with the runtime; every request of the route (or naming one of its tiers)
    runs it with its own request context, ledger and budget."""
    ledger: Ledger = field(default_factory=Ledger)
    router_file: str | None = None
    methods: list[str] = field(default_factory=list)
    """Each tier's verification as the engine resolves it (``logprob/continue``, ``sample/few-shot/k=4``, ...)."""
    learning: bool = False
    """No router yet: the reference tier serves while every request is shadowed (``learn:``)."""

    def describe(self) -> str:
        """One line: the tiers, the router (file and version, or "untrained") and each tier's verification."""
        if self.router.fitted:
            version = _file_version(self.router_file)
            policy = self.router.policy.name + (f", calibrated on {self.router.n_train} queries"
                                                if self.router.n_train else "")
            router = f"{self.router_file} (version {version}, {policy})"
        elif self.learning:
            router = "none yet, learning (the reference tier serves while every request is shadowed)"
        else:
            router = "untrained default (accept when confidence > 0.5; NOT calibrated: see the warning)"
        last = len(self.tiers) - 1
        verify = ", ".join(f"{t.name} {m if i < last or self.router.observes_last else 'not verified (last tier)'}"
                           for i, (t, m) in enumerate(zip(self.tiers, self.methods)))
        return (f"route {self.name!r}: tiers {' -> '.join(t.name for t in self.tiers)}; router {router}; "
                f"verification: {verify}")


def _file_version(path: str | None) -> Any:
    try:
        return json.loads(Path(path or "").read_text(encoding="utf-8")).get("version", "?")
    except (OSError, ValueError, AttributeError):
        return "?"


@dataclass(frozen=True)
class ClientKey:
    name: str
    secret: str = field(repr=False)
    budget_usd: float | None = None
    rate_limit: RateLimitConfig | None = None


class RequestLedger(Ledger):
    """Records into the route's shared ledger and keeps this request's calls (what it must settle)."""

    def __init__(self, shared: Ledger) -> None:
        super().__init__(max_entries=None)
        self.shared = shared
        self.usages: list[Usage] = []

    def record(self, usage: Usage) -> None:
        self.usages.append(usage)
        self.shared.record(usage)


def _resolve_key(cfg: ClientKeyConfig, where: str) -> ClientKey:
    if cfg.key is not None:
        secret = cfg.key.get_secret_value()
    else:
        assert cfg.key_env is not None
        value = os.environ.get(cfg.key_env)
        if not value:
            raise ConfigError(f"{where}.key_env: environment variable {cfg.key_env} is not set")
        secret = value
    return ClientKey(cfg.name, secret, cfg.budget_usd, cfg.rate_limit)


class Runtime:
    """Routes, tiers (by name, for pass-through), client keys and the scrubber of one config."""

    def __init__(self, config: ServerConfig, routes: dict[str, RouteRuntime], tiers: dict[str, TierRuntime],
                 keys: list[ClientKey], scrubber: Scrubber) -> None:
        self.config = config
        self.routes = routes
        self.tiers = tiers
        self.keys = keys
        self.scrubber = scrubber
        self.inflight = 0

    @classmethod
    def build(cls, config: ServerConfig, extra_keys: Sequence[ClientKey] = (),
              transport: httpx.AsyncBaseTransport | None = None, *, announce: bool = True) -> Runtime:
        """Build every route's clients and routers; raises :class:`ConfigError` naming the field.

        ``announce``: log each route's :meth:`RouteRuntime.describe` line (INFO).

        ``transport`` replaces the network for every upstream (tests: an in-process fake upstream).
        """
        secrets: list[str] = []
        keys = [_resolve_key(k, f"api_keys.{i}") for i, k in enumerate(config.api_keys)]
        keys += list(extra_keys)
        secrets += [k.secret for k in keys]
        upstreams: dict[str, TierRuntime] = {}
        routes: dict[str, RouteRuntime] = {}
        try:
            for rname, rc in config.routes.items():
                tiers: list[TierRuntime] = []
                for i, tc in enumerate(rc.tiers):
                    where = f"routes.{rname}.tiers.{i}"
                    if tc.name not in upstreams:
                        upstreams[tc.name] = cls._tier(tc, where, secrets, transport)
                        upstreams[tc.name].home = (rname, i)
                    tiers.append(upstreams[tc.name])
                learned = config.learned_router(rname) if rc.router is None else None
                if learned is not None and learned.exists():
                    rc = rc.model_copy(update={"router": str(learned)})
                router, router_file = cls._router(rc, rname, config.base_dir, [t.name for t in tiers])
                prices = PriceTable(prices={t.name: t.price for t in tiers})
                ledger = Ledger()
                try:  # AutoMix's own checks of the settings (tier count vs router, retries, timeout)
                    engine = route_engine(tiers, rc, router, prices, ledger)
                except (ValueError, TypeError) as exc:
                    raise ConfigError(f"routes.{rname}: {exc}") from None
                routes[rname] = RouteRuntime(rname, rc, tiers, router, prices, engine, ledger,
                                             router_file=router_file, methods=[m.describe() for m in engine.methods],
                                             learning=learned is not None and rc.router is None)
                if announce:
                    log.info("%s", routes[rname].describe())
        except BaseException:
            for t in upstreams.values():
                _close_soon(t.upstream)
            raise
        return cls(config, routes, upstreams, keys, Scrubber(secrets))

    @staticmethod
    def _tier(tc: TierConfig, where: str, secrets: list[str],
              transport: httpx.AsyncBaseTransport | None) -> TierRuntime:
        up = upstream_model(tc, where, secrets, transport)
        if tc.price is not None:
            price = Price(input_per_million=tc.price.input_per_million, output_per_million=tc.price.output_per_million)
        else:
            try:
                price = PriceTable().lookup(tc.model)
            except UnknownPriceError:
                raise ConfigError(f"{where}.price: no preset price for model {tc.model!r}; give "
                                  "price: {input_per_million: ..., output_per_million: ...}") from None
        return TierRuntime(tc, up, price)

    @staticmethod
    def _router(rc: RouteConfig, rname: str, base_dir: str | None, names: list[str]) -> tuple[Router, str | None]:
        if rc.router is None:
            return Router.default(names), None
        path = Path(rc.router)
        if not path.is_absolute() and base_dir is not None:
            path = Path(base_dir) / path
        try:
            router = Router.load(str(path))
        except Exception as exc:  # RouterError, OSError, ...
            raise ConfigError(f"routes.{rname}.router: {exc}") from None
        if len(router.models) != len(names):
            raise ConfigError(f"routes.{rname}.router: the router is for {len(router.models)} tiers "
                              f"({', '.join(router.models)}) but the route has {len(names)}")
        return router, str(path)

    # -- keys -----------------------------------------------------------------------------------

    @property
    def open(self) -> bool:
        """True when no client key is configured (every request is let in)."""
        return not self.keys

    def authenticate(self, presented: str | None) -> ClientKey | None:
        """The client key ``presented`` matches (None on an open server); raises a 401 :class:`APIError`."""
        if self.open:
            return None
        if not presented:
            raise APIError(401, "You didn't provide an API key. Send it as 'Authorization: Bearer KEY'.",
                           code="missing_api_key")
        found: ClientKey | None = None
        given = presented.encode()
        for k in self.keys:  # compare with every key, in constant time each
            if hmac.compare_digest(given, k.secret.encode()):
                found = k
        if found is None:
            raise APIError(401, "Incorrect API key provided.", code="invalid_api_key")
        return found

    def rate_scopes(self, key: ClientKey | None) -> list[RateScope]:
        out = []
        if self.config.rate_limit is not None:
            out.append(RateScope("global", self.config.rate_limit.requests, self.config.rate_limit.per_seconds))
        if key is not None and key.rate_limit is not None:
            out.append(RateScope(f"key:{key.name}", key.rate_limit.requests, key.rate_limit.per_seconds))
        return out

    def budget_scopes(self, key: ClientKey | None) -> list[BudgetScope]:
        out = [BudgetScope("global", self.config.budget.total_usd)]
        if key is not None:
            out.append(BudgetScope(f"key:{key.name}", key.budget_usd))
        return out

    async def aclose(self) -> None:
        for t in self.tiers.values():
            await t.upstream.aclose()


def _close_soon(up: OpenAICompatibleModel) -> None:
    import asyncio
    import contextlib

    with contextlib.suppress(RuntimeError):  # no loop: nothing was opened yet (httpx connects lazily)
        asyncio.get_running_loop().create_task(up.aclose())


def _prompt_tokens(req: ChatRequest) -> int:
    """The request's prompt tokens by the core's estimator, over its messages and tools as sent."""
    text = json.dumps(req.raw_messages(), ensure_ascii=False)
    if req.tools:
        text += json.dumps(req.tools, ensure_ascii=False)
    return count_tokens(text) + 8 * len(req.messages) + 16


def estimate_reservation(route: RouteRuntime, req: ChatRequest, answer_max_tokens: int | None) -> float:
    """A worst-case USD cost of ``req`` on ``route``: every tier answers (and retries) and verifies with k
    separate requests (k unset: 8, the most any default draws), the prompt counted by the core's estimator."""
    cas = route.config.cascade
    p = _prompt_tokens(req)
    a = answer_max_tokens or 1024
    total = 0.0
    for t in route.tiers:
        total += (1 + cas.retries) * t.price.cost(p, a)
        total += (cas.k or 8) * t.price.cost(p + a + VERIFY_PROMPT_OVERHEAD, cas.verify_max_tokens)
    if route.config.max_request_usd is not None:
        total = min(total, route.config.max_request_usd)
    return total


def estimate_passthrough(tier: TierRuntime, route: RouteRuntime, req: ChatRequest) -> float:
    """A worst-case USD cost of one call to ``tier`` (and its retries on ``route``)."""
    retries = route.config.cascade.retries
    return (1 + retries) * tier.price.cost(_prompt_tokens(req), req.answer_max_tokens or 1024)


ToolPolicy = Literal["verify", "accept", "escalate"]


def _screen(policy: ToolPolicy) -> Any:
    def screen(tier: int, gen: Generation) -> Literal["accept", "escalate"] | None:
        msg = first_choice(gen.raw).get("message")
        if isinstance(msg, dict) and msg.get("tool_calls"):
            return "accept" if policy == "accept" else "escalate"
        return None

    return None if policy == "verify" else screen


def route_engine(tiers: Sequence[TierRuntime], rc: RouteConfig, router: Router, prices: PriceTable,
                 ledger: Ledger) -> AutoMix:
    """A route's engine, built once per runtime: each tier answers through a :class:`RouteAnswerer` (the
    request's own messages and fields) and verifies with the shared client (a :class:`RouteVerifier`)."""
    return AutoMix([Tier(model=RouteAnswerer(t.upstream, i), verifier=RouteVerifier(t.upstream))
                    for i, t in enumerate(tiers)],
                   router=router, prices=prices, ledger=ledger, screen=_screen(rc.tool_calls),
                   **rc.cascade.engine_kwargs())


def engine_request(req: ChatRequest, answers: dict[int, dict[str, Any]]) -> RequestContext:
    """What the route's engine hands each model call of ``req``: the caller's messages, pass-through fields,
    temperature and max_tokens, and ``answers`` (where each tier's raw choice lands, by tier index)."""
    return request_context(req.raw_messages(), req.pass_through(), req.temperature, req.answer_max_tokens, answers)


def request_budget(cap: float | None) -> Budget | None:
    """A request's own cap (its budget reservation), or None."""
    return Budget(max_request_usd=cap) if cap is not None else None


def usage_records(usages: Sequence[Usage]) -> list[UsageRecord]:
    """The state's records of a request's billed calls (cached prompt tokens as the core's usage has them)."""
    return [UsageRecord(u.model, u.purpose, u.input_tokens, u.output_tokens, u.cost, u.requests,
                        u.cached_input_tokens) for u in usages]


def usage_block(usages: Sequence[Usage]) -> dict[str, Any]:
    """OpenAI's ``usage`` object over every call of a request (answers and verification)."""
    inp = sum(u.input_tokens for u in usages)
    out = sum(u.output_tokens for u in usages)
    return {"prompt_tokens": inp, "completion_tokens": out, "total_tokens": inp + out,
            "prompt_tokens_details": {"cached_tokens": sum(u.cached_input_tokens for u in usages)}}


def automix_block(route: str, result: AutoMixResult | None, usages: Sequence[Usage], reserved: float, rid: str,
                  trace: Sequence[Any] | None = None) -> dict[str, Any]:
    """The extra top-level ``automix`` object of a response."""
    by_purpose: dict[str, dict[str, Any]] = {}
    for u in usages:
        p = by_purpose.setdefault(u.purpose, {"calls": 0, "input_tokens": 0, "output_tokens": 0, "cost_usd": 0.0})
        p["calls"] += u.requests
        p["input_tokens"] += u.input_tokens
        p["output_tokens"] += u.output_tokens
        p["cost_usd"] += u.cost
    steps = result.trace if result is not None else list(trace or [])
    return {
        "request_id": rid,
        "route": route,
        "tier": result.model if result is not None else None,
        "tier_index": result.tier if result is not None else None,
        "cost_usd": sum(u.cost for u in usages),
        "escalated": len(steps) > 1,
        "tiers_visited": [t.tier for t in steps],
        "estimated_usage": any(u.estimated for u in usages),
        "reserved_usd": reserved,
        "usage_by_purpose": by_purpose,
        "trace": [t.to_dict() for t in steps],
    }
