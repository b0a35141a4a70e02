"""Reading verdicts: the last verdict line of a sample, a logprob reply's verdict token, and the
Beta posterior used for early stopping.
"""

from __future__ import annotations

import math
import re
import unicodedata
from collections.abc import Sequence

__all__ = ["parse_verdict", "posterior_correct"]

# --- parsing -----------------------------------------------------------------------------------

_VERDICT_LINE = re.compile(r"^\W*(?:final\s+)?verdict\s*:(.*)$", re.IGNORECASE)
_VERDICT_WORD = re.compile(r"^\W*(in)?correct\b(.*)$", re.IGNORECASE | re.DOTALL)
_ANY_VERDICT_WORD = re.compile(r"\b(?:in)?correct\b", re.IGNORECASE)


def _word_verdict(text: str) -> bool | None:
    """True/False if ``text`` starts with "correct"/"incorrect" and names no other verdict word after it."""
    match = _VERDICT_WORD.match(text)
    if match is None or _ANY_VERDICT_WORD.search(match.group(2)):
        return None
    return match.group(1) is None


def _clean(line: str) -> str:
    return re.sub(r"[*_`]", "", unicodedata.normalize("NFKC", line)).strip()


def parse_verdict(text: str) -> bool | None:
    """The verdict of a model reply: True for correct, False for incorrect, None if unparsed.

    Only the last line of the form ``Verdict: <word>`` counts (case-insensitive, markdown such as
    ``**Verdict:** Correct`` or a leading bullet tolerated, ``Final verdict:`` accepted). That line is
    unparsed unless ``<word>`` is "correct" or "incorrect" and no other verdict word follows it
    (``Verdict: correct or incorrect`` is unparsed). A reply without a verdict line is unparsed.
    """
    for line in reversed(text.splitlines()):
        match = _VERDICT_LINE.match(_clean(line))
        if match is not None:
            return _word_verdict(match.group(1))
    return None


def _parse_logprob_reply(text: str) -> bool | None:
    """A logprob-mode reply: a verdict line if there is one, else a leading bare verdict word."""
    verdict = parse_verdict(text)
    return verdict if verdict is not None else _word_verdict(_clean(text))


def _token_side(token: str) -> bool | None:
    """True/False if ``token`` begins (or is a 2+ character start of) "correct"/"incorrect"."""
    word = re.sub(r"[\W_]", "", token).lower()
    if len(word) < 2:
        return None
    if word.startswith("incorrect") or "incorrect".startswith(word):
        return False
    if word.startswith("correct") or "correct".startswith(word):
        return True
    return None


def _logprob_confidence(positions: Sequence[dict[str, float]]) -> float | None:
    """P(correct) at the first position whose top alternatives include a verdict token: the exp-logprob
    mass of "correct" tokens over that of "correct" and "incorrect" tokens; None if no position has any."""
    for alternatives in positions:
        mass = {True: 0.0, False: 0.0}
        for token, logprob in alternatives.items():
            side = _token_side(token)
            if side is not None:
                mass[side] += math.exp(logprob)
        if mass[True] + mass[False] > 0:
            return mass[True] / (mass[True] + mass[False])
    return None


def posterior_correct(n_correct: int, n_incorrect: int) -> float:
    """P(p > 0.5) under the Beta(1 + n_correct, 1 + n_incorrect) posterior of the chance ``p`` that a
    sample says "correct" (uniform prior). Exact: for integer a, b, P(Beta(a, b) > 1/2) equals
    P(Binomial(a + b - 1, 1/2) <= a - 1)."""
    n = n_correct + n_incorrect + 1
    return sum(math.comb(n, j) for j in range(n_correct + 1)) / (1 << n)
