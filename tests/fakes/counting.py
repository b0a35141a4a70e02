"""Counting constructions: how many objects of each class a test's code built (the built-once tests)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import pytest

__all__ = ["count_constructions"]


def count_constructions(monkeypatch: pytest.MonkeyPatch, classes: Iterable[type]) -> dict[str, int]:
    """A dict that counts, by class name, every object of ``classes`` constructed from now on (in ``__init__``)."""
    counts: dict[str, int] = {}

    def counting(cls: type) -> None:
        init = cls.__init__  # type: ignore[misc]

        def wrapped(self: Any, *args: Any, **kwargs: Any) -> None:
            counts[cls.__name__] = counts.get(cls.__name__, 0) + 1
            init(self, *args, **kwargs)

        monkeypatch.setattr(cls, "__init__", wrapped)

    for cls in classes:
        counting(cls)
    return counts
