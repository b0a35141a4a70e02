"""Worker processes: the server's own supervisor (``automix serve --workers 2``) against uvicorn's
(``uvicorn --factory --workers 2`` over the same app), on a config reload while a client sends requests.

    PYTHONPATH=. python benchmarks/worker_reload.py [--repeats 3]

Per manager and run: the seconds from SIGHUP until 20 fresh connections in a row (each may land on either
worker) are served with the new config's client key; requests that failed meanwhile (a client posting
chat completions without pause, over the scripted upstream ``automix_server.testing``); after a SIGHUP
with a broken config, how many of 40 fresh requests are still served (with the last good config) and
whether the worker processes were replaced. Seconds are the median (min-max) of ``--repeats`` runs.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import httpx
import yaml
from server_latency import free_port, start_fake, wait

PY = sys.executable
FACTORY = """import os
from automix_server import create_app, load_config
def app():
    return create_app(load_config(os.environ["AUTOMIX_CFG"]), install_sighup=False)
"""


def config(upstream: str, key: str, port: int) -> dict[str, Any]:
    tiers = [{"name": n, "base_url": upstream, "model": n, "price": {"input_per_million": 1.0,
                                                                     "output_per_million": 2.0}}
             for n in ("small", "large")]
    return {"api_keys": [{"name": "bench", "key": key}], "workers": 2, "port": port,
            "routes": {"automix": {"tiers": tiers, "cascade": {"k": 2, "retries": 0}}}}


def served(base: str, key: str) -> bool:
    try:
        r = httpx.get(base + "/v1/models", headers={"Authorization": f"Bearer {key}", "connection": "close"},
                      timeout=5)
    except httpx.HTTPError:
        return False
    return r.status_code == 200


def pids(base: str) -> set[int]:
    out: set[int] = set()
    for _ in range(40):
        with contextlib.suppress(httpx.HTTPError):
            out.add(httpx.get(base + "/health", headers={"connection": "close"}, timeout=5).json()["pid"])
    return out


def one_run(manager: str, upstream: str, work: Path, env: dict[str, str]) -> dict[str, Any]:
    port = free_port()
    path = work / f"{manager}.yaml"
    path.write_text(yaml.safe_dump(config(upstream, "old-key-123456", port)))
    if manager == "supervisor":
        cmd = [PY, "-c", "from automix_core.cli import main; raise SystemExit(main())", "serve", "--config",
               str(path), "--log-level", "warning"]
    else:
        cmd = [PY, "-m", "uvicorn", "--factory", "factory:app", "--app-dir", str(work), "--workers", "2",
               "--port", str(port), "--log-level", "warning"]
    proc = subprocess.Popen(cmd, env=dict(env, AUTOMIX_CFG=str(path)), start_new_session=True,
                            stderr=subprocess.DEVNULL)
    base = f"http://127.0.0.1:{port}"
    key = {"now": "old-key-123456"}
    failed: list[str] = []
    stop = threading.Event()

    def client() -> None:
        body = {"model": "automix", "messages": [{"role": "user", "content": "q [[id:x]]"}]}
        with httpx.Client(base_url=base, timeout=30) as c:
            while not stop.is_set():
                try:
                    r = c.post("/v1/chat/completions", json=body, headers={"Authorization": f"Bearer {key['now']}"})
                    if r.status_code not in (200, 401):  # 401: the key changed under this request
                        failed.append(str(r.status_code))
                except httpx.HTTPError as exc:
                    failed.append(type(exc).__name__)

    try:
        wait(base + "/health", proc)
        th = threading.Thread(target=client)
        th.start()
        time.sleep(1.0)
        before = pids(base)
        path.write_text(yaml.safe_dump(config(upstream, "new-key-123456", port)))
        t0 = time.perf_counter()
        os.kill(proc.pid, signal.SIGHUP)
        streak = 0
        while streak < 20 and time.perf_counter() - t0 < 120:
            streak = streak + 1 if served(base, "new-key-123456") else 0
            time.sleep(0.01)
        reload_s = time.perf_counter() - t0
        key["now"] = "new-key-123456"
        time.sleep(1.0)
        after_good = pids(base)
        path.write_text("routes: {automix: {tiers: []}}\n")
        os.kill(proc.pid, signal.SIGHUP)
        time.sleep(8)
        still = sum(served(base, "new-key-123456") for _ in range(40))
        stop.set()
        th.join()
        return {"reload_s": reload_s, "failed": len(failed), "still": still,
                "replaced": not (before & after_good)}
    finally:
        stop.set()
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--repeats", type=int, default=3)
    a = ap.parse_args()
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(Path(__file__).resolve().parents[1]),
                                                       os.environ.get("PYTHONPATH", "")]))
    os.environ["PYTHONPATH"] = env["PYTHONPATH"]  # the fake upstream runs this checkout's code too
    fake, upstream = start_fake(0.0)
    try:
        with tempfile.TemporaryDirectory() as tmp:
            work = Path(tmp)
            (work / "factory.py").write_text(FACTORY)
            print("manager     reload s (median, min-max)  failed requests  broken config: served  workers replaced")
            for manager in ("supervisor", "uvicorn"):
                runs = [one_run(manager, upstream, work, env) for _ in range(a.repeats)]
                secs = [r["reload_s"] for r in runs]
                print(f"{manager:<11} {statistics.median(secs):6.2f} ({min(secs):.2f}-{max(secs):.2f})"
                      f"{'':13}{sum(r['failed'] for r in runs):>5}           "
                      f"{'/'.join(str(r['still']) for r in runs)} of 40      "
                      f"{'/'.join('yes' if r['replaced'] else 'no' for r in runs)}", flush=True)
    finally:
        fake.terminate()
        fake.wait(10)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
