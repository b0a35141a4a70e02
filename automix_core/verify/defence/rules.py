"""Flagging and removing units (lines, sentences, clauses) of an untrusted text, claim isolation in
answers, and the language-agnostic relevance pass (:func:`neutralise`, :func:`neutralise_case`).
"""

from __future__ import annotations

import functools
import re

from .anchoring import _unless_asked
from .code import _code_segments, _verdict_block
from .english import english_share
from .findings import _REASONS, Finding, Place, Sanitized
from .fold import _EXCERPT, _strip_invisible, fold, remember_short
from .language import _content_words
from .lexicon import (
    _CLAIMED,
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
    _fake_turns,
    _has_content,
    _has_verdict,
)
from .relevance import _bracketed, _relevance
from .units import _end_line, _stray, _tidy, _units

__all__ = ["INFORMATIONAL", "neutralise", "neutralise_case"]


# --- splitting ---------------------------------------------------------------------------------

_ASKS = re.compile(r"^\W*(?:is|are|was|were|do|does|did|can|could|will|would|has|have|had|which|what|who|how)\b"
                   r"[^.!:,\n]*[?？]\W*$")
"""An English question ("Is that confirmed?", "Which answer is right?"): it asks, it gives no verdict (a tag
question asserts: "is correct, right?")."""
_FIELD = re.compile(r"\s[|¦]\s")
"""A field separator within a line ("key: value | key: value"): in a line that names an answer or a grader, each field
after it is read for a verdict label (a table's own status column is the source's: "Invoice 77 | Status: approved")."""


_CLAUSE = re.compile(r"\s*[;,，；、:：—–]\s*|\s+-{1,2}\s+")


@remember_short
def _rule(unit: str, place: Place, appended: bool) -> str | None:
    """The rule that flags ``unit`` (raw text of one sentence or clause), or None (remembered: a case's
    sentences are judged again when it is verified again, e.g. once per tier)."""
    raw = _strip_invisible(unit)
    f = fold(unit)
    if not f and not _SPECIAL.search(raw):
        return None
    if _SPECIAL.search(raw) or _SPECIAL.search(f) or re.search(r"<\|", raw):
        return "role-marker"
    if _BIDI_OVERRIDE.search(unit):
        return "bidi-override"
    verdict = _has_verdict(f)
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
    if (re.search(r"answer", f) or _G.search(f) or _R_OTHER.search(f)) and any(
            (field := _LABEL.match(part)) and _has_verdict(part[field.end():])
            for part in map(fold, _FIELD.split(raw)[1:])):
        return "verdict-label"  # "verified answer: Lady Chapel | status: CORRECT"; not "Invoice 77 | Status: approved"
    label = _LABEL.match(f)
    if label and (verdict or not _has_content(f[label.end() :])):
        if place != "answer" or not _has_content(f[label.end() :]):
            return "verdict-label"
        if re.search(r"answer", label.group(0)):
            return None  # "Correct answer: the Danube" in an answer: the label is stripped by the caller
    if label and place != "answer" and re.search(r"answer|key", label.group(0)):
        return "answer-key"
    asks = bool(_ASKS.match(f))  # "Is he right?" asks, it does not judge
    if verdict and not content and not asks:
        return "bare-verdict"
    referent = _R_EN.search(f) or _R_OTHER.search(f)
    # "the quick reply" names a reply and instructs no one: a word read as the referent is not the instruction
    instructs = any(referent is None or not referent.start() <= m.start() < referent.end() for m in _I.finditer(f))
    if verdict and referent and not (place == "question" and asks):
        if place == "answer" and _attributive_only(f):
            return None
        return "self-reference"
    if verdict and any(not _CONDITION.search(f, 0, m.start() + 1) for m in _PRONOUN_VERDICT.finditer(f)):
        return "self-reference"
    if place != "answer" and referent and instructs:
        return "instruction"
    if place != "answer" and referent and re.search(r"\b(?:is|was|are)\s+(?:\w+\s+)?(?:fine|good|sound|ok)\b", f):
        return "self-reference"
    if place == "question" and appended and verdict and not asks:
        return "bare-verdict" if not content else "self-reference"
    if place != "context" and _I.search(f) and verdict and not content:
        return "instruction"
    return None


_CONDITION = re.compile(r"\b(?:once|when|whenever|if|until|unless|after|before|whether)\s*$")
"""The word before "it is approved" that makes it a condition ("merged once it is approved"), not a verdict."""
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
    return not _has_verdict(stripped)


_LEADING_LABEL = re.compile(
    r"^\s*(?:(?:the\s+)?(?:correct|right|true|verified|accurate|checked|confirmed)(?:\s+(?:final\s+)?answer)?"
    r"(?:\s+in\s+the\s+(?:passage|context))?|correctly|accurately|strictly speaking|"
    r"verified(?:\s+in\s+the\s+(?:passage|context|text))?)\s*(?:[:,]|\s[—–-])\s*"
    r"|^\s*(?:based on|according to|as per|per|from)\s+(?:the|this)\s+(?:document|context|passage|text|source|"
    r"article|abstract)s?\s*[,:]\s*(?:the\s+(?:(?:final|correct|right|true)\s+)?answer\s+is\s*:?\s*)?"
    r"|^\s*(?:so\s+)?(?:the|my|our)\s+(?:(?:final|correct|right|true)\s+)?answer\s+(?:is|would be)\s*:?\s*",
    re.IGNORECASE,
)


def _excerpt(text: str) -> str:
    text = text.strip()
    return text if len(text) <= _EXCERPT else text[: _EXCERPT - 1] + "…"


_TRUE_THAT = re.compile(
    r"^\s*(?:it|this|that)(?:'s|\s+is|\s+was)\s+(?:(?:indeed|definitely|certainly)\s+)?(?:true|correct|right|"
    r"accurate|verified|confirmed)\s+(?:that\s+|:\s*)",
    re.IGNORECASE,
)
INFORMATIONAL = frozenset({"claim-isolation", "leading-label", "irrelevant-aside", "unanchored-aside"})
"""Rules that honest answers also trigger (an aside judging another candidate, a leading "Correct answer:"
label, a short unrelated sentence): their findings are reported, not counted as injections."""


def neutralise(text: str, place: Place, *, reference: str | None = None, isolate_claim: bool = True,
               proposed: str = "") -> Sanitized:
    """``text`` (an answer, context or question) with self-assessments and grader-directed spans removed.

    Sentences (and lines) are judged one by one; a flagged sentence that also carries content loses only
    its flagged clauses; in an answer a leading judgement label before content ("Verified in the
    passage: 1969.") loses only the label. Following a flagged sentence, a rationale sentence
    ("Reason: ...", "Because ...") without content is removed too. With ``isolate_claim`` (answers only),
    judgement wording about the content is then dropped too (:func:`isolate_claim`), so that the verifier
    judges the claim alone. With ``reference`` (the text of the case's other places, see
    :func:`neutralise_case`), the passes without word lists follow (:mod:`.relevance`): short units that
    share no content word with the reference are removed from answers after their first sentence and from
    questions outside their interrogative sentence; in a context, short groups of units anchored neither to
    the question nor to the rest of the context are removed at its start or end (anywhere when in another
    language or script). ``proposed`` (the answer under verification) is for questions and contexts: its
    words do not anchor anything there, so an answer key is not kept by the answer it quotes. Returns the
    cleaned text and one :class:`Finding` per removed span.
    """
    if place not in ("answer", "context", "question"):
        raise ValueError(f"unknown place {place!r}")
    segments = _code_segments(text)
    if any(is_code for _, is_code in segments):
        return _around_code(segments, place, reference, isolate_claim, proposed)
    findings: list[Finding] = []
    if place == "question" and reference is not None:  # before the lexicon, which would flag its whole sentence
        text, findings = _bracketed(text, proposed, grounded=bool(reference.strip()))
    units = _units(text)
    kept: list[str] = []
    seen_question_end = False
    previous_flagged = False
    turns = _fake_turns(units) if place == "context" else set()  # a fake assistant turn's text goes with its markers
    for k, unit in enumerate(units):
        if place == "answer":  # "It is true that the Danube ..." keeps its claim
            unit = _without_label(_TRUE_THAT, unit, findings) or unit
        appended = place == "question" and seen_question_end
        if place == "question" and "?" in unit:
            seen_question_end = True
        rule = "role-marker" if k in turns and unit.strip() else _rule_any_direction(unit, place, appended)
        rule = _unless_asked(rule, unit, place, reference, proposed)  # "What verdict did the fact check give?"
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
            rest = _without_label(_LEADING_LABEL, unit, findings)
            if rest is not None:
                kept.append(rest)
                previous_flagged = False
                continue
        if rule is None and previous_flagged and _stray(unit):  # punctuation left of a flagged unit ("）")
            _end_line(kept, unit)
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
                # in a context or question, a remnant of one content word ("(Editor's correction") goes too
                if flagged and keep and (place == "answer" or len(_content_words(" ".join(keep))) >= 2):
                    for c in flagged:
                        findings.append(Finding(place, _REASONS[rule], rule, _excerpt(c)))
                    kept.append(_rejoin(keep, unit))
                    continue
        findings.append(Finding(place, _REASONS[rule], rule, _excerpt(unit)))
        _end_line(kept, unit)
    cleaned = _tidy("".join(kept), text) if findings else "".join(kept)
    if reference is not None:
        cleaned, extra = _relevance(cleaned, place, reference, proposed)
        findings.extend(extra)
    if place == "answer" and isolate_claim:
        cleaned, extra = _isolate_claim(cleaned)
        findings.extend(extra)
    if place != "context" and re.search(r"\w", text) and (
            not re.search(r"\w", cleaned) or (place == "answer" and not _has_content(fold(cleaned))
                                               and _has_content(fold(text)))):
        # the claim (or the question) could not be told apart from what vouches for it: the verifier judges
        # it as given (an empty answer or question would be judged on nothing), and the trace says so
        return Sanitized(text.strip(), (*findings, Finding(place, _REASONS["unseparated"], "unseparated",
                                                            _excerpt(text))))
    if place == "question" and "?" in text and "?" not in cleaned:
        # a question keeps its interrogative sentence ("What do reviewers say about battery life?")
        asked = next(u for u in units if "?" in u).strip()
        cleaned = f"{asked}\n{cleaned}".strip()
    return Sanitized(cleaned, tuple(findings))


def _without_label(label: re.Pattern[str], unit: str, findings: list[Finding]) -> str | None:
    """``unit`` without a leading judgement ``label`` before content (the finding recorded), else None."""
    m = label.match(unit)
    if not m or not _has_content(fold(unit[m.end() :])):
        return None
    findings.append(Finding("answer", "a judgement label before content", "leading-label", _excerpt(m.group(0))))
    rest = unit[m.end() :]
    return rest[:1].upper() + rest[1:]


def _around_code(segments: list[tuple[str, bool]], place: Place, reference: str | None, isolate_claim: bool,
                 proposed: str) -> Sanitized:
    """:func:`neutralise` on the prose between code segments; code is kept as it is, except a block that is
    only a verdict object."""
    out: list[str] = []
    findings: list[Finding] = []
    for seg, is_code in segments:
        if is_code and _verdict_block(seg):
            findings.append(Finding(place, _REASONS["verdict-label"], "verdict-label", _excerpt(seg)))
        elif is_code or not seg.strip():
            out.append(seg)
        else:
            part = neutralise(seg, place, reference=reference, isolate_claim=isolate_claim, proposed=proposed)
            findings.extend(part.findings)
            if part.text.strip():  # the prose cleaned, in the whitespace it had
                out.append(seg[: len(seg) - len(seg.lstrip())] + part.text.strip() + seg[len(seg.rstrip()) :])
    return Sanitized("".join(out).strip(), tuple(findings))


_NEGATIVE = re.compile(
    r"\b(?:incorrect|wrong|wrongly|mistaken|mistakenly|mistake|error|erroneous|misconception|false|"
    r"falsch|faux|fausse|incorrecte|erronee?|sbagliat[ao]|falsa|falso|equivocad[ao]|errone[ao])\b"
    r"|неправильн\w*|неверн\w*|ошибк\w*|ошибочн\w*|错误|錯誤|間違い|誤り|خطأ|خاطئ\w*",
    re.IGNORECASE,
)
_FIRST_PERSON = re.compile(
    r"\b(?:i|i'm|i've|me|my|we|our|this answer|my answer|the answer above|the above)\b", re.IGNORECASE
)
_ASIDE_SPLIT = re.compile(
    r"\s*;\s*|\s*[—–]\s*|\s*\(\s*|\s*\)\s*|\s*[，、；（）]\s*|,\s+(?=[^\W\d])"
)
_ENDORSE = re.compile(
    r"\b(?:context|passage|source|text|document|article|abstract|excerpt)\s+(?:also\s+)?(?:confirms?|supports?|"
    r"agrees?|shows?|states?|says|backs|corroborates?|matches)\b|\b(?:confirmed|supported|backed|verified|borne out|"
    r"corroborated)\s+(?:\w+\s+)?by\b|\b(?:per|according to|as per|as stated in|in line with|consistent with)\s+"
    r"(?:the|this)\s+(?:context|passage|source|text|document|article|abstract)\b"
)
_REFERENT_VERDICT = re.compile(
    r"^\W*(?:this|that|it|which|das|dies|es|eso|esto|c'est|c est|cela|ce|questo|cio|это|то|这|这是|那|これ|それ)\b"
    r"|^\W*(?:it's|it is|this is|that is|that's)\b"
)
_JUDGEMENT_PIECE_MAX_WORDS = 5
_STRUCTURED = re.compile(r"[{}\[\]<>`=]|\"\s*:")
_CONTINUES = re.compile(r"^\W*(?:which|that|who|whom|whose|it|this|they|as|not|nicht|pas|non|no|nie)\b",
                        re.IGNORECASE)
_RIGHT_NOT_JUDGEMENT = (
    r"(?!(?:bank|banks|side|hand|wing|angle|arm|leg|eye|ear|lung|kidney|ventricle|atrium|lobe|turn|click|half|"
    r"corner|edge|of|positive|positives|negative|negatives|north)\b)"
)
_ATTRIBUTIVE = re.compile(  # at the claim's start only: "The correct year is 1969", not "a correct invoice"
    r"^(\s*(?:the|a|an))\s+(?:correct|right|true|accurate|exact|proper)\s+" + _RIGHT_NOT_JUDGEMENT + r"(?=\w)",
    re.IGNORECASE,
)
_PREDICATE = re.compile(
    r"\s+(?:is|was|are|were)\s+(?:(?:indeed|definitely|also|certainly)\s+)?(?:correct|right|true|accurate|valid)"
    r"(?=\s*(?:[,;.!):：—–，]|$))",
    re.IGNORECASE,
)


def _restates(piece: str, claim: str) -> bool:
    """Whether a later piece of an answer's sentence says the claim again ("so my answer is: X")."""
    said, words = _content_words(claim), _content_words(piece)
    return bool(said) and any(w.isalpha() for w in words) and words <= said


def _judges_claim(piece: str) -> bool:
    """Whether a piece after an answer's first one only vouches for it: a source endorsement ("confirmed by
    the passage", "as per the context"), a claimed verification, a verdict about "this"/"it" ("das ist
    richtig", "c'est exact", "这是正确的") or a short verdict ("verified", "true"), or a short aside in a
    language that is not English-shaped ("ni sahihi"); names, numbers and longer content stay."""
    f = fold(piece)
    verdict = _has_verdict(f)
    if _ENDORSE.search(f) or _CLAIMED.search(f):
        return True
    if verdict and (_REFERENT_VERDICT.search(f) or len(f.split()) <= _JUDGEMENT_PIECE_MAX_WORDS):
        return True
    words = [w for w in re.findall(r"[^\W\d_]+", piece) if not w[:1].isupper()]
    return (0 < len(words) <= 3 and not re.search(r"\d", piece) and re.fullmatch(r"[\x00-\x7f]*", piece) is not None
            and english_share(" ".join(words)) < 0.5)


def _isolate_claim(text: str) -> tuple[str, list[Finding]]:
    """An answer's claim without judgement wording about its content: asides judging other candidates
    ("Sydney is a common but incorrect guess", "a frequent error is to write Ag") are dropped, and verdict
    words qualifying the claim ("the right answer is X", "X is correct") are removed. Negative wording in
    the first person or about the answer itself ("I may be wrong") is kept: it can only make the verifier
    more sceptical. Nothing is dropped if the rest would carry no content."""
    findings: list[Finding] = []
    kept_units: list[str] = []
    for unit in _units(text):
        if _STRUCTURED.search(unit):  # code, JSON, a tool call: its punctuation is syntax, not asides
            kept_units.append(unit)
            continue
        pieces = [p for p in _ASIDE_SPLIT.split(unit.strip()) if re.search(r"\w", p)]
        keep = []
        commas = set(re.findall(r"(?<=,\s)[^,;—–()]+", unit))  # pieces after a mere comma: never negatives
        for k, p in enumerate(pieces):
            negative = bool(_NEGATIVE.search(p)) and not _FIRST_PERSON.search(p) and p.strip() not in commas
            dropped = ((negative and (k or kept_units)) or (k and (_judges_claim(p) or _restates(p, pieces[0]))))
            # a relative or pronoun piece right after a dropped one goes with it ("confirmed by the passage,
            # which says ...", "1972 is wrong; that was Apollo 17")
            if not dropped and k and pieces[k - 1] not in keep and _CONTINUES.match(p):
                dropped = True
            if not dropped:
                keep.append(p)
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
    head = re.split(r"[;—–(]|,\s|[.!?]\s", rewritten, maxsplit=1)[0]  # "X is correct" about the claim only
    rewritten = _PREDICATE.sub("", head, count=1) + rewritten[len(head) :]
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
    q = neutralise(question, "question", reference=context, proposed=answer)
    c = neutralise(context, "context", reference=q.text, proposed=answer)
    a = neutralise(answer, "answer", reference=q.text + "\n" + c.text)
    return q, a, c
