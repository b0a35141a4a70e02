"""The server's configuration: a YAML, TOML or JSON file validated by pydantic.

Every validation error names its field (``routes.automix.tiers.1.base_url: ...``). Upstream API keys
are given only as the *name* of an environment variable (``api_key_env``); client API keys as a
literal (``key``) or an environment variable (``key_env``). Example::

    default_route: automix
    state: redis://127.0.0.1:6379/0        # or "memory" (the default)
    api_keys:
      - {name: team-a, key_env: TEAM_A_KEY, budget_usd: 5.0, rate_limit: {requests: 60, per_seconds: 60}}
    budget: {total_usd: 100.0, reservation_timeout_s: 600}
    routes:
      automix:
        router: router.json                 # relative to this file
        cascade: {k: 8, verify_mode: sample, retries: 1, timeout: 120}
        tiers:
          - {name: small, base_url: "https://api.openai.com/v1", model: gpt-4o-mini, api_key_env: OPENAI_API_KEY}
          - {name: large, base_url: "https://api.openai.com/v1", model: gpt-4o, api_key_env: OPENAI_API_KEY}
"""

from __future__ import annotations

import json
import math
import os
import re
import sys
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError, field_validator, model_validator

from automix_core import CascadeSettings, ConfigError, TrafficConfig

__all__ = [
    "BudgetConfig",
    "CascadeConfig",
    "ClientKeyConfig",
    "ConfigError",
    "LearnConfig",
    "PriceConfig",
    "RateLimitConfig",
    "RouteConfig",
    "ServerConfig",
    "TierConfig",
    "TrafficConfig",
    "format_validation_error",
    "load_config",
    "parse_config",
]

_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:/@+-]{0,127}$")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def _finite(v: float | None, what: str = "value") -> float | None:
    if v is not None and not math.isfinite(v):
        raise ValueError(f"{what} must be a finite number")
    return v


class PriceConfig(_Strict):
    """USD per million prompt and completion tokens."""

    input_per_million: float = Field(ge=0)
    output_per_million: float = Field(ge=0)

    @field_validator("input_per_million", "output_per_million")
    @classmethod
    def _fin(cls, v: float) -> float:
        _finite(v)
        return v


class TierConfig(_Strict):
    """One OpenAI-compatible upstream model (a cascade tier)."""

    name: str
    base_url: str
    model: str
    api_key_env: str | None = None
    price: PriceConfig | None = None
    context_window: int | None = Field(default=None, ge=64)
    supports_n: bool = True
    max_n: int | None = Field(default=None, ge=1)
    usage_scope: Literal["all_choices", "first_choice"] = "all_choices"
    timeout: float = Field(default=60.0, gt=0)
    extra_body: dict[str, Any] = Field(default_factory=dict)

    @field_validator("name")
    @classmethod
    def _name(cls, v: str) -> str:
        if not _NAME.match(v):
            raise ValueError("must be 1-128 characters: letters, digits and ._:/@+- (starting with a letter or digit)")
        return v

    @field_validator("base_url")
    @classmethod
    def _url(cls, v: str) -> str:
        if not v.startswith(("http://", "https://")):
            raise ValueError("must start with http:// or https://")
        return v.rstrip("/")

    @field_validator("api_key_env")
    @classmethod
    def _env(cls, v: str | None) -> str | None:
        if v is not None and not _ENV_NAME.match(v):
            raise ValueError("must be the name of an environment variable (the key itself never goes in the config)")
        return v

    @field_validator("timeout")
    @classmethod
    def _fin(cls, v: float) -> float:
        _finite(v)
        return v


class CascadeConfig(CascadeSettings):
    """AutoMix's keyword settings: the core's :class:`~automix_core.CascadeSettings` (same names as
    ``AutoMix.__init__``), passed to the engine as they are."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    @model_validator(mode="after")
    def _no_traffic(self) -> CascadeConfig:
        if self.traffic is not None:
            raise ValueError("traffic: give it once for the server, as the top-level traffic: section")
        return self

    def engine_kwargs(self) -> dict[str, Any]:
        return self.model_dump(exclude={"traffic"})


class RouteConfig(_Strict):
    """A route: the tiers of one cascade (cheapest first), its router and settings."""

    tiers: list[TierConfig] = Field(min_length=2)
    router: str | None = None
    cascade: CascadeConfig = Field(default_factory=CascadeConfig)
    context_from: Literal["conversation", "system", "none"] = "conversation"
    tool_calls: Literal["verify", "accept", "escalate"] = "verify"
    max_request_usd: float | None = Field(default=None, ge=0)

    @model_validator(mode="after")
    def _unique(self) -> RouteConfig:
        names = [t.name for t in self.tiers]
        dup = sorted({n for n in names if names.count(n) > 1})
        if dup:
            raise ValueError(f"tier names must differ within a route; repeated: {', '.join(dup)}")
        return self


class RateLimitConfig(_Strict):
    """At most ``requests`` requests per ``per_seconds`` seconds (a fixed window)."""

    requests: int = Field(ge=1)
    per_seconds: float = Field(default=60.0, gt=0)


class ClientKeyConfig(_Strict):
    """A client API key: the key itself (``key``) or the environment variable holding it (``key_env``)."""

    name: str
    key: SecretStr | None = None
    key_env: str | None = None
    budget_usd: float | None = Field(default=None, ge=0)
    rate_limit: RateLimitConfig | None = None

    @field_validator("name")
    @classmethod
    def _name(cls, v: str) -> str:
        if not _NAME.match(v):
            raise ValueError("must be 1-128 characters: letters, digits and ._:/@+-")
        return v

    @field_validator("key_env")
    @classmethod
    def _env(cls, v: str | None) -> str | None:
        if v is not None and not _ENV_NAME.match(v):
            raise ValueError("must be the name of an environment variable")
        return v

    @model_validator(mode="after")
    def _one(self) -> ClientKeyConfig:
        if (self.key is None) == (self.key_env is None):
            raise ValueError("give exactly one of key and key_env")
        if self.key is not None and len(self.key.get_secret_value()) < 8:
            raise ValueError("key must be at least 8 characters")
        return self


class LearnConfig(_Strict):
    """Cold start for routes without a router: serve the reference (last) tier while every request is shadowed,
    then, after ``records`` shadowed records, fit a router on them (agreement labels) and switch to the
    cascade (all or nothing, as a reload; the router is kept as ``router-<route>.json`` in the traffic folder)."""

    records: int = Field(default=300, ge=20)
    policy: str = "pomdp"
    validation: float = Field(default=0.3, gt=0, lt=1)


class BudgetConfig(_Strict):
    """The global budget (``total_usd``, over the state's lifetime) and how reservations work.

    Before a request's calls, its worst-case cost (``reservation_usd``, or an estimate from the
    prompt's length, the tiers' prices, ``max_tokens`` and ``k``) is reserved against every budget that
    applies; after, the reservation is replaced by what was spent. A reservation left by a worker that
    died expires after ``reservation_timeout_s``.
    """

    total_usd: float | None = Field(default=None, ge=0)
    reservation_usd: float | None = Field(default=None, gt=0)
    reservation_timeout_s: float = Field(default=600.0, gt=0)
    on_state_error: Literal["closed", "open"] = "closed"
    """When the shared state (Redis) cannot be reached: ``closed`` refuses requests with a 503 naming the
    cause (no budget or rate limit can be checked); ``open`` serves them unchecked, saying so in the log."""


class ServerConfig(_Strict):
    """The whole server configuration."""

    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=0, le=65535)
    workers: int = Field(default=1, ge=1, le=64)
    state: str = "memory"
    state_prefix: str = "automix"
    api_keys: list[ClientKeyConfig] = Field(default_factory=list)
    budget: BudgetConfig = Field(default_factory=BudgetConfig)
    rate_limit: RateLimitConfig | None = None
    routes: dict[str, RouteConfig] = Field(min_length=1)
    default_route: str = "automix"
    request_timeout: float = Field(default=600.0, gt=0)
    keepalive_interval: float = Field(default=5.0, gt=0)
    graceful_timeout: float = Field(default=30.0, gt=0)
    learn: LearnConfig | None = None
    """Routes without a router learn one from their traffic first (needs ``traffic``)."""
    traffic: TrafficConfig | None = None
    """Traffic capture and shadow evaluation (``docs/serving-traffic.md``); ``dir`` relative to this file."""
    base_dir: str | None = None  # where relative router paths are resolved (set by load_config)

    @field_validator("state")
    @classmethod
    def _state(cls, v: str) -> str:
        if v != "memory" and not v.startswith(("redis://", "rediss://", "unix://")):
            raise ValueError("must be 'memory' or a Redis URL (redis://, rediss://, unix://)")
        return v

    @model_validator(mode="after")
    def _routes(self) -> ServerConfig:
        for name in self.routes:
            if not _NAME.match(name):
                raise ValueError(f"routes: route name {name!r} must be letters, digits and ._:/@+-")
        if self.default_route not in self.routes:
            raise ValueError(f"default_route: {self.default_route!r} is not one of the routes "
                             f"({', '.join(self.routes)})")
        seen: dict[str, TierConfig] = {}
        for rname, route in self.routes.items():
            for t in route.tiers:
                if t.name in self.routes:
                    raise ValueError(f"routes.{rname}.tiers: tier name {t.name!r} is also a route name")
                if t.name in seen and seen[t.name] != t:
                    raise ValueError(f"routes.{rname}.tiers: tier {t.name!r} is defined differently in two routes")
                seen[t.name] = t
        names = [k.name for k in self.api_keys]
        dup = sorted({n for n in names if names.count(n) > 1})
        if dup:
            raise ValueError(f"api_keys: names must differ; repeated: {', '.join(dup)}")
        if self.learn is not None and self.traffic is None:
            raise ValueError("learn: needs traffic capture (the traffic: section, or --traffic DIR): the router is "
                             "fitted on the shadowed records")
        return self

    def traffic_dir(self) -> Path | None:
        """The traffic folder, resolved next to the config file."""
        if self.traffic is None:
            return None
        p = Path(self.traffic.dir)
        return p if p.is_absolute() or self.base_dir is None else Path(self.base_dir) / p

    def learned_router(self, route: str) -> Path | None:
        """Where a router learnt from ``route``'s traffic is kept (None without ``learn``)."""
        folder = self.traffic_dir()
        return folder / f"router-{route}.json" if self.learn is not None and folder is not None else None

    def redacted(self) -> dict[str, Any]:
        """The config as JSON-ready data, client keys masked (for logs and ``automix serve --check``)."""
        data = self.model_dump(mode="json")
        for k in data.get("api_keys", []):
            if k.get("key") is not None:
                k["key"] = "***"
        return data


def format_validation_error(exc: ValidationError, prefix: str = "") -> str:
    """One line per error: ``field.path: message``."""
    lines = []
    for err in exc.errors():
        loc = ".".join(str(p) for p in err["loc"] if p not in ("function-after",))
        msg = str(err["msg"]).removeprefix("Value error, ")
        if not loc and re.match(r"^[A-Za-z_][\w.]*: ", msg):  # a whole-model check names its field itself
            field, _, msg = msg.partition(": ")
            loc = field
        elif not loc:
            loc = "(config)"
        lines.append(f"{prefix}{loc}: {msg}")
    return "\n".join(lines)


def parse_config(data: object, *, base_dir: str | os.PathLike[str] | None = None,
                 source: str = "config") -> ServerConfig:
    """Validate already-parsed config data (a mapping)."""
    if not isinstance(data, dict):
        raise ConfigError(f"{source}: expected a mapping at the top level, got {type(data).__name__}")
    if base_dir is not None and "base_dir" not in data:
        data = {**data, "base_dir": str(base_dir)}
    try:
        return ServerConfig.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(f"invalid {source}:\n{format_validation_error(exc)}") from None


def _read(path: Path) -> object:
    text = path.read_bytes()
    suffix = path.suffix.lower()
    if suffix in (".yaml", ".yml"):
        import yaml

        try:
            return yaml.safe_load(text.decode("utf-8"))
        except (yaml.YAMLError, UnicodeDecodeError) as exc:
            raise ConfigError(f"{path}: not valid YAML: {exc}") from None
    if suffix == ".toml":
        import importlib

        # stdlib tomllib from Python 3.11; the tomli package on 3.10
        tomllib: Any = importlib.import_module("tomllib" if sys.version_info >= (3, 11) else "tomli")
        try:
            return tomllib.loads(text.decode("utf-8"))
        except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
            raise ConfigError(f"{path}: not valid TOML: {exc}") from None
    if suffix == ".json":
        try:
            return json.loads(text.decode("utf-8"), parse_constant=_no_constant)
        except (json.JSONDecodeError, UnicodeDecodeError, ValueError) as exc:
            raise ConfigError(f"{path}: not valid JSON: {exc}") from None
    raise ConfigError(f"{path}: unknown config format {suffix!r} (use .yaml, .yml, .toml or .json)")


def _no_constant(name: str) -> object:
    raise ValueError(f"{name} is not allowed")


def load_config(path: str | os.PathLike[str], overrides: dict[str, Any] | None = None) -> ServerConfig:
    """Read and validate a YAML/TOML/JSON config file (relative router paths resolve next to it).

    ``overrides`` replace top-level fields (the command line's ``--port``, ``--redis``...) before validation.
    """
    p = Path(path)
    if p.suffix.lower() not in (".yaml", ".yml", ".toml", ".json"):
        raise ConfigError(f"{p}: unknown config format {p.suffix!r} (use .yaml, .yml, .toml or .json)")
    try:
        data = _read(p)
    except OSError as exc:
        raise ConfigError(f"cannot read config {p}: {exc.strerror or exc}") from None
    if overrides and isinstance(data, dict):
        merged = dict(overrides)
        if isinstance(overrides.get("traffic"), dict) and isinstance(data.get("traffic"), dict):
            merged["traffic"] = {**data["traffic"], **overrides["traffic"]}  # --shadow-rate keeps the file's dir
        data = {**data, **merged}
    return parse_config(data, base_dir=p.resolve().parent, source=f"config {p}")
