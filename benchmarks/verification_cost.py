"""Verification cost on the real local server: tokens billed per verified answer, by verification mode.

    python benchmarks/verification_cost.py [--items 10] [--model qwen2.5-coder-0.5b] [--json out.json]

For each PubMedQA item (examples/data/pubmedqa_40.json) the small local model answers once
(greedy), then the same answer is verified by each mode:

* ``one``:        a single verification sample (k=1), the unit everything is compared against;
* ``n8``:         k=8 samples in one request with ``n=8`` (the prompt is billed once);
* ``8req``:       k=8 samples as 8 separate requests, sent one after another so the server's prompt
                  cache holds the shared prompt (``cached`` = prompt tokens the server reused on a
                  mode's 2nd and later calls; the first call of each mode pays its whole prompt);
* ``sequential``: early stopping (``Verifier(mode="sequential")``, batches of 2 via ``n=2``,
                  stop once the Beta posterior is >= 0.95 on one side of 0.5, at most 8 samples);
* ``logprob``:    the single-call logprob verifier (one greedy call, confidence from token logprobs).

Tokens are the counts the llama.cpp server reported (output tokens of every choice counted from the
per-token entries). ``input (cache-discounted)`` bills reused prompt tokens at 10% (Anthropic's
cache-read price; OpenAI's is 50%). The quality each mode gives the router (ΔIBC) is measured by
``benchmarks/verification_quality.py`` on the recorded dataset; here ``|Δconf|`` is the mean absolute
difference of each mode's confidence from the k=8 (``n8``) confidence.
Uses qwen2.5-coder-0.5b if installed, else smollm2-135m; skips cleanly when neither is.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from automix_core import Generation, LocalServer, Message
from automix_core.backends.local import is_installed
from automix_core.calibration.collect import load_pubmedqa
from automix_core.verify import Verifier

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "examples" / "data" / "pubmedqa_40.json"
OUT = ROOT / "benchmarks" / "results" / "verification_cost.json"
MODES = ("one", "n8", "8req", "sequential", "logprob")
CACHE_PRICE = 0.1


def _cached(gen: Generation) -> int:
    """Prompt tokens the server reused from its cache (the client reads llama.cpp's `timings.cache_n`)."""
    return gen.cached_input_tokens or 0


@dataclass
class Tally:
    calls: list[int] = field(default_factory=list)
    samples: list[int] = field(default_factory=list)
    input: list[int] = field(default_factory=list)
    cached: list[int] = field(default_factory=list)
    output: list[int] = field(default_factory=list)
    seconds: list[float] = field(default_factory=list)
    confidence: list[float] = field(default_factory=list)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--items", type=int, default=10, help="PubMedQA items (default 10)")
    ap.add_argument("--model", default=None, help="local model (default qwen2.5-coder-0.5b, else smollm2-135m)")
    ap.add_argument("--k", type=int, default=8)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--max-tokens", type=int, default=160, help="verification reply cap (as `automix collect`)")
    ap.add_argument("--json", default=str(OUT))
    a = ap.parse_args()
    name = a.model or next((m for m in ("qwen2.5-coder-0.5b", "smollm2-135m") if is_installed(m)), None)
    if name is None or not is_installed(name):
        print("no local model installed (automix models install qwen2.5-coder-0.5b); skipping")
        return 0
    items = load_pubmedqa(DATA)[: a.items]
    tallies = {m: Tally() for m in MODES}
    with LocalServer(name, parallel=a.k, threads=a.threads) as server:
        with_n = server.model(name="small")
        without_n = server.model(name="small", supports_n=False)
        verifiers = {
            "one": Verifier(with_n, k=1, max_tokens=a.max_tokens),
            "n8": Verifier(with_n, k=a.k, max_tokens=a.max_tokens),
            "8req": Verifier(without_n, k=a.k, max_tokens=a.max_tokens),
            "sequential": Verifier(with_n, k=a.k, max_tokens=a.max_tokens, mode="sequential", batch_size=2),
            "logprob": Verifier(with_n, k=a.k, max_tokens=a.max_tokens, mode="logprob"),
        }
        for i, item in enumerate(items):
            content = f"Context:\n{item.context}\n\nQuestion: {item.question}\n{item.instruction}"
            msgs: list[Message] = [{"role": "user", "content": content}]
            answer = with_n.generate(msgs, n=1, temperature=0.0, max_tokens=64).texts[0]
            for mode in MODES:
                t0 = time.perf_counter()
                v = verifiers[mode].verify(item.question, answer, item.context)
                t = tallies[mode]
                t.seconds.append(time.perf_counter() - t0)
                t.calls.append(len(v.generations))
                t.samples.append(sum(len(g.texts) for g in v.generations))
                t.input.append(sum(g.input_tokens or 0 for g in v.generations))
                # cache reuse within a mode only: its first call pays the full prompt
                t.cached.append(sum(_cached(g) for g in v.generations[1:]))
                t.output.append(sum(g.output_tokens or 0 for g in v.generations))
                t.confidence.append(v.confidence)
            print(f"  item {i + 1}/{len(items)} done ({item.id}); conf " +
                  " ".join(f"{m}={tallies[m].confidence[-1]:.2f}" for m in MODES), flush=True)
    base = tallies["one"]
    one_total = sum(base.input) + sum(base.output)
    rows: dict[str, dict[str, Any]] = {}
    print(f"\nverification cost per answer, {name} on {len(items)} PubMedQA items (means; time = median s, noisy)")
    hdr = (f"{'mode':11s} {'calls':>6s} {'samples':>8s} {'input':>8s} {'cached':>7s} {'output':>7s} {'total':>8s}"
           f" {'x one':>6s} {'in(cache-disc.)':>16s} {'x one':>6s} {'time s':>7s} {'|Δconf|':>8s}")
    print(hdr)
    n = len(items)
    for mode in MODES:
        t = tallies[mode]
        total = sum(t.input) + sum(t.output)
        disc = sum(t.input) - (1 - CACHE_PRICE) * sum(t.cached) + sum(t.output)
        dconf = statistics.mean(abs(c - r) for c, r in zip(t.confidence, tallies["n8"].confidence))
        rows[mode] = {
            "calls": sum(t.calls) / n, "samples": sum(t.samples) / n, "input_tokens": sum(t.input) / n,
            "cached_tokens": sum(t.cached) / n, "output_tokens": sum(t.output) / n, "total_tokens": total / n,
            "ratio_vs_one": total / one_total, "total_cache_discounted": disc / n,
            "ratio_cache_discounted_vs_one": disc / one_total, "median_seconds": statistics.median(t.seconds),
            "mean_abs_conf_diff_vs_n8": dconf, "confidences": t.confidence,
        }
        r = rows[mode]
        print(f"{mode:11s} {r['calls']:6.1f} {r['samples']:8.1f} {r['input_tokens']:8.0f} {r['cached_tokens']:7.0f}"
              f" {r['output_tokens']:7.0f} {r['total_tokens']:8.0f} {r['ratio_vs_one']:6.2f}"
              f" {r['total_cache_discounted']:16.0f} {r['ratio_cache_discounted_vs_one']:6.2f}"
              f" {r['median_seconds']:7.2f} {dconf:8.3f}")
    Path(a.json).write_text(json.dumps({"model": name, "items": n, "k": a.k, "cache_price": CACHE_PRICE,
                                        "quality_dibc": "see verification_quality.json", "modes": rows}, indent=1))
    print(f"wrote {a.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
