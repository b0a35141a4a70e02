"""The server's traffic capture: records and shadow evaluation after the response is sent, the
``automix_shadow_*`` metrics, and the Redis stream sink.

After a cascade's response has gone out, :meth:`Capture.after` starts a task that hands the request to the
core's :class:`~automix_core.traffic.Traffic` (record, and shadow if drawn). The shadow calls' usage is
settled into the shared ledger under ``purpose="shadow"`` with no budget scope (shadowing has its own
budget, never a client's). With ``state: redis://...`` records go to the Redis stream
``{prefix}:traffic``; while Redis is unreachable they are appended to ``spool-<pid>.jsonl`` in the traffic
folder (fsynced) and moved to the stream when it answers again.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import threading
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from automix_core import AutoMixResult, Ledger, Message, RequestContext, TrafficConfig
from automix_core.integration import append_record
from automix_core.traffic import Sink, Traffic, TrafficWriter, scrub_record

from .metrics import Metrics
from .state import State

if TYPE_CHECKING:
    from .service import RouteRuntime

__all__ = ["Capture", "RedisTrafficSink", "build_traffic", "read_stream"]

log = logging.getLogger("automix_server")


class RedisTrafficSink:
    """Records to the Redis stream ``{prefix}:traffic`` (trimmed to about ``maxlen`` entries); a record that
    cannot be sent is appended to a local spool file and sent by :meth:`reconcile` once Redis answers."""

    def __init__(self, url: str, prefix: str, spool_dir: str, *, scrub: Callable[[str], str],
                 maxlen: int = 1_000_000) -> None:
        import redis

        self.client: Any = redis.Redis.from_url(url, decode_responses=True, socket_timeout=5,
                                                socket_connect_timeout=2)
        self.key = f"{prefix}:traffic"
        self.maxlen = maxlen
        self.scrub = scrub
        Path(spool_dir).mkdir(parents=True, exist_ok=True)
        self.spool = Path(spool_dir) / f"spool-{os.getpid()}.jsonl"
        self._lock = threading.Lock()
        self.spooled = 0
        self.sent = 0

    def _xadd(self, line: str) -> None:
        self.client.xadd(self.key, {"record": line}, maxlen=self.maxlen, approximate=True)

    def write(self, record: dict[str, Any]) -> None:
        clean = scrub_record(record, self.scrub)
        with self._lock:
            if self.spool.exists():
                self._reconcile_locked()
            if not self.spool.exists():
                try:
                    self._xadd(json.dumps(clean, ensure_ascii=False, allow_nan=False))
                    self.sent += 1
                    return
                except Exception as exc:
                    log.warning("traffic: Redis unreachable (%s); spooling records to %s", type(exc).__name__,
                                self.spool)
            append_record(self.spool, clean)
            self.spooled += 1

    def _reconcile_locked(self) -> int:
        try:
            lines = [ln for ln in self.spool.read_text(encoding="utf-8").split("\n")[:-1] if ln.strip()]
        except FileNotFoundError:
            return 0
        done = 0
        try:
            for ln in lines:
                self._xadd(ln)
                done += 1
        except Exception:
            if done:  # keep only what was not sent (rewritten whole, then renamed over the spool)
                tmp = self.spool.with_suffix(".tmp")
                tmp.write_text("".join(ln + "\n" for ln in lines[done:]), encoding="utf-8")
                os.replace(tmp, self.spool)
            return done
        self.spool.unlink(missing_ok=True)
        self.sent += done
        log.info("traffic: Redis answers again; %d spooled records sent to %s", done, self.key)
        return done

    def reconcile(self) -> int:
        """Send the spooled records to the stream (when Redis answers); how many were sent."""
        with self._lock:
            return self._reconcile_locked() if self.spool.exists() else 0

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self.client.close()


def read_stream(url: str, prefix: str = "automix") -> list[dict[str, Any]]:
    """Every record in the stream ``{prefix}:traffic``, one per id (learn first, tests, exports)."""
    import redis

    client: Any = redis.Redis.from_url(url, decode_responses=True)
    try:
        entries: list[tuple[str, dict[str, str]]] = client.xrange(f"{prefix}:traffic")
        out: dict[str, dict[str, Any]] = {}
        for _, f in entries:  # a spool replayed after a crash may have sent a record twice: keep one
            rec = json.loads(f["record"])
            out.setdefault(str(rec.get("id")), rec)
        return list(out.values())
    finally:
        client.close()


def build_traffic(config: TrafficConfig | None, state_url: str, prefix: str, base_dir: str | None,
                  scrub: Callable[[str], str]) -> Traffic | None:
    """The process's :class:`Traffic` for the config's ``traffic:`` section (None without one)."""
    if config is None:
        return None
    folder = Path(config.dir)
    if not folder.is_absolute() and base_dir is not None:
        folder = Path(base_dir) / folder
    sink: Sink
    if state_url == "memory":
        sink = TrafficWriter(folder, max_bytes=config.max_bytes, keep=config.keep, scrub=scrub)
    else:
        sink = RedisTrafficSink(state_url, prefix, str(folder), scrub=scrub)
    return Traffic(config.model_copy(update={"dir": str(folder)}), sink=sink)


class Capture:
    """Runs traffic capture after responses (tasks kept until done) and keeps the metrics in step."""

    def __init__(self, traffic: Traffic, metrics: Metrics, state: State) -> None:
        self.traffic = traffic
        self.metrics = metrics
        self.state = state
        self.tasks: set[asyncio.Task[None]] = set()
        self.listeners: list[Callable[[dict[str, Any]], None]] = []

    def after(self, rid: str, route: RouteRuntime, result: AutoMixResult, question: str, context: str,
              messages: list[Message] | None, request: RequestContext, ledger: Ledger, learning: bool = False) -> None:
        """Start recording (and shadowing, if drawn or ``learning``) one answered request; returns at once. The
        shadow calls run on the route's engine (its twin) with the request's context, billed to ``ledger``."""
        task = asyncio.get_running_loop().create_task(
            self._run(rid, route, result, question, context, messages, request, ledger, learning))
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    async def _run(self, rid: str, route: RouteRuntime, result: AutoMixResult, question: str, context: str,
                   messages: list[Message] | None, request: RequestContext, ledger: Ledger, learning: bool) -> None:
        from .service import usage_records

        try:
            router = Path(route.config.router).name if route.config.router and not learning else "untrained"
            rec, usages = await self.traffic.process_async(route.engine, result, question, context, messages, rid=rid,
                                                           route=route.name, force=learning, router=router,
                                                           ledger=ledger, request=request)
        except Exception as exc:
            log.error("%s: traffic capture failed: %s: %s", rid, type(exc).__name__, exc)
            return
        if usages:
            try:
                await self.state.settle(f"{rid}:shadow", [], usage_records(usages))
            except Exception as exc:  # the record is written; the shared ledger misses this shadow spend
                log.error("%s: settling the shadow spend failed: %s", rid, type(exc).__name__)
        self.metrics.observe_traffic(rec, usages, self.traffic)
        for fn in self.listeners:
            fn(rec)

    async def drain(self, timeout: float) -> None:
        """Wait (up to ``timeout`` s) for the captures under way, and for what they started (a fit)."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while self.tasks and loop.time() < deadline:
            await asyncio.wait(list(self.tasks), timeout=deadline - loop.time())

    async def reconcile_forever(self, every: float = 2.0) -> None:
        """Move spooled records to the Redis stream whenever Redis answers (a task of the server's life)."""
        sink = self.traffic.sink
        if not isinstance(sink, RedisTrafficSink):
            return
        while True:
            await asyncio.sleep(every)
            try:
                await asyncio.to_thread(sink.reconcile)
            except Exception as exc:
                log.debug("traffic reconcile: %s", exc)
