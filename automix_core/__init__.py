"""automix_core: the AutoMix engine, free of any LLM framework.

A small model answers, verifies its own answer with a few-shot prompt, and a meta-verifier policy
(the AutoMix POMDP by default when calibrated) decides whether to accept it or escalate to a larger
model; every call's tokens and dollars are counted.

This module is the public face; the districts behind it are :mod:`.cascade` (the engine and its
result types), :mod:`.verify` (self-verification), :mod:`.policies` and :mod:`.router` (deciding),
:mod:`.accounting` (prices, tokens, ledger), :mod:`.calibration` (records, metrics, evaluation,
collection, plots), :mod:`.backends` (an OpenAI-compatible client, local llama.cpp models) and
:mod:`.cli`. Adapters build on :mod:`.integration`; :mod:`.testing` holds test doubles.
"""

from .accounting import Budget, Ledger, Price, PriceTable, Totals, Usage, local_price
from .backends import LocalServer, OpenAICompatibleModel
from .calibration import (
    Judge,
    Point,
    Record,
    RecordArrays,
    TrafficFit,
    agree,
    auc_normalized,
    cost_to_recover,
    delta_ibc,
    evaluate,
    evaluate_cv,
    fit_from_traffic,
    ibc,
    label_by_agreement,
    read_records,
    region_dibc,
    to_arrays,
)
from .cascade import AutoMix, AutoMixResult, Event, Hook, Screen, Tier, TierTrace
from .errors import (
    AllTiersFailedError,
    AutoMixError,
    ChecksumMismatchError,
    ConfigError,
    InsufficientDiskSpaceError,
    InvalidRequestError,
    LocalModelError,
    LocalServerError,
    MissingPartError,
    ModelError,
    ModelNotInstalledError,
    ModelTimeoutError,
    PipDownloadError,
    PolicyError,
    RecordError,
    RouterError,
    UnknownModelError,
    UnknownPriceError,
    UnsupportedMessageError,
)
from .models import ChatModel, Generation, Message, RequestContext
from .policies import (
    POLICIES,
    Decision,
    DoubleThresholdPolicy,
    GreedyPolicy,
    Policy,
    POMDPPolicy,
    SelfConsistencyPolicy,
    ThresholdPolicy,
    get_policy_class,
)
from .router import OperatingPoint, Router, calibrate, coerce_router
from .settings import CascadeSettings, TrafficConfig, VerifyMode
from .shipped import shipped_records
from .testing import ScriptedModel
from .verify import VerificationResult, Verifier

__version__ = "0.1.0"

__all__ = [
    "POLICIES",
    "AllTiersFailedError",
    "AutoMix",
    "AutoMixError",
    "AutoMixResult",
    "Budget",
    "CascadeSettings",
    "ChatModel",
    "ChecksumMismatchError",
    "ConfigError",
    "Decision",
    "DoubleThresholdPolicy",
    "Event",
    "Generation",
    "GreedyPolicy",
    "Hook",
    "InsufficientDiskSpaceError",
    "InvalidRequestError",
    "Judge",
    "Ledger",
    "LocalModelError",
    "LocalServer",
    "LocalServerError",
    "Message",
    "MissingPartError",
    "ModelError",
    "ModelNotInstalledError",
    "ModelTimeoutError",
    "OpenAICompatibleModel",
    "OperatingPoint",
    "POMDPPolicy",
    "PipDownloadError",
    "Point",
    "Policy",
    "PolicyError",
    "Price",
    "PriceTable",
    "Record",
    "RecordArrays",
    "RecordError",
    "RequestContext",
    "Router",
    "RouterError",
    "Screen",
    "ScriptedModel",
    "SelfConsistencyPolicy",
    "ThresholdPolicy",
    "Tier",
    "TierTrace",
    "Totals",
    "TrafficConfig",
    "TrafficFit",
    "UnknownModelError",
    "UnknownPriceError",
    "UnsupportedMessageError",
    "Usage",
    "VerificationResult",
    "Verifier",
    "VerifyMode",
    "__version__",
    "agree",
    "auc_normalized",
    "calibrate",
    "coerce_router",
    "cost_to_recover",
    "delta_ibc",
    "evaluate",
    "evaluate_cv",
    "fit_from_traffic",
    "get_policy_class",
    "ibc",
    "label_by_agreement",
    "local_price",
    "read_records",
    "region_dibc",
    "shipped_records",
    "to_arrays",
]
