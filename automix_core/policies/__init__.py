"""Meta-verifiers: policies that decide, after each tier's self-verification, to accept or escalate.

One module per family over a small base (:mod:`.base`): :mod:`.threshold` (``threshold``,
``double-threshold``, ``self-consistency``), :mod:`.greedy`, :mod:`.pomdp` (the AutoMix POMDP) with
its observation model in :mod:`.observation`, the lambda sweeps in :mod:`.sweep`, and the registry
(:data:`POLICIES`, :func:`get_policy_class`) in :mod:`.registry`. A new policy subclasses
:class:`Policy` and is added to the registry.
"""

from ..errors import PolicyError
from .base import Decision, Observation, Policy
from .greedy import GreedyPolicy
from .observation import KERNEL_SCALE
from .pomdp import POMDPPolicy
from .registry import POLICIES, get_policy_class
from .threshold import DoubleThresholdPolicy, SelfConsistencyPolicy, ThresholdPolicy

__all__ = [
    "KERNEL_SCALE",
    "POLICIES",
    "Decision",
    "DoubleThresholdPolicy",
    "GreedyPolicy",
    "Observation",
    "POMDPPolicy",
    "Policy",
    "PolicyError",
    "SelfConsistencyPolicy",
    "ThresholdPolicy",
    "get_policy_class",
]
