"""Self-verification: the prompt (:mod:`.prompt`), the claim judged in place of the answer (:mod:`.claim`),
the screen that can lower the confidence (:mod:`.screen`), reading verdicts (:mod:`.parse`), drawing samples
(:mod:`.draw`), which method a tier runs (:mod:`.method`) and the :class:`Verifier` that turns them
into a confidence (:mod:`.verifier`)."""

from ..settings import VerifyMode, VerifyPrompt
from .claim import own_claim, read_claim
from .draw import adraw, draw
from .method import VerificationMethod, resolve_method
from .parse import parse_verdict, posterior_correct
from .prompt import (
    CONTINUE_INSTRUCTION,
    CONTINUE_LOGPROB_INSTRUCTION,
    EXAMPLES,
    LOGPROB_MAX_TOKENS,
    LOGPROB_SYSTEM_PROMPT,
    NO_PARSE_CONFIDENCE,
    SYSTEM_PROMPT,
    build_continuation,
    build_prompt,
    quote_untrusted,
)
from .screen import LexicalScreen, Screening, VerificationScreen
from .verifier import VerificationResult, Verifier

__all__ = [
    "CONTINUE_INSTRUCTION",
    "CONTINUE_LOGPROB_INSTRUCTION",
    "EXAMPLES",
    "LOGPROB_MAX_TOKENS",
    "LOGPROB_SYSTEM_PROMPT",
    "NO_PARSE_CONFIDENCE",
    "SYSTEM_PROMPT",
    "LexicalScreen",
    "Screening",
    "VerificationMethod",
    "VerificationResult",
    "VerificationScreen",
    "Verifier",
    "VerifyMode",
    "VerifyPrompt",
    "adraw",
    "build_continuation",
    "build_prompt",
    "draw",
    "own_claim",
    "parse_verdict",
    "posterior_correct",
    "quote_untrusted",
    "read_claim",
    "resolve_method",
]
