"""Which verification a tier runs (router's method, legacy, per-backend), the router JSON's record of it,
the remembered lack of logprobs, and collect/reverify/calibrate writing the method. Scripted models:
plumbing only."""

from __future__ import annotations

import json
import warnings
from dataclasses import dataclass
from pathlib import Path

import pytest

from automix_core import AutoMix, CascadeSettings, OpenAICompatibleModel, Router
from automix_core.accounting.prices import Price, PriceTable
from automix_core.calibration.collect import Item, collect, label_scorer
from automix_core.calibration.records import read_records
from automix_core.calibration.reverify import answer_messages, output_method, records_method, reverify
from automix_core.cli.main import main
from automix_core.errors import RouterError
from automix_core.policies import ThresholdPolicy
from automix_core.shipped import shipped_path
from automix_core.testing import ScriptedModel
from automix_core.verify import LOGPROB_SYSTEM_PROMPT, VerificationMethod, Verifier, resolve_method
from automix_core.verify.method import LEGACY_METHOD

PRICES = PriceTable().with_prices({n: Price(input_per_million=1.0, output_per_million=2.0) for n in ("small", "large")})
CONTINUE = VerificationMethod(mode="logprob", layout="continue", k=1)


@dataclass
class LogprobAware(ScriptedModel):
    """A scripted model that says whether it returns logprobs (None: unknown), as OpenAICompatibleModel does."""

    supports_logprobs: bool | None = None


def fitted(method: VerificationMethod | None) -> Router:
    return Router(["small", "large"], ThresholdPolicy(2, thresholds=[0.5]), n_train=10, verification=method)


# --- resolution ---------------------------------------------------------------------------------


def test_router_method_is_used_when_settings_are_auto() -> None:
    m = resolve_method(CascadeSettings(), ScriptedModel("small"), CONTINUE, fitted=True)
    assert (m.mode, m.layout, m.k) == ("logprob", "continue", 8)  # k: the samples of a fallback
    sampled = VerificationMethod(mode="sample", layout="continue", k=4)
    assert resolve_method(CascadeSettings(), ScriptedModel("small"), sampled, fitted=True) == sampled


def test_explicit_setting_wins_and_warns_when_it_differs_from_the_router() -> None:
    with pytest.warns(UserWarning, match=r"verify_mode 'sample' \(router: 'logprob'\).*logprob/continue"):
        m = resolve_method(CascadeSettings(verify_mode="sample", k=3), ScriptedModel("small"), CONTINUE, fitted=True)
    assert (m.mode, m.layout, m.k) == ("sample", "continue", 3)


def test_explicit_setting_equal_to_the_router_does_not_warn() -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        m = resolve_method(CascadeSettings(verify_mode="logprob", verify_prompt="continue", k=5),
                           ScriptedModel("small"), CONTINUE, fitted=True)
    assert (m.mode, m.layout, m.k) == ("logprob", "continue", 5)  # k (the fallback's) is not compared


def test_fitted_router_without_a_method_verifies_as_version_1_routers_were_calibrated() -> None:
    m = resolve_method(CascadeSettings(), LogprobAware("small", supports_logprobs=True), None, fitted=True)
    assert m == LEGACY_METHOD == VerificationMethod(mode="sample", layout="few-shot", k=8)


@pytest.mark.parametrize(("supports", "mode"), [(True, "logprob"), (None, "logprob"), (False, "sample")])
def test_untrained_default_picks_per_backend(supports: bool | None, mode: str) -> None:
    # unknown (None: an OpenAI-compatible model on llama.cpp through an adapter) tries one logprob call, not k samples
    m = resolve_method(CascadeSettings(), LogprobAware("small", supports_logprobs=supports), None, fitted=False)
    assert (m.mode, m.layout, m.k) == (mode, "few-shot", 8)


def test_a_model_that_says_nothing_of_logprobs_samples() -> None:
    m = resolve_method(CascadeSettings(), ScriptedModel("small"), None, fitted=False)
    assert m.mode == "sample"


def test_backends_declare_logprobs() -> None:
    assert OpenAICompatibleModel("https://api.openai.com/v1", "gpt-4o-mini").supports_logprobs is True
    assert OpenAICompatibleModel("http://127.0.0.1:1/v1", "x").supports_logprobs is None
    assert OpenAICompatibleModel("http://127.0.0.1:1/v1", "x", supports_logprobs=False).supports_logprobs is False


# --- the engine ----------------------------------------------------------------------------------


def test_automix_verifies_with_the_routers_method_continuing_the_answer_call() -> None:
    small = ScriptedModel("small", replies=["Paris"], default="correct", logprob_correct=0.9)
    large = ScriptedModel("large", default="Paris")
    mix = AutoMix([small, large], router=fitted(CONTINUE), prices=PRICES)
    assert [(v.mode, v.layout) for v in mix.verifiers] == [("logprob", "continue")] * 2
    result = mix.run("Capital of France?", context="France's capital is Paris.")
    assert result.tier == 0 and result.trace[0].confidence == pytest.approx(0.9)
    answer_call, verify_call = small.calls
    sent = verify_call["messages"]
    assert isinstance(sent, list) and sent[: len(answer_call["messages"])] == answer_call["messages"]  # type: ignore[arg-type]
    assert sent[-2] == {"role": "assistant", "content": "Paris"} and verify_call["logprobs"] == 10


def test_automix_with_a_version_1_router_keeps_sampling_the_few_shot_prompt() -> None:
    small = ScriptedModel("small", replies=["Paris"], default="Justification: ok.\nVerdict: correct")
    mix = AutoMix([small, ScriptedModel("large", default="x")], router=fitted(None), prices=PRICES)
    assert [(v.mode, v.layout, v.k) for v in mix.verifiers] == [("sample", "few-shot", 8)] * 2
    mix.run("Capital of France?")
    assert small.calls[1]["n"] == 8


def test_explicit_settings_on_automix_warn_against_the_router() -> None:
    with pytest.warns(UserWarning, match="verify_prompt 'few-shot'"):
        mix = AutoMix([ScriptedModel("small"), ScriptedModel("large")], router=fitted(CONTINUE), prices=PRICES,
                      verify_prompt="few-shot")
    assert mix.verifiers[0].layout == "few-shot" and mix.verifiers[0].mode == "logprob"


# --- a backend without logprobs is remembered -----------------------------------------------------


def test_a_model_without_logprobs_pays_the_failed_call_once() -> None:
    verifying = LogprobAware("small", default="Justification: ok.\nVerdict: correct")  # returns no logprobs
    v = Verifier(verifying, k=2, mode="logprob")
    with pytest.warns(UserWarning, match="returned no logprobs: logprob verification fell back to sampling"):
        first = v.verify("q", "a")
    assert first.mode == "sample" and len(first.generations) == 2  # the failed logprob call is billed
    assert first.messages[0][0]["content"] == LOGPROB_SYSTEM_PROMPT
    assert verifying.supports_logprobs is False
    again = Verifier(verifying, k=2, mode="logprob").verify("q", "a")  # a new engine's verifier, same model
    assert again.mode == "sample" and len(again.generations) == 1 and verifying.calls[-1]["logprobs"] is None


def test_a_model_that_returns_logprobs_is_not_marked() -> None:
    verifying = LogprobAware("small", default="correct", logprob_correct=0.7)
    assert Verifier(verifying, mode="logprob").verify("q", "a").confidence == pytest.approx(0.7)
    assert verifying.supports_logprobs is None


def test_a_model_without_the_attribute_keeps_trying() -> None:
    verifying = ScriptedModel("small", default="Justification: ok.\nVerdict: correct")
    for _ in range(2):
        with pytest.warns(UserWarning, match="returned no logprobs"):
            assert len(Verifier(verifying, k=1, mode="logprob").verify("q", "a").generations) == 2


# --- the router file ------------------------------------------------------------------------------


def test_router_json_version_2_round_trips_the_method(tmp_path: Path) -> None:
    path = fitted(CONTINUE).save(tmp_path / "r.json")
    obj = json.loads(path.read_text())
    assert obj["version"] == 2 and obj["verification"] == {"mode": "logprob", "layout": "continue", "k": 1}
    assert Router.load(path).verification == CONTINUE


def test_router_json_version_1_is_still_read(tmp_path: Path) -> None:
    obj = fitted(None).to_dict()
    obj["version"] = 1
    del obj["verification"]
    loaded = Router.from_dict(obj)
    assert loaded.verification is None and loaded.fitted
    with pytest.raises(RouterError, match="not part of router version 1"):
        Router.from_dict({**obj, "verification": {"mode": "logprob"}})
    with pytest.raises(RouterError, match="reads versions 1, 2"):
        Router.from_dict({**obj, "version": 3})
    with pytest.raises(RouterError, match="verification"):
        Router.from_dict({**obj, "version": 2, "verification": {"mode": "guess"}})


def test_the_untrained_default_is_not_fitted() -> None:
    assert not Router.default(["a", "b"]).fitted


# --- collect, reverify, calibrate -----------------------------------------------------------------

ITEMS = [Item(id=f"t/{i}", question=f"Is {i} even?", reference="yes" if i % 2 == 0 else "no", context=f"{i}.",
              task="pubmedqa", instruction="Answer with one word: yes, no or maybe.", labels=("yes", "no", "maybe"))
         for i in range(6)]


def _collect(tmp_path: Path) -> Path:
    small = ScriptedModel("small", replies=["yes", "Justification: ok.\nVerdict: correct"] * 6)
    large = ScriptedModel("large", replies=["no", "Justification: no.\nVerdict: incorrect"] * 6)
    out = tmp_path / "recs.jsonl"
    collect(ITEMS, [small, large], out, prices=PRICES, k=1, scorer=label_scorer(("yes", "no", "maybe")),
            concurrency=1, progress=False)
    return out


def test_collect_records_the_method_and_continues_the_answer_call(tmp_path: Path) -> None:
    small = ScriptedModel("small", replies=["yes"], default="correct", logprob_correct=0.25)
    out = tmp_path / "c.jsonl"
    collect(ITEMS[:1], [small], out, prices=PRICES, scorer=label_scorer(("yes", "no")), progress=False,
            verify_mode="logprob", verify_prompt="continue")
    (rec,) = read_records(out)
    o = rec.outputs["small"].model_dump()
    assert o["confidence"] == pytest.approx(0.25)
    assert o["verifier"] == {"mode": "logprob", "layout": "continue", "k": 1, "used": "logprob"}
    answer, verify = small.calls
    sent = answer["messages"]
    assert sent == answer_messages(ITEMS[0].question, ITEMS[0].context, ITEMS[0].instruction)
    assert isinstance(sent, list) and verify["messages"][: len(sent)] == sent  # type: ignore[index]
    assert verify["messages"][len(sent)] == {"role": "assistant", "content": "yes"}  # type: ignore[index]


def test_reverify_replaces_the_verification_only_and_resumes(tmp_path: Path) -> None:
    recs = _collect(tmp_path)
    before = {r.id: r for r in read_records(recs)}
    assert records_method(before.values(), ["small"]) == VerificationMethod(mode="sample", layout="few-shot", k=1)
    # replayed answers ("yes") then logprob verdicts; the small model's recorded answer is verified
    small = ScriptedModel("small", replies=["yes", "correct"] * 3, logprob_correct=0.75)
    out = tmp_path / "re.jsonl"
    records = read_records(recs)
    s1 = reverify(records[:3], {"small": Verifier(small, mode="logprob", layout="continue")}, out, prices=PRICES,
                  progress=False)
    s2 = reverify(records, {"small": Verifier(small, mode="logprob", layout="continue")}, out, prices=PRICES,
                  progress=False)
    assert (s1.written, s2.written, s2.skipped) == (3, 0, 3)  # the script ran out: the rest failed, not written
    assert len(s2.failed) == 3
    after = read_records(out)
    assert [r.id for r in after] == [r.id for r in records[:3]]
    for r in after:
        old, new = before[r.id].outputs["small"], r.outputs["small"].model_dump()
        assert new["answer"] == old.answer and new["score"] == old.score and new["cost"] == old.cost
        assert new["confidence"] == pytest.approx(0.75) and new["replay_matches"] is True
        assert new["verifier"]["layout"] == "continue" and new["verifier_calls"] == 1
        assert r.outputs["large"] == before[r.id].outputs["large"]
    assert records_method(after, ["small"]) == CONTINUE
    assert records_method(after, ["small", "large"]) is None  # the large model's were sampled


def test_output_method_of_records_without_the_field() -> None:
    assert output_method({"verdicts": [True, None, False]}) == VerificationMethod(mode="sample", k=3)
    assert output_method({"confidence": 1.0}) is None


def test_calibrate_records_the_method_of_the_observed_tier(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    recs = _collect(tmp_path)
    out = tmp_path / "router.json"
    assert main(["calibrate", str(recs), "--models", "small,large", "--unit-costs", "1,15", "-o", str(out)]) == 0
    info = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert info["verification"] == "sample/few-shot/k=1"
    assert Router.load(out).verification == VerificationMethod(mode="sample", layout="few-shot", k=1)


DATA = shipped_path("README.md").parent  # the shipped routers and records
PAIR = ["qwen2.5-coder-0.5b", "qwen2.5-coder-1.5b"]


def test_the_shipped_routers_record_the_method_of_their_records() -> None:
    shipped = Router.load(DATA / "router_pubmedqa_qwen_pair.json")
    assert shipped.verification == records_method(read_records(DATA / "pubmedqa_qwen_pair_continue.jsonl"), PAIR[:1])
    assert shipped.verification == CONTINUE
    k8 = Router.load(DATA / "router_pubmedqa_qwen_pair_k8.json")
    assert k8.verification == records_method(read_records(DATA / "pubmedqa_qwen_pair.jsonl"), PAIR[:1])
    assert k8.verification == VerificationMethod(mode="sample", layout="few-shot", k=8)
    tiers = [LogprobAware(name, supports_logprobs=True) for name in PAIR]  # as LocalServer models say
    mix = AutoMix(tiers, router=DATA / "router_pubmedqa_qwen_pair.json",
                  prices=PriceTable().with_prices({n: Price(input_per_million=0.05, output_per_million=0.05)
                                                   for n in PAIR}))
    assert [(m.mode, m.layout) for m in mix.methods] == [("logprob", "continue")] * 2
