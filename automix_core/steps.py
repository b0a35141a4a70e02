"""Driving a generator of requests: the one pattern behind every sync/async pair in the core.

The logic that needs model calls (the cascade, a verification, the drawing of k samples) is written
once as a generator that yields requests and is sent their results (or the exception a request
raised). :func:`advance` moves it one step; a sync driver and an async driver are then a loop of
three lines each around their own way of executing a request.
"""

from __future__ import annotations

from collections.abc import Generator
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

__all__ = ["Done", "advance"]

R = TypeVar("R")


@dataclass(frozen=True)
class Done(Generic[R]):
    """The generator finished with ``value``."""

    value: R


def advance(gen: Generator[Any, Any, R], reply: Any) -> Any:
    """Send ``reply`` (None to start) into ``gen``: its next request, or :class:`Done` with its result."""
    try:
        return gen.send(reply)
    except StopIteration as stop:
        return Done(stop.value)
