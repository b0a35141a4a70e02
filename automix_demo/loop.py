"""The demo's learning loop: serve with shadowing, learn a router from that traffic without labels,
show before/after against always-small and always-large, and write the report.

1. **Serve**: shipped PubMedQA questions (the train part of the shipped recordings) go through the
   embedded pair (Qwen2.5-Coder 0.5B -> 1.5B on llama.cpp) with no router yet (the untrained default)
   and traffic capture on, every request shadowed (``TrafficConfig(shadow_rate=1)``: the 1.5B also
   answers after the response). The verification is the one the shipped recordings used (logprob,
   continuing the answer), so live and recorded confidences mean the same thing.
2. **Top up**: as many live questions as fit in a few minutes on 2 cores are few, so the rest of the
   recorded train part is replayed as traffic (:func:`~automix_core.calibration.from_traffic.records_to_traffic`)
   into its own file, each record marked ``"replayed": true``.
3. **Learn**: :func:`~automix_core.fit_from_traffic` (agreement with the 1.5B's answer, no gold label).
4. **Before/after** on the recorded test part, scored on its gold labels, costs with verification:
   always-small, always-large, the untrained default, the router learnt from traffic; then the same
   with paper-style costs (small 1, large 15, verification free), where the cascade can win.
5. **Report**: ``automix report`` of the traffic, written beside it.
"""

from __future__ import annotations

import json
import time
import warnings
from pathlib import Path

from automix_core import AutoMix, CascadeSettings, LocalServer, Record, Router
from automix_core.backends.local import MODELS
from automix_core.calibration import fit_from_traffic
from automix_core.calibration.from_traffic import read_traffic, records_to_traffic
from automix_core.calibration.records import RecordArrays, filter_records, read_records, to_arrays
from automix_core.settings import TrafficConfig
from automix_core.shipped import shipped_records

__all__ = ["INSTRUCTION", "learn_loop"]

SMALL, LARGE = "qwen2.5-coder-0.5b", "qwen2.5-coder-1.5b"
INSTRUCTION = "Answer with one word: yes, no or maybe."
"""What the shipped recordings asked after each question (``automix collect --format pubmedqa``)."""
MIN_RECORDS = 40
"""Shadowed records the demo fits on at least (the library's default asks 100; the demo has ~70)."""


def _say(msg: str) -> None:
    print(msg, flush=True)


def serve(records: list[Record], folder: Path, n: int) -> float:
    """Serve the first ``n`` of ``records`` with every request shadowed into ``folder``; returns seconds."""
    from automix_core import PriceTable

    prices = PriceTable(prices={SMALL: MODELS[SMALL].price, LARGE: MODELS[LARGE].price})
    t0 = time.perf_counter()
    with LocalServer([SMALL, LARGE], threads=2) as srv, warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # "no calibrated router": the point of this step, said above
        mix = AutoMix([srv.model(SMALL), srv.model(LARGE)], router=None, prices=prices,
                      settings=CascadeSettings(answer_max_tokens=48, verify_mode="logprob", verify_prompt="continue"),
                      traffic=TrafficConfig(dir=str(folder), shadow_rate=1.0))
        for i, rec in enumerate(records[:n], 1):
            res = mix.run(f"{rec.query}\n{INSTRUCTION}", context=rec.context or "")
            first = res.trace[0]
            small = (first.answer or "").strip()[:12]
            _say(f"  {i:>2}/{n} small: {small!r:16s} confidence {first.confidence or 0:4.2f} "
                 f"-> {first.decision or '?':8s} served: {res.model}")
        assert mix.traffic is not None
        mix.traffic.close(wait=True)  # the shadow calls finish before the servers stop
    return time.perf_counter() - t0


def replay(records: list[Record], folder: Path) -> int:
    """The recorded ``records`` written into ``folder`` as shadowed traffic, marked as replayed."""
    rows = records_to_traffic(records, [SMALL, LARGE], shadow_rate=1.0, route="default", start=time.time())
    with (folder / "traffic-replayed-00001.jsonl").open("w", encoding="utf-8") as fh:
        for row in rows:
            row["id"] = row["request_id"] = f"replayed-{row['id']}"
            row["replayed"], row["router"] = True, "replayed from the shipped recordings"
            fh.write(json.dumps(row) + "\n")
    return len(rows)


def _row(name: str, quality: float, cost: float, large_cost: float, note: str = "") -> None:
    _say(f"  {name:36s} {quality:8.3f} {cost:13.8f} {cost / large_cost:9.2f}x  {note}")


def compare(te: RecordArrays, before: Router, after: Router, title: str) -> None:
    large_cost = float(te.cost[:, 1].mean())
    _say(f"\n{title}")
    _say(f"  {'':36s} {'quality':>8s} {'cost/query':>13s} {'vs large':>10s}")
    _row(f"always {SMALL}", float(te.score[:, 0].mean()), float(te.cost[:, 0].mean()), large_cost, "(unverified)")
    _row(f"always {LARGE}", float(te.score[:, 1].mean()), large_cost, large_cost)
    for name, router in (("before: no router (untrained default)", before), ("after: learnt from traffic", after)):
        pt = router.point(te)
        _row(name, pt.quality, pt.cost, large_cost, f"escalates {router.escalation_rate(te):.0%}")


def plainly(te: RecordArrays, router: Router) -> None:
    """Where the learnt router wins and where it does not, in words."""
    large_q, large_c = float(te.score[:, 1].mean()), float(te.cost[:, 1].mean())
    small_verified = float((te.cost[:, 0] + te.verifier_cost[:, 0]).mean())
    local, paper = router.point(te), router.point(te.with_unit_costs([1.0, 15.0]))
    _say(f"   In plain words: at local prices the learnt router keeps {local.quality / large_q:.0%} of the 1.5B's "
         f"quality for {local.cost / large_c:.0%} of its cost, verification included.")
    if small_verified >= large_c:
        _say(f"   It cannot save money here: the 0.5B's answer plus its verification (${small_verified:.8f}/query) "
             f"already costs more than the 1.5B alone (${large_c:.8f}).")
    elif local.cost / large_c > 0.8:
        _say(f"   That is a small saving: locally the 1.5B costs only {large_c / float(te.cost[:, 0].mean()):.1f}x the "
             "0.5B, and the 0.5B pays for its own verification out of the difference.")
    _say(f"   Where AutoMix wins: when the large model costs many times the small one (paid APIs; the paper-style "
         f"rows), the same router keeps {paper.quality / large_q:.0%} of the quality for "
         f"{paper.cost / 15.0:.0%} of the cost.")


def learn_loop(workdir: str | Path = "automix-demo", n_live: int = 10) -> Path | None:
    """Run the loop (see the module docs); returns the report's path."""
    recs = read_records(shipped_records("pubmedqa-qwen-pair-continue"))
    train, test = filter_records(recs, split="train"), filter_records(recs, split="test")
    folder = Path(workdir).resolve() / time.strftime("run-%Y%m%d-%H%M%S") / "traffic"
    folder.mkdir(parents=True)
    _say(f"\nLearning from traffic (docs/learn-from-traffic.md); traffic in {folder}")
    if n_live > 0:
        _say(f"1. Serving {n_live} shipped PubMedQA questions with no router and every request shadowed")
    secs = serve(train, folder, n_live) if n_live > 0 else 0.0
    live = len(read_traffic(folder)) if n_live > 0 else 0
    topped = replay(train[n_live:], folder)
    _say(f"2. {live} live requests in {secs:.0f} s; topped up with {topped} recorded ones replayed as traffic "
         "(marked \"replayed\": the shipped recordings of the same questions, same models and verification)")
    fit = fit_from_traffic(read_traffic(folder), min_records=MIN_RECORDS)
    lo, hi = fit.validation_ci
    _say(f"3. Learnt a router without labels: {fit.labels.describe()}; validation ΔIBC {fit.validation_dibc:.1f}% "
         f"[{lo:.1f}, {hi:.1f}] on {fit.n_validation} held-out requests (agreement labels; few records: wide)")
    router_path = fit.router.save(folder.parent / "router.json")
    before, after = Router.default([SMALL, LARGE]), fit.router
    te = to_arrays(test, [SMALL, LARGE])
    compare(te, before, after, f"4. Before/after on the {len(test)} recorded test questions, gold labels, local prices "
            "(USD; costs include the 0.5B's verification):")
    compare(te.with_unit_costs([1.0, 15.0]), before, after,
            "   the same with paper-style costs (small 1, large 15 per call, verification not billed):")
    plainly(te, after)
    from automix_core.calibration.report import write_report

    report = folder.parent / "report.html"
    try:
        write_report(read_traffic(folder), report, router=after, source=str(folder))
    except ImportError as exc:  # the report draws with matplotlib (the `plot` extra); the loop's figures stand
        _say(f"5. Router: {router_path}\n   Report not written: {exc}")
        return None
    _say(f"5. Router: {router_path}\n   Report: {report}  (automix report {folder} -o report.html)")
    return report
