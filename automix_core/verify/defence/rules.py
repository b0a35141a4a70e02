"""Flagging and removing units (lines, sentences, clauses) of an untrusted text, claim isolation in
answers, and the language-agnostic relevance pass (:func:`neutralise`, :func:`neutralise_case`).
"""

from __future__ import annotations

import functools
import re
import unicodedata

from .findings import _REASONS, Finding, Place, Sanitized
from .fold import _EXCERPT, _WORD, _strip_invisible, _words, fold
from .lexicon import (
    _CLAIMED,
    _FILLER,
    _G,
    _I,
    _LABEL,
    _OVERRIDE,
    _PRONOUN_VERDICT,
    _QA_LINE,
    _R_EN,
    _R_OTHER,
    _ROLE_LINE,
    _SELF,
    _SPECIAL,
    _V_LATIN,
    _V_SCRIPT,
    _V_WORD,
    _has_content,
)

__all__ = ["INFORMATIONAL", "neutralise", "neutralise_case"]


# --- splitting ---------------------------------------------------------------------------------

_SENTENCE_END = re.compile(r"(?<=[.!?。！？])[\s\u3000]+|(?<=[。！？])")
_CLAUSE = re.compile(r"\s*[;,，；、:：—–]\s*|\s+-{1,2}\s+")




def _rule(unit: str, place: Place, appended: bool) -> str | None:
    """The rule that flags ``unit`` (raw text of one sentence or clause), or None."""
    raw = _strip_invisible(unit)
    f = fold(unit)
    if not f and not _SPECIAL.search(raw):
        return None
    if _SPECIAL.search(raw) or _SPECIAL.search(f) or re.search(r"<\|", raw):
        return "role-marker"
    if _BIDI_OVERRIDE.search(unit):
        return "bidi-override"
    verdict = bool(_V_WORD.search(f) or _V_SCRIPT.search(f))
    # a role line in a context may be a rendered conversation ("System: Be brief.", as the LangChain adapter
    # writes earlier turns): there it is flagged only when it carries a verdict or addresses the grader
    if (_ROLE_LINE.match(f) and (place != "context" or verdict or _G.search(f) or _I.search(f))) or (
            _QA_LINE.match(f) and verdict):
        return "role-marker"
    content = _has_content(f)
    if _OVERRIDE.search(f):
        return "override"
    if _G.search(f) and (verdict or _I.search(f) or _R_EN.search(f) or _R_OTHER.search(f)):
        return "grader-address"
    if place != "context" and _G.search(f):
        return "grader-address"
    if _SELF.search(f):
        return "self-assessment"
    if _CLAIMED.search(f) and (place == "answer" or _R_EN.search(f) or _R_OTHER.search(f) or not content):
        return "claimed-verification"
    label = _LABEL.match(f)
    if label and (verdict or not _has_content(f[label.end() :])):
        if place != "answer" or not _has_content(f[label.end() :]):
            return "verdict-label"
        if re.search(r"answer", label.group(0)):
            return None  # "Correct answer: the Danube" in an answer: the label is stripped by the caller
    if label and place != "answer" and re.search(r"answer|key", label.group(0)):
        return "answer-key"
    if verdict and not content:
        return "bare-verdict"
    referent = _R_EN.search(f) or _R_OTHER.search(f)
    if verdict and referent:
        if place == "answer" and _attributive_only(f):
            return None
        return "self-reference"
    if verdict and _PRONOUN_VERDICT.search(f):
        return "self-reference"
    if place != "answer" and referent and _I.search(f):
        return "instruction"
    if place != "answer" and referent and re.search(r"\b(?:is|was|are)\s+(?:\w+\s+)?(?:fine|good|sound|ok)\b", f):
        return "self-reference"
    if place == "question" and appended and verdict:
        return "bare-verdict" if not content else "self-reference"
    if place != "context" and _I.search(f) and verdict and not content:
        return "instruction"
    return None


_BIDI_OVERRIDE = re.compile("[\u202a-\u202e\u2066-\u2069]")


def _rule_any_direction(unit: str, place: Place, appended: bool) -> str | None:
    """:func:`_rule`, also on the unit read backwards (reversed text is still read by the model)."""
    rule = _rule(unit, place, appended)
    if rule is None and len(unit) < 200 and _rule(unit[::-1], place, appended) is not None:
        return "reversed-text"
    return rule


def _attributive_only(f: str) -> bool:
    """An answer sentence whose verdict words only qualify a noun ("the right answer is X", "X is the correct
    year"): the claim itself is what gets verified, so it is kept."""
    stripped = re.sub(rf"\b(?:the|a)\s+(?:{_V_LATIN})\s+(?=\w)", "the ", f)
    return not (_V_WORD.search(stripped) or _V_SCRIPT.search(stripped))


_LEADING_LABEL = re.compile(
    r"^\s*(?:(?:the\s+)?(?:correct|right|true|verified|accurate)(?:\s+answer)?(?:\s+in\s+the\s+(?:passage|context))?|"
    r"correctly|accurately|strictly speaking|verified(?:\s+in\s+the\s+(?:passage|context|text))?)\s*[:,]\s*",
    re.IGNORECASE,
)


def _units(text: str) -> list[str]:
    """``text`` split into sentences, keeping the separators attached so that joining restores it."""
    parts: list[str] = []
    for line in re.split(r"(?<=\n)", text):
        pos = 0
        for m in _SENTENCE_END.finditer(line):
            parts.append(line[pos : m.end()])
            pos = m.end()
        if pos < len(line):
            parts.append(line[pos:])
    return [p for p in parts if p]


def _excerpt(text: str) -> str:
    text = text.strip()
    return text if len(text) <= _EXCERPT else text[: _EXCERPT - 1] + "…"


INFORMATIONAL = frozenset({"claim-isolation", "leading-label", "irrelevant-aside"})
"""Rules that honest answers also trigger (an aside judging another candidate, a leading "Correct answer:"
label, a short unrelated sentence): their findings are reported, not counted as injections."""


def neutralise(text: str, place: Place, *, reference: str | None = None, isolate_claim: bool = True) -> Sanitized:
    """``text`` (an answer, context or question) with self-assessments and grader-directed spans removed.

    Sentences (and lines) are judged one by one; a flagged sentence that also carries content loses only
    its flagged clauses; in an answer a leading judgement label before content ("Verified in the
    passage: 1969.") loses only the label. Following a flagged sentence, a rationale sentence
    ("Reason: ...", "Because ...") without content is removed too. With ``isolate_claim`` (answers only),
    judgement wording about the content is then dropped too (:func:`isolate_claim`), so that the verifier
    judges the claim alone. With ``reference`` (the text of the case's other places, see
    :func:`neutralise_case`), a language-agnostic relevance pass follows (:func:`_relevance`): short units
    that share no content word with the reference (or, in a context, with the rest of the context) are
    removed from answers after their first sentence and from questions outside their interrogative sentence,
    and from contexts when they are also in another language or script than the context. Returns the cleaned
    text and one :class:`Finding` per removed span.
    """
    if place not in ("answer", "context", "question"):
        raise ValueError(f"unknown place {place!r}")
    units = _units(text)
    kept: list[str] = []
    findings: list[Finding] = []
    seen_question_end = False
    previous_flagged = False
    for unit in units:
        appended = place == "question" and seen_question_end
        if place == "question" and "?" in unit:
            seen_question_end = True
        rule = _rule_any_direction(unit, place, appended)
        if (
            rule is None
            and previous_flagged
            and re.match(
                r"^\W*(?:reason|because|justification|explanation|rationale|grund|raison|razon|motivo|причина|理由|原因)\b",
                fold(unit),
            )
            and not _has_content(fold(unit))
        ):
            rule = "self-assessment"
        if rule is None and place == "answer":
            m = _LEADING_LABEL.match(unit)
            if m and _has_content(fold(unit[m.end() :])):
                findings.append(
                    Finding(place, "a judgement label before content", "leading-label", _excerpt(m.group(0)))
                )
                rest = unit[m.end() :]
                kept.append(rest[:1].upper() + rest[1:])
                previous_flagged = False
                continue
        if rule is None:
            kept.append(unit)
            previous_flagged = False
            continue
        previous_flagged = True
        if _has_content(fold(unit)) and rule not in ("role-marker",):
            clauses = _split_clauses(unit)
            if len(clauses) > 1:
                flagged = [c for c in clauses if _rule(c, place, appended) is not None]
                keep = [c for c in clauses if c not in flagged and _has_content(fold(c)) and not _lexical(fold(c))]
                if flagged and keep:
                    for c in flagged:
                        findings.append(Finding(place, _REASONS[rule], rule, _excerpt(c)))
                    kept.append(_rejoin(keep, unit))
                    continue
        findings.append(Finding(place, _REASONS[rule], rule, _excerpt(unit)))
        if unit.endswith("\n") and kept and not kept[-1].endswith("\n"):
            kept.append("\n")
    cleaned = "".join(kept)
    if findings:
        cleaned = re.sub(r"(?m)^[ \t]*(?:```\w*|---+|#+|\*+|-)?[ \t]*$\n?", "", cleaned)
        cleaned = re.sub(r"[ \t]+\n", "\n", cleaned).strip()
    if reference is not None:
        cleaned, extra = _relevance(cleaned, place, reference)
        findings.extend(extra)
    if place == "answer" and isolate_claim:
        cleaned, extra = _isolate_claim(cleaned)
        findings.extend(extra)
    return Sanitized(cleaned, tuple(findings))


_NEGATIVE = re.compile(
    r"\b(?:incorrect|wrong|wrongly|mistaken|mistakenly|mistake|error|erroneous|misconception|false|"
    r"falsch|faux|fausse|incorrecte|erronee?|sbagliat[ao]|falsa|falso|equivocad[ao]|errone[ao])\b"
    r"|неправильн\w*|неверн\w*|ошибк\w*|ошибочн\w*|错误|錯誤|間違い|誤り|خطأ|خاطئ\w*",
    re.IGNORECASE,
)
_FIRST_PERSON = re.compile(
    r"\b(?:i|i'm|i've|me|my|we|our|this answer|my answer|the answer above|the above)\b", re.IGNORECASE
)
_ASIDE_SPLIT = re.compile(r"\s*;\s*|\s+[—–]\s+|\s*\(\s*|\s*\)\s*|,\s+(?=(?:so|but|whereas|while|although|though)\b)")
_RIGHT_NOT_JUDGEMENT = (
    r"(?!(?:bank|banks|side|hand|wing|angle|arm|leg|eye|ear|lung|kidney|ventricle|atrium|lobe|turn|click|half|"
    r"corner|edge|of|positive|positives|negative|negatives|north)\b)"
)
_ATTRIBUTIVE = re.compile(
    r"\b(the|a|an)\s+(?:correct|right|true|accurate|exact|proper)\s+" + _RIGHT_NOT_JUDGEMENT + r"(?=\w)", re.IGNORECASE
)
_PREDICATE = re.compile(
    r"\s+(?:is|was|are|were)\s+(?:(?:indeed|definitely|also|certainly)\s+)?(?:correct|right|true|accurate|valid)"
    r"(?=\s*(?:[,;.!)]|$))",
    re.IGNORECASE,
)


def _isolate_claim(text: str) -> tuple[str, list[Finding]]:
    """An answer's claim without judgement wording about its content: asides judging other candidates
    ("Sydney is a common but incorrect guess", "a frequent error is to write Ag") are dropped, and verdict
    words qualifying the claim ("the right answer is X", "X is correct") are removed. Negative wording in
    the first person or about the answer itself ("I may be wrong") is kept: it can only make the verifier
    more sceptical. Nothing is dropped if the rest would carry no content."""
    findings: list[Finding] = []
    kept_units: list[str] = []
    for unit in _units(text):
        pieces = [p for p in _ASIDE_SPLIT.split(unit.strip()) if re.search(r"\w", p)]
        keep = [p for p in pieces if not (_NEGATIVE.search(p) and not _FIRST_PERSON.search(p))]
        if len(keep) == len(pieces):
            kept_units.append(unit)
            continue
        for p in pieces:
            if p not in keep:
                findings.append(
                    Finding("answer", "judges another candidate (claim isolated)", "claim-isolation", _excerpt(p))
                )
        if keep:
            end = "." if unit.rstrip().endswith(".") else ""
            kept_units.append("; ".join(k.strip().rstrip(".;,") for k in keep) + end + " ")
    candidate = "".join(kept_units).strip()
    if not _has_content(fold(candidate)):
        candidate, findings = text, []
    rewritten = _ATTRIBUTIVE.sub(lambda m: m.group(1) + " ", candidate)
    rewritten = _PREDICATE.sub("", rewritten)
    if rewritten != candidate and _has_content(fold(rewritten)):
        findings.append(
            Finding(
                "answer",
                "verdict wording about the claim removed (claim isolated)",
                "claim-isolation",
                _excerpt(candidate),
            )
        )
        candidate = rewritten
    return candidate, findings


def _lexical(f: str) -> bool:
    """Whether a folded clause uses any verdict, referent, grader or instruction vocabulary."""
    return any(p.search(f) for p in (_V_WORD, _V_SCRIPT, _R_EN, _R_OTHER, _G, _I, _OVERRIDE))


def _split_clauses(unit: str) -> list[str]:
    pieces = _CLAUSE.split(unit)
    return [p for p in pieces if p.strip()]


def _rejoin(clauses: list[str], original: str) -> str:
    text = ", ".join(c.strip().rstrip(".") for c in clauses)
    end = "." if original.rstrip().endswith(".") else ""
    trail = original[len(original.rstrip()) :]
    return text + end + (trail or " ")


def neutralise_case(question: str, answer: str, context: str = "") -> tuple[Sanitized, Sanitized, Sanitized]:
    """:func:`neutralise` applied to a whole verification case, each place with the others as reference:
    returns the sanitised (question, answer, context). Cases up to 16k characters are remembered (the
    results are immutable): a question is verified once per tier, with the same context."""
    if len(question) + len(answer) + len(context) <= 16_384:
        return _case_memo(question, answer, context)
    return _case(question, answer, context)


@functools.lru_cache(maxsize=2048)
def _case_memo(question: str, answer: str, context: str) -> tuple[Sanitized, Sanitized, Sanitized]:
    return _case(question, answer, context)


def _case(question: str, answer: str, context: str) -> tuple[Sanitized, Sanitized, Sanitized]:
    q = neutralise(question, "question", reference=context)
    c = neutralise(context, "context", reference=q.text)
    a = neutralise(answer, "answer", reference=q.text + "\n" + c.text)
    return q, a, c


# --- language-agnostic relevance ----------------------------------------------------------------

_ASIDE_MAX_WORDS = 14
_EN_FUNCTION = _words(
    "the a an of to in on at by for with from and or but is are was were be been has have had it its this that "
    "these those which who what when where how not no as than then there their they he she his her we you i "
    "do does did can could will would should may might must also only very more most such so if into about "
    "over after before between through during under up out all any each some other both"
)
_SCRIPTS = (
    ("latin", 0x41, 0x24F),
    ("greek", 0x370, 0x3FF),
    ("cyrillic", 0x400, 0x52F),
    ("hebrew", 0x590, 0x5FF),
    ("arabic", 0x600, 0x6FF),
    ("devanagari", 0x900, 0x97F),
    ("bengali", 0x980, 0x9FF),
    ("thai", 0xE00, 0xE7F),
    ("hangul", 0xAC00, 0xD7AF),
    ("kana", 0x3040, 0x30FF),
    ("han", 0x4E00, 0x9FFF),
)


def _script(text: str) -> str:
    counts: dict[str, int] = {}
    for ch in text:
        if ch.isalpha():
            code = ord(ch)
            name = next((n for n, lo, hi in _SCRIPTS if lo <= code <= hi), "other")
            counts[name] = counts.get(name, 0) + 1
    return max(counts, key=lambda k: counts[k]) if counts else ""


def _content_words(text: str) -> set[str]:
    """Content words of ``text`` for overlap tests: folded words of 3+ characters outside the lexicons, cut
    to 5 characters (a crude stem), plus numbers; CJK text contributes character bigrams."""
    out: set[str] = set()
    for word in _WORD.findall(fold(text)):
        if re.search(r"[\u3040-\u30ff\u3400-\u9fff\uac00-\ud7af]", word):
            out.update(word[i : i + 2] for i in range(len(word) - 1))
        elif re.fullmatch(r"\d+(?:[.,]\d+)?", word):
            out.add(word)
        elif len(word) >= 3 and word not in _FILLER and word not in _EN_FUNCTION and not _V_WORD.fullmatch(word):
            out.add(word[:5])
    return out


def _english_like(text: str) -> bool:
    words = [w for w in _WORD.findall(fold(text)) if w.isalpha()]
    return bool(words) and sum(w in _EN_FUNCTION for w in words) / len(words) >= 0.3


def _relevance(text: str, place: Place, reference: str) -> tuple[str, list[Finding]]:
    units = _units(text)
    if len(units) < 2 and place != "question":
        return text, []
    ref_words = _content_words(reference)
    kept: list[str] = []
    findings: list[Finding] = []
    main_script = _script(text)
    english = _english_like(text)
    interrogative_seen = False
    # content words per unit, counted once: a word is in the "others" of a unit when the reference or
    # another unit has it (linear in the text, however many units it has)
    unit_words = [_content_words(u) for u in units]
    total: dict[str, int] = {}
    for ws in unit_words:
        for w in ws:
            total[w] = total.get(w, 0) + 1
    for i, unit in enumerate(units):
        words = _WORD.findall(fold(unit))
        if not words or not any(ch.isalpha() for ch in unit):
            kept.append(unit)
            continue
        own = unit_words[i]
        short = len(words) <= _ASIDE_MAX_WORDS
        related = any(w in ref_words or total[w] > 1 for w in own)
        rule: str | None = None
        if place == "answer":
            if i > 0 and short and not (own & ref_words) and not (own & _content_words(units[0])):
                rule = "irrelevant-aside"
        elif place == "question":
            is_q = bool(re.search(r"[?？؟]", unit))
            if is_q and not interrogative_seen:
                interrogative_seen = True
            elif short and not (own & ref_words) and len(units) > 1:
                rule = "irrelevant-aside"
        else:
            foreign = _script(unit) != main_script or (
                main_script == "latin"
                and bool(re.search(r"[^\W\d_]", re.sub(r"[\x00-\x7f]", "", unicodedata.normalize("NFKC", unit))))
                and not _english_like(unit)
            )
            if short and not related and foreign and english:
                rule = "foreign-aside"
        if rule is None:
            kept.append(unit)
        else:
            findings.append(Finding(place, _REASONS[rule], rule, _excerpt(unit)))
    if not findings:
        return text, []
    cleaned = "".join(kept).strip()
    if not _has_content(fold(cleaned)):
        return text, []
    return cleaned, findings
