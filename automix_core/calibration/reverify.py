"""Re-verification: new verifier confidences for recorded answers, without answering again.

A records file made by :func:`~automix_core.calibration.collect.collect` holds each tier's answer,
its score and its cost. :func:`reverify` keeps all of that and verifies the recorded answers again
with another method (mode, layout, k), writing a new records file whose verification fields
(``confidence``, ``verifier_*``, ``verdicts``, ``verifier`` = the method) are the new ones. Recorded
answers are greedy (temperature 0), so this is what a live collection with that method would
record, at the cost of the verification only.

The answer messages are rebuilt as :func:`~automix_core.calibration.collect.collect` sends them (the
engine's answer prompt and the task's instruction), so the ``continue`` layout continues the same
conversation. With ``replay_answer`` (the default for ``continue``) the answer call is made again
first, unbilled, so that the server's prefix cache holds it as it would in the cascade; the
verification's cached prompt tokens are then what a live run reports. Whether the replayed answer
equals the recorded one is kept per output (``replay_matches``); the recorded answer is verified.

Resumable and crash-safe like ``collect``: ids already in ``out`` are skipped.
"""

from __future__ import annotations

import sys
import threading
import time
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from ..accounting.prices import PriceTable
from ..models import ChatModel, Message
from ..verify.method import VerificationMethod
from ..verify.prompt import build_answer_messages
from ..verify.verifier import Verifier
from .collect import CollectSummary, _TierTotals, done_ids, verification_fields
from .records import Record, append_record

__all__ = ["INSTRUCTIONS", "answer_messages", "output_method", "records_method", "reverify"]

INSTRUCTIONS: dict[str, str] = {
    "pubmedqa": "Answer with one word: yes, no or maybe.",
    "contractnli": "Answer with one of: entailment, contradiction, not mentioned.",
}
"""The instruction ``collect`` appends to the question of each task (jsonl tasks name their labels)."""


def answer_messages(question: str, context: str = "", instruction: str = "") -> list[Message]:
    """The answer call's messages as ``collect`` sends them: the engine's prompt plus the instruction."""
    msgs = build_answer_messages(question, context)
    if instruction:
        msgs[-1]["content"] += f"\n{instruction}"
    return msgs


def _instruction(rec: Record, instructions: Mapping[str, str]) -> str:
    return instructions.get(rec.task or "", "")


def reverify(
    records: Iterable[Record],
    verifiers: Mapping[str, Verifier],
    out: str | Path,
    *,
    prices: PriceTable,
    instructions: Mapping[str, str] = INSTRUCTIONS,
    replay_answer: bool | None = None,
    answer_max_tokens: int = 64,
    progress: bool = True,
    stop: threading.Event | None = None,
) -> CollectSummary:
    """Verify the recorded answers of the tiers named in ``verifiers`` again; append records to ``out``.

    Every other field of a record (other tiers, answers, scores, answer costs) is kept. ``replay_answer``
    (default: when a verifier uses the ``continue`` layout) makes the answer call again before verifying,
    unbilled, so a prefix cache holds it (see the module docs). One query at a time: a continuation has
    to reach the server right after its answer call. A failed query is reported in the summary and not
    written (a rerun retries it).
    """
    path = Path(out)
    path.parent.mkdir(parents=True, exist_ok=True)
    done = done_ids(path)
    todo = [r for r in records if r.id not in done]
    summary = CollectSummary(skipped=len(done))
    stop = stop or threading.Event()
    t_start = time.perf_counter()
    try:
        for n, rec in enumerate(todo, 1):
            if stop.is_set():
                break
            try:
                obj = _one(rec, verifiers, prices, instructions, replay_answer, answer_max_tokens, summary)
            except Exception as exc:
                summary.failed.append((rec.id, f"{type(exc).__name__}: {exc}"))
                continue
            append_record(path, obj)
            summary.written += 1
            if progress:
                el = time.perf_counter() - t_start
                eta = (len(todo) - n) * el / n
                print(f"\r[reverify] {n}/{len(todo)} ({summary.skipped} done before)  ETA {eta / 60:.1f} min   ",
                      end="", file=sys.stderr, flush=True)
    except KeyboardInterrupt:
        summary.interrupted = True
    summary.seconds = time.perf_counter() - t_start
    if progress:
        print(file=sys.stderr)
    summary.interrupted = summary.interrupted or stop.is_set()
    return summary


def _one(rec: Record, verifiers: Mapping[str, Verifier], prices: PriceTable, instructions: Mapping[str, str],
         replay: bool | None, answer_max_tokens: int, summary: CollectSummary) -> dict[str, Any]:
    obj = rec.model_dump(exclude_none=True)
    msgs = answer_messages(rec.query or "", rec.context or "", _instruction(rec, instructions))
    for name, verifier in verifiers.items():
        if name not in obj["outputs"]:
            raise KeyError(f"record {rec.id!r} has no output of model {name!r}")
        output: dict[str, Any] = obj["outputs"][name]
        answer = str(output.get("answer") or "")
        t0 = time.perf_counter()
        if replay if replay is not None else verifier.layout == "continue":
            model: ChatModel = verifier.model
            gen = model.generate(msgs, n=1, temperature=0.0, max_tokens=answer_max_tokens)
            output["replay_matches"] = bool(gen.texts) and gen.texts[0] == answer
        v = verifier.verify(rec.query or "", answer, rec.context or "", messages=msgs)
        fields = verification_fields(v, verifier, prices)
        for stale in ("verifier_parsed", "verdicts", "verifier_samples"):
            output.pop(stale, None)
        output.update(fields)
        tt = summary.tiers.setdefault(name, _TierTotals())
        tt.input_tokens += fields["verifier_input_tokens"]
        tt.output_tokens += fields["verifier_output_tokens"]
        tt.cost += fields["verifier_cost"]
        tt.seconds += time.perf_counter() - t0
    return obj


def output_method(output: Mapping[str, Any]) -> VerificationMethod | None:
    """The verification method of one recorded output: its ``verifier`` field, or for records written
    before that field existed (``automix collect`` sampled the few-shot prompt then), the few-shot
    prompt with k = the number of verdicts; None when neither is there."""
    method = output.get("verifier")
    if isinstance(method, Mapping):
        return VerificationMethod(mode=method["mode"], layout=method.get("layout", "few-shot"), k=method.get("k", 1))
    verdicts = output.get("verdicts")
    if isinstance(verdicts, list) and verdicts:
        return VerificationMethod(mode="sample", layout="few-shot", k=len(verdicts))
    return None


def records_method(records: Iterable[Record], models: Sequence[str]) -> VerificationMethod | None:
    """The one verification method behind the confidences of ``models`` in ``records`` (None when any
    output does not say, or when they differ)."""
    seen: set[VerificationMethod | None] = set()
    for rec in records:
        for name in models:
            out = rec.outputs.get(name)
            if out is not None:
                seen.add(output_method(out.model_dump()))
    return seen.pop() if len(seen) == 1 else None
