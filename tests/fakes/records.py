"""Synthetic AutoMix records with a known structure, for tests (no ../shared needed)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np


def make_records(
    n: int = 400, models: tuple[str, ...] = ("small", "large"), seed: int = 0, split: str | None = None,
    costs: tuple[float, ...] | None = None,
) -> list[dict[str, Any]]:
    """Records where each tier is right with a probability that falls with a latent difficulty, and
    the verifier confidence is informative (higher when the tier is right)."""
    rng = np.random.default_rng(seed)
    m = len(models)
    costs = costs or tuple(float(10**i) for i in range(m))
    skill = np.linspace(0.3, 0.9, m)
    out = []
    for i in range(n):
        d = rng.uniform()
        outputs = {}
        for j, name in enumerate(models):
            right = rng.uniform() < np.clip(skill[j] + 0.5 - d, 0.02, 0.98)
            conf = float(np.clip(rng.beta(5, 2) if right else rng.beta(2, 4), 0, 1))
            outputs[name] = {"answer": f"a{j}", "score": float(right), "confidence": conf, "cost": costs[j],
                             "input_tokens": 10, "output_tokens": 5}
        rec: dict[str, Any] = {"id": f"q{seed}-{i}", "task": "synth", "models": list(models), "outputs": outputs}
        if split:
            rec["split"] = split
        out.append(rec)
    return out


def write_records(path: Path, records: list[dict[str, Any]]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in records))
    return path
