"""The shipped routers and records are package data, reached by name through the public API."""

from __future__ import annotations

import pytest

from automix_core import AutoMixError, Router, read_records, shipped_records
from automix_core.shipped import SHIPPED_RECORDS, SHIPPED_ROUTERS, shipped_path

PAIR = ["qwen2.5-coder-0.5b", "qwen2.5-coder-1.5b"]


def test_shipped_routers_by_name() -> None:
    default = Router.shipped()
    assert default.models == PAIR and default.fitted
    assert default.verification is not None and default.verification.describe() == "logprob/continue"
    k8 = Router.shipped("pubmedqa-qwen-pair-k8")
    assert k8.verification is not None and k8.verification.describe() == "sample/few-shot/k=8"


def test_unknown_router_name_lists_the_shipped_ones() -> None:
    with pytest.raises(AutoMixError, match="no shipped router named 'gpt'.*pubmedqa-qwen-pair, pubmedqa-qwen-pair-k8"):
        Router.shipped("gpt")


def test_shipped_records_by_name() -> None:
    continued = read_records(shipped_records())
    assert len(continued) >= 100 and all(r.split in ("train", "test") for r in continued)
    assert len(read_records(shipped_records("pubmedqa-qwen-pair"))) >= 300
    with pytest.raises(AutoMixError, match="pubmedqa-qwen-pair-continue"):
        shipped_records("nope")


def test_every_named_file_ships_and_paths_stay_inside() -> None:
    for filename in [*SHIPPED_ROUTERS.values(), *SHIPPED_RECORDS.values(), "LICENSE-pubmedqa.txt", "README.md"]:
        assert shipped_path(filename).is_file()
    for bad in ("../router.py", "missing.json"):
        with pytest.raises(AutoMixError, match="no shipped file"):
            shipped_path(bad)
