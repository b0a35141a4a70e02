"""Usage accounting: what each model call cost, running totals, and spending caps.

Every model call (answering or verifying) becomes one :class:`Usage`, built by
:func:`usage_from_generation`, and is recorded in a thread-safe :class:`Ledger`. A :class:`Budget`
checks a planned call against a per-request cap and against an overall cap on the ledger's total.
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Sequence
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from ..models import Generation, Message
from .prices import PriceTable
from .tokens import count_messages, count_tokens

__all__ = ["Budget", "Ledger", "LedgerSnapshot", "Purpose", "Totals", "Usage", "usage_from_generation"]

Purpose = Literal["answer", "verify", "shadow"]
"""What a call was for: answering, verifying, or shadow evaluation after the response (never a request's)."""


class Usage(BaseModel):
    """One model call: tokens, USD cost, and whether the token counts were estimated locally
    (``estimated``) rather than reported by the provider. ``tier`` is the model's index in the cascade;
    ``requests`` the provider requests the call took (see :class:`~automix_core.models.Generation`)."""

    model_config = ConfigDict(frozen=True)

    model: str
    input_tokens: int = Field(ge=0)
    output_tokens: int = Field(ge=0)
    cost: float = Field(ge=0)
    estimated: bool
    purpose: Purpose
    tier: int = Field(ge=0)
    requests: int = Field(default=1, ge=1)
    cached_input_tokens: int = Field(default=0, ge=0)
    """The part of ``input_tokens`` served from the provider's prompt cache (0 when not reported)."""


class Totals(BaseModel):
    """Sums over a set of calls. ``calls`` counts provider requests; ``estimated_calls`` those whose
    tokens were estimated."""

    model_config = ConfigDict(frozen=True)

    calls: int = 0
    input_tokens: int = 0
    output_tokens: int = 0
    cost: float = 0.0
    estimated_calls: int = 0
    cached_input_tokens: int = 0

    @property
    def processed_tokens(self) -> int:
        """Tokens the providers had to process: ``(input - cached input) + output``."""
        return self.input_tokens - self.cached_input_tokens + self.output_tokens

    def add(self, usage: Usage) -> Totals:
        return Totals(
            calls=self.calls + usage.requests,
            input_tokens=self.input_tokens + usage.input_tokens,
            output_tokens=self.output_tokens + usage.output_tokens,
            cost=self.cost + usage.cost,
            estimated_calls=self.estimated_calls + usage.requests * int(usage.estimated),
            cached_input_tokens=self.cached_input_tokens + usage.cached_input_tokens,
        )


class LedgerSnapshot(BaseModel):
    """A consistent copy of a ledger: overall totals, totals per model and per purpose, and the
    entries it keeps (the most recent ones; ``entries_dropped`` older ones are counted in the
    totals but no longer listed)."""

    model_config = ConfigDict(frozen=True)

    total: Totals
    by_model: dict[str, Totals]
    by_purpose: dict[str, Totals]
    entries: tuple[Usage, ...]
    entries_dropped: int = 0


class _Sums:
    """Running sums of :class:`Totals` fields, mutable so that recording a call builds no model."""

    __slots__ = ("cached_input_tokens", "calls", "cost", "estimated_calls", "input_tokens", "output_tokens")

    def __init__(self) -> None:
        self.calls = self.input_tokens = self.output_tokens = self.estimated_calls = self.cached_input_tokens = 0
        self.cost = 0.0

    def add(self, usage: Usage) -> None:
        self.calls += usage.requests
        self.input_tokens += usage.input_tokens
        self.output_tokens += usage.output_tokens
        self.cost += usage.cost
        self.estimated_calls += usage.requests * int(usage.estimated)
        self.cached_input_tokens += usage.cached_input_tokens

    def totals(self) -> Totals:
        return Totals(calls=self.calls, input_tokens=self.input_tokens, output_tokens=self.output_tokens,
                      cost=self.cost, estimated_calls=self.estimated_calls,
                      cached_input_tokens=self.cached_input_tokens)


class Ledger:
    """A thread-safe record of :class:`Usage` entries with running totals.

    The totals cover every call ever recorded. The entries themselves are kept for the most recent
    ``max_entries`` calls (default 10,000; ``None`` keeps all), so a long-running server does not
    grow without bound.
    """

    def __init__(self, max_entries: int | None = 10_000) -> None:
        if max_entries is not None and (isinstance(max_entries, bool) or not isinstance(max_entries, int)
                                        or max_entries < 1):
            raise ValueError(f"max_entries must be an int >= 1 or None, got {max_entries!r}")
        self.max_entries = max_entries
        self._lock = threading.Lock()
        self._entries: deque[Usage] = deque(maxlen=max_entries)
        self._dropped = 0
        self._total = _Sums()
        self._by_model: dict[str, _Sums] = {}
        self._by_purpose: dict[str, _Sums] = {}

    def record(self, usage: Usage) -> None:
        """Add one call to the ledger."""
        with self._lock:
            if self.max_entries is not None and len(self._entries) == self.max_entries:
                self._dropped += 1
            self._entries.append(usage)
            self._total.add(usage)
            sums = self._by_model.get(usage.model)
            if sums is None:
                sums = self._by_model[usage.model] = _Sums()
            sums.add(usage)
            sums = self._by_purpose.get(usage.purpose)
            if sums is None:
                sums = self._by_purpose[usage.purpose] = _Sums()
            sums.add(usage)

    @property
    def total(self) -> Totals:
        """Totals over all recorded calls."""
        with self._lock:
            return self._total.totals()

    @property
    def total_cost(self) -> float:
        """USD spent over all recorded calls."""
        with self._lock:
            return self._total.cost

    def by_model(self) -> dict[str, Totals]:
        """Totals per model name."""
        with self._lock:
            return {name: sums.totals() for name, sums in self._by_model.items()}

    def by_purpose(self) -> dict[str, Totals]:
        """Totals per purpose (``"answer"``, ``"verify"``)."""
        with self._lock:
            return {name: sums.totals() for name, sums in self._by_purpose.items()}

    def snapshot(self) -> LedgerSnapshot:
        """All totals and entries, taken atomically."""
        with self._lock:
            return LedgerSnapshot(
                total=self._total.totals(),
                by_model={name: sums.totals() for name, sums in self._by_model.items()},
                by_purpose={name: sums.totals() for name, sums in self._by_purpose.items()},
                entries=tuple(self._entries),
                entries_dropped=self._dropped,
            )

    def reset(self) -> None:
        """Forget every entry."""
        with self._lock:
            self._entries.clear()
            self._dropped = 0
            self._total = _Sums()
            self._by_model.clear()
            self._by_purpose.clear()


class Budget:
    """Spending caps in USD: ``max_request_usd`` per request and ``max_total_usd`` over ``ledger``.

    A None cap is unlimited; an overall cap needs the ledger whose total it caps. Caps are checked,
    not reserved: requests running concurrently may each pass the overall check and together
    overshoot it by their in-flight calls.
    """

    def __init__(
        self, max_request_usd: float | None = None, max_total_usd: float | None = None, ledger: Ledger | None = None
    ) -> None:
        if (max_request_usd is not None and max_request_usd < 0) or (max_total_usd is not None and max_total_usd < 0):
            raise ValueError("budget caps must be >= 0")
        if max_total_usd is not None and ledger is None:
            raise ValueError("an overall cap (max_total_usd) needs the ledger it applies to")
        self.max_request_usd = max_request_usd
        self.max_total_usd = max_total_usd
        self.ledger = ledger

    def allows(self, additional_cost: float, request_spent: float = 0.0) -> bool:
        """Whether spending ``additional_cost`` more keeps within both caps.

        ``request_spent`` is what the current request has spent so far (its calls are assumed to be
        recorded in the ledger already, so the overall check is ``ledger total + additional_cost``).
        """
        if self.max_request_usd is not None and request_spent + additional_cost > self.max_request_usd:
            return False
        if self.max_total_usd is None or self.ledger is None:
            return True
        shadow = self.ledger.by_purpose().get("shadow")  # shadow calls have a budget of their own
        spent = self.ledger.total_cost - (shadow.cost if shadow is not None else 0.0)
        return spent + additional_cost <= self.max_total_usd


def usage_from_generation(
    gen: Generation, messages: Sequence[Message], price_table: PriceTable, purpose: Purpose, tier: int
) -> Usage:
    """The :class:`Usage` of the call that sent ``messages`` and returned ``gen``.

    Token counts the provider reported are used as they are; a count it did not report is estimated
    with :mod:`automix_core.accounting.tokens` (the prompt once per provider request, since ``n`` samples of
    one request share its prompt, and the sum over the sampled texts), and ``estimated`` is then
    True. The cost is priced by ``gen.model`` in ``price_table``, which raises
    :class:`~automix_core.accounting.prices.UnknownPriceError` for an unknown model without a default price.
    """
    input_tokens = gen.input_tokens
    output_tokens = gen.output_tokens
    estimated = input_tokens is None or output_tokens is None
    if input_tokens is None:
        input_tokens = count_messages(messages, gen.model) * max(1, gen.requests)
    if output_tokens is None:
        output_tokens = sum(count_tokens(text, gen.model) for text in gen.texts)
    cached = min(gen.cached_input_tokens or 0, input_tokens)
    return Usage(
        model=gen.model,
        input_tokens=input_tokens,
        output_tokens=output_tokens,
        cost=price_table.cost(gen.model, input_tokens, output_tokens, cached),
        estimated=estimated,
        purpose=purpose,
        tier=tier,
        requests=max(1, gen.requests),
        cached_input_tokens=cached,
    )
