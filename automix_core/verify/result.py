"""What a verification returns (:class:`VerificationResult`), apart from the :class:`~.verifier.Verifier` that
makes it."""

from __future__ import annotations

from dataclasses import dataclass

from ..models import Generation, Message
from ..settings import VerifyMode
from .defence import Finding

__all__ = ["Call", "VerificationResult"]

Call = tuple[list[Message], Generation]


@dataclass(frozen=True)
class VerificationResult:
    """The outcome of verifying one answer.

    ``confidence`` is in [0, 1]: the share of parsed samples whose verdict is "correct" (logprob
    mode: the normalised probability of "correct"). When nothing parsed, ``parsed`` is False,
    ``n_parsed`` is 0 and ``confidence`` is :data:`NO_PARSE_CONFIDENCE`. ``samples`` and
    ``verdicts`` (True/False/None per sample) cover the samples the confidence came from;
    ``generations`` lists every model call made, including a logprob call that fell back to
    sampling, and ``messages[i]`` is the prompt sent for ``generations[i]``, so each call can be
    billed. ``mode`` is the method that produced the confidence ("sample" after a logprob fallback).
    ``claim`` is what was judged in place of the answer (:mod:`.claim`; the answer itself when it is one
    short line, else the model's restatement, whose calls come first in ``generations``). ``neutralised``
    lists the screen's findings (:mod:`.screen`); the confidence is already scaled by the screen's factor.
    """

    confidence: float
    parsed: bool
    verdicts: list[bool | None]
    samples: list[str]
    n_parsed: int
    mode: VerifyMode
    generations: list[Generation]
    messages: list[list[Message]]
    neutralised: tuple[Finding, ...] = ()
    claim: str = ""


def _unfaithful(mode: VerifyMode, claim: str, restated: list[Call], of: str = "the answer") -> VerificationResult:
    """The result for a restatement that gives another value than ``of`` (the answer, or the claim it restated
    once more on its own): confidence 0 (escalate), no verdict asked, the restatements billed and reported as
    the finding."""
    finding = Finding("answer", f"the restatement gives another value than {of}", "unfaithful claim", claim[:80])
    return VerificationResult(confidence=0.0, parsed=True, verdicts=[], samples=[], n_parsed=0, mode=mode,
                              generations=[g for _, g in restated], messages=[m for m, _ in restated],
                              neutralised=(finding,), claim=claim)
