"""Framework overhead: AutoMix around scripted children against calling the same children directly.

    python benchmarks/overhead.py [--k 8] [--reps 300] [--queries 1000] [--concurrency 64] [--repeats 5]
                                  [--json out.json]

1. Per call, instant children (no sleep): ``AutoMixChatModel.invoke`` and ``AutoMixLLM.chat`` (k
   verification samples; scenario ``accept``: the small tier's answer is verified correct;
   ``escalate``: verified incorrect, so the large tier answers too). The baseline replays, on the same
   children, exactly the calls AutoMix made (the same messages and keyword arguments) through the
   children's public ``invoke``/``chat``, so the ratio is AutoMix's own cost over the calls it must
   make anyway. Target ratio <= 1.5x. Both are timed in ``BLOCKS`` (30) alternating blocks of
   ``--reps``/10 calls. Wall: median over all calls; CPU: median of the blocks' CPU per call (on
   this shared machine 10 blocks scattered the CPU ratio by +-0.1).
2. Throughput: ``AutoMixChatModel.abatch`` over ``--queries`` queries at ``max_concurrency`` 64 with
   children that sleep 20 ms per call (``AutoMixLLM.achat`` under a 64-slot semaphore for LlamaIndex).
   Ideal time = ceil(queries / concurrency) x (sleeps on one query's critical path: answer, then the k
   concurrent verification samples = 40 ms). Target >= 80% of ideal. The same child calls made
   directly at the same concurrency are timed too: the children's own framework cost (LangChain /
   LlamaIndex machinery, ~k+1 calls per query) bounds what any wrapper can reach. The LangChain run
   and the LlamaIndex run are repeated with children that take ``n`` (like ``ChatOpenAI`` and
   LlamaIndex's ``OpenAI``; ``verify_n``): two requests per query instead of k+1. Then all runs are
   repeated after ``gc.freeze()``: the cyclic garbage collector's full passes walk the whole heap
   (the frameworks' modules included, ~120 ms each here), and a server that freezes its start-up
   heap spares them that. Each throughput figure is the median of ``--repeats`` runs: whether a
   full pass falls into a run moves it by 10-15 points.

The children are the scripted fakes of the test suite (tests/fakes/langchain_models.py,
tests/fakes/llamaindex_models.py);
for the throughput runs they count their calls instead of logging them (as a real client keeps
nothing per call).
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import math
import statistics
import sys
import time
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path
from typing import Any

from langchain_core.callbacks import AsyncCallbackManagerForLLMRun
from langchain_core.messages import AIMessage, BaseMessage
from langchain_core.outputs import ChatGeneration, ChatResult
from llama_index.core.base.llms.types import ChatMessage, ChatResponse, MessageRole

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from automix_core import Price, PriceTable
from automix_langchain import AutoMixChatModel
from automix_llamaindex import AutoMixLLM
from tests.fakes.langchain_models import ScriptedChatModel
from tests.fakes.llamaindex_models import ScriptedLLM

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "benchmarks" / "results" / "overhead.json"
PRICES = PriceTable(default=Price(input_per_million=1.0, output_per_million=2.0))
QUESTION = "What is the capital of France? Answer in one word."
SLEEP = 0.02
BLOCKS = 30  # CPU is measured per block; the ratio is of the medians


# -- LangChain ---------------------------------------------------------------------------------------------

def _lc(verdict: str, k: int, delay: float = 0.0) -> tuple[AutoMixChatModel, ScriptedChatModel, ScriptedChatModel]:
    small = ScriptedChatModel(model_name="small", answer="Paris", verdicts=[verdict], delay=delay)
    large = ScriptedChatModel(model_name="large", answer="Paris.", delay=delay)
    return AutoMixChatModel(tiers=[small, large], prices=PRICES, k=k), small, large


def lc_invoke(verdict: str, k: int, reps: int) -> dict[str, float]:
    model, small, large = _lc(verdict, k)
    model.invoke(QUESTION)
    calls = [(small, c) for c in small.calls] + [(large, c) for c in large.calls]

    def direct() -> None:
        for child, c in calls:
            kw = {key: v for key, v in c["kwargs"].items() if v is not None}
            child.invoke(c["messages"], **kw)

    def automix() -> None:
        model.invoke(QUESTION)

    def clear() -> None:
        small.calls.clear()
        large.calls.clear()

    return _row(len(calls), _interleaved(direct, automix, clear, reps))


def _interleaved(direct: Callable[[], None], automix: Callable[[], None], clear: Callable[[], None],
                 reps: int) -> tuple[float, float, float, float]:
    """Per call: median wall time and CPU time (process_time over blocks) of both, measured in
    alternating blocks so that background load hits both alike. On a loaded machine the CPU time is
    the steadier measure: a call that needs a few ms of CPU is preempted where a 150 µs one is not."""
    d: list[float] = []
    a: list[float] = []
    dc: list[float] = []
    ac: list[float] = []
    block = max(1, reps // 10)
    for fn in (direct, automix):
        for _ in range(min(20, reps)):
            fn()
    clear()
    for _ in range(BLOCKS):
        for fn, acc, cpu in ((direct, d, dc), (automix, a, ac)):
            c0 = time.process_time()
            for _ in range(block):
                t0 = time.perf_counter()
                fn()
                acc.append(time.perf_counter() - t0)
            cpu.append((time.process_time() - c0) / block)
            clear()
    return statistics.median(d), statistics.median(a), statistics.median(dc), statistics.median(ac)


def _row(calls: int, t: tuple[float, float, float, float]) -> dict[str, float]:
    wd, wa, cd, ca = t
    return {"child_calls": calls, "direct_us": wd * 1e6, "automix_us": wa * 1e6, "ratio_wall": wa / wd,
            "direct_cpu_us": cd * 1e6, "automix_cpu_us": ca * 1e6, "overhead_cpu_us": (ca - cd) * 1e6,
            "ratio_cpu": ca / cd}


async def _lc_abatch(k: int, n: int, concurrency: int) -> dict[str, float]:
    model, small, large = _lc("correct", k, delay=SLEEP)
    await model.ainvoke(QUESTION)
    answer, *verify = [(c["messages"], {key: v for key, v in c["kwargs"].items() if v is not None})
                       for c in small.calls]
    _count_only(small, large)
    sem = asyncio.Semaphore(concurrency)

    async def direct_one() -> None:  # the same child calls: the answer, then the k samples concurrently
        async with sem:
            await small.ainvoke(answer[0], **answer[1])
            await asyncio.gather(*(small.ainvoke(m, **kw) for m, kw in verify))

    direct, wall = await _time_both(direct_one, model, small, n, concurrency)
    assert large.call_count == 0 and small.call_count == (k + 1) * (2 * n + 1)
    return _throughput(n, concurrency, direct, wall, small.max_in_flight)


async def _time_both(direct_one: Callable[[], Awaitable[None]], model: AutoMixChatModel, small: ScriptedChatModel,
                     n: int, concurrency: int) -> tuple[float, float]:
    """Seconds for ``n`` runs of ``direct_one`` at once, then for ``model.abatch`` over ``n`` queries."""
    t0 = time.perf_counter()
    await asyncio.gather(*(direct_one() for _ in range(n)))
    direct = time.perf_counter() - t0
    t0 = time.perf_counter()
    outs = await model.abatch([f"{QUESTION} #{i}" for i in range(n)], config={"max_concurrency": concurrency})
    wall = time.perf_counter() - t0
    assert len(outs) == n
    return direct, wall


class _NativeNChat(ScriptedChatModel):
    """The scripted chat model with a native ``n`` (like ``ChatOpenAI``): one request returns ``n``
    choices after one sleep, its usage on the first."""

    n: int = 1

    async def _agenerate(self, messages: list[BaseMessage], stop: list[str] | None = None,
                         run_manager: AsyncCallbackManagerForLLMRun | None = None, **kwargs: Any) -> ChatResult:
        n = kwargs.pop("n", None) or self.n
        await asyncio.sleep(self.delay or 0.005)
        first = self._reply(messages, {**kwargs, "stop": stop})
        rest = [AIMessage(content=first.content) for _ in range(n - 1)]
        return ChatResult(generations=[ChatGeneration(message=m) for m in (first, *rest)])


async def _lc_abatch_native_n(k: int, n: int, concurrency: int) -> dict[str, float]:
    """As :func:`_lc_abatch`, with children that draw the k samples in one request (``verify_n``)."""
    small = _NativeNChat(model_name="small", answer="Paris", verdicts=["correct"], delay=SLEEP)
    large = _NativeNChat(model_name="large", answer="Paris.", delay=SLEEP)
    model = AutoMixChatModel(tiers=[small, large], prices=PRICES, k=k, verify_n=True)
    await model.ainvoke(QUESTION)
    assert model.ledger.total.calls == 2  # the answer, then one verification request
    answer, verify = [(c["messages"], {key: v for key, v in c["kwargs"].items() if v is not None})
                      for c in small.calls]
    _count_only(small, large)
    sem = asyncio.Semaphore(concurrency)

    async def direct_one() -> None:  # the same two requests
        async with sem:
            await small.ainvoke(answer[0], **answer[1])
            await small.agenerate([verify[0]], **{**verify[1], "n": k})

    direct, wall = await _time_both(direct_one, model, small, n, concurrency)
    assert large.call_count == 0 and small.call_count == 2 * (2 * n + 1)
    return _throughput(n, concurrency, direct, wall, small.max_in_flight)


# -- LlamaIndex --------------------------------------------------------------------------------------------

def _li(verdict: str, k: int, delay: float = 0.0) -> tuple[AutoMixLLM, ScriptedLLM, ScriptedLLM]:
    small = ScriptedLLM(model="small", answer="Paris", verdict=verdict, delay=delay)
    large = ScriptedLLM(model="large", answer="Paris.", delay=delay)
    return AutoMixLLM([small, large], prices=PRICES, k=k), small, large


def _msgs(q: str = QUESTION) -> list[ChatMessage]:
    return [ChatMessage(role=MessageRole.USER, content=q)]


def li_chat(verdict: str, k: int, reps: int) -> dict[str, float]:
    model, small, large = _li(verdict, k)
    model.chat(_msgs())
    calls = [(small, c) for c in small.calls] + [(large, c) for c in large.calls]

    def direct() -> None:
        for child, c in calls:
            child.chat(c["messages"], **c["kwargs"])

    def automix() -> None:
        model.chat(_msgs())

    def clear() -> None:
        small.calls.clear()
        large.calls.clear()

    return _row(len(calls), _interleaved(direct, automix, clear, reps))


async def _li_gather(k: int, n: int, concurrency: int) -> dict[str, float]:
    model, small, large = _li("correct", k, delay=SLEEP)
    await model.achat(_msgs())
    answer, *verify = [(c["messages"], c["kwargs"]) for c in small.calls]
    _count_only(small, large)
    sem = asyncio.Semaphore(concurrency)

    async def direct_one() -> None:
        async with sem:
            await small.achat(answer[0], **answer[1])
            await asyncio.gather(*(small.achat(m, **kw) for m, kw in verify))

    direct, wall = await _time_gather(direct_one, model, small, n, sem)
    assert large.call_count == 0 and small.call_count == (k + 1) * (2 * n + 1)
    return _throughput(n, concurrency, direct, wall, 0)


async def _time_gather(direct_one: Callable[[], Awaitable[None]], model: AutoMixLLM, small: ScriptedLLM, n: int,
                       sem: asyncio.Semaphore) -> tuple[float, float]:
    """Seconds for ``n`` runs of ``direct_one`` at once, then for ``n`` ``model.achat`` under ``sem``."""
    async def one(i: int) -> None:
        async with sem:
            await model.achat(_msgs(f"{QUESTION} #{i}"))

    t0 = time.perf_counter()
    await asyncio.gather(*(direct_one() for _ in range(n)))
    direct = time.perf_counter() - t0
    t0 = time.perf_counter()
    await asyncio.gather(*(one(i) for i in range(n)))
    return direct, time.perf_counter() - t0


class _NativeNLLM(ScriptedLLM):
    """The scripted LLM answering a request with ``n`` like an OpenAI server: one sleep, every choice
    in ``raw["choices"]``, the request's usage once."""

    async def achat(self, messages: Sequence[ChatMessage], **kwargs: Any) -> ChatResponse:
        n = int(kwargs.get("n") or 1)
        response = await super().achat(messages, **kwargs)
        choice = {"message": {"role": "assistant", "content": response.message.content}}
        return ChatResponse(message=response.message, raw={**response.raw, "choices": [choice] * n})


async def _li_gather_native_n(k: int, n: int, concurrency: int) -> dict[str, float]:
    """As :func:`_li_gather`, with children that draw the k samples in one request (``verify_n``)."""
    small = _NativeNLLM(model="small", answer="Paris", verdict="correct", delay=SLEEP)
    large = _NativeNLLM(model="large", answer="Paris.", delay=SLEEP)
    model = AutoMixLLM([small, large], prices=PRICES, k=k, verify_n=True)
    await model.achat(_msgs())
    assert model.ledger.total.calls == 2  # the answer, then one verification request
    (answer, akw), (verify, vkw) = [(c["messages"], c["kwargs"]) for c in small.calls]
    _count_only(small, large)
    sem = asyncio.Semaphore(concurrency)

    async def direct_one() -> None:  # the same two requests
        async with sem:
            await small.achat(answer, **akw)
            await small.achat(verify, **vkw)

    direct, wall = await _time_gather(direct_one, model, small, n, sem)
    assert large.call_count == 0 and small.call_count == 2 * (2 * n + 1)
    return _throughput(n, concurrency, direct, wall, 0)


async def _li_live_objects(k: int, n: int = 20) -> dict[str, float]:
    """Objects the garbage collector tracks per query in flight (during the verification request),
    AutoMixLLM.achat with native ``n`` against the same two requests made directly."""
    small = _NativeNLLM(model="small", answer="Paris", verdict="correct", delay=0.3)
    large = _NativeNLLM(model="large", answer="Paris.", delay=0.3)
    model = AutoMixLLM([small, large], prices=PRICES, k=k, verify_n=True)
    await model.achat(_msgs())
    (answer, akw), (verify, vkw) = [(c["messages"], c["kwargs"]) for c in small.calls]
    _count_only(small, large)

    async def direct_one() -> None:
        await small.achat(answer, **akw)
        await small.achat(verify, **vkw)

    out: dict[str, float] = {}
    for mode in ("direct", "automix"):
        gc.collect()
        before = len(gc.get_objects())
        tasks = [asyncio.ensure_future(direct_one() if mode == "direct" else model.achat(_msgs(f"{QUESTION} #{i}")))
                 for i in range(n)]
        await asyncio.sleep(0.45)  # every query is inside its second request
        gc.collect()
        out[mode] = (len(gc.get_objects()) - before) / n
        await asyncio.gather(*tasks)
    return out


def _median_run(runs: list[dict[str, float]]) -> dict[str, float]:
    """One row from repeated throughput runs: median times (and the figures derived from them), the
    range of % ideal, and every run. A full collection of the garbage collector (~120 ms here) falls
    into some runs and not others, so single runs scatter by 10-15 points."""
    first = runs[0]
    direct = statistics.median(r["direct_s"] for r in runs)
    wall = statistics.median(r["wall_s"] for r in runs)
    out = _throughput(int(first["queries"]), int(first["concurrency"]), direct, wall,
                      int(max(r["max_child_in_flight"] for r in runs)))
    out["efficiency_min"] = min(r["efficiency"] for r in runs)
    out["efficiency_max"] = max(r["efficiency"] for r in runs)
    out["runs"] = runs  # type: ignore[assignment]
    return out


def _count_only(*children: ScriptedChatModel | ScriptedLLM) -> None:
    """From here on the scripted children count their calls instead of logging each one (with its
    messages): a real client keeps nothing per call, and a growing log would load the garbage
    collector of whichever side of the comparison runs second."""
    for child in children:
        child.record = False


def _throughput(n: int, concurrency: int, direct: float, wall: float, max_in_flight: int) -> dict[str, float]:
    ideal = math.ceil(n / concurrency) * 2 * SLEEP  # critical path: the answer, then the concurrent samples
    return {"queries": n, "concurrency": concurrency, "ideal_s": ideal, "direct_s": direct, "wall_s": wall,
            "throughput_qps": n / wall, "ideal_qps": n / ideal, "direct_qps": n / direct,
            "efficiency": ideal / wall, "direct_efficiency": ideal / direct, "vs_direct": direct / wall,
            "max_child_in_flight": max_in_flight}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--k", type=int, default=8, help="verification samples (default 8)")
    ap.add_argument("--reps", type=int, default=300, help="timed runs per measurement (default 300)")
    ap.add_argument("--queries", type=int, default=1000)
    ap.add_argument("--concurrency", type=int, default=64)
    ap.add_argument("--repeats", type=int, default=5,
                    help="runs of each throughput measurement; the table shows medians (default 5)")
    ap.add_argument("--json", default=str(OUT))
    a = ap.parse_args()
    res: dict[str, Any] = {"k": a.k, "reps": a.reps, "per_call": {}, "throughput": {}}
    print(f"per-call cost, instant scripted children, k={a.k}: medians of {a.reps // 10 * BLOCKS} calls (wall)"
          f" and of {BLOCKS} blocks (CPU); noisy machine, CPU ratio is the steadier figure")
    print(f"{'adapter':24s} {'scenario':9s} {'calls':>5s} {'direct µs':>10s} {'automix µs':>11s} {'ratio':>6s}"
          f" {'direct CPU µs':>14s} {'automix CPU µs':>15s} {'overhead':>9s} {'CPU ratio':>10s}")
    for label, fn in (("AutoMixChatModel.invoke", lc_invoke), ("AutoMixLLM.chat", li_chat)):
        for scenario, verdict in (("accept", "correct"), ("escalate", "incorrect")):
            r = fn(verdict, a.k, a.reps)
            res["per_call"][f"{label}/{scenario}"] = r
            print(f"{label:24s} {scenario:9s} {r['child_calls']:5d} {r['direct_us']:10.0f} {r['automix_us']:11.0f}"
                  f" {r['ratio_wall']:6.2f} {r['direct_cpu_us']:14.0f} {r['automix_cpu_us']:15.0f}"
                  f" {r['overhead_cpu_us']:9.0f} {r['ratio_cpu']:10.2f}", flush=True)
    print(f"\nthroughput, {a.queries} queries, children sleep {SLEEP * 1000:.0f} ms, concurrency {a.concurrency}; "
          "direct = the same child calls without AutoMix")
    print(f"medians of {a.repeats} runs each (range: the lowest and highest % ideal)")
    print(f"{'adapter':46s} {'ideal s':>8s} {'direct s':>9s} {'automix s':>10s} {'q/s':>6s} {'ideal q/s':>10s}"
          f" {'% ideal':>8s} {'range':>10s} {'direct % ideal':>15s} {'% direct':>9s}")
    runs = (("AutoMixChatModel.abatch", _lc_abatch), ("AutoMixChatModel.abatch, native n", _lc_abatch_native_n),
            ("AutoMixLLM.achat (gather, sem 64)", _li_gather), ("AutoMixLLM.achat, native n", _li_gather_native_n))
    for frozen in (False, True):
        if frozen:  # what a server that froze its start-up heap sees: full collections skip those objects
            gc.collect()
            gc.freeze()
        for label, coro in runs:
            reps = [asyncio.run(coro(a.k, a.queries, a.concurrency)) for _ in range(a.repeats)]
            r = _median_run(reps)
            label = f"{label} [gc.freeze]" if frozen else label
            res["throughput"][label] = r
            spread = f"{r['efficiency_min']:.0%}-{r['efficiency_max']:.0%}"
            print(f"{label:46s} {r['ideal_s']:8.2f} {r['direct_s']:9.2f} {r['wall_s']:10.2f}"
                  f" {r['throughput_qps']:6.0f} {r['ideal_qps']:10.0f} {r['efficiency']:8.0%} {spread:>10s}"
                  f" {r['direct_efficiency']:15.0%} {r['vs_direct']:9.0%}", flush=True)
    gc.unfreeze()
    live = asyncio.run(_li_live_objects(a.k))
    res["live_objects_per_query"] = live
    print(f"objects tracked by the garbage collector per query in flight, LlamaIndex with native n: "
          f"AutoMix {live['automix']:.0f}, direct {live['direct']:.0f}")
    Path(a.json).write_text(json.dumps(res, indent=1))
    print(f"wrote {a.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
