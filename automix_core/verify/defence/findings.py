"""What the defence reports: a :class:`Finding` per neutralised span, the :class:`Sanitized` text.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

__all__ = ["Finding", "Place", "Sanitized"]


Place = Literal["answer", "context", "question"]



@dataclass(frozen=True)
class Finding:
    """One neutralised span: where it was, why, the rule that fired, and an excerpt of the original text."""

    place: Place
    reason: str
    rule: str
    excerpt: str

    def as_dict(self) -> dict[str, str]:
        return {"place": self.place, "reason": self.reason, "rule": self.rule, "excerpt": self.excerpt}


@dataclass(frozen=True)
class Sanitized:
    """``text`` with flagged spans removed, and the :class:`Finding` for each."""

    text: str
    findings: tuple[Finding, ...] = field(default=())

    @property
    def changed(self) -> bool:
        return bool(self.findings)


_REASONS = {
    "role-marker": "imitates a chat turn or role marker",
    "bare-verdict": "is a bare verdict",
    "verdict-label": "gives a verdict, grade or score",
    "self-reference": "asserts the answer's own correctness",
    "grader-address": "addresses the grader",
    "instruction": "instructs the grader",
    "override": "tries to override the task",
    "self-assessment": "is a self-assessment",
    "claimed-verification": "claims the answer was already verified",
    "answer-key": "states an answer key",
    "bidi-override": "uses bidi override characters",
    "reversed-text": "is a flagged sentence written backwards",
    "irrelevant-aside": "is a short aside unrelated to the question and context (any language)",
    "foreign-aside": "is a short sentence in another language or script, unrelated to the rest",
    "unanchored-aside": "is a short passage sharing no content word with the question or the rest of the context",
    "value-aside": "gives the proposed answer's value in a short passage sharing nothing else with the case",
    "unseparated": "cannot be separated from its claim (the answer is verified as given)",
}
