"""Asyncio helpers shared by the engine and the adapters."""

from __future__ import annotations

import asyncio
import contextvars
from collections.abc import Awaitable, Callable, Iterable
from typing import Any, TypeVar

__all__ = ["HAS_DEADLINE", "Deadline", "gather_n", "gather_or_cancel", "within"]

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


HAS_DEADLINE = hasattr(asyncio.Task, "uncancel")
"""Whether :class:`Deadline` can be used (Python 3.11+: it needs ``Task.uncancel``)."""
# the context the deadline timers run in: an empty one (see Deadline)
_BARE = contextvars.Context()


class Deadline:
    """``with Deadline(seconds): await ...`` inside a task: at the deadline the task is cancelled
    and the block raises :class:`asyncio.TimeoutError`; a cancellation from elsewhere still
    propagates as such. Python 3.11+ (:data:`HAS_DEADLINE`).

    The semantics of ``asyncio.timeout``, as a plain context manager whose timer holds no copy of
    the caller's context variables. ``asyncio.timeout``'s timer keeps that copy, and with it whatever
    the caller's context refers to, until the event loop drops the cancelled timer, long after the
    block ended; under load that is thousands of objects the garbage collector then walks. Being a
    plain context manager, it also adds no coroutine to a request in flight.
    """

    __slots__ = ("_cancelling", "_delay", "_fired", "_task", "_timer")

    def __init__(self, delay: float) -> None:
        self._delay = delay
        self._fired = False

    def __enter__(self) -> Deadline:
        task = asyncio.current_task()
        if task is None:
            raise RuntimeError("Deadline must be used inside an asyncio task")
        self._task = task
        self._cancelling: int = task.cancelling()  # type: ignore[attr-defined,unused-ignore]
        self._timer = asyncio.get_running_loop().call_later(self._delay, self._fire, context=_BARE)
        return self

    def _fire(self) -> None:
        self._fired = True
        self._task.cancel()

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: object) -> None:
        self._timer.cancel()
        if self._fired:  # withdraw our cancellation; if nothing else cancelled the task, it was ours
            pending = self._task.uncancel()  # type: ignore[attr-defined,unused-ignore]
            if pending <= self._cancelling and exc_type is asyncio.CancelledError:
                raise asyncio.TimeoutError from None

    @property
    def expired(self) -> bool:
        """Whether the deadline passed while the block ran."""
        return self._fired


async def within(delay: float, aw: Awaitable[T]) -> T:
    """``await aw``, or :class:`asyncio.TimeoutError` once ``delay`` seconds have passed: a
    :class:`Deadline` on 3.11+ (the call runs in this task), ``asyncio.wait_for`` before (or outside
    a task; before 3.12 it runs the call in a new task)."""
    if not HAS_DEADLINE or asyncio.current_task() is None:
        return await asyncio.wait_for(aw, delay)
    with Deadline(delay):
        return await aw
