"""automix_core: the AutoMix engine, free of any LLM framework.

A small model answers, verifies its own answer with a few-shot prompt, and a meta-verifier policy
(the AutoMix POMDP by default when calibrated) decides whether to accept it or escalate to a larger
model; every call's tokens and dollars are counted.
"""

from .cascade.engine import AllTiersFailedError, AutoMix, AutoMixResult, Event, Hook, Tier, TierTrace
from .calibration.evaluate import evaluate, evaluate_cv
from .accounting.ledger import Budget, Ledger, Usage
from .calibration.metrics import Point, auc_normalized, cost_to_recover, delta_ibc, ibc, region_dibc
from .backends.local.server import LocalServer
from .models import ChatModel, Generation, Message, ModelError, ScriptedModel
from .backends.openai_compat import OpenAICompatibleModel
from .policies.base import (
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
from .accounting.prices import Price, PriceTable, UnknownPriceError, local_price
from .calibration.records import Record, RecordArrays, RecordError, read_records, to_arrays
from .router import OperatingPoint, Router, RouterError, calibrate
from .verify.verifier import VerificationResult, Verifier

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
    "LocalServer",
    "Message",
    "ModelError",
    "OpenAICompatibleModel",
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
