"""Learn first: the cold start of a route without a router (``learn: {records: N}``, ``--learn N``).

While a route is *learning*, its reference (last) tier answers every request, and every request is shadowed
(weight 1): the cheaper tiers answer and verify after the response is sent, so each record holds every
tier's answer, confidence and agreement with the reference. Once the route has ``records`` shadowed records
in the traffic folder (all workers'), :class:`Learner` fits a router on them with the calibration side's
``fit_from_traffic`` (agreement labels, a validation split), writes it atomically as
``router-<route>.json`` in the traffic folder, and rebuilds the runtime the way a reload does (all or
nothing); from then on the route runs the cascade. Every worker takes the file once it exists, and so does
a restarted server. A fit that fails (too few usable records) is logged and tried again after
``records // 5`` more records.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from automix_core import Router

from .config import LearnConfig

if TYPE_CHECKING:
    from .server import ServerApp
    from .service import Runtime

__all__ = ["Fitter", "Learner", "announce_routes", "fit_from_records"]

log = logging.getLogger("automix_server")

Fitter = Callable[[Sequence[dict[str, Any]], str, LearnConfig], tuple[Router, str]]
"""(the route's shadowed records, route name, settings) -> (router, a one-line summary of its validation)."""


def fit_from_records(records: Sequence[dict[str, Any]], route: str, cfg: LearnConfig) -> tuple[Router, str]:
    """The default :data:`Fitter`: the core's :func:`~automix_core.fit_from_traffic`."""
    from automix_core import Record
    from automix_core.calibration import fit_from_traffic

    fit = fit_from_traffic([Record.model_validate(r) for r in records], policy=cfg.policy,
                              validation=cfg.validation, seed=0, min_records=min(cfg.records, len(records)),
                              route=route)
    lo, hi = fit.validation_ci
    return fit.router, (f"{fit.n_used} shadowed records ({fit.n_train} train, {fit.n_validation} validation): "
                        f"validation ΔIBC {fit.validation_dibc:.3f} [{lo:.3f}, {hi:.3f}] (agreement labels)")


def announce_routes(runtime: Runtime) -> None:
    """Log, at start, which routes learn first and which run without a calibrated router."""
    for name, r in runtime.routes.items():
        if r.learning:
            log.info("learn: route %s has no router yet: its reference tier serves while every request is shadowed, "
                     "until %d shadowed records", name, runtime.config.learn.records if runtime.config.learn else 0)
        elif r.config.router is None:
            log.warning("route %s has no calibrated router (the default accepts what the verifier calls correct); "
                        "to learn one from traffic: --traffic DIR --learn 300 (docs/serving-traffic.md)", name)


class Learner:
    """Counts each learning route's shadowed records and fits its router when there are enough."""

    def __init__(self, server: ServerApp, fit: Fitter = fit_from_records) -> None:
        self.server = server
        self.fit = fit
        self.counts: dict[str, int] = {}
        self.next_try: dict[str, int] = {}
        self.busy: set[str] = set()
        assert server.capture is not None
        server.capture.listeners.append(self.observe)
        for name, route in server.runtime.routes.items():
            server.metrics.shadow_learning.labels(name).set(int(route.learning))

    @property
    def config(self) -> LearnConfig:
        cfg = self.server.runtime.config.learn
        assert cfg is not None
        return cfg

    def observe(self, rec: dict[str, Any]) -> None:
        name = str(rec.get("route"))
        route = self.server.runtime.routes.get(name)
        if route is None or not route.learning:
            return
        learned = self.server.runtime.config.learned_router(name)
        if learned is not None and learned.exists():  # another worker learnt it
            self._adopt(name, "learnt by another worker")
            return
        if not rec.get("shadow"):
            return
        self.counts[name] = self.counts.get(name, 0) + 1
        if name in self.busy or self.counts[name] < self.next_try.get(name, self.config.records):
            return
        self.busy.add(name)
        task = asyncio.get_running_loop().create_task(self._learn(name))
        self.server.capture.tasks.add(task)  # type: ignore[union-attr]
        task.add_done_callback(self.server.capture.tasks.discard)  # type: ignore[union-attr]

    def _records(self, name: str) -> list[dict[str, Any]]:
        from automix_core.traffic import read_traffic

        from .traffic import RedisTrafficSink, read_stream

        capture = self.server.capture
        assert capture is not None
        sink = capture.traffic.sink
        rows = read_stream(self.server.runtime.config.state, self.server.runtime.config.state_prefix) \
            if isinstance(sink, RedisTrafficSink) else read_traffic(Path(capture.traffic.config.dir))
        return [r for r in rows if r.get("route") == name and r.get("shadow")]

    async def _learn(self, name: str) -> None:
        cfg = self.config
        try:
            records = await asyncio.to_thread(self._records, name)
            router, summary = await asyncio.to_thread(self.fit, records, name, cfg)
            path = self.server.runtime.config.learned_router(name)
            assert path is not None
            await asyncio.to_thread(router.save, path)
        except Exception as exc:
            self.next_try[name] = self.counts.get(name, 0) + max(1, cfg.records // 5)
            log.warning("learn: route %s: no router yet (%s: %s); trying again after %d shadowed records", name,
                        type(exc).__name__, exc, self.next_try[name])
            return
        finally:
            self.busy.discard(name)
        log.info("learn: route %s: router fitted on %s; saved to %s", name, summary, path)
        self._adopt(name, summary)

    def _adopt(self, name: str, why: str) -> None:
        if self.server.rebuild():
            self.server.metrics.shadow_router_swaps.labels(name).inc()
            self.server.metrics.shadow_learning.labels(name).set(0)
            log.info("learn: route %s switched from the reference tier to the cascade (%s)", name, why)
