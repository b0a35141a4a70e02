"""The policy registry: names to classes, like RouteLLM's routers."""

from __future__ import annotations

from ..errors import PolicyError
from .base import Policy
from .greedy import GreedyPolicy
from .pomdp import POMDPPolicy
from .threshold import DoubleThresholdPolicy, SelfConsistencyPolicy, ThresholdPolicy

__all__ = ["POLICIES", "get_policy_class"]

POLICIES: dict[str, type[Policy]] = {
    p.name: p for p in (ThresholdPolicy, DoubleThresholdPolicy, SelfConsistencyPolicy, GreedyPolicy, POMDPPolicy)
}


def get_policy_class(name: str) -> type[Policy]:
    """The policy class registered under ``name``; a clear error lists the known names."""
    try:
        return POLICIES[name]
    except KeyError:
        raise PolicyError(f"unknown policy {name!r}; known policies: {', '.join(sorted(POLICIES))}") from None
