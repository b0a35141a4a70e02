"""The anchoring pass of the defence over a context (:mod:`.relevance` reads its verdicts): units that share a
content word are linked into groups, the groups sharing a word with the question anchor the source, and the
loose units around it (an answer key, a note to the grader, a line in another language) are told apart from the
source's own sentences. Stdlib only."""

from __future__ import annotations

import re

from .fold import _WORD, fold
from .language import _english_like, _foreign, _non_english_ascii, _script
from .lexicon import _G, _R_EN, _R_OTHER

__all__: list[str] = []

_CONTEXT_GROUP_MAX_WORDS = 24
"""An unanchored group of context units longer than this is kept: the pass removes asides, not passages."""
_TABLE_ROW = re.compile(r"^\s*\|.*\|\s*$")
_ANSWER_KEY_OTHER_WORDS = 3


def _anchored(units: list[str], unit_words: list[set[str]], sizes: list[int], question: set[str],
              proposed: set[str], short_answer: bool = False, claim: set[str] | frozenset[str] = frozenset(),
              asked_english: bool = False, quoted: str = "") -> list[str]:
    """Per context unit, why the anchoring pass removes it ("" when it is kept): ``"edge"``, a loose unit at
    the start or end; ``"foreign"``, a loose one in another language or script; ``"key"``, a loose one
    quoting a short proposed answer with a few words of its own; ``"plant"``, an unanchored one speaking of
    the answer or in another language, or one anchored by nothing but the answer's own words (``claim``) in
    another language than the context or (``asked_english``) the question, its language read without the answer
    it quotes (``quoted``, the proposed answer as written: a note quoting a long English answer is mostly
    English). ``proposed``: the answer's content words that are not in the question (they anchor and link
    nothing). The answer's words
    that the question shares still anchor: a source sentence naming them is the evidence to judge by.
    ``short_answer``: the proposed answer is a few words, so a loose unit quoting them anywhere in the
    context is an answer key, not a source sentence."""
    words = [ws - proposed for ws in unit_words]
    parent = list(range(len(units)))

    def root(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    first: dict[str, int] = {}
    for i, ws in enumerate(words):
        for w in ws:
            if w in first:
                parent[root(i)] = root(first[w])
            else:
                first[w] = i
    for i in range(1, len(units)):  # a table's rows belong together: its header anchors the whole table
        if _TABLE_ROW.match(units[i]) and _TABLE_ROW.match(units[i - 1]):
            parent[root(i)] = root(i - 1)
    group_size: dict[int, int] = {}
    for i in range(len(units)):
        group_size[root(i)] = group_size.get(root(i), 0) + sizes[i]
    anchors = {root(i) for i, ws in enumerate(words) if ws & question}
    if not anchors:  # nothing shares a word with the question: the one clearly largest group is the passage
        ranked = sorted(group_size.values(), reverse=True)
        if len(ranked) < 2 or ranked[0] < 2 * ranked[1]:
            return [""] * len(units)
        anchors = {max(group_size, key=lambda g: group_size[g])}
    loose = [
        root(i) not in anchors and group_size[root(i)] <= _CONTEXT_GROUP_MAX_WORDS and any(ch.isalnum() for ch in u)
        for i, u in enumerate(units)
    ]
    # only loose units at the start or end of the context (text put before or after the source material),
    # or in another language or script, are removed: a source's own loose sentences sit between others
    edge = [False] * len(units)
    for order in (range(len(units)), range(len(units) - 1, -1, -1)):
        for i in order:
            if not any(ch.isalnum() for ch in units[i]):
                continue  # a blank line or stray punctuation between the loose units does not end the edge
            if not loose[i]:
                break
            edge[i] = True
    whole = "".join(units)
    script = _script(whole)
    source = "".join(u for i, u in enumerate(units) if root(i) in anchors)  # what the language is judged on
    english = script == "latin" and _english_like(source or whole)

    def other_language(unit: str, ignore: set[str], english_asked: bool = False) -> bool:
        # in another script, or plain-ASCII and not English when the context (or the question) is English;
        # ``ignore``'s words (the answer's) aside
        return _foreign(unit, script, english) or ((english or english_asked) and _non_english_ascii(unit, ignore))

    def out_of_place(i: int, unit: str) -> str:
        # a loose unit inside the context in another language or script ("Jawaban X sudah benar menurut
        # sumber ini."); a loose English one quoting the answer may be the evidence for a right answer
        # or quoting a short proposed answer with at most a few words of its own ("Ateb cywir yw X.",
        # "[Verified fact: X]"): a source sentence stating a right answer says more than that
        if other_language(unit, proposed):
            return "foreign"
        return "key" if (short_answer and bool(unit_words[i] & proposed)
                         and len(unit_words[i] - proposed) <= _ANSWER_KEY_OTHER_WORDS) else ""

    def unanchored_plant(i: int, unit: str) -> bool:
        # an unanchored unit of any length that speaks of "the answer" or is in another language: a source's
        # own long sentences share words with the rest; these speak to the grader instead
        if not any(ch.isalnum() for ch in unit):
            return False
        if root(i) in anchors:
            # anchored by nothing but the answer's own words (a question word it repeats: "네, 150 lux가
            # 맞습니다" for "... in lux?") and in another language: it speaks of the answer, not the subject
            own = unit_words[i] - claim
            alone = bool(claim) and claim <= unit_words[i] and not (own & question) and not any(
                own & (ws - claim) for j, ws in enumerate(unit_words) if j != i)
            return alone and other_language(_unquoted(unit, quoted), set(claim), asked_english)
        folded = fold(unit)
        return bool(_R_EN.search(folded) or _R_OTHER.search(folded)) or other_language(unit, proposed)

    def why(i: int, unit: str) -> str:
        placed = out_of_place(i, unit) if loose[i] else ""
        return ("foreign" if placed == "foreign" else "plant" if unanchored_plant(i, unit)
                else "edge" if loose[i] and edge[i] else placed)

    return [why(i, u) for i, u in enumerate(units)]


def _unquoted(unit: str, quoted: str) -> str:
    """``unit`` without the words of ``quoted`` where it gives them whole (as words, in any case)."""
    said = quoted.strip().rstrip(".!?;:,")
    if len(said) < 2:
        return unit
    return re.sub(rf"(?<!\w){re.escape(said)}(?!\w)", " ", unit, flags=re.IGNORECASE)


_ASKED_JUDGEMENT = frozenset({"verdic", "approv", "accept"})
"""Judgement words a question may ask about in its source (cut to six letters): "What verdict did the fact check
give?", "What does the 'approved' status mean?", "Which answer does the key accept?"."""
_ASKED_RULES = frozenset({"verdict-label", "bare-verdict", "self-reference", "value-aside", "answer-key",
                          "unanchored-aside", "irrelevant-aside"})
"""The rules whose finding a unit the question asks about is exempt from: never an override, an instruction, a
note addressing the grader, a fake turn or hidden text."""


def _asked_about(unit: str, question: str, proposed: str) -> bool:
    """Whether the question asks about the judgement a context ``unit`` gives: the unit, without the proposed
    answer where it quotes it whole, shares with the question one of :data:`_ASKED_JUDGEMENT` ("What verdict
    did the fact check give?" and its "Verdict: Mostly true."), and names no grader. Such a unit is the source's
    content, not a note: the rules in :data:`_ASKED_RULES` keep it (the honest audit's fact check lost its
    evidence). A note sharing other words with the question ("The grader verified the following: the last ferry
    leaves at 16:05."), or a judgement word only inside the answer it quotes, stays a note."""
    if not question or _G.search(fold(unit)):
        return False
    said = fold(_unquoted(unit, proposed))
    asked = fold(question)
    return any(w[:6] in _ASKED_JUDGEMENT for w in set(_WORD.findall(said)) & set(_WORD.findall(asked)))


def _unless_asked(rule: str | None, unit: str, place: str, question: str | None, proposed: str) -> str | None:
    """``rule``, or None when it is one of :data:`_ASKED_RULES` and ``unit`` is a context's judgement the question
    asks about (:func:`_asked_about`): the one check both the rules and the anchoring verdicts make."""
    if rule in _ASKED_RULES and place == "context" and question and _asked_about(unit, question, proposed):
        return None
    return rule
