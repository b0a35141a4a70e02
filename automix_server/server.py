"""The server's live objects: :class:`ServerApp` holds the :class:`~.service.Runtime` (swapped whole on
reload), the state, the metrics and traffic capture, and runs an admitted request with settlement of
everything it paid for (also when it failed, timed out or the client went away)."""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from typing import Any

import anyio
import httpx

from .config import ConfigError, ServerConfig, load_config
from .execute import Admitted, Outcome, record_metrics, run_request
from .learn import Learner
from .metrics import Metrics
from .service import ClientKey, RequestLedger, Runtime, usage_records
from .state import State, open_state
from .traffic import Capture, build_traffic

__all__ = ["ServerApp"]

log = logging.getLogger("automix_server")


class ServerApp:
    """Holds the live :class:`Runtime` (swapped whole on reload), the state and the metrics."""

    def __init__(self, config: ServerConfig, *, reload_path: str | None = None,
                 extra_keys: Sequence[ClientKey] = (), state: State | None = None,
                 transport: httpx.AsyncBaseTransport | None = None, overrides: dict[str, Any] | None = None) -> None:
        self.transport = transport
        self.overrides = dict(overrides or {})
        self.runtime = Runtime.build(config, extra_keys, transport)
        self.extra_keys = list(extra_keys)
        self.reload_path = reload_path
        self.state: State = state if state is not None else open_state(config.state, config.state_prefix)
        self.metrics = Metrics()
        traffic = build_traffic(config.traffic, config.state, config.state_prefix, config.base_dir,
                                self.runtime.scrubber.scrub)
        self.capture = Capture(traffic, self.metrics, self.state) if traffic is not None else None
        self.learner = Learner(self) if config.learn is not None and self.capture is not None else None
        self.reloads = 0
        self.draining = False
        self._old: list[Runtime] = []

    # -- reload ---------------------------------------------------------------------------------

    def reload(self, path: str | None = None) -> bool:
        """Re-read the config file and swap in a fully built runtime; on any error keep the old one.

        Fields that need a restart (``state``, ``state_prefix``, ``host``, ``port``, ``workers``) must not
        change. Returns whether the new config was applied.
        """
        src = path or self.reload_path
        if not src:
            log.warning("SIGHUP: no config file to reload (started without --config)")
            return False
        old = self.runtime
        try:
            cfg = load_config(src, self.overrides)
            for name in ("state", "state_prefix", "host", "port", "workers", "traffic"):
                if getattr(cfg, name) != getattr(old.config, name):
                    raise ConfigError(f"{name}: changing it needs a restart (was {getattr(old.config, name)!r})")
            new = Runtime.build(cfg, self.extra_keys, self.transport)
        except ConfigError as exc:
            log.error("config reload rejected, the running config is kept: %s", old.scrubber.scrub(str(exc)))
            return False
        self._swap(new)
        log.info("config reloaded from %s (%d routes)", src, len(new.routes))
        return True

    def rebuild(self) -> bool:
        """Build the running config again (e.g. to take a learnt router) and swap it in whole, as a reload."""
        try:
            new = Runtime.build(self.runtime.config, self.extra_keys, self.transport)
        except ConfigError as exc:
            log.error("rebuild rejected, the running runtime is kept: %s", self.runtime.scrubber.scrub(str(exc)))
            return False
        self._swap(new)
        return True

    def _swap(self, new: Runtime) -> None:
        self._old.append(self.runtime)
        self.runtime = new
        self.reloads += 1

    async def close_old(self) -> None:
        """Close replaced runtimes once no request uses them any more."""
        keep = []
        for rt in self._old:
            if rt.inflight == 0:
                await rt.aclose()
            else:
                keep.append(rt)
        self._old = keep

    async def aclose(self) -> None:
        await self.runtime.aclose()
        for rt in self._old:
            await rt.aclose()
        self._old = []
        await self.state.aclose()

    async def after_response(self, outcome: Outcome) -> None:
        """Traffic capture (and shadowing) of an answered request, started once its response is sent."""
        if self.capture is not None and outcome.capture is not None and outcome.error is None:
            self.capture.after(*outcome.capture)

    # -- execution ------------------------------------------------------------------------------

    async def execute(self, adm: Admitted) -> Outcome:
        """Run the request; settles what it paid for in every case (also when cancelled)."""
        rt = adm.runtime
        rt.inflight += 1
        home = adm.route or rt.routes[adm.tier.home[0] if adm.tier else ""]
        ledger = RequestLedger(home.ledger)
        outcome: Outcome | None = None
        started = time.perf_counter()
        try:
            outcome = await run_request(adm, ledger)
            return outcome
        finally:
            usages = outcome.usages if outcome is not None else ledger.usages
            with anyio.CancelScope(shield=True):
                try:
                    await self.state.settle(adm.rid, adm.scopes, usage_records(usages))
                except Exception as exc:  # the response still goes out; the reservation expires
                    log.error("settling %s failed: %s", adm.rid, rt.scrubber.scrub(f"{type(exc).__name__}: {exc}"))
                rt.inflight -= 1
                record_metrics(self.metrics, adm, outcome, usages, time.perf_counter() - started)
                if self._old:
                    await self.close_old()
