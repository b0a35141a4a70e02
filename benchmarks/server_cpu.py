"""The server's CPU per request in process: what serving one request costs the server itself.

    PYTHONPATH=CHECKOUT python benchmarks/server_cpu.py [--blocks 20] [--per-block 25] [--label NAME]

The app (``create_app``) is called through ``httpx.ASGITransport`` and reaches the scripted upstream
(``automix_server.testing.FakeUpstream``) in the same process, so no socket or other process is timed:
each request is one cascade with k=2 (an answer call and one verification call with n=2, the small answer
accepted), authentication, admission, budget reservation and settlement in memory, the response. After 50
warm-up requests, ``--blocks`` blocks of ``--per-block`` requests are timed with ``time.process_time``;
the figure is the median of the blocks' CPU per request (this shared machine scatters single blocks).
Written for issue 25 (the engine built once per route, not per request): run it in a checkout of each side.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import statistics
import time
from typing import Any

import httpx

from automix_server import create_app, parse_config
from automix_server.testing import FakeUpstream

KEY = "bench-client-key-123456"


def config() -> dict[str, Any]:
    tiers = [{"name": n, "base_url": "http://upstream/v1", "model": n, "timeout": 30,
              "price": {"input_per_million": p, "output_per_million": 2 * p}} for n, p in (("small", 1.0),
                                                                                              ("large", 10.0))]
    return {"api_keys": [{"name": "bench", "key": KEY}],
            "routes": {"automix": {"tiers": tiers, "cascade": {"k": 2, "retries": 0}}}}


async def measure(blocks: int, per_block: int) -> list[float]:
    """CPU microseconds per request, one figure per block."""
    fake = FakeUpstream(keep=10)
    app = create_app(parse_config(config()), transport=httpx.ASGITransport(app=fake.app), install_sighup=False)
    headers = {"Authorization": f"Bearer {KEY}"}
    out: list[float] = []
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://automix") as client:
        async def one(i: int) -> None:
            body = {"model": "automix", "max_tokens": 64,
                    "messages": [{"role": "user", "content": f"question [[id:{i}]]"}]}
            r = await client.post("/v1/chat/completions", json=body, headers=headers)
            assert r.status_code == 200 and r.json()["model"] == "small", r.text

        for i in range(50):
            await one(i)
        for _ in range(blocks):
            start = time.process_time()
            for i in range(per_block):
                await one(i)
            out.append((time.process_time() - start) / per_block * 1e6)
        await app.state.server.aclose()
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--blocks", type=int, default=20)
    ap.add_argument("--per-block", type=int, default=25)
    ap.add_argument("--label", default="")
    a = ap.parse_args()
    logging.disable(logging.WARNING)  # the untrained router's warning, once per engine
    cpu = asyncio.run(measure(a.blocks, a.per_block))
    print(f"{a.label} server CPU per request: median {statistics.median(cpu):.0f} µs over {a.blocks} blocks of "
          f"{a.per_block} (blocks {min(cpu):.0f}-{max(cpu):.0f} µs)".strip())


if __name__ == "__main__":
    main()
