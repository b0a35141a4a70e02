"""The routers and recorded data shipped inside the package (``automix_core/data/``).

They are package data, found with :mod:`importlib.resources`, so a normal (non-editable) install
has them wherever it runs from. ``automix_core/data/README.md`` says how each file was made; the
PubMedQA text in the records is under the MIT License (``LICENSE-pubmedqa.txt`` beside them).
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path

from .errors import AutoMixError

__all__ = ["SHIPPED_RECORDS", "SHIPPED_ROUTERS", "shipped_path", "shipped_records", "shipped_router_path"]

SHIPPED_ROUTERS: dict[str, str] = {
    "pubmedqa-qwen-pair": "router_pubmedqa_qwen_pair.json",
    "pubmedqa-qwen-pair-k8": "router_pubmedqa_qwen_pair_k8.json",
}
"""Shipped routers by name (for :meth:`automix_core.Router.shipped`): the POMDP for Qwen2.5-Coder
0.5B -> 1.5B calibrated on logprob/continue confidences, and the same on k=8 few-shot samples."""

SHIPPED_RECORDS: dict[str, str] = {
    "pubmedqa-qwen-pair": "pubmedqa_qwen_pair.jsonl",
    "pubmedqa-qwen-pair-continue": "pubmedqa_qwen_pair_continue.jsonl",
}
"""Shipped recorded datasets by name (for :func:`shipped_records`): PubMedQA answered by
Qwen2.5-Coder 0.5B and 1.5B, the 0.5B verified with k=8 few-shot samples, and the same answers
verified the way the shipped router expects (one logprob call continuing the answer)."""


def shipped_path(filename: str) -> Path:
    """The path of a file shipped in ``automix_core/data/`` (e.g. ``"LICENSE-pubmedqa.txt"``).

    Raises :class:`AutoMixError` naming the shipped files when there is no such file.
    """
    root = resources.files("automix_core") / "data"
    res = root / filename
    if "/" in filename or "\\" in filename or not res.is_file():
        names = sorted(p.name for p in root.iterdir() if p.is_file() and not p.name.startswith(("_", ".")))
        raise AutoMixError(f"no shipped file {filename!r}; shipped: {', '.join(names)}")
    return Path(str(res))  # a plain directory install (wheel or checkout): a real file


def _named(kind: str, table: dict[str, str], name: str) -> Path:
    if name not in table:
        raise AutoMixError(f"no shipped {kind} named {name!r}; shipped: {', '.join(table)}")
    return shipped_path(table[name])


def shipped_router_path(name: str = "pubmedqa-qwen-pair") -> Path:
    """The path of the shipped router ``name`` (see :data:`SHIPPED_ROUTERS`)."""
    return _named("router", SHIPPED_ROUTERS, name)


def shipped_records(name: str = "pubmedqa-qwen-pair-continue") -> Path:
    """The path of the shipped recorded dataset ``name`` (see :data:`SHIPPED_RECORDS`), for
    :func:`automix_core.read_records`, ``automix eval`` or ``automix calibrate``."""
    return _named("recorded dataset", SHIPPED_RECORDS, name)
