"""The public API is pinned: the top-level face, the districts' faces, the integration kit, and the
one exception tree. The core imports no framework, checked on its source (AST), not only by importing."""

import ast
import builtins
import importlib
import subprocess
import sys
import warnings
from pathlib import Path

import pytest

import automix_core
from automix_core import errors
from tests.source_imports import imported_modules

EXPECTED = {
    "AllTiersFailedError", "AutoMix", "AutoMixError", "AutoMixResult", "Budget", "CascadeSettings", "ChatModel",
    "ConfigError", "Event", "Generation", "Hook", "Ledger", "LocalServer", "Message", "ModelError",
    "OpenAICompatibleModel", "OperatingPoint", "Policy", "Price", "PriceTable", "Record", "RequestContext", "Router",
    "Screen", "Tier", "TierTrace", "Totals", "TrafficConfig", "Usage", "VerifyMode", "__version__", "calibrate",
    "coerce_router", "local_price", "read_records", "shipped_records",
}
"""The top-level face: what the README, the docs and the examples import. The rest lives in its namespace."""

MOVED = {
    "errors": {"ChecksumMismatchError", "InsufficientDiskSpaceError", "InvalidRequestError", "LocalModelError",
               "LocalServerError", "MissingPartError", "ModelNotInstalledError", "ModelTimeoutError",
               "PipDownloadError", "PolicyError", "RecordError", "RouterError", "UnknownModelError",
               "UnknownPriceError", "UnsupportedMessageError"},
    "policies": {"POLICIES", "Decision", "DoubleThresholdPolicy", "GreedyPolicy", "POMDPPolicy",
                 "SelfConsistencyPolicy", "ThresholdPolicy", "get_policy_class"},
    "calibration": {"Judge", "Point", "RecordArrays", "TrafficFit", "agree", "auc_normalized", "cost_to_recover",
                    "delta_ibc", "evaluate", "evaluate_cv", "fit_from_traffic", "ibc", "label_by_agreement",
                    "region_dibc", "to_arrays"},
    "verify": {"VerificationResult", "Verifier"},
    "testing": {"ScriptedModel"},
}
"""The names that left the face (issue 25) and their namespace: still importable from the top for one release."""


def test_all_is_pinned() -> None:
    assert set(automix_core.__all__) == EXPECTED
    for name in automix_core.__all__:
        assert hasattr(automix_core, name), name


def test_moved_names_still_import_with_a_warning_naming_their_place() -> None:
    for module, names in MOVED.items():
        namespace = importlib.import_module(f"automix_core.{module}")
        for name in names:
            assert name not in automix_core.__all__
            with pytest.warns(DeprecationWarning, match=rf"automix_core\.{module}\.{name}\b"):
                moved = getattr(automix_core, name)
            assert moved is getattr(namespace, name), name
    with pytest.warns(DeprecationWarning, match=r"automix_core\.testing"):
        from automix_core import ScriptedModel  # noqa: F401
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        from automix_core import AutoMix, Router  # noqa: F401  (the face itself warns nothing)
    with pytest.raises(AttributeError, match="no_such_name"):
        automix_core.no_such_name  # noqa: B018


# the districts' and submodules' own public names (each must also resolve)
SUBMODULES = {
    "aio": {"HAS_DEADLINE", "Deadline", "gather_n", "gather_or_cancel", "within"},
    "models": {"CallKind", "ChatModel", "Generation", "Message", "ModelError", "RequestContext", "Role",
               "checked_generation", "request_kwargs"},
    "testing": {"VERIFY_MARKS", "ScriptedModel", "ScriptedReply", "is_claim_call", "is_verification_text"},
    "settings": {"CascadeSettings", "TrafficConfig", "VerifyMode", "VerifyPrompt"},
    "traffic": {"DriftCheck", "RecordFigures", "record_figures",
                "ShadowLedger", "ShadowOutput", "Sink", "Snapshot", "Traffic", "TrafficConfig",
                "TrafficStats", "TrafficWriter", "agreement_rule", "build_record", "read_traffic", "scrub_record",
                "secret_scrubber", "traffic_files", "weighted_mean", "wilson"},
    "integration": {"PROGRAMMING_ERRORS", "PROGRESS_EVENTS", "ProgressHook", "progress_event",
                    "is_programming_error", "surfaced",
                    "TRANSIENT_NAMES", "TRANSIENT_STATUS", "TurnCache", "is_transient", "model_error",
                    "rejected_request", "scrub_secrets", "secret_values", "DEFAULT_K", "append_record",
                    "count_tokens",
                    # the request and the seam (issue 25)
                    "CallKind", "CascadeCalls", "ContextSource", "InvalidRequestError", "RequestContext",
                    "ToolCallPolicy", "UsageScope", "build_answer_messages", "output_tokens", "parse_logprobs",
                    "question_and_context", "render_tool_calls", "tool_call_screen", "utility_tier"},
    "local": {"DEFAULT_SERVE_CTX", "MODELS", "SHIPPED_ROUTERS", "LocalModel", "LocalServer", "ServedModel",
              "cache_dir", "install_model", "is_installed", "model_path", "shipped_router_path"},
    "backends.wire": {"TRANSIENT_STATUS", "CallSite", "UsageScope", "build_body", "cached_prompt_tokens",
                      "chunk_sizes", "decode_payload", "merge_generations", "output_tokens", "parse_completion",
                      "parse_logprobs", "render_tool_calls", "scrub_secrets"},
    "errors": {"AllTiersFailedError", "AutoMixError", "ChecksumMismatchError", "ConfigError",
               "InsufficientDiskSpaceError", "InvalidRequestError", "InvalidRequestTypeError", "ModelTimeoutError",
               "LocalModelError",
               "LocalServerError", "MissingPartError", "ModelError",
               "ModelNotInstalledError", "PipDownloadError", "PolicyError", "RecordError", "RouterError",
               "UnknownModelError", "UnknownPriceError", "UnsupportedMessageError"},
    "cascade": {"WINDOW_SLACK", "AllTiersFailedError", "AutoMix", "AutoMixResult", "Event", "Hook", "Screen", "Tier",
                "TierTrace", "build_answer_messages"},
    "verify": {"CONTINUE_INSTRUCTION", "CONTINUE_LOGPROB_INSTRUCTION", "EXAMPLES", "LOGPROB_MAX_TOKENS",
               "LOGPROB_SYSTEM_PROMPT", "NO_PARSE_CONFIDENCE", "SYSTEM_PROMPT", "VerificationMethod",
               "VerificationResult", "Verifier", "VerifyMode", "VerifyPrompt", "adraw", "build_continuation",
               "build_prompt", "draw", "parse_verdict", "posterior_correct", "quote_untrusted", "resolve_method",
               "LexicalScreen", "Screening", "VerificationScreen", "own_claim", "read_claim"},
    "verify.claim": {"CLAIM_MAX_TOKENS", "CLAIM_MAX_WORDS", "RESTATE_INSTRUCTION", "build_restatement", "faithful",
                     "own_claim", "read_claim"},
    "verify.screen": {"LexicalScreen", "Screening", "VerificationScreen", "vouches"},
    "verify.method": {"DEFAULT_K", "LEGACY_METHOD", "VerificationMethod", "lacks_logprobs", "remember_no_logprobs",
                      "resolve_method"},
    "calibration.reverify": {"INSTRUCTIONS", "answer_messages", "output_method", "records_method", "reverify"},
    "policies": {"Decision", "DoubleThresholdPolicy", "GreedyPolicy", "KERNEL_SCALE", "Observation", "POLICIES",
                 "POMDPPolicy", "Policy", "PolicyError", "SelfConsistencyPolicy", "ThresholdPolicy",
                 "get_policy_class"},
    "accounting": {"Budget", "Ledger", "Price", "PriceTable", "Totals", "Usage", "local_price",
                   "usage_from_generation"},
    "accounting.tokens": {"CHARS_PER_TOKEN", "CountMethod", "MESSAGE_OVERHEAD_TOKENS", "REPLY_PRIMING_TOKENS",
                          "TRUNCATION_MARKER", "count_messages", "count_method", "count_tokens", "encoding_name",
                          "messages_upper_bound", "truncate_left"},
    "calibration": {"Judge", "Point", "Record", "RecordArrays", "TrafficFit", "agree", "auc_normalized",
                    "cost_to_recover", "delta_ibc", "evaluate", "evaluate_cv", "fit_from_traffic", "ibc",
                    "label_by_agreement", "read_records", "region_dibc", "to_arrays"},
    "calibration.agreement": {"AGREEMENT_RULES", "OFFLINE_RULES", "AgreementStats", "Judge", "JudgeResult", "Rule",
                              "agree", "canonical", "label_by_agreement", "normalize", "score", "token_f1"},
    "calibration.from_traffic": {"MIN_TRAFFIC_RECORDS", "TrafficFit", "fit_from_traffic", "read_traffic",
                                 "records_to_traffic", "router_dibc", "router_outcome", "shadowed", "traffic_arrays"},
    "calibration.metrics": {"Point", "Selection", "auc_normalized", "best_level", "cost_to_recover", "delta_ibc",
                            "ibc", "region_dibc"},
    "calibration.records": {"GroupedArrays", "ModelOutput", "Record", "RecordArrays", "RecordError", "append_record",
                            "filter_records", "group_by", "read_records", "to_arrays"},
    "backends": {"LocalServer", "OpenAICompatibleModel"},
    "backends.local": {"DEFAULT_SERVE_CTX", "MODELS", "ChecksumMismatchError", "InsufficientDiskSpaceError",
                       "LocalModel", "LocalModelError", "LocalServer", "LocalServerError", "MissingPartError",
                       "ModelNotInstalledError", "PipDownloadError", "ServedModel", "UnknownModelError", "cache_dir",
                       "install_model", "is_installed", "model_path"},
    "cli": {"main"},
    "steps": {"Done", "advance"},
    "shipped": {"SHIPPED_RECORDS", "SHIPPED_ROUTERS", "shipped_path", "shipped_records", "shipped_router_path"},
    "verify.defence": {"INFORMATIONAL", "Finding", "Place", "Sanitized", "fold", "neutralise", "neutralise_case"},
}


def test_submodule_all_is_pinned() -> None:
    for name, expected in SUBMODULES.items():
        module = importlib.import_module(f"automix_core.{name}")
        assert set(module.__all__) == expected, name
        for attr in module.__all__:
            assert hasattr(module, attr), f"{name}.{attr}"
    assert "route_points" in importlib.import_module("automix_core.calibration.evaluate").__all__
    assert "coerce_router" in importlib.import_module("automix_core.router").__all__


def test_one_exception_tree() -> None:
    classes = [getattr(errors, n) for n in errors.__all__]
    assert all(issubclass(c, errors.AutoMixError) for c in classes)
    # the built-in bases users may already catch are kept
    kept = {"ConfigError": ValueError, "PolicyError": ValueError, "RouterError": ValueError,
            "RecordError": ValueError, "UnsupportedMessageError": TypeError, "UnknownPriceError": LookupError,
            "ModelError": RuntimeError, "AllTiersFailedError": RuntimeError, "LocalModelError": RuntimeError}
    for name, base in kept.items():
        assert issubclass(getattr(errors, name), base), name
    # no exception class is defined anywhere else in the three packages
    root = Path(automix_core.__file__).parents[1]
    elsewhere = []
    for package in ("automix_core", "automix_langchain", "automix_llamaindex"):
        for path in (root / package).rglob("*.py"):
            for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
                if isinstance(node, ast.ClassDef) and path.name != "errors.py":
                    bases = {b.id for b in node.bases if isinstance(b, ast.Name)}
                    if any(isinstance(getattr(builtins, b, None), type) and issubclass(getattr(builtins, b), Exception)
                           for b in bases):
                        elsewhere.append(f"{path.relative_to(root)}:{node.name}")
    assert elsewhere == []


FRAMEWORKS = ("langchain", "langchain_core", "langchain_openai", "llama_index", "llama_index_instrumentation",
              "automix_langchain", "automix_llamaindex", "automix_demo", "automix_server", "fastapi", "starlette")


def test_core_source_imports_no_framework() -> None:
    """Every import statement under automix_core, at any depth (inside functions too), and every
    ``importlib.import_module``/``__import__`` of a literal name."""
    root = Path(automix_core.__file__).parent
    found = [f"{path.relative_to(root)}: {n}" for path in root.rglob("*.py") for _, n in imported_modules(path)
             if n.split(".")[0] in FRAMEWORKS]
    assert found == []


def test_core_source_reaches_into_no_other_package() -> None:
    """No package metadata lookups of other distributions (the tiktoken files are the core's own)."""
    root = Path(automix_core.__file__).parent
    texts = {p: p.read_text(encoding="utf-8") for p in root.rglob("*.py")}
    assert not [p for p, t in texts.items() if "llama_index" in t or "llama-index" in t]


def test_core_imports_no_framework() -> None:
    code = (
        "import sys, automix_core, automix_core.cli.main, automix_core.verify.verifier, automix_core.cascade.engine\n"
        "import automix_core.calibration.collect, automix_core.backends.local, automix_core.integration\n"
        "bad = [m for m in sys.modules if m.split('.')[0] in ('langchain', 'langchain_core', 'llama_index')]\n"
        "print(bad); sys.exit(1 if bad else 0)"
    )
    assert subprocess.run([sys.executable, "-c", code], capture_output=True).returncode == 0


def test_no_module_over_450_lines() -> None:
    root = Path(automix_core.__file__).parents[1]
    long = {}
    for package in ("automix_core", "automix_langchain", "automix_llamaindex", "automix_demo"):
        for path in (root / package).rglob("*.py"):
            n = len(path.read_text(encoding="utf-8").splitlines())
            if n > 450:
                long[str(path.relative_to(root))] = n
    assert long == {}
