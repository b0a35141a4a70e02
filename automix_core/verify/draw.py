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
from ..steps import Done, advance

__all__ = ["Batch", "adraw", "draw", "plan"]

T = TypeVar("T")


@dataclass(frozen=True)
class Batch:
    """``count`` requests of ``n`` samples each."""

    n: int
    count: int


Plan = Generator[Batch, "list[T] | BaseException", "list[T]"]
"""Yields the next :class:`Batch`; is sent the replies of its requests, or the exception one of them
raised; returns every reply."""


def plan(size: Callable[[T], int], k: int, supports_n: bool) -> Plan[T]:
    """The requests that draw ``k`` samples (see the module docs); ``size(reply)`` counts a reply's samples."""
    replies: list[T] = []
    if supports_n and k > 1:
        reply = yield Batch(k, 1)
        if isinstance(reply, BaseException):
            if not rejected_request(reply):
                raise reply
        else:
            replies += reply
    got = sum(size(r) for r in replies)
    if got < k:
        reply = yield Batch(1, k - got)
        if isinstance(reply, BaseException):
            raise reply
        replies += reply
    return replies


def draw(request: Callable[[int], T], size: Callable[[T], int], k: int, supports_n: bool) -> list[T]:
    """Run :func:`plan` with ``request(n)`` one request at a time."""
    steps = plan(size, k, supports_n)
    batch = advance(steps, None)
    while not isinstance(batch, Done):
        batch = advance(steps, _batch_of(request, batch))
    replies: list[T] = batch.value
    return replies


def _batch_of(request: Callable[[int], T], batch: Batch) -> list[T] | BaseException:
    try:
        return [request(batch.n) for _ in range(batch.count)]
    except Exception as error:
        return error


async def adraw(
    request: Callable[[int], Awaitable[T]], size: Callable[[T], int], k: int, supports_n: bool
) -> list[T]:
    """Async :func:`draw`: the requests of a batch run concurrently (one failure cancels the others)."""
    steps = plan(size, k, supports_n)
    batch = advance(steps, None)
    while not isinstance(batch, Done):
        try:
            got: list[T] | BaseException = await gather_n(batch.count, request, batch.n)
        except Exception as error:
            got = error
        batch = advance(steps, got)
    replies: list[T] = batch.value
    return replies
