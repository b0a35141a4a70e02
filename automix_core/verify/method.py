"""Which verification a tier runs: the method a router was calibrated on, or a per-backend default.

A router's thresholds describe confidences made one way (few-shot samples, a logprob call after the
answer's own conversation, ...); the same answers verified another way give other numbers. So
:func:`resolve_method` takes, for each of ``verify_mode``, ``verify_prompt`` and ``k`` left at
``"auto"``/None in :class:`~automix_core.settings.CascadeSettings`:

1. the router's :class:`VerificationMethod`, when its JSON records one (router version 2, written by
   ``automix calibrate`` from the records' ``verifier`` fields);
2. else, for a fitted router without one (a version-1 file or a bare policy), the method every
   version-1 router was calibrated on: the few-shot prompt, k = 8 samples;
3. else (no router: the untrained majority rule) a per-backend default, the cheapest method the backend
   may support: ``logprob`` (one call per verification) when the verifying model has a
   ``supports_logprobs`` that is not False: True (:class:`~automix_core.LocalServer` models,
   :class:`~automix_core.OpenAICompatibleModel` on api.openai.com) or None (unknown: an OpenAI-compatible
   model on another endpoint, e.g. ``ChatOpenAI`` or ``OpenAILike`` on llama.cpp; a reply without
   logprobs falls back to sampling with a warning, once, and the model is remembered as lacking them);
   else ``sample`` with k = 8 (one request with ``n`` where the backend takes it, split to the server's
   slots when it refuses a larger ``n``: :mod:`~automix_core.verify.draw`); the few-shot layout, because
   the untrained rule accepts when the confidence is above 0.5 and continuation confidences are not
   centred there (measured on the Qwen 0.5B: all 40 continuation logprob confidences above 0.5, against
   17 of 40 with the few-shot prompt).

A setting given explicitly always wins; one that differs from the router's recorded method warns
(a ``UserWarning`` naming both), as a router fitted on other model names does.
"""

from __future__ import annotations

import contextlib
import warnings
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from ..models import ChatModel
from ..settings import CascadeSettings, VerifyMode, VerifyPrompt

__all__ = ["DEFAULT_K", "LEGACY_METHOD", "VerificationMethod", "lacks_logprobs", "remember_no_logprobs",
           "resolve_method"]

DEFAULT_K = 8
"""Samples per verification in the sampling modes when neither the settings nor the router say."""


class VerificationMethod(BaseModel):
    """How verifier confidences are made: the mode, the prompt layout and the samples per answer (in
    logprob mode: records and routers say 1; a resolved method holds the samples a fallback draws)."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    mode: VerifyMode
    layout: VerifyPrompt = "few-shot"
    k: int = Field(default=DEFAULT_K, ge=1)

    def describe(self) -> str:
        return f"{self.mode}/{self.layout}" + ("" if self.mode == "logprob" else f"/k={self.k}")


LEGACY_METHOD = VerificationMethod(mode="sample", layout="few-shot", k=DEFAULT_K)
"""What a router without a recorded method was calibrated on (``automix collect`` before version 2)."""

Source = Literal["router", "legacy", "backend"]


def remember_no_logprobs(model: ChatModel) -> None:
    """Remember that ``model`` answered a logprob request without any logprobs: a model that declares
    ``supports_logprobs`` (None: unknown, e.g. :class:`~automix_core.OpenAICompatibleModel`) gets it set
    to False, so later verifications in logprob mode, in this engine or any other built over the same
    model object, sample at once instead of paying for that call again. A model without the attribute
    is left alone (each verification then tries the logprob call again)."""
    if getattr(model, "supports_logprobs", False) is None:
        with contextlib.suppress(AttributeError):  # a read-only property: not remembered
            model.supports_logprobs = False  # type: ignore[attr-defined]


def lacks_logprobs(model: ChatModel) -> bool:
    """Whether ``model`` says (or was found to) return no logprobs (``supports_logprobs`` False)."""
    return getattr(model, "supports_logprobs", None) is False


def _backend_mode(model: ChatModel) -> VerifyMode:
    if not hasattr(model, "supports_logprobs"):  # a model that says nothing of logprobs (e.g. a scripted one)
        return "sample"
    return "sample" if model.supports_logprobs is False else "logprob"


def resolve_method(
    settings: CascadeSettings,
    model: ChatModel,
    router_method: VerificationMethod | None,
    *,
    fitted: bool,
    tier: str = "",
) -> VerificationMethod:
    """The verification ``model`` runs for a tier, from ``settings`` and the router (see the module docs).

    ``router_method`` is the router's recorded method (None: not recorded); ``fitted`` says whether the
    router was calibrated (False for the untrained default). Warns when an explicit setting differs from
    ``router_method``.
    """
    base = router_method if router_method is not None else LEGACY_METHOD if fitted else None
    mode: VerifyMode = (settings.verify_mode if settings.verify_mode != "auto"
                        else base.mode if base is not None else _backend_mode(model))
    layout: VerifyPrompt = (settings.verify_prompt if settings.verify_prompt != "auto"
                            else base.layout if base is not None else "few-shot")
    k = settings.k if settings.k is not None else base.k if base is not None and base.mode != "logprob" else DEFAULT_K
    chosen = VerificationMethod(mode=mode, layout=layout, k=k)  # in logprob mode, k is the fallback's samples
    if router_method is not None:
        differs = [f"{name} {mine!r} (router: {theirs!r})" for name, mine, theirs, explicit in (
            ("verify_mode", mode, router_method.mode, settings.verify_mode != "auto"),
            ("verify_prompt", layout, router_method.layout, settings.verify_prompt != "auto"),
            ("k", k, router_method.k, settings.k is not None and "logprob" not in (mode, router_method.mode)),
        ) if explicit and mine != theirs]
        if differs:
            where = f" for tier {tier!r}" if tier else ""
            warnings.warn(f"verification set to {', '.join(differs)}{where}: the router was calibrated on "
                          f"{router_method.describe()} confidences and its thresholds describe those; leave these "
                          "settings at 'auto' or recalibrate (automix collect --verify-mode/--verify-prompt, then "
                          "automix calibrate)", UserWarning, stacklevel=3)
    return chosen
