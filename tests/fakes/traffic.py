"""Synthetic answered records and traffic in the capture format, for tests (no ../shared needed)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from automix_core.calibration.from_traffic import records_to_traffic
from automix_core.calibration.records import Record

CITIES = ("Lyon", "Marseille", "Nice", "Lille", "Nantes")


def answered_records(n: int = 300, seed: int = 0, *, informative: bool = True, gold: bool = True,
                     verifier_cost: float = 0.0) -> list[Record]:
    """Two tiers answering "What is the capital of France?"-style questions in free text. The large tier
    is right 90% of the time; the small one is right with a chance that falls with a latent difficulty,
    and its verifier confidence is informative (or pure noise)."""
    rng = np.random.default_rng(seed)
    out = []
    for i in range(n):
        d = rng.uniform()
        gold_answer = f"Paris{i}"
        small_right = rng.uniform() < np.clip(1.1 - d, 0.05, 0.95)
        large_right = rng.uniform() < 0.9
        wrong = [f"{CITIES[int(rng.integers(len(CITIES)))]}{i}" for _ in range(2)]
        conf = float(rng.beta(6, 2) if small_right else rng.beta(2, 5)) if informative else float(rng.uniform())
        outputs: dict[str, Any] = {
            "small": {"answer": f"The capital is {gold_answer if small_right else wrong[0]}.", "confidence": conf,
                      "cost": 1.0, "verifier_cost": verifier_cost, "input_tokens": 20, "output_tokens": 5},
            "large": {"answer": gold_answer if large_right else wrong[1], "confidence": 0.9, "cost": 10.0,
                      "input_tokens": 20, "output_tokens": 3},
        }
        if gold:
            outputs["small"]["score"] = float(small_right)
            outputs["large"]["score"] = float(large_right)
        out.append(Record.model_validate({"id": f"q{seed}-{i}", "task": "capitals", "query": f"Capital {i}?",
                                          "reference": gold_answer if gold else None, "models": ["small", "large"],
                                          "outputs": outputs}))
    return out


def make_traffic(n: int = 400, *, shadow_rate: float = 0.5, seed: int = 0, store_text: bool = True,
                 **kwargs: Any) -> list[dict[str, Any]]:
    """Traffic records of the two-tier cascade (see :func:`records_to_traffic`); with ``store_text`` False
    the texts are dropped and only the capture-time ``agrees`` labels remain."""
    traffic = records_to_traffic(answered_records(n, seed, **kwargs), ["small", "large"], shadow_rate=shadow_rate,
                                 seed=seed)
    if not store_text:
        for t in traffic:
            t["store_text"] = False
            t["query"] = t["context"] = None
            for o in t["outputs"].values():
                o["answer"] = None
    return traffic


def write_traffic(directory: Path, traffic: list[dict[str, Any]], files: int = 2) -> Path:
    """``traffic`` spread over ``files`` worker files in ``directory``."""
    directory.mkdir(parents=True, exist_ok=True)
    for k in range(files):
        part = traffic[k::files]
        (directory / f"traffic-w{k}-000001.jsonl").write_text("".join(json.dumps(t) + "\n" for t in part))
    return directory
