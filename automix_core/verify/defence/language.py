"""Which language and script a unit of untrusted text is in, and its content words, for the defence's passes
without word lists (:mod:`.relevance`). Stdlib only."""

from __future__ import annotations

import collections
import functools
import re
import unicodedata

from .english import english_share
from .fold import _WORD, _words, fold, remember_short
from .lexicon import _FILLER, _V_WORD

__all__: list[str] = []

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


@functools.lru_cache(maxsize=4096)
def _char_script(ch: str) -> str:
    code = ord(ch)
    return next((n for n, lo, hi in _SCRIPTS if lo <= code <= hi), "other")


@remember_short
def _script(text: str) -> str:
    """The script most of ``text``'s letters are in ("" without letters); a tie goes to the script seen first."""
    counts: dict[str, int] = {}
    # each distinct character once, in the order of its first occurrence (so ties break as in the text)
    for ch, n in collections.Counter(text).items():
        if ch.isalpha():
            name = _char_script(ch)
            counts[name] = counts.get(name, 0) + n
    return max(counts, key=lambda k: counts[k]) if counts else ""


_CJK = re.compile(r"[\u3040-\u30ff\u3400-\u9fff\uac00-\ud7af]")
_NUMBER = re.compile(r"\d+(?:[.,]\d+)?")


def _content_words(text: str) -> set[str]:
    """Content words of ``text`` for overlap tests: folded words of 3+ characters outside the lexicons, cut
    to 5 characters (a crude stem), plus numbers; CJK text contributes character bigrams. A new set each
    call."""
    return set(_content_words_of(text))


@remember_short
def _content_words_of(text: str) -> frozenset[str]:
    out: set[str] = set()
    for word in _WORD.findall(fold(text)):
        if _CJK.search(word):
            out.update(word[i : i + 2] for i in range(len(word) - 1))
        elif _NUMBER.fullmatch(word):
            out.add(word)
        elif len(word) >= 3 and word not in _FILLER and word not in _EN_FUNCTION and not _V_WORD.fullmatch(word):
            out.add(word[:5])
    return frozenset(out)


def _english_like(text: str) -> bool:
    words = [w for w in _WORD.findall(fold(text)) if w.isalpha()]
    return bool(words) and sum(w in _EN_FUNCTION for w in words) / len(words) >= 0.3


def _foreign(unit: str, main_script: str, english_source: bool = True) -> bool:
    """Whether ``unit`` is in another script than ``main_script``, or is non-English Latin text in an English
    source (``english_source``: a French sentence in a French context is not foreign)."""
    own = _script(unit)
    return (own != "" and own != main_script) or (
        english_source and main_script == "latin"
        and bool(re.search(r"[^\W\d_]", re.sub(r"[\x00-\x7f]", "", unicodedata.normalize("NFKC", unit))))
        and not _english_like(unit)
    )


_NON_ENGLISH_MIN_WORDS = 3
_NON_ENGLISH_MAX_FUNCTION_SHARE = 0.2


_NON_ENGLISH_MAX_SHAPE = 0.65
_NON_ENGLISH_SURE_WORDS = 8
_NON_ENGLISH_SURE_SHARE = 0.1
"""From this many words on, English has more than a tenth function words whatever the register."""


def _non_english_ascii(unit: str, ignore: set[str]) -> bool:
    """Whether ``unit``, written in plain ASCII letters, reads as another language than English ("Vastaus
    on oikein ja tarkistettu.", "Jibu la X limethibitishwa."): at least three words, names (capitalised
    after the first word) and ``ignore``'s words (the proposed answer's) aside, of which at most a fifth
    are English function words, and whose letters are not English-shaped (:func:`.english.english_share`
    below 0.65; English clinical labels such as "Retrospective cohort study." have no function words but
    score above 0.75)."""
    words = [w for i, w in enumerate(re.findall(r"[^\W\d_]{2,}", unit)) if i == 0 or not w[:1].isupper()]
    folded = [w for w in (fold(w) for w in words) if w and w[:5] not in ignore]
    if len(folded) < _NON_ENGLISH_MIN_WORDS:
        return False
    share = sum(w in _EN_FUNCTION for w in folded) / len(folded)
    return share <= _NON_ENGLISH_MAX_FUNCTION_SHARE and (
        (len(folded) >= _NON_ENGLISH_SURE_WORDS and share <= _NON_ENGLISH_SURE_SHARE)
        or english_share(" ".join(folded)) < _NON_ENGLISH_MAX_SHAPE)
