"""One settings model for the cascade, shared by :class:`~automix_core.AutoMix` and every adapter.

:class:`CascadeSettings` holds the settings that shape a request (verification, answering, retries,
timeouts), validated once, with the same names in the core, ``AutoMixChatModel``,
``AutoMixRunnable`` and ``AutoMixLLM`` (the adapters inherit these fields). A bad value raises
pydantic's ``ValidationError`` (a ``ValueError``) naming the field.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

__all__ = ["CascadeSettings", "TrafficConfig", "VerifyMode", "VerifyPrompt"]

VerifyMode = Literal["sample", "sequential", "logprob"]
VerifyPrompt = Literal["few-shot", "continue"]


class TrafficConfig(BaseModel):
    """Traffic capture and shadow evaluation.

    Every answered request becomes one record (AutoMix records v1, extended: see ``docs/serving-traffic.md``)
    appended and fsynced to a file of this process under ``dir``. A uniform random share ``shadow_rate`` of
    requests is also *shadowed* after the answer is returned: every tier the cascade did not run answers (and
    is verified), within ``shadow_budget_usd`` of its own; its record then holds every tier's answer and
    whether each agrees with the reference tier's.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    dir: str = Field(min_length=1)
    """Folder of the record files (created if missing); one file per process (its pid in the name)."""
    shadow_rate: float = Field(default=0.0, ge=0.0, le=1.0, allow_inf_nan=False)
    """Share of requests shadowed, drawn uniformly at random (each shadowed record has weight 1/rate)."""
    shadow_budget_usd: float | None = Field(default=None, ge=0.0, allow_inf_nan=False)
    """USD the shadow calls of this process may spend in all (None: unlimited); when spent, shadowing
    stops and serving goes on."""
    shadow_concurrency: int = Field(default=2, ge=1)
    """Shadow jobs running at once (a thread pool for ``run``, a semaphore for ``arun``)."""
    max_pending: int = Field(default=256, ge=1)
    """Shadow jobs allowed to wait; a request sampled while this many wait is recorded unshadowed."""
    store_text: bool = True
    """False: no query, context or answers are written (only labels, confidences, costs, agreement)."""
    max_bytes: int = Field(default=64 * 1024 * 1024, ge=4096)
    """Size of one record file before it is rotated."""
    keep: int = Field(default=20, ge=1)
    """Rotated files kept per process (older ones are deleted)."""
    reference: str | None = None
    """The reference tier's name (None, or a cascade without a tier of that name: its last tier)."""
    agreement: str = "auto"
    """The agreement rule used at capture time (``automix_core.calibration.agreement``)."""
    drift_floor: float | None = Field(default=None, ge=0.0, le=1.0, allow_inf_nan=False)
    """Warn when the share of accepted cheaper-tier answers that agree with the reference falls below this."""
    drift_window: int = Field(default=200, ge=10)
    """Shadowed accepted answers the drift check looks at (the most recent ones)."""
    seed: int | None = None
    """Seed of the sampling draw (tests); None: fresh randomness."""


class CascadeSettings(BaseModel):
    """The cascade's settings (see :class:`~automix_core.AutoMix` for how each is used)."""

    model_config = ConfigDict(extra="forbid")

    k: int | None = Field(default=None, ge=1)
    """Verification samples per answer in the sampling modes (None: the router's, else 8; see
    :func:`~automix_core.verify.method.resolve_method`)."""
    verify_mode: Literal["auto", "sample", "sequential", "logprob"] = "auto"
    """``sample`` (k samples), ``sequential`` (early stopping), ``logprob`` (one call, token logprobs), or
    ``auto`` (the default): the method the router was calibrated on when its JSON says (router version 2),
    else per tier from the backend (:func:`~automix_core.verify.method.resolve_method`). An explicit
    value that differs from the router's warns: the router's thresholds describe its own method's
    confidences."""
    verify_prompt: Literal["auto", "few-shot", "continue"] = "auto"
    """Verification prompt layout: ``few-shot`` (system text and worked examples, then the case),
    ``continue`` (the answer call's own messages, the answer, then a short verdict instruction: a
    server's prefix cache already holds all but the answer and the instruction), or ``auto`` (the
    default): the router's layout, else ``few-shot`` (see ``verify_mode``)."""
    verify_temperature: float = Field(default=1.0, ge=0, allow_inf_nan=False)
    """Sampling temperature of verification samples."""
    verify_max_tokens: int = Field(default=160, ge=1)
    """Reply tokens per verification sample."""
    answer_max_tokens: int | None = Field(default=512, ge=1)
    """Reply tokens of an answering call (None: the model's own limit)."""
    answer_temperature: float = Field(default=0.0, ge=0, allow_inf_nan=False)
    """Temperature of answering calls."""
    retries: int = Field(default=1, ge=0)
    """Extra attempts for a call that fails with a transient error (and for an empty answer)."""
    timeout: float | None = Field(default=120.0, gt=0, allow_inf_nan=False)
    """Seconds per model call (None: no deadline of AutoMix's own)."""
    verify_defence: bool = True
    """The verifier's integrity protections (:class:`~automix_core.verify.Verifier` ``claims`` and
    ``defence``): judge the answer's claim, not its prose, and screen the case for text that asserts the
    answer's correctness or addresses the grader (the trace lists the findings). False judges the answer as
    written, unscreened (for measurement)."""
    system: str | None = None
    """System prompt for answering when the question is given as text."""
    traffic: TrafficConfig | None = None
    """Record every answered request and shadow a share of them (:class:`~automix_core.traffic.TrafficConfig`)."""

    @classmethod
    def of(cls, source: object = None, overrides: Mapping[str, Any] | None = None) -> CascadeSettings:
        """The cascade settings of ``source`` (a :class:`CascadeSettings`, an adapter inheriting its
        fields, or None for the defaults), with ``overrides`` applied and validated."""
        if type(source) is cls and not overrides:
            return source
        values = {} if source is None else {name: getattr(source, name) for name in cls.model_fields}
        return cls(**{**values, **(overrides or {})})
