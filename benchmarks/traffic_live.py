"""Traffic capture and shadow evaluation on real local models, live: what the ``automix_shadow_*`` figures
say after a short run, and what shadowing does to response time.

``python benchmarks/traffic_live.py [--local smollm2-135m,qwen2.5-coder-0.5b] [--requests 40] [--shadow-rate 1]``

``automix serve --local SMALL,LARGE --traffic DIR --shadow-rate R`` answers ``--requests`` PubMedQA questions
(``data/pubmedqa_qwen_pair.jsonl``: question, abstract as context, asked for yes/no/maybe), one at a time,
through the OpenAI-compatible endpoint. Then, from the records and the ``/metrics`` page:

* agreement: the share of served answers that agree with the large (reference) tier's answer on the
  shadowed requests, with its 95% Wilson interval (the server's own ``automix_shadow_agreement``);
* served cost / always-large cost: what the cascade spent on the shadowed requests (verification included)
  against what the large tier's answers alone cost on the same requests (tokens measured, local prices);
* escalation rate, shadow spend, and, where the data has gold labels, how often the agreement label equals
  the gold label (is the served answer right exactly when it agrees?);
* response time: p50 of the same questions answered by a second server without traffic capture (run
  after the first one), against p50 with shadowing. On a CPU-bound machine the shadow work of one request
  competes with the next request's compute: shadowing adds no wait to a response, but it does take cores.

Writes ``benchmarks/results/traffic_live_<small model family>.json`` and ``.txt``.
"""

from __future__ import annotations

import argparse
import json
import os
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
KEY = "bench-traffic-key-123456"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def serve(args: argparse.Namespace, tmp: Path, traffic: bool) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    cmd = [sys.executable, "-m", "automix_server", "--local", args.local, "--port", str(port), "--api-key", KEY,
           "--max-tokens", str(args.max_tokens), "--parallel", "2", "--log-level", "warning"]
    if args.k is not None:  # else the server's default: the shipped router's method for the shipped pair, else 4
        cmd += ["--k", str(args.k)]
    if traffic:
        cmd += ["--traffic", str(tmp / "traffic"), "--shadow-rate", str(args.shadow_rate)]
    proc = subprocess.Popen(cmd)
    deadline = time.monotonic() + 600
    url = f"http://127.0.0.1:{port}"
    while True:
        if proc.poll() is not None:
            raise RuntimeError(f"automix serve exited with {proc.returncode}")
        try:
            if httpx.get(f"{url}/health", timeout=2).status_code == 200:
                return proc, url
        except httpx.HTTPError:
            pass
        if time.monotonic() > deadline:
            raise RuntimeError("automix serve did not start")
        time.sleep(0.5)


def stop(proc: subprocess.Popen[bytes]) -> None:
    proc.send_signal(signal.SIGINT)
    try:
        proc.wait(120)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def questions(n: int) -> list[dict[str, Any]]:
    rows = [json.loads(line) for line in (ROOT / "data" / "pubmedqa_qwen_pair.jsonl").open()]
    return rows[:n]


def ask(url: str, row: dict[str, Any], max_tokens: int) -> tuple[float, dict[str, Any]]:
    body = {"model": "automix", "max_tokens": max_tokens,
            "messages": [{"role": "system", "content": "Answer the question about the abstract with yes, no or maybe, "
                                                       "then one short sentence."},
                         {"role": "user", "content": f"Abstract: {row['context']}\n\nQuestion: {row['query']}"}]}
    t0 = time.perf_counter()
    r = httpx.post(f"{url}/v1/chat/completions", json=body, headers={"Authorization": f"Bearer {KEY}"}, timeout=900)
    r.raise_for_status()
    return time.perf_counter() - t0, r.json()


def label(text: str | None) -> str | None:
    words = (text or "").lower().replace(".", " ").replace(",", " ").split()
    return next((w for w in words if w in ("yes", "no", "maybe")), None)


def metric(text: str, name: str) -> float | None:
    for line in text.splitlines():
        if line.startswith(name + " ") or line.startswith(name + "{"):
            return float(line.rsplit(" ", 1)[1])
    return None


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--local", default="smollm2-135m,qwen2.5-coder-0.5b")
    ap.add_argument("--requests", type=int, default=40)
    ap.add_argument("--shadow-rate", type=float, default=1.0)
    ap.add_argument("--k", type=int, default=None)
    ap.add_argument("--max-tokens", type=int, default=24)
    ap.add_argument("--baseline", type=int, default=None, help="requests without capture (default: --requests / 2)")
    args = ap.parse_args()
    from automix_core.traffic import read_traffic, wilson

    rows = questions(args.requests)
    gold = {r["query"]: r.get("reference") for r in rows}  # a record's query is the whole user message

    def gold_of(rec: dict[str, Any]) -> str | None:
        return next((g for q, g in gold.items() if q in (rec.get("query") or "")), None)

    tmp = Path(tempfile.mkdtemp(prefix="traffic-live-"))
    proc, url = serve(args, tmp, traffic=True)
    try:
        timed = [ask(url, r, args.max_tokens) for r in rows]
        deadline = time.monotonic() + 1800
        while len(read_traffic(tmp / "traffic")) < len(rows) and time.monotonic() < deadline:
            time.sleep(1)
        page = httpx.get(f"{url}/metrics", timeout=30).text
    finally:
        stop(proc)
    recs = read_traffic(tmp / "traffic")
    shadowed = [r for r in recs if r["shadow"]]
    ref = recs[0]["reference_model"]
    agree = [bool(r["outputs"][r["served"]]["agrees"]) for r in shadowed]
    served_cost = sum(o["cost"] for r in shadowed for o in r["outputs"].values() if o["visited"])
    large_cost = sum(r["outputs"][ref]["cost"] - r["outputs"][ref]["verifier_cost"] for r in shadowed)
    esc = sum(any(d["decision"] == "escalate" for d in r["decisions"]) for r in recs)
    pairs = [(label(r["outputs"][r["served"]]["answer"]) == gold_of(r), a) for r, a in zip(shadowed, agree)
             if gold_of(r)]
    n_base = args.baseline if args.baseline is not None else max(1, args.requests // 2)
    base_lat: list[float] = []
    if n_base:
        proc, url = serve(args, tmp, traffic=False)
        try:
            base_lat = [ask(url, r, args.max_tokens)[0] for r in rows[:n_base]]
        finally:
            stop(proc)
    lat = [t for t, _ in timed]
    lo, hi = wilson(sum(agree), len(agree))
    out: dict[str, Any] = {
        "command": "python benchmarks/traffic_live.py " + " ".join(sys.argv[1:]), "pair": args.local,
        "requests": len(recs), "shadowed": len(shadowed), "shadow_rate": args.shadow_rate, "k": args.k,
        "agreement": sum(agree) / len(agree) if agree else None, "agreement_wilson95": [lo, hi],
        "served_cost_usd": served_cost, "always_large_cost_usd": large_cost,
        "cost_ratio": served_cost / large_cost if large_cost else None,
        "escalation_rate": esc / len(recs), "shadow_spend_usd": metric(page, "automix_shadow_spend_usd_total") or 0.0,
        "metric_agreement": metric(page, "automix_shadow_agreement"),
        "agreement_equals_gold": (sum(c == a for c, a in pairs) / len(pairs)) if pairs else None,
        "served_correct_gold": (sum(c for c, _ in pairs) / len(pairs)) if pairs else None,
        "latency_p50_s_with_shadow": statistics.median(lat), "latency_p50_s_without": statistics.median(base_lat)
        if base_lat else None, "latency_p50_s_with_shadow_same_questions": statistics.median(lat[:len(base_lat)])
        if base_lat else None, "cpu_count": os.cpu_count(),
    }
    RESULTS.mkdir(parents=True, exist_ok=True)
    stem = "traffic_live_" + args.local.split(",")[0].split("-")[0]  # one result per pair family
    (RESULTS / f"{stem}.json").write_text(json.dumps(out, indent=1))
    text = "\n".join(f"{k}: {v}" for k, v in out.items())
    (RESULTS / f"{stem}.txt").write_text(text + "\n")
    print(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
