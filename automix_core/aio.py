"""Asyncio helpers shared by the engine and the adapters."""

from __future__ import annotations

import asyncio
import contextvars
from collections.abc import Awaitable, Callable, Iterable
from typing import Any, TypeVar

__all__ = ["gather_n", "gather_or_cancel", "within"]

T = TypeVar("T")


async def gather_or_cancel(aws: Iterable[Awaitable[T]]) -> list[T]:
    """Run ``aws`` concurrently and return their results in order. When one fails (or this call is
    cancelled), the others are cancelled and awaited before the error propagates, so no sibling is
    left running after its result stopped mattering."""
    tasks = [asyncio.ensure_future(a) for a in aws]
    try:
        return list(await asyncio.gather(*tasks))
    except BaseException:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        raise


async def gather_n(n: int, call: Callable[..., Awaitable[T]], *args: Any, **kwargs: Any) -> list[T]:
    """``n`` concurrent ``call(*args, **kwargs)``, as :func:`gather_or_cancel`. One call is awaited in
    place (no task); zero returns ``[]``."""
    if n <= 1:
        return [await call(*args, **kwargs)] if n == 1 else []
    return await gather_or_cancel(call(*args, **kwargs) for _ in range(n))


_HAS_UNCANCEL = hasattr(asyncio.Task, "uncancel")  # Python 3.11+
# the context the deadline timers run in: an empty one (see within)
_BARE = contextvars.Context()


class _Expiry:
    __slots__ = ("cancelling", "fired", "task")

    def __init__(self, task: asyncio.Task[Any]) -> None:
        self.task = task
        self.cancelling: int = task.cancelling()  # type: ignore[attr-defined,unused-ignore]
        self.fired = False

    def fire(self) -> None:
        self.fired = True
        self.task.cancel()


async def within(delay: float, aw: Awaitable[T]) -> T:
    """``await aw``, or :class:`asyncio.TimeoutError` once ``delay`` seconds have passed.

    The semantics of ``asyncio.timeout`` (3.11+: the call runs in this task, which is cancelled at
    the deadline; a cancellation from elsewhere still propagates as such), with a timer that holds
    no copy of the caller's context variables. ``asyncio.timeout``'s timer keeps that copy, and with
    it whatever the caller's context refers to, until the event loop drops the cancelled timer,
    long after the call returned; under load that is thousands of objects the garbage collector
    then walks. Before 3.11: ``asyncio.wait_for``.
    """
    task = asyncio.current_task()
    if task is None or not _HAS_UNCANCEL:
        return await asyncio.wait_for(aw, delay)
    expiry = _Expiry(task)
    timer = asyncio.get_running_loop().call_later(delay, expiry.fire, context=_BARE)
    settled = False
    try:
        return await aw
    except asyncio.CancelledError:
        if expiry.fired:
            settled = True  # ours when no other cancellation is pending
            if task.uncancel() <= expiry.cancelling:  # type: ignore[attr-defined,unused-ignore]
                raise asyncio.TimeoutError from None
        raise
    finally:
        timer.cancel()
        if expiry.fired and not settled:  # the call ignored our cancellation: withdraw it
            task.uncancel()  # type: ignore[attr-defined,unused-ignore]
