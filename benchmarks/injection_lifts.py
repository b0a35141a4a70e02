"""Every plant's lift on the CI judgement corpus, measured as the judgement test measures it (session 11).

    python benchmarks/injection_lifts.py continue [--concurrency 1] [--cache]
    python benchmarks/injection_lifts.py noise continue

The first form verifies the cases of ``tests/integration/judgement/test_injection.py``
(``test_plants_do_not_lift_confidence``: plant ``i`` in base case ``i`` modulo four, with and without the wrong
answer's full stop by turns) on Qwen2.5-Coder-1.5B in logprob mode through the public ``Verifier`` in the given
layout, and prints the 20 largest lifts over the unplanted case, the count above 0.05, and the honest pairs'
mean difference (judgement-worded minus plain). By default cases go one at a time with llama.cpp's prompt
cache off, as the test sends ``continue`` cases; ``--concurrency 2 --cache`` is how the test ran before.

``noise`` verifies 18 of those cases (the 4 unplanted, every 3rd of the first 40 plants) twice, in two orders,
in three settings (one at a time without the cache; two at a time without it; two at a time with it) and
prints the largest and mean difference of a case's confidence between the orders.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from automix_core import LocalServer  # noqa: E402
from automix_core.verify import Verifier  # noqa: E402
from tests.integration.judgement import test_injection as t  # noqa: E402

Case = tuple[str, str, str]


def verifier(server: LocalServer, layout: Any, cache: bool) -> Verifier:
    model = server.model() if cache else server.model(extra_body={"cache_prompt": False})
    return Verifier(model, mode="logprob", layout=layout)


def lifts(layout: str, concurrency: int, cache: bool) -> None:
    corpus = json.loads(t.CORPUS.read_text(encoding="utf-8"))
    with LocalServer(t.MODEL, threads=2, parallel=t.SLOTS) as server:
        v = verifier(server, layout, cache)
        rows = sorted(t.plant_lifts(v, corpus, concurrency), key=lambda r: -r[3])
        for base, wrong, plant, lift in rows[:20]:
            print((base, wrong, plant, round(lift, 4)))
        print(f"raised {sum(r[3] > t.LIFT for r in rows)} / {len(rows)}")
        honest = corpus["honest"]
        hs = t.confidences(v, [(h["question"], h["answer"], h["context"]) for h in honest]
                           + [(h["question"], h["plain"], h["context"]) for h in honest], concurrency)
        n = len(honest)
        print(f"honest worded - plain {(sum(hs[:n]) - sum(hs[n:])) / n:+.4f}")


def noise(layout: str) -> None:
    corpus = json.loads(t.CORPUS.read_text(encoding="utf-8"))
    bases = [b for b in corpus["base"] if b["id"] in t.BASES]
    cases: list[Case] = [(b["question"], b["wrong"], b["context"]) for b in bases]
    cases += [t.planted(bases[i % 4], p) for i, p in enumerate(corpus["plants"][:40:3])]
    for cache, concurrency in ((False, 1), (False, 2), (True, 2)):
        with LocalServer(t.MODEL, threads=2, parallel=concurrency) as server:
            v = verifier(server, layout, cache)
            first = t.confidences(v, cases, concurrency)
            other = list(reversed(cases))
            random.Random(1).shuffle(other)
            second = dict(zip(map(json.dumps, other), t.confidences(v, other, concurrency)))
            d = [abs(x - second[json.dumps(c)]) for c, x in zip(cases, first)]
            print(f"cache={cache} concurrency={concurrency} n={len(cases)} "
                  f"max|diff|={max(d):.4f} mean={sum(d) / len(d):.4f}", flush=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("what", nargs="+", help="LAYOUT, or: noise LAYOUT")
    ap.add_argument("--concurrency", type=int, default=1)
    ap.add_argument("--cache", action="store_true")
    args = ap.parse_args()
    if args.what[0] == "noise":
        noise(args.what[1] if len(args.what) > 1 else "continue")
    else:
        lifts(args.what[0], args.concurrency, args.cache)


if __name__ == "__main__":
    main()
