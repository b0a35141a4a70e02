"""A cascade without a calibrated router says so once, loudly (a logging WARNING naming the fix)."""

from __future__ import annotations

import logging

import pytest

from automix_core import AutoMix, Price, PriceTable, Router
from automix_core.router import _WARNED_UNTRAINED
from automix_core.testing import ScriptedModel


def _tiers(a: str, b: str) -> list[ScriptedModel]:
    return [ScriptedModel(a, ["x"]), ScriptedModel(b, ["y"])]


def test_untrained_cascade_warns_once_naming_the_fix(caplog: pytest.LogCaptureFixture) -> None:
    _WARNED_UNTRAINED.discard(("warn-small", "warn-large"))
    with caplog.at_level(logging.WARNING, logger="automix"):
        for _ in range(3):
            AutoMix(_tiers("warn-small", "warn-large"), prices=_free())
    warned = [r for r in caplog.records if r.levelno == logging.WARNING and "no calibrated router" in r.message]
    assert len(warned) == 1
    msg = warned[0].getMessage()
    assert "warn-small -> warn-large" in msg and "automix calibrate" in msg
    assert "--traffic DIR --shadow-rate 1" in msg and "--from-traffic" in msg


def test_a_calibrated_router_does_not_warn(caplog: pytest.LogCaptureFixture) -> None:
    router = Router.shipped()
    names = router.models
    _WARNED_UNTRAINED.discard(tuple(names))
    with caplog.at_level(logging.WARNING, logger="automix"):
        AutoMix(_tiers(*names), router=router, prices=_free())
    assert not [r for r in caplog.records if "no calibrated router" in r.message]


def _free() -> PriceTable:
    return PriceTable(prices={n: Price(input_per_million=0.0, output_per_million=0.0)
                              for n in ("warn-small", "warn-large", "qwen2.5-coder-0.5b", "qwen2.5-coder-1.5b")})
