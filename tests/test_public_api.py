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
    "get_policy_class", "ibc", "local_price", "read_records", "region_dibc", "to_arrays",
}


def test_all_is_pinned() -> None:
    assert set(automix_core.__all__) == EXPECTED
    for name in automix_core.__all__:
        assert hasattr(automix_core, name), name


def test_core_imports_no_framework() -> None:
    code = (
        "import sys, automix_core, automix_core.cli, automix_core.verify, automix_core.engine\n"
        "bad = [m for m in sys.modules if m.split('.')[0] in ('langchain', 'langchain_core', 'llama_index')]\n"
        "print(bad); sys.exit(1 if bad else 0)"
    )
    assert subprocess.run([sys.executable, "-c", code], capture_output=True).returncode == 0
