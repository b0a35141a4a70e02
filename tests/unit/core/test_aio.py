"""automix_core.aio: ``within`` (per-call deadline) and ``gather_n`` (n concurrent calls)."""

from __future__ import annotations

import asyncio
import contextvars
import gc
import sys
import weakref
from typing import Any

import pytest

from automix_core.aio import Deadline, gather_n, within

needs_uncancel = pytest.mark.skipif(sys.version_info < (3, 11), reason="Task.uncancel is 3.11+")


class Payload:
    pass


_VAR: contextvars.ContextVar[Payload | None] = contextvars.ContextVar("test_aio_payload", default=None)


def test_within_returns_the_result_before_the_deadline() -> None:
    async def main() -> int:
        async def quick() -> int:
            await asyncio.sleep(0)
            return 7

        return await within(5.0, quick())

    assert asyncio.run(main()) == 7


def test_within_raises_timeout_error_at_the_deadline_and_leaves_the_task_uncancelled() -> None:
    async def main() -> int:
        with pytest.raises(asyncio.TimeoutError):
            await within(0.01, asyncio.sleep(5))
        task = asyncio.current_task()
        assert task is not None
        return task.cancelling() if hasattr(task, "cancelling") else 0

    assert asyncio.run(main()) == 0


def test_a_cancellation_from_outside_propagates_as_cancellation() -> None:
    async def main() -> None:
        started = asyncio.Event()

        async def slow() -> None:
            started.set()
            await asyncio.sleep(5)

        task = asyncio.ensure_future(within(5.0, slow()))
        await started.wait()
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    asyncio.run(main())


@needs_uncancel
def test_a_call_that_swallows_the_deadline_cancellation_withdraws_it() -> None:
    async def stubborn() -> str:
        try:
            await asyncio.sleep(5)
        except asyncio.CancelledError:
            return "kept going"
        return "slept"

    async def main() -> tuple[str, int]:
        out = await within(0.01, stubborn())
        task = asyncio.current_task()
        assert task is not None
        return out, task.cancelling()  # type: ignore[attr-defined,unused-ignore]

    assert asyncio.run(main()) == ("kept going", 0)


@needs_uncancel
def test_the_deadline_timer_does_not_keep_the_callers_context_alive() -> None:
    # asyncio.timeout's timer holds a copy of the caller's context until the loop drops it; ours
    # holds none, so what the caller's context variables referred to is freed when the call ends
    async def main() -> bool:
        async def work() -> bool:
            payload = Payload()
            ref = weakref.ref(payload)
            _VAR.set(payload)
            await within(60.0, asyncio.sleep(0))
            _VAR.set(None)
            del payload
            gc.collect()
            return ref() is None  # checked before the loop runs again (and could drop a cancelled timer)

        return await asyncio.ensure_future(work())

    assert asyncio.run(main())


@needs_uncancel
def test_deadline_as_a_plain_context_manager() -> None:
    async def main() -> tuple[bool, bool]:
        with Deadline(5.0) as early:
            await asyncio.sleep(0)
        late = Deadline(0.01)
        with pytest.raises(asyncio.TimeoutError), late:
            await asyncio.sleep(5)
        return early.expired, late.expired

    assert asyncio.run(main()) == (False, True)


def test_gather_n_runs_n_calls_concurrently_in_order() -> None:
    async def main() -> tuple[list[int], int]:
        in_flight = peak = 0
        counter = iter(range(100))

        async def call(offset: int, *, scale: int) -> int:
            nonlocal in_flight, peak
            i = next(counter)
            in_flight += 1
            peak = max(peak, in_flight)
            await asyncio.sleep(0.01)
            in_flight -= 1
            return offset + scale * i

        return await gather_n(4, call, 100, scale=2), peak

    out, peak = asyncio.run(main())
    assert out == [100, 102, 104, 106] and peak == 4


def test_gather_n_with_one_or_zero_calls() -> None:
    calls: list[Any] = []

    async def call(x: int) -> int:
        calls.append(x)
        return x

    async def main() -> tuple[list[int], list[int]]:
        return await gather_n(1, call, 5), await gather_n(0, call, 6)

    assert asyncio.run(main()) == ([5], []) and calls == [5]


def test_gather_n_cancels_the_siblings_of_a_failed_call() -> None:
    cancelled: list[int] = []

    async def call(i: list[int]) -> None:
        mine = i.pop()
        try:
            if mine == 0:
                raise ValueError("boom")
            await asyncio.sleep(5)
        except asyncio.CancelledError:
            cancelled.append(mine)
            raise

    async def main() -> None:
        with pytest.raises(ValueError, match="boom"):
            await gather_n(3, call, [0, 1, 2])

    asyncio.run(main())
    assert sorted(cancelled) == [1, 2]
