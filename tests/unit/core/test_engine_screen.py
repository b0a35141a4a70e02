"""The engine's ``screen`` hook (added for adapters whose answers may be tool calls)."""

from __future__ import annotations

from typing import Literal

from automix_core.accounting.prices import Price, PriceTable
from automix_core.cascade.engine import AutoMix
from automix_core.models import Generation
from automix_core.testing import ScriptedModel

PRICES = PriceTable(default=Price(input_per_million=1, output_per_million=1))


def _models() -> tuple[ScriptedModel, ScriptedModel]:
    return ScriptedModel("s", default="Verdict: incorrect"), ScriptedModel("l", default="large")


def test_screen_accept_skips_verification() -> None:
    small, large = _models()
    small.replies = ["TOOL"]

    def screen(tier: int, gen: Generation) -> Literal["accept", "escalate"] | None:
        return "accept" if gen.texts[0] == "TOOL" else None

    res = AutoMix([small, large], prices=PRICES, k=2, screen=screen).run("q?")
    assert res.answer == "TOOL" and res.tier == 0 and len(small.calls) == 1 and not large.calls
    assert res.trace[0].decision == "accept" and res.trace[0].note == "screened: accept without verification"


def test_screen_escalate_skips_verification_but_not_at_last_tier() -> None:
    small, large = _models()

    def screen(tier: int, gen: Generation) -> Literal["accept", "escalate"] | None:
        return "escalate"

    res = AutoMix([small, large], prices=PRICES, k=2, screen=screen).run("q?")
    assert res.tier == 1 and res.answer == "large" and len(small.calls) == 1
    assert res.trace[0].decision == "escalate" and len(res.usage) == 2


def test_no_screen_is_unchanged() -> None:
    small, large = _models()
    res = AutoMix([small, large], prices=PRICES, k=2).run("q?")
    assert res.tier == 1 and res.trace[0].confidence is not None
