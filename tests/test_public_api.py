import importlib
import subprocess
import sys

import automix_core

EXPECTED = {
    "POLICIES", "AllTiersFailedError", "AutoMix", "AutoMixResult", "Budget", "ChatModel", "Decision",
    "DoubleThresholdPolicy", "Event", "Generation", "GreedyPolicy", "Hook", "Ledger", "Message", "ModelError",
    "OperatingPoint", "POMDPPolicy", "Point", "Policy", "PolicyError", "Price", "PriceTable", "Record",
    "RecordArrays", "RecordError", "Router", "RouterError", "ScriptedModel", "SelfConsistencyPolicy",
    "ThresholdPolicy", "Tier", "TierTrace", "UnknownPriceError", "Usage", "VerificationResult", "Verifier",
    "__version__", "auc_normalized", "calibrate", "cost_to_recover", "delta_ibc", "evaluate", "evaluate_cv",
    "get_policy_class", "ibc", "local_price", "LocalServer", "OpenAICompatibleModel", "read_records", "region_dibc", "to_arrays",
}


def test_all_is_pinned() -> None:
    assert set(automix_core.__all__) == EXPECTED
    for name in automix_core.__all__:
        assert hasattr(automix_core, name), name


# the submodules' own public names, this change's additions among them (each must also resolve)
SUBMODULES = {
    "aio": {"HAS_DEADLINE", "Deadline", "gather_n", "gather_or_cancel", "within"},
    "models": {"ChatModel", "Generation", "Message", "ModelError", "ScriptedModel", "ScriptedReply", "TurnCache",
               "rejected_request"},
    "calibration.metrics": {"Point", "auc_normalized", "best_level", "cost_to_recover", "delta_ibc", "ibc", "region_dibc"},
    "policies.base": {"Decision", "DoubleThresholdPolicy", "GreedyPolicy", "KERNEL_SCALE", "POLICIES", "POMDPPolicy",
                 "Policy", "PolicyError", "SelfConsistencyPolicy", "ThresholdPolicy", "get_policy_class"},
    "calibration.records": {"GroupedArrays", "ModelOutput", "Record", "RecordArrays", "RecordError", "append_record",
                "filter_records", "group_by", "read_records", "to_arrays"},
    "accounting.tokens": {"CHARS_PER_TOKEN", "CountMethod", "MESSAGE_OVERHEAD_TOKENS", "REPLY_PRIMING_TOKENS",
               "TRUNCATION_MARKER", "count_messages", "count_method", "count_tokens", "encoding_name",
               "messages_upper_bound", "truncate_left"},
}


def test_submodule_all_is_pinned() -> None:
    for name, expected in SUBMODULES.items():
        module = importlib.import_module(f"automix_core.{name}")
        assert set(module.__all__) == expected, name
        for attr in module.__all__:
            assert hasattr(module, attr), f"{name}.{attr}"
    assert "route_points" in importlib.import_module("automix_core.calibration.evaluate").__all__


def test_core_imports_no_framework() -> None:
    code = (
        "import sys, automix_core, automix_core.cli.main, automix_core.verify.verifier, automix_core.cascade.engine\n"
        "bad = [m for m in sys.modules if m.split('.')[0] in ('langchain', 'langchain_core', 'llama_index')]\n"
        "print(bad); sys.exit(1 if bad else 0)"
    )
    assert subprocess.run([sys.executable, "-c", code], capture_output=True).returncode == 0
