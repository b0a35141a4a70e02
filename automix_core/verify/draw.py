"""Drawing k verification samples, written once for every backend and adapter.

:func:`plan` is the logic, as a generator of :class:`Batch` requests: one request with ``n=k``
when the model takes ``n``, then the samples it did not return one request each; a request with
``n`` refused with HTTP 400 (:func:`~automix_core.integration.rejected_request`) falls back to k
single requests. :func:`draw` runs the plan synchronously (requests one after another) and
:func:`adraw` asynchronously (the single requests of a batch concurrently; one failure cancels
its siblings).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Generator
from dataclasses import dataclass
from typing import TypeVar

from ..aio import gather_n
from ..integration import rejected_request

__all__ = ["Batch", "adraw", "draw", "plan"]

T = TypeVar("T")


@dataclass(frozen=True)
class Batch:
    """``count`` requests of ``n`` samples each."""

    n: int
    count: int


Plan = Generator[Batch, "list[int] | BaseException", None]
"""Yields the next :class:`Batch`; is sent the number of samples each of its requests returned, or
the exception one of them raised."""


def plan(k: int, supports_n: bool) -> Plan:
    """The requests that draw ``k`` samples (see the module docs)."""
    got = 0
    if supports_n and k > 1:
        reply = yield Batch(k, 1)
        if isinstance(reply, BaseException):
            if not rejected_request(reply):
                raise reply
        else:
            got = sum(reply)
    if got < k:
        reply = yield Batch(1, k - got)
        if isinstance(reply, BaseException):
            raise reply


def draw(request: Callable[[int], T], size: Callable[[T], int], k: int, supports_n: bool) -> list[T]:
    """Run :func:`plan` with ``request(n)`` one request at a time; ``size(reply)`` counts its samples."""
    replies: list[T] = []
    steps = plan(k, supports_n)
    try:
        batch = next(steps)
        while True:
            try:
                got = [request(batch.n) for _ in range(batch.count)]
            except Exception as error:
                batch = steps.send(error)
                continue
            replies += got
            batch = steps.send([size(r) for r in got])
    except StopIteration:
        return replies


async def adraw(
    request: Callable[[int], Awaitable[T]], size: Callable[[T], int], k: int, supports_n: bool
) -> list[T]:
    """Async :func:`draw`: the requests of a batch run concurrently."""
    replies: list[T] = []
    steps = plan(k, supports_n)
    try:
        batch = next(steps)
        while True:
            try:
                got = await gather_n(batch.count, request, batch.n)
            except Exception as error:
                batch = steps.send(error)
                continue
            replies += got
            batch = steps.send([size(r) for r in got])
    except StopIteration:
        return replies
