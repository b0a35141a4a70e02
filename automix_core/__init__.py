"""automix_core: the AutoMix engine, free of any LLM framework.

A small model answers, verifies its own answer with a few-shot prompt, and a meta-verifier policy
(the AutoMix POMDP by default when calibrated) decides whether to accept it or escalate to a larger
model; every call's tokens and dollars are counted.

This module is the public face: what the README, the docs and the examples use (the engine and its
results, the model seam, routers, prices and the ledger, records, the root exceptions). The rest has
a public namespace of its own: :mod:`.errors` (the whole exception tree), :mod:`.policies` (the
meta-verifiers), :mod:`.calibration` (metrics, evaluation, agreement labels, fitting from traffic),
:mod:`.verify` (self-verification), :mod:`.local` (local llama.cpp models), :mod:`.traffic`
(traffic capture), :mod:`.testing` (test doubles); adapters build on :mod:`.integration`. The names
that left this face in 0.1 still import from here, with a ``DeprecationWarning`` naming their place.
"""

from __future__ import annotations

import sys
import warnings
from typing import Any

from .accounting import Budget, Ledger, Price, PriceTable, Totals, Usage, local_price
from .backends import LocalServer, OpenAICompatibleModel
from .calibration import Record, read_records
from .cascade import AutoMix, AutoMixResult, Event, Hook, Screen, Tier, TierTrace
from .errors import AllTiersFailedError, AutoMixError, ConfigError, ModelError
from .models import ChatModel, Generation, Message, RequestContext
from .policies import Policy
from .router import OperatingPoint, Router, calibrate, coerce_router
from .settings import CascadeSettings, TrafficConfig, VerifyMode
from .shipped import shipped_records

__version__ = "0.1.0"

__all__ = [
    "AllTiersFailedError",
    "AutoMix",
    "AutoMixError",
    "AutoMixResult",
    "Budget",
    "CascadeSettings",
    "ChatModel",
    "ConfigError",
    "Event",
    "Generation",
    "Hook",
    "Ledger",
    "LocalServer",
    "Message",
    "ModelError",
    "OpenAICompatibleModel",
    "OperatingPoint",
    "Policy",
    "Price",
    "PriceTable",
    "Record",
    "RequestContext",
    "Router",
    "Screen",
    "Tier",
    "TierTrace",
    "Totals",
    "TrafficConfig",
    "Usage",
    "VerifyMode",
    "__version__",
    "calibrate",
    "coerce_router",
    "local_price",
    "read_records",
    "shipped_records",
]

_MOVED = {
    "automix_core.errors": (
        "ChecksumMismatchError", "InsufficientDiskSpaceError", "InvalidRequestError", "LocalModelError",
        "LocalServerError", "MissingPartError", "ModelNotInstalledError", "ModelTimeoutError", "PipDownloadError",
        "PolicyError", "RecordError", "RouterError", "UnknownModelError", "UnknownPriceError",
        "UnsupportedMessageError",
    ),
    "automix_core.policies": (
        "POLICIES", "Decision", "DoubleThresholdPolicy", "GreedyPolicy", "POMDPPolicy", "SelfConsistencyPolicy",
        "ThresholdPolicy", "get_policy_class",
    ),
    "automix_core.calibration": (
        "Judge", "Point", "RecordArrays", "TrafficFit", "agree", "auc_normalized", "cost_to_recover", "delta_ibc",
        "evaluate", "evaluate_cv", "fit_from_traffic", "ibc", "label_by_agreement", "region_dibc", "to_arrays",
    ),
    "automix_core.verify": ("VerificationResult", "Verifier"),
    "automix_core.testing": ("ScriptedModel",),
}
MOVED = {name: module for module, names in _MOVED.items() for name in names}
"""The names that left the top-level face, and their public namespace (importable from here until 0.2)."""


def __getattr__(name: str) -> Any:
    module = MOVED.get(name)
    if module is None:
        raise AttributeError(f"module 'automix_core' has no attribute {name!r}")
    warnings.warn(f"automix_core.{name} moved to {module}.{name}: import it from {module} "
                  "(the top-level name goes in 0.2)", DeprecationWarning, stacklevel=2)
    from . import calibration, errors, policies, testing, verify  # noqa: F401  (the namespaces of MOVED)

    return getattr(sys.modules[module], name)
