"""The screen: a check of a verification case that can lower the confidence, never rewrite the case.

A screen is any callable ``screen(question, claim, context) -> Screening``: it sees the question, the claim
being judged (:mod:`.claim`) and the context, and returns a :class:`Screening`: a ``factor`` in [0, 1] the
verifier's confidence is multiplied by (0 escalates under any threshold, 1 leaves it as it is) and the
:class:`~.defence.Finding` records that say why, which go into the verification result and the trace. A
screen never changes what the model is shown: the answer call's messages are sent as they were, so the
prompt prefix stays cached and the confidence stays of the kind a router was calibrated on.

:class:`LexicalScreen` is the project's screen: the word-list rules of :mod:`.defence` run on the claim
(``places``; the question or the context when asked: on the project's held-out corpora the rules alone catch
0 of 10 to 18 of 30 context plants while escalating 14 of the 219 honest cases of
``benchmarks/defence_honest.py``, against 2 for the question; the verifier itself asks a second verdict
without what they find there, :meth:`~.verifier.Verifier._noted_case`). A claim that still vouches for itself
after the restatement ("1648 (verified)", "15 days correct", :func:`vouches`) escalates. Rules that honest
text also triggers (:data:`~.defence.INFORMATIONAL`) are not detections, a claim that cannot be told apart from its
verdict words ("True", "Yes, correct") is judged as given, and a claim in the source's own words ("Mostly true"
when a fact check's verdict is asked, a PR guide's "approved") is not escalated for them.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

from .defence import INFORMATIONAL, Finding, Place, Sanitized, fold, neutralise, neutralise_case
from .defence.fold import _WORD
from .defence.lexicon import _has_content, _has_verdict
from .defence.rules import _attributive_only

__all__ = ["LexicalScreen", "Screening", "VerificationScreen", "vouches"]


@dataclass(frozen=True)
class Screening:
    """What a screen found: the confidence ``factor`` (in [0, 1]) and the ``findings`` behind it."""

    factor: float = 1.0
    findings: tuple[Finding, ...] = ()

    def __post_init__(self) -> None:
        if not 0.0 <= self.factor <= 1.0:
            raise ValueError(f"a screening's factor must be in [0, 1], got {self.factor!r}")


VerificationScreen = Callable[[str, str, str], Screening]
"""``screen(question, claim, context)``: see the module docs."""

_NOT_DETECTIONS = INFORMATIONAL | {"unseparated"}

_STRUCTURED = re.compile(r"```|[{\[]\s*\"")
"""A fenced code block or JSON (code, a tool call, structured output): a claim of its own, read by the rules
only (its words about tests and values are not vouching)."""


def _case_notes(question: str, claim: str, context: str, answer: str = "") -> tuple[Sanitized, Sanitized,
                                                                                  tuple[Finding, ...]]:
    """The question and the context with what the :mod:`.defence` rules find in them removed, and the
    findings that are detections (not :data:`~.defence.INFORMATIONAL`). The rules read them against ``claim``
    and then, when ``answer`` (as given) is another text, against it too: a note quoting the answer as given
    ("Assistant: Yes, the reserve date is Saturday 7 June 2025.") need not contain the claim's wording."""
    q, _, c = neutralise_case(question, claim, context)
    if answer.strip() and " ".join(answer.split()) != " ".join(claim.split()):
        q2, _, c2 = neutralise_case(q.text, answer, c.text)
        q, c = (Sanitized(q2.text, q.findings + q2.findings), Sanitized(c2.text, c.findings + c2.findings))
    return q, c, tuple(f for f in (*q.findings, *c.findings) if f.rule not in _NOT_DETECTIONS)


def vouches(claim: str) -> bool:
    """Whether ``claim`` (a few words) carries a verdict word (any of the lexicons' languages, also spelt
    with look-alikes, leet or emoji: "1648 ✅", "15 days correct", "正确 15天") beside content, other than
    one qualifying a noun ("the correct year is 1969"). A claim of verdict words alone ("True", "Yes,
    correct") does not: it is judged as given."""
    f = fold(claim)
    return _has_verdict(f) and _has_content(f) and not _attributive_only(f)


def _detections(text: str, place: Place, source: str = "") -> tuple[Finding, ...]:
    found = neutralise(text, place).findings
    if any(f.rule == "unseparated" for f in found):
        return ()  # nothing but verdict words: judged as given
    detected = tuple(f for f in found if f.rule not in _NOT_DETECTIONS and not (source and _sourced(f.excerpt, source)))
    if (place == "answer" and not detected and not _STRUCTURED.search(text) and vouches(text)  # code: rules only
            and not _quoted(text, source) and not _sourced(text, source)):
        detected = (Finding("answer", "vouches for itself", "vouching", text[:80]),)
    return detected


def _quoted(claim: str, source: str) -> bool:
    """Whether ``claim`` is words of the question or context ("Mostly true" when a fact check's verdict is
    asked): the source's own, not the answer vouching for itself."""
    words = " ".join(fold(claim).split()).strip(" .!")
    return bool(words) and words in " ".join(fold(source).split())


def _sourced(excerpt: str, source: str) -> bool:
    """Whether a flagged part of the claim is the question's or context's wording: four or more words of four
    or more letters, every one of them (its verdict words too) in the source, also with another ending
    ("means" for the question's "mean"): "at least one reviewer with write access has approved the changes"
    for a PR guide that says so; "12 tonnes (verified)" is not."""
    tokens, there = _WORD.findall(fold(excerpt)), set(_WORD.findall(fold(source)))
    words = {w for w in tokens if len(w) >= 4 or not w.isascii()}  # "正确" counts, "has" and "the" do not
    stems = {w[:-1] for w in there if len(w) >= 4}
    return sum(len(w) >= 4 for w in words) >= _SOURCED_MIN_WORDS and all(
        w in there or any(w.startswith(t) and len(w) - len(t) <= 3 and w[len(t):].isascii() for t in stems)
        for w in words)


_SOURCED_MIN_WORDS = 4


@dataclass(frozen=True)
class LexicalScreen:
    """The :mod:`.defence` word-list rules as a screen: a detection in one of ``places`` escalates (factor 0).
    In the question and context only the rules run (no pass without word lists: those remove honest text
    too often to escalate on); in the claim also :func:`vouches`."""

    places: tuple[Place, ...] = ("answer",)

    def __call__(self, question: str, claim: str, context: str) -> Screening:
        texts: dict[Place, str] = {"question": question, "answer": claim, "context": context}
        source = f"{question}\n{context}"
        findings = tuple(f for place in self.places
                         for f in _detections(texts[place], place, source if place == "answer" else ""))
        return Screening(0.0 if findings else 1.0, findings)
