"""Drawing k verification samples, written once for every backend and adapter.

:func:`plan` is the logic, as a generator of :class:`Batch` requests: one request with ``n=k``
when the model takes ``n``, then the samples it did not return one request each. A request with
``n`` refused with HTTP 400 (:func:`~automix_core.integration.rejected_request`) whose message names the
largest ``n`` the server takes (llama.cpp: "Value must be between 1 <= value <= 4", its slots) is sent
again in requests of that ``n``; otherwise it falls back to k single requests, with a logged warning
(each single request pays for the prompt again). :func:`draw` runs the plan synchronously (requests one
after another) and :func:`adraw` asynchronously (the single requests of a batch concurrently; one failure cancels
its siblings).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Awaitable, Callable, Generator
from dataclasses import dataclass
from typing import TypeVar

from ..aio import gather_n
from ..integration import rejected_request
from ..steps import Done, advance

__all__ = ["Batch", "adraw", "draw", "largest_n", "plan"]

T = TypeVar("T")

log = logging.getLogger("automix")

_LIMIT = re.compile(r"(?:<=|≤|at most|maximum(?: of| is)?|between 1 and)\s*(\d+)", re.IGNORECASE)


_WARNED: set[tuple[str, int, int]] = set()


def _warn_once(kind: str, k: int, n: int, message: str, error: BaseException) -> None:
    """Log ``message`` (with the refusal, cut short) once per process for each kind of fallback, k and n."""
    if (kind, k, n) not in _WARNED:
        _WARNED.add((kind, k, n))
        log.warning(message, " ".join(str(error).split())[:200])


def largest_n(error: BaseException) -> int | None:
    """The largest ``n`` a rejection's message says the server takes (e.g. llama.cpp's
    "Value must be between 1 <= value <= 4" when it has 4 slots), or None."""
    found = [int(m) for m in _LIMIT.findall(str(error))]
    return max(found) if found else None


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
            limit = largest_n(reply)
            if limit is not None and 1 < limit < k:
                _warn_once("split", k, limit, f"verification: n={k} was refused (%s); sending requests of n={limit} "
                           f"(give the model's max_n, or serve it with at least {k} slots, to send one request)", reply)
                split = yield Batch(limit, k // limit)
                if isinstance(split, BaseException):
                    if not rejected_request(split):
                        raise split
                else:
                    replies += split
            if not replies:
                _warn_once("single", k, 1, f"verification: n={k} was refused (%s); falling back to {k} single "
                           "requests, each paying for the prompt again (verify_mode='logprob' needs one call where the "
                           "backend returns logprobs)", reply)
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
