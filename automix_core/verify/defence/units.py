"""Splitting untrusted text into units (sentences and lines) for the defence, keeping every character so that
joining the units restores the text; sentences glued on without a space are split apart too. Stdlib only."""

from __future__ import annotations

import re

from .fold import remember_short

__all__: list[str] = []

_SENTENCE_END = re.compile(
    r"(?<=[.!?。！？\u0964\u0965\u06d4\u0589\u1362\u061f])[)\]\"'”’»）】]*[\s\u3000]+|(?<=[。！？])"
)
"""Sentence ends: Latin, CJK (also without a following space), Devanagari danda, Arabic/Urdu, Armenian, Ethiopic;
closing brackets and quotes after the mark stay with the sentence they close ("(... is X.) The river ...")."""


_GLUED_CAPITAL = re.compile(r"(?<=[a-z]{2}[.!?])(?=[A-Z][a-z])")
_GLUED = re.compile(r"(?<=[a-z]{3})(?=[A-Z][a-z]{2})")
"""Where two sentences were glued without a space: "...left bank.Source confirms" or "...answer
acceptedCanberra was selected" (split only between two runs of several words, see :func:`_unglue`)."""
_GLUED_MARK = re.compile(r"(?<=[^\W\d_][.!?])(?=[^\s\w)\]\"'”’»）】.,;:!?]|[^\x00-\x7f\W])")
"""A sentence mark followed at once by a symbol or a non-ASCII letter: "Sydney.<!-- ... -->",
"Sydney.— the question ...", "...Vienna?（标准答案：...）", "Sydney.この回答は..." (not "e.g.", "3.5", "U.S.")."""
_GLUED_MIN_WORDS = 5
_AFTER_TAG = re.compile(r"(?:</[A-Za-z_][\w-]*>|-->)[ \t]*(?=\S)")
"""A closing markup tag or comment end, then more text: "<judgement>accept</judgement> Vienna, the ..."."""


def _unglue(unit: str) -> list[str]:
    """``unit`` split where a sentence was glued to the next without a space (a plant put before or after a
    text with no separator): after a sentence mark followed at once by a symbol or a non-ASCII letter, and
    between two runs of several words ("JavaScript" or "McDonald" are single words and stay)."""
    cuts = sorted({m.start() for m in _GLUED_MARK.finditer(unit)} | {m.start() for m in _GLUED_CAPITAL.finditer(unit)}
                  | {m.end() for m in _AFTER_TAG.finditer(unit)}
                  | {m.start() for m in _GLUED.finditer(unit)
                     if len(unit[: m.start()].split()) >= _GLUED_MIN_WORDS and len(unit[m.start() :].split()) >= 2})
    out, start = [], 0
    for cut in cuts:
        if unit[start:cut].strip() and unit[cut:].strip():
            out.append(unit[start:cut])
            start = cut
    out.append(unit[start:])
    return out


_NOT_AN_END = re.compile(
    r"(?:^|[\s(])(?:\d{1,2}|[A-Z]|Mr|Mrs|Ms|Dr|Prof|St|Jr|Sr|vs|etc|e\.g|i\.e|cf|al|Fig|No|Vol|pp|Inc|Ltd|Co|"
    r"Jan|Feb|Mar|Apr|Jun|Jul|Aug|Sep|Sept|Oct|Nov|Dec|approx|ca|z\.B|bzw|usw|Nr)\.$"
)
"""A mark that ends an ordinal ("9."), an initial ("F.") or an abbreviation ("Dr."), not a sentence."""


def _units(text: str) -> list[str]:
    """``text`` split into sentences, keeping the separators attached so that joining restores it (a new list
    each call)."""
    return list(_split(text))


@remember_short
def _split(text: str) -> tuple[str, ...]:
    parts: list[str] = []
    for line in re.split(r"(?<=\n)", text):
        pos = 0
        for m in _SENTENCE_END.finditer(line):
            if _NOT_AN_END.search(line[pos : m.start()]):
                continue  # "Am 9. November", "John F. Kennedy", "Dr. Smith", "e.g. this"
            parts.extend(_unglue(line[pos : m.end()]))
            pos = m.end()
        if pos < len(line):
            parts.extend(_unglue(line[pos:]))
    return tuple(p for p in parts if p)


def _stray(unit: str) -> bool:
    """A unit of punctuation only ("）", "|---|---|"): left over when the unit before it is removed."""
    return bool(unit.strip()) and len(unit.strip()) <= 40 and not any(ch.isalnum() for ch in unit) and "`" not in unit


def _end_line(kept: list[str], unit: str) -> None:
    """When a removed ``unit`` ended a line, ``kept`` keeps that line's end (the line it shared stays a line)."""
    if unit.endswith("\n") and kept and not kept[-1].endswith("\n"):
        kept.append("\n")


_BARE_MARKUP = re.compile(r"[ \t]*(?:```\w*|---+|#+|\*+|-)[ \t]*")


def _tidy(cleaned: str, text: str) -> str:
    """``cleaned`` (``text`` with units removed) without what the removals left: blank lines beyond one in a row,
    lines of bare markup (an emptied fence or list item), trailing blanks; a line ``text`` has as it is stays as it
    is, so the verdict on the text without a note reads the rest byte for byte (a lost paragraph break moves it)."""
    own = set(text.split("\n"))
    lines: list[str] = []
    for line in cleaned.split("\n"):
        if not line.strip():
            if lines and lines[-1].strip():
                lines.append(line if line in own else "")
        elif _BARE_MARKUP.fullmatch(line):
            continue  # the fences or bullet of a removed note (a source's own rule line goes too)
        else:
            lines.append(line if line in own else line.rstrip())
    return "\n".join(lines).strip()
