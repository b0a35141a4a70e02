"""Collection: run every tier and every tier's self-verification on a labelled dataset.

Writes AutoMix records v1 (plus the raw verification samples, the verifier's own tokens, cached
tokens and cost, and ``verifier``: the method, i.e. mode, prompt layout and k, that ``automix
calibrate`` records in the router), one line per finished query, appended and fsynced at once.
Resumable and crash-safe: a rerun skips the ids already written; a run killed at any moment
(even ``kill -9``) loses at most the queries in flight and never leaves a broken line behind (a torn
last line is cut off when the next run starts); Ctrl-C stops cleanly after writing what has finished.

Loaders: PubMedQA (question, abstract paragraphs as context, yes/no/maybe), ContractNLI (an NDA
and a hypothesis; entailment/contradiction/not mentioned) and generic JSONL with named fields.
Scorers (:func:`scorer_for`, one comparison implementation: :mod:`.agreement`): the first label named
for label tasks, normalised containment for free text by default ("The capital of Australia is
Canberra." scores 1 against "Canberra", "A spider has eight legs." against "8"), or exact, token F1
or a judge model on request. A dataset without gold answers is collected unlabelled: each output's
``score`` is null and ``agrees`` holds its agreement with the last tier's answer
(``automix calibrate --labels agreement`` fits on that).
"""

from __future__ import annotations

import concurrent.futures as cf
import hashlib
import json
import os
import sys
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..accounting.ledger import usage_from_generation
from ..accounting.prices import PriceTable
from ..cascade.engine import build_answer_messages
from ..models import ChatModel
from ..settings import VerifyMode, VerifyPrompt
from ..verify.verifier import VerificationResult, Verifier
from .agreement import agree, canonical, normalize, score, token_f1
from .records import append_record

__all__ = [
    "CollectSummary",
    "Item",
    "collect",
    "done_ids",
    "label_scorer",
    "load_contractnli",
    "load_jsonl",
    "load_pubmedqa",
    "repair_tail",
    "scorer_for",
    "token_f1",
    "verification_fields",
    "verifier_method",
]


@dataclass(frozen=True)
class Item:
    """One labelled query: the question, its grounding context, the gold answer, and the task."""

    id: str
    question: str
    reference: str | None  # None: no gold answer (the records are labelled by agreement instead)
    context: str = ""
    task: str = "jsonl"
    instruction: str = ""
    labels: tuple[str, ...] = ()


# --------------------------------------------------------------------------- loaders


def load_pubmedqa(path: str | os.PathLike[str]) -> list[Item]:
    """PubMedQA (expert-labelled set): ``{pmid: {QUESTION, CONTEXTS, final_decision, ...}}``."""
    data = json.loads(Path(path).read_text(encoding="utf-8"))
    if not isinstance(data, dict):
        raise ValueError(f"{path}: expected a JSON object keyed by PubMed id")
    out = []
    for pmid, row in data.items():
        try:
            ctx = row["CONTEXTS"]
            out.append(Item(
                id=f"pubmedqa/{pmid}", question=str(row["QUESTION"]), reference=str(row["final_decision"]).lower(),
                context="\n".join(ctx) if isinstance(ctx, list) else str(ctx), task="pubmedqa",
                instruction="Answer with one word: yes, no or maybe.", labels=("yes", "no", "maybe"),
            ))
        except (KeyError, TypeError) as exc:
            raise ValueError(f"{path}: entry {pmid!r} lacks field {exc}") from None
    return out


_CNLI = {"Entailment": "entailment", "Contradiction": "contradiction", "NotMentioned": "not mentioned"}


def load_contractnli(path: str | os.PathLike[str]) -> list[Item]:
    """ContractNLI: every (NDA, hypothesis) pair with its label."""
    data = json.loads(Path(path).read_text(encoding="utf-8"))
    try:
        hyps = {k: v["hypothesis"] for k, v in data["labels"].items()}
        out = []
        for doc in data["documents"]:
            for key, ann in doc["annotation_sets"][0]["annotations"].items():
                out.append(Item(
                    id=f"contractnli/{doc['id']}/{key}",
                    question=f"Does the contract entail, contradict or not mention this statement? {hyps[key]}",
                    reference=_CNLI[ann["choice"]], context=str(doc["text"]), task="contractnli",
                    instruction="Answer with one of: entailment, contradiction, not mentioned.",
                    labels=("entailment", "contradiction", "not mentioned"),
                ))
    except (KeyError, TypeError, IndexError) as exc:
        raise ValueError(f"{path}: not a ContractNLI file (missing {exc})") from None
    return out


def load_jsonl(
    path: str | os.PathLike[str],
    *,
    question: str = "question",
    answer: str = "answer",
    context: str | None = "context",
    id_field: str = "id",
    task: str = "jsonl",
    labels: Sequence[str] = (),
) -> list[Item]:
    """Generic JSONL: one object per line with the named fields (``context`` optional)."""
    out = []
    with Path(path).open(encoding="utf-8") as fh:
        for n, line in enumerate(fh, 1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
                out.append(Item(
                    id=str(row.get(id_field, f"{task}/{n}")), question=str(row[question]),
                    reference=None if row.get(answer) is None else str(row[answer]),
                    context=str(row.get(context) or "") if context else "", task=task, labels=tuple(labels),
                    instruction=f"Answer with one of: {', '.join(labels)}." if labels else "",
                ))
            except (json.JSONDecodeError, KeyError) as exc:
                raise ValueError(f"{path}:{n}: {type(exc).__name__}: {exc}") from None
    return out


# --------------------------------------------------------------------------- scorers


def label_scorer(labels: Sequence[str]) -> Callable[[str, str], float]:
    """1.0 when the first label named in the answer is the reference label, else 0.0."""

    def label_score(answer: str, reference: str) -> float:
        return float(canonical(answer, labels) == ("label", normalize(reference)))

    return label_score


def scorer_for(rule: str | None = None, labels: Sequence[str] = (),
               judge: Callable[[str, str], float] | None = None) -> Callable[[str, str], float]:
    """The gold scorer of ``rule`` (``exact``, ``contain``, ``f1`` or ``judge``; None: the first label for
    label tasks, else ``contain``); ``judge`` scores the ``judge`` rule."""
    if rule == "judge":
        if judge is None:
            raise ValueError("--score judge needs a judge model (--judge-model)")
        return judge
    if rule is None and labels:
        return label_scorer(labels)
    chosen = rule or "contain"

    def rule_score(answer: str, reference: str) -> float:
        return score(answer, reference, rule=chosen, labels=labels)

    return rule_score


# --------------------------------------------------------------------------- resumable output


def repair_tail(path: Path) -> int:
    """Cut a torn last line (no trailing newline) left by a killed run; returns bytes removed."""
    if not path.exists() or path.stat().st_size == 0:
        return 0
    with path.open("rb+") as fh:
        fh.seek(0, os.SEEK_END)
        size = fh.tell()
        fh.seek(size - 1)
        if fh.read(1) == b"\n":
            return 0
        # find the last newline
        pos = size - 1
        chunk = 1 << 16
        while pos > 0:
            start = max(0, pos - chunk)
            fh.seek(start)
            buf = fh.read(pos - start)
            i = buf.rfind(b"\n")
            if i >= 0:
                keep = start + i + 1
                break
            pos = start
        else:
            keep = 0
        fh.truncate(keep)
        fh.flush()
        os.fsync(fh.fileno())
        return size - keep


def done_ids(path: Path) -> set[str]:
    """Ids already written to ``path`` (every line must parse; a torn tail is repaired first)."""
    repair_tail(path)
    ids: set[str] = set()
    if not path.exists():
        return ids
    with path.open(encoding="utf-8") as fh:
        for n, line in enumerate(fh, 1):
            if line.strip():
                try:
                    ids.add(json.loads(line)["id"])
                except (json.JSONDecodeError, KeyError):
                    raise ValueError(f"{path}:{n}: not a record line; refusing to append to a corrupt file") from None
    return ids


# --------------------------------------------------------------------------- collection


def verifier_method(verifier: Verifier) -> dict[str, Any]:
    """How ``verifier`` makes confidences (mode, layout, k), as records and routers store it."""
    return {"mode": verifier.mode, "layout": verifier.layout, "k": 1 if verifier.mode == "logprob" else verifier.k}


def verification_fields(v: VerificationResult, verifier: Verifier, prices: PriceTable) -> dict[str, Any]:
    """The per-output record fields of one verification: confidence, calls, tokens (cached ones too),
    cost, and ``verifier`` (the method, plus ``used``: "sample" after a logprob fallback)."""
    usages = [usage_from_generation(g, m, prices, "verify", 0) for g, m in zip(v.generations, v.messages)]
    return {
        "confidence": v.confidence,
        "verifier_cost": sum(u.cost for u in usages),
        "verifier_input_tokens": sum(u.input_tokens for u in usages),
        "verifier_cached_input_tokens": sum(u.cached_input_tokens for u in usages),
        "verifier_output_tokens": sum(u.output_tokens for u in usages),
        "verifier_parsed": v.n_parsed,
        "verdicts": v.verdicts,
        "verifier_samples": v.samples,
        "verifier_calls": len(v.generations),
        "verifier": {**verifier_method(verifier), "used": v.mode},
        "verifier_usage_estimated": any(u.estimated for u in usages),
    }


@dataclass
class _TierTotals:
    input_tokens: int = 0
    output_tokens: int = 0
    cost: float = 0.0
    seconds: float = 0.0


@dataclass
class CollectSummary:
    """What a collection run did: records written and skipped, and per-tier tokens, cost and time."""

    written: int = 0
    skipped: int = 0
    failed: list[tuple[str, str]] = field(default_factory=list)
    interrupted: bool = False
    seconds: float = 0.0
    tiers: dict[str, _TierTotals] = field(default_factory=dict)

    def table(self) -> str:
        lines = [f"written {self.written}, skipped (already done) {self.skipped}, failed {len(self.failed)}, "
                 f"{self.seconds:.1f} s{' (interrupted)' if self.interrupted else ''}"]
        for name, t in self.tiers.items():
            lines.append(f"  {name:28s} in {t.input_tokens:9d}  out {t.output_tokens:8d}  ${t.cost:.6f}  "
                         f"{t.seconds:8.1f} s")
        return "\n".join(lines)


def _split_of(item_id: str, test_share: float) -> str:
    h = int(hashlib.sha256(item_id.encode()).hexdigest()[:8], 16) / 0xFFFFFFFF
    return "test" if h < test_share else "train"


def _one(
    item: Item, tiers: Sequence[ChatModel], verifiers: Sequence[Verifier], prices: PriceTable,
    scorer: Callable[[str, str], float], answer_max_tokens: int, test_share: float,
) -> tuple[dict[str, Any], dict[str, _TierTotals]]:
    msgs = build_answer_messages(item.question, item.context)  # the prompt the engine sends
    if item.instruction:
        msgs[-1]["content"] += f"\n{item.instruction}"
    outputs: dict[str, Any] = {}
    totals: dict[str, _TierTotals] = {}
    for tier, verifier in zip(tiers, verifiers):
        t0 = time.perf_counter()
        gen = tier.generate(msgs, n=1, temperature=0.0, max_tokens=answer_max_tokens)
        ans_s = time.perf_counter() - t0
        ans_usage = usage_from_generation(gen, msgs, prices, "answer", 0)
        answer = gen.texts[0] if gen.texts else ""
        v = verifier.verify(item.question, answer, item.context, messages=msgs)  # "continue" goes on from msgs
        fields = verification_fields(v, verifier, prices)
        secs = time.perf_counter() - t0
        outputs[tier.name] = {
            "answer": answer,
            "score": None if item.reference is None else scorer(answer, item.reference),
            "confidence": v.confidence,
            "cost": ans_usage.cost,
            "input_tokens": ans_usage.input_tokens,
            "cached_input_tokens": ans_usage.cached_input_tokens,
            "output_tokens": ans_usage.output_tokens,
            "latency_ms": round(ans_s * 1000, 1),
            **fields,
            "usage_estimated": ans_usage.estimated or fields["verifier_usage_estimated"],
        }
        tt = totals.setdefault(tier.name, _TierTotals())
        tt.input_tokens += ans_usage.input_tokens + fields["verifier_input_tokens"]
        tt.output_tokens += ans_usage.output_tokens + fields["verifier_output_tokens"]
        tt.cost += ans_usage.cost + fields["verifier_cost"]
        tt.seconds += secs
    if item.reference is None:  # no gold: each answer's agreement with the last tier's (the reference tier)
        ref = outputs[tiers[-1].name]["answer"]
        for o in outputs.values():
            o["agrees"] = agree(item.question, o["answer"], ref, labels=item.labels)
    rec = {"id": item.id, "task": item.task, "split": _split_of(item.id, test_share), "query": item.question,
           "context": item.context, "reference": item.reference, "models": [t.name for t in tiers],
           "outputs": outputs}
    return rec, totals


def collect(
    items: Iterable[Item],
    tiers: Sequence[ChatModel],
    out: str | os.PathLike[str],
    *,
    prices: PriceTable,
    k: int | Sequence[int] = 8,
    scorer: Callable[[str, str], float] | None = None,
    concurrency: int = 2,
    answer_max_tokens: int = 64,
    verify_max_tokens: int = 160,
    test_share: float = 0.3,
    progress: bool = True,
    stop: threading.Event | None = None,
    verify_mode: VerifyMode = "sample",
    verify_prompt: VerifyPrompt = "few-shot",
) -> CollectSummary:
    """Run every tier and its self-verification on ``items``; append records to ``out``.

    ``k`` is the number of verification samples, one value for every tier or one per tier;
    ``verify_mode`` and ``verify_prompt`` choose the method (see :class:`Verifier`; the ``continue``
    layout continues each tier's own answer call, right after it).
    Items whose id is already in ``out`` are skipped. At most ``concurrency`` queries are in flight.
    ``stop`` (or Ctrl-C) ends the run after writing what has finished; queries in flight are dropped.
    """
    if len(tiers) < 1:
        raise ValueError("collect needs at least one model")
    path = Path(out)
    path.parent.mkdir(parents=True, exist_ok=True)
    done = done_ids(path)
    todo = [it for it in items if it.id not in done]
    summary = CollectSummary(skipped=len(done))
    ks = [k] * len(tiers) if isinstance(k, int) else list(k)
    if len(ks) != len(tiers) or any(x < 1 for x in ks):
        raise ValueError(f"k must be >= 1, one value or one per tier ({len(tiers)}), got {k}")
    verifiers = [Verifier(t, k=x, max_tokens=verify_max_tokens, mode=verify_mode, layout=verify_prompt)
                 for t, x in zip(tiers, ks)]
    t_start = time.perf_counter()
    total = len(todo)
    stop = stop or threading.Event()

    def show() -> None:
        if not progress:
            return
        el = time.perf_counter() - t_start
        rate = summary.written / el if el > 0 else 0.0
        eta = (total - summary.written) / rate if rate > 0 else float("nan")
        print(f"\r[collect] {summary.written}/{total} ({summary.skipped} done before)  {rate:.2f}/s  "
              f"ETA {eta / 60:.1f} min   ", end="", file=sys.stderr, flush=True)

    pool = cf.ThreadPoolExecutor(max_workers=max(1, concurrency))
    pending: dict[cf.Future[tuple[dict[str, Any], dict[str, _TierTotals]]], Item] = {}
    it = iter(todo)
    try:
        while True:
            while not stop.is_set() and len(pending) < max(1, concurrency):
                nxt = next(it, None)
                if nxt is None:
                    break
                pending[pool.submit(_one, nxt, tiers, verifiers, prices, scorer or scorer_for(), answer_max_tokens,
                                    test_share)] = nxt
            if not pending:
                break
            finished, _ = cf.wait(pending, timeout=0.5, return_when=cf.FIRST_COMPLETED)
            for fut in finished:
                item = pending.pop(fut)
                try:
                    rec, totals = fut.result()
                except Exception as exc:
                    summary.failed.append((item.id, f"{type(exc).__name__}: {exc}"))
                    continue
                append_record(path, rec)
                summary.written += 1
                for name, t in totals.items():
                    acc = summary.tiers.setdefault(name, _TierTotals())
                    acc.input_tokens += t.input_tokens
                    acc.output_tokens += t.output_tokens
                    acc.cost += t.cost
                    acc.seconds += t.seconds
                show()
            if stop.is_set() and not finished:
                break
    except KeyboardInterrupt:
        summary.interrupted = True
    finally:
        for fut in pending:
            fut.cancel()
        pool.shutdown(wait=False, cancel_futures=True)
        summary.seconds = time.perf_counter() - t_start
        if progress:
            print(file=sys.stderr)
    summary.interrupted = summary.interrupted or stop.is_set()
    return summary
