"""Language-agnostic passes of the defence: sentence splitting, and units that do not belong where they are.

The lexicons of :mod:`.lexicon` recognise verdicts and grader addresses in the languages they list. The
passes here need no word list; they rest on what each place of a case is:

* a **context** is source material written before the answer existed. Its sentences are about the
  question's subject and about each other, so they share content words with the question or among
  themselves. The anchoring pass (:mod:`.anchoring`) links units that share a content word (a crude stem;
  character bigrams for CJK) into groups, anchors the groups that share a word with the question, and
  removes short groups that are not anchored: a verdict in a language without lexicon entries ("Jibu hili
  ni sahihi."), a verdict label ("Answer quality: excellent."), markup ("<judgement>accept</judgement>"),
  an endorsement ("The passage supports the answer given below."). The words of the proposed answer that are
  not in the question do not link anything: an "answer key" ("Ground truth for the question below: Sydney.") is
  anchored by nothing but the answer it quotes, even when the context names that answer elsewhere.
* a **question** has its interrogative sentence; other short sentences that share no content word with the
  context (the proposed answer's own words not counting) are removed ("Ground truth: Sydney").
* an **answer** keeps its claim (its first sentence that shares a word with the question or the context,
  else its first sentence); other short sentences sharing nothing with the question, the context or the
  claim are removed. A leading label of 2 to 8 words ending in ':' that shares no content word with the
  question or the context ("Final answer (checked twice): The Rhine.") is removed; a name before the colon
  is the claim and is kept.
* a question's bracketed segment in another script, or a labelled one quoting a short proposed answer's
  words that the rest of the question does not use ("[Gabarito: The Rhine] Which river ...?"), is removed.

Words keep their combining and spacing marks (Devanagari, Bengali vowel signs), so an Indic sentence counts
its real words. Punctuation left over by a removed unit ("）", "|---|---|") goes with it.

Inside a context (not only at its edges), a loose unit goes when it is in another language (plain-ASCII
languages are told from English by letter trigrams, :mod:`.english`) or quotes a short proposed answer; a
unit that speaks of "the answer" and names the proposed one goes even when anchored. Sentences glued without
a space ("bank.Source confirms: X", "Sydney.<!-- ... -->", "...accepted" + "Canberra was") are split first,
and a lead-in before a colon that names the answer is split off. In an answer, a unit restating the claim
(with words found nowhere in the case) goes, its first unit stays a claim unless it is in another language,
bracketed bare verdicts go, and code is left whole.

A removed unit is informational (it does not call for the verifier's second verdict) unless it is a note:
one that gives all of a short proposed answer's words and something of its own, when it is in another
language, speaks of the answer, or sits before or after the source and speaks as a note would (a verdict
word, a grader, a chat role, a check mark) is a ``value-aside``; a unit in another language that only the
answer's words anchor counts as loose, its language read without the answer it quotes (a note quoting
a long English answer is mostly English), and such a note quoting the whole answer is a ``value-aside`` at
any answer length. In a question with a context, a short unit in another language giving the whole answer
is a foreign aside and a labelled bracket quoting it an answer key. What is left keeps the lines and
paragraphs it had (:func:`.units._tidy`): the second verdict reads the rest byte for byte.

A removed unit costs little when it was honest: it shares no content with the question or the rest of the
text, so it carries nothing the verifier needs to judge the answer.
"""

from __future__ import annotations

import re

from .anchoring import _anchored, _unless_asked
from .findings import _REASONS, Finding, Place
from .fold import _EXCERPT, _WORD, fold
from .language import _content_words, _english_like, _foreign, _non_english_ascii, _script
from .lexicon import _G, _R_EN, _R_OTHER, _ROLE_LINE, _V_WORD, _has_content, _has_verdict
from .units import _GLUED_MIN_WORDS, _end_line, _stray, _tidy, _units

__all__: list[str] = []

def _excerpt(text: str) -> str:
    text = text.strip()
    return text if len(text) <= _EXCERPT else text[: _EXCERPT - 1] + "…"


_ASIDE_MAX_WORDS = 14
_SYMBOLS = frozenset({"%", "/", "+"})
_META = re.compile(
    r"\b(?:passage|context|source|text|document|question|answer|response|reply|grader|reviewer|evaluator|"
    r"checker|verifier|judge|model|ai|assistant|checked|verified|confirmed|validated|accurate|correct|right|"
    r"true|sure|confident|certain|certainly|definitely|guarantee|trust|reliable|aligns?|matches|supports?|"
    r"consistent|agrees?|approved|accepted|score|grade|verdict|rating|confidence|confirms?|check|checks|"
    r"result|status|contradictions?|doubt|cited|citation|thanks?|hope|helps)\b|[✅✔☑]"
)
"""What an answer's aside says when it speaks about the answer, the source or its own certainty (English; an
aside in another language is judged by its language)."""
_SHORT_ANSWER_UNITS = 3
_INSIDE = r"(?<=\d),\d{3}(?!\d)|(?<=\d)/\d{1,2}/\d{4}\b|(?:(?<=/\d)|(?<=/\d\d))/\d{4}\b"
"""A thousands separator ("1,000") or a date's slash ("25/11/2025"): inside a value, no separator of options."""
_SEP = rf"(?:(?!{_INSIDE})[,/]|[;|]|\bor\b)"
_OPTIONS = re.compile(rf"\w(?:(?!{_SEP}).){{0,30}}{_SEP}(?:(?!{_SEP}).){{0,30}}{_SEP}|^\W*\(?[a-h\d][.)]\s")
"""Three or more options in a list ("yes, no or maybe", "A / B / C") or one of a question's lettered or
numbered options ("B. Mars"): a task's own text, not an answer key. A thousands separator ("1,000") or a date's
slash ("25/11/2025") separates nothing (blind24: "... it says 1,000 points; just confirm." read as a list of
options); "7/14/30", "1,2 or 3" are options."""
_SHORT_ANSWER_WORDS = 4
"""A question's unit that quotes a proposed answer of at most this many content words is anchored by none
of them ("Ground truth: 36 eggs" for the question "How many eggs ...?")."""


_LABEL_HEAD = re.compile(r"^\s*([^:：\n.!?。！？\u0964]{1,80}?)\s*[:：]\s+(?=\S)")
_LABEL_MAX_WORDS = 8


def _leading_label(text: str, ref_words: set[str]) -> tuple[str, list[Finding]]:
    """An answer's leading label ("Final answer (checked twice): The Rhine.", in any language) removed: a
    segment of 2 to 8 words ending in ':' before the claim, sharing no content word with the question or the
    context. A name is the claim, not a label ("Charlotte Brontë: she wrote it"): a segment with a capitalised
    word after its first is kept, and so is a one-word head ("Canberra: ...", "Answer: ...")."""
    m = _LABEL_HEAD.match(text)
    if not m:
        return text, []
    label, rest = m.group(1), text[m.end() :]
    letters = re.findall(r"[^\W\d_]+", label)
    if (not 2 <= len(_WORD.findall(fold(label))) <= _LABEL_MAX_WORDS or _content_words(label) & ref_words
            or any(w[:1].isupper() for w in letters[1:]) or not _has_content(fold(rest))):
        return text, []
    return rest[:1].upper() + rest[1:], [Finding("answer", "a label before the claim", "leading-label",
                                                 _excerpt(m.group(0)))]


_CODE = re.compile(
    r"```|^(?: {2,}|\t)\S|[{};]\s*$|^\s*(?:def|class|return|import|from|function|const|let|var|public|private|"
    r"#include|SELECT|if|for|while)\b.*[(:{=]",
    re.MULTILINE,
)
"""An answer that is (or holds) code: fenced, indented lines, lines ending in a brace or semicolon, or a
line opening with a keyword."""


def _empty_brackets(text: str) -> tuple[str, list[Finding]]:
    """An answer's bracketed segments that say nothing but a verdict or a check ("(double-checked) The
    Rhine.", "Sydney [verified]") removed; "(not Sydney)" or "(1969)" carry content and stay."""
    findings: list[Finding] = []
    for m in reversed(list(_BRACKETED.finditer(text))):
        rest = (text[: m.start()] + " " + text[m.end() :]).strip()
        seg = fold(m.group(1))
        if _has_content(seg) or not _has_content(fold(rest)) or not (_V_WORD.search(seg) or "check" in seg):
            continue
        findings.append(Finding("answer", _REASONS["bare-verdict"], "bare-verdict", _excerpt(m.group(0))))
        text = re.sub(r"[ \t]{2,}", " ", rest)
        text = re.sub(r"\s+([.,;:!?])", r"\1", text)
    return text, findings[::-1]


_BRACKETED = re.compile(r"\s*[(\[（【]([^()\[\]（）【】\n]{1,200})[)\]）】]")


def _bracketed(text: str, proposed: str, grounded: bool = False) -> tuple[str, list[Finding]]:
    """A question's bracketed segments that are not part of it removed: one in another script than the rest
    ("(পরীক্ষক: ...)"), or a labelled one quoting a short proposed answer's words that the rest of the
    question does not use ("[Gabarito: The Rhine] Which river ...?"; "(Danube or Rhine)" is kept)."""
    answer_words = _content_words(proposed)
    findings: list[Finding] = []
    for m in reversed(list(_BRACKETED.finditer(text))):
        seg, rest = m.group(1), text[: m.start()] + " " + text[m.end() :]
        seg_words, rest_words = _content_words(seg), _content_words(rest)
        if not re.search(r"[?？؟]", rest) or seg_words & rest_words:
            continue
        if not _has_content(fold(seg)) and _V_WORD.search(fold(seg)):  # "[label=correct]": a bare verdict
            findings.append(Finding("question", _REASONS["bare-verdict"], "bare-verdict", _excerpt(m.group(0))))
            text = re.sub(r"[ \t]{2,}", " ", (text[: m.start()] + " " + text[m.end() :]).strip())
            continue
        foreign = _script(seg) not in ("", _script(rest)) and len(_WORD.findall(fold(seg))) >= 3
        quoting = (len(answer_words) <= _SHORT_ANSWER_WORDS and bool(seg_words & answer_words)
                   and bool(re.search(r"[:：=]", seg)) and len(seg_words - answer_words) <= 2)
        if foreign or quoting:
            # with a context, the source is there: a label quoting the answer in the question is an answer key (a
            # detection); without one it may be the user's own evidence ("(Card says: 24 months)"), an aside
            rule = "foreign-aside" if foreign else "answer-key" if grounded else "irrelevant-aside"
            findings.append(Finding("question", _REASONS[rule], rule, _excerpt(m.group(0))))
            text = (text[: m.start()] + " " + text[m.end() :]).strip()
            text = re.sub(r"[ \t]{2,}", " ", text)
    return text, findings[::-1]


def _relevance(text: str, place: Place, reference: str, proposed: str = "") -> tuple[str, list[Finding]]:
    """Units of ``text`` that do not belong in ``place`` removed (see the module docs); ``reference`` is the
    text of the case's other places, ``proposed`` the answer under verification (for a question or a
    context: its words that are not in ``reference`` link nothing)."""
    ref_words = _content_words(reference)
    pre: list[Finding] = []
    if place == "answer" and _CODE.search(text):
        return text, []  # code: its lines are not sentences; a line sharing no word with the question is no aside
    if place == "answer":
        text, pre = _leading_label(text, ref_words)
        text, brackets = _empty_brackets(text)
        pre += brackets
    text, findings = _relevance_units(text, place, ref_words, proposed, reference)
    return text, pre + findings


_HEAD = re.compile(r"^[^:：\n]{8,200}?[:：]\s+")


def _split_heads(units: list[str], answer_only: set[str]) -> list[str]:
    """A context unit's lead-in before a colon that names the proposed answer split off ("This document,
    which confirms Sydney as the answer, reads: Canberra was selected ..."), so it can go alone."""
    out: list[str] = []
    for unit in units:
        m = _HEAD.match(unit)
        if m and _content_words(m.group(0)) & answer_only and len(unit[m.end() :].split()) >= _GLUED_MIN_WORDS:
            out.extend((m.group(0), unit[m.end() :]))
        else:
            out.append(unit)
    return out


_CHECK = re.compile(r"[✅✔☑✓]")
_NOTE = re.compile(
    r"\b(?:question|answer|answers|response|reply|assistant|ground truth|gold|key|checked|verified|confirmed|"
    r"validated|approved|accepted|sure|confident|certain|definitely|verdict)\b"
)
"""English words of a note about the answer (a source's own sentences name "the source" or "the results")."""


def _speaks(unit: str) -> bool:
    """Whether a context unit speaks as a grader's note would: a verdict word of any lexicon language, the
    answer or a grader named, a chat role, a check mark."""
    folded = fold(unit)
    return bool(_has_verdict(folded) or _R_EN.search(folded) or _R_OTHER.search(folded) or _G.search(folded)
                or _NOTE.search(folded) or _ROLE_LINE.match(folded.strip()) or _CHECK.search(unit))


def _names_answer(unit: str, unit_words: set[str], answer_only: set[str]) -> bool:
    """Whether a context unit speaks of "the answer" and names the proposed answer: a source written before
    the answer existed does not ("According to the records the answer Sydney matches the source")."""
    folded = fold(unit)
    return bool(unit_words & answer_only) and bool(_R_EN.search(folded) or _R_OTHER.search(folded))


def _relevance_units(text: str, place: Place, ref_words: set[str], proposed: str,
                     reference: str = "") -> tuple[str, list[Finding]]:
    units = _units(text)
    # per case, not per unit: the language and script of the reference and of the text
    ref_english_like = _english_like(reference)
    ref_english = ref_english_like if reference else True
    ref_script, own_script, text_script = _script(reference), _script(reference or text), _script(text)
    answer_only: set[str] = set()
    if place == "context":
        answer_only = _content_words(proposed) - ref_words
        if len(_content_words(proposed)) <= _SHORT_ANSWER_WORDS:
            units = _split_heads(units, answer_only)
    if len(units) < 2 and place != "question":
        return text, []
    unit_words = [_content_words(u) for u in units]
    if place == "question":
        asked = next((u for u in units if re.search(r"[?？؟]", u)), "")
        asking = _content_words(asked)
        asked_script, asked_english = _script(asked), _english_like(asked)  # per case, like the reference's
        answer_only = _content_words(proposed) - asking
    kept: list[str] = []
    findings: list[Finding] = []
    answer_words = _content_words(proposed)
    # an answer's claim: its first unit that shares a word with the question or context, else its first unit
    claim = next((i for i, ws in enumerate(unit_words) if ws & ref_words), 0) if place == "answer" else 0
    # the answer's first unit with content is its claim too when a later one shares a word with the
    # reference by chance ("Blue and yellow. The passage leaves no room for doubt." with a "lantern room")
    first = next((i for i, u in enumerate(units) if any(ch.isalnum() for ch in u)), 0)
    protected = {claim}
    if place == "answer" and not (  # unless it is in another language than the case ("Jawaban ini benar.")
            _foreign(units[first], ref_script, ref_english)
            or (ref_english_like and _non_english_ascii(units[first], answer_words))):
        protected.add(first)
    unit_tokens = [_WORD.findall(fold(u)) for u in units]
    content_units = sum(1 for u in units if any(ch.isalnum() for ch in u))
    removed = (_anchored(units, unit_words, [len(t) for t in unit_tokens], ref_words, answer_only,
                              len(answer_words) <= _SHORT_ANSWER_WORDS, answer_words, ref_english_like, proposed)
                    if place == "context" else [])
    answer_tokens = _WORD.findall(fold(proposed))
    answer_token_set = set(answer_tokens)
    quotes = [bool(answer_words) and answer_words <= ws and bool(set(t) - answer_token_set or _CHECK.search(u))
              for ws, t, u in zip(unit_words, unit_tokens, units)] if place == "context" else []
    gives = [q and len(answer_words) <= _SHORT_ANSWER_WORDS for q in quotes]  # the value and something of its own
    interrogative_seen = False
    removed_before = False
    for i, unit in enumerate(units):
        words = unit_tokens[i]
        if not words or not any(ch.isalnum() for ch in unit):
            if not (removed_before and _stray(unit)):  # punctuation left of a removed unit goes with it
                kept.append(unit)
                removed_before = False
            continue
        quoting = place == "question" and len(answer_words) <= _SHORT_ANSWER_WORDS and bool(unit_words[i] & answer_only)
        own = unit_words[i] - (answer_words if quoting else answer_only)
        short = sum(w not in _SYMBOLS for w in words) <= _ASIDE_MAX_WORDS  # "100%" is one word
        rule: str | None = None
        if place == "answer":
            # an aside of any length in another language than the question and context is not the claim
            other_language = not short and bool(reference) and (
                _foreign(unit, ref_script, ref_english)
                or (ref_english_like and _non_english_ascii(unit, answer_words & unit_words[claim])))
            # a short unit restating the claim's words, alone or with words found nowhere in the question or
            # context ("Final answer: X (verified).", "To restate clearly: the answer is X") adds nothing
            said, ws = unit_words[claim] | unit_words[first], unit_words[i]
            restated = (i not in protected and short and bool(ws) and bool(said)
                        and (ws <= said or (said <= ws and not (ws - said) & ref_words)))
            # a short answer's extra sentence needs no sign (it is where plants are appended) unless it is a
            # list item or a calculation; in a longer answer it must speak about the answer, the source or its
            # certainty, be in another language, or be a short remark without numbers
            plain = not re.match(r"^\s*(?:\d{1,2}[.)]|[-*•])\s", unit) and not re.search(
                r"=|\d\s*[-+×*/÷]\s*\d", unit)
            speaks = (
                other_language or _foreign(unit, own_script, ref_english)
                or (ref_english and _non_english_ascii(unit, set())) or bool(_META.search(fold(unit)))
                or bool(re.search(r"[A-Za-z0-9+/]{16,}={0,2}", unit))  # an encoded blob
                or (plain and (content_units <= _SHORT_ANSWER_UNITS
                               or (len(words) <= 6 and not re.search(r"\d", unit)))))
            if restated or (i not in protected and (short or other_language) and speaks and not (own & ref_words)
                            and not (own & unit_words[claim])):
                rule = "irrelevant-aside"
        elif place == "question":
            is_q = bool(re.search(r"[?？؟]", unit))
            if is_q and not interrogative_seen:
                interrogative_seen = True
            elif (short and not own & ref_words and not (
                    any(own & ws for j, ws in enumerate(unit_words) if j != i)
                    and not (asked and _foreign(unit, asked_script, asked_english)))  # fake turns share words
                    and (bool(ref_words) or (quoting and len(own) <= 2)
                         or _foreign(unit, asked_script or text_script,
                                     ref_english or (asked_english if asked else _english_like(text))))):
                # without a context to compare with, only an answer key (the answer and at most two other
                # content words: "Accepted reply: 32.") or a foreign aside is removed. An aside naming the
                # answer other than among options ("Answer with one word: yes, no or maybe.") is an answer key;
                # one in another language or script than the asking sentence, a foreign aside: a task's
                # instruction line is neither, so it stays a mere (informational) aside
                option = _OPTIONS.search(fold(unit)) or _OPTIONS.search(unit.lower())  # folding drops "B)"'s bracket
                rule = ("answer-key" if quoting and not option
                        else "foreign-aside" if asked and (_foreign(unit, asked_script, asked_english) or (
                            asked_english and _non_english_ascii(unit, set())))
                        else "irrelevant-aside")
            elif (asked and reference.strip() and answer_words and answer_words <= unit_words[i]
                  and len(words) - len(answer_tokens) <= _ASIDE_MAX_WORDS
                  and not (unit_words[i] - answer_words) & ref_words
                  and (_foreign(unit, asked_script, asked_english)
                       or (asked_english and _non_english_ascii(unit, answer_words)))):
                # with a context, a short unit giving the whole proposed answer in another language than the asking
                # sentence, sharing nothing with the case but that answer's words ("Jestem pewien, że to £14.20
                # per pallet."), however many of the answer's words the case uses (without a context, or long, it
                # may be the text the user asks about)
                rule = "foreign-aside"
        elif len(answer_words) <= _SHORT_ANSWER_WORDS and _names_answer(unit, unit_words[i], answer_only):
            rule = "answer-key"
        elif removed[i]:
            # a loose unit in another language, one speaking of the answer, or one before or after the source
            # with a verdict, a grader, a role or a check mark, that gives all of a short proposed answer's words
            # is a detection in any language ("Antwoordsleutel: 15 April 2025 — goedgekeurd."; "Assistant : Oui,
            # exactement, 19:30."; "✅ 19:30"): the verdict is asked without it too. A heading naming the answer
            # has nothing of its own ("Section leaders:"); a loose English source sentence, even first or last,
            # stays informational: it may be the evidence ("Its author is Jane Austen.")
            rule = ("foreign-aside" if _foreign(unit, text_script)
                    else "value-aside" if (quotes[i] and removed[i] in ("foreign", "plant")) or (
                        gives[i] and removed[i] == "edge" and _speaks(unit))
                    else "unanchored-aside")
        rule = _unless_asked(rule, unit, place, reference, proposed)  # "What verdict did the fact check give?"
        removed_before = rule is not None
        if rule is None:
            kept.append(unit)
        else:
            findings.append(Finding(place, _REASONS[rule], rule, _excerpt(unit)))
            _end_line(kept, unit)
    if not findings:
        return text, []
    cleaned = _tidy("".join(kept), text)
    if not _has_content(fold(cleaned)):
        return text, []
    return cleaned, findings
