"""automix_core: the AutoMix engine, free of any LLM framework.

A small model answers, verifies its own answer with a few-shot prompt, and a meta-verifier policy
(the AutoMix POMDP by default when calibrated) decides whether to accept it or escalate to a larger
model; every call's tokens and dollars are counted.
"""

from .engine import AllTiersFailedError, AutoMix, AutoMixResult, Event, Hook, Tier, TierTrace
from .evaluate import evaluate, evaluate_cv
from .ledger import Budget, Ledger, Usage
from .metrics import Point, auc_normalized, cost_to_recover, delta_ibc, ibc, region_dibc
from .models import ChatModel, Generation, Message, ModelError, ScriptedModel
from .policies import (
    POLICIES,
    Decision,
    DoubleThresholdPolicy,
    GreedyPolicy,
    Policy,
    PolicyError,
    POMDPPolicy,
    SelfConsistencyPolicy,
    ThresholdPolicy,
    get_policy_class,
)
from .prices import Price, PriceTable, UnknownPriceError, local_price
from .records import Record, RecordArrays, RecordError, read_records, to_arrays
from .router import OperatingPoint, Router, RouterError, calibrate
from .verify import VerificationResult, Verifier

__version__ = "0.1.0"

__all__ = [
    "POLICIES",
    "AllTiersFailedError",
    "AutoMix",
    "AutoMixResult",
    "Budget",
    "ChatModel",
    "Decision",
    "DoubleThresholdPolicy",
    "Event",
    "Generation",
    "GreedyPolicy",
    "Hook",
    "Ledger",
    "Message",
    "ModelError",
    "OperatingPoint",
    "POMDPPolicy",
    "Point",
    "Policy",
    "PolicyError",
    "Price",
    "PriceTable",
    "Record",
    "RecordArrays",
    "RecordError",
    "Router",
    "RouterError",
    "ScriptedModel",
    "SelfConsistencyPolicy",
    "ThresholdPolicy",
    "Tier",
    "TierTrace",
    "UnknownPriceError",
    "Usage",
    "VerificationResult",
    "Verifier",
    "__version__",
    "auc_normalized",
    "calibrate",
    "cost_to_recover",
    "delta_ibc",
    "evaluate",
    "evaluate_cv",
    "get_policy_class",
    "ibc",
    "local_price",
    "read_records",
    "region_dibc",
    "to_arrays",
]
