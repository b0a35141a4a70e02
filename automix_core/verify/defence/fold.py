"""The detection copy of a text: Unicode, look-alike, leet, spacing and markup tricks undone (see :func:`fold`).
"""

from __future__ import annotations

import functools
import re
import unicodedata
from collections.abc import Callable
from typing import Concatenate, ParamSpec, TypeVar, cast

__all__ = ["KNOWN_WORDS", "fold"]


_EXCERPT = 160

# --- folding -----------------------------------------------------------------------------------

_CONFUSABLES = str.maketrans(
    {
        "а": "a",
        "в": "b",
        "с": "c",
        "е": "e",
        "ё": "e",
        "һ": "h",
        "і": "i",
        "ї": "i",
        "ј": "j",
        "к": "k",
        "м": "m",
        "н": "h",
        "о": "o",
        "р": "p",
        "г": "r",
        "ѕ": "s",
        "т": "t",
        "у": "y",
        "х": "x",
        "ԁ": "d",
        "ԛ": "q",
        "ԝ": "w",
        "ӏ": "l",
        "ɡ": "g",
        "ν": "v",
        "ο": "o",
        "ρ": "p",
        "τ": "t",
        "ε": "e",
        "α": "a",
        "ι": "i",
        "κ": "k",
        "χ": "x",
        "υ": "u",
        "ϲ": "c",
        "ѵ": "v",
        "ʀ": "r",
        "ᴄ": "c",
        "ᴏ": "o",
        "ᴇ": "e",
        "ᴛ": "t",
        "ɪ": "i",
        "ı": "i",
        "ҽ": "e",
        "є": "e",
    }
)
_LEET = str.maketrans({"0": "o", "1": "i", "3": "e", "4": "a", "5": "s", "7": "t", "@": "a", "$": "s", "!": "i"})
_VERDICT_EMOJI = re.compile("[\u2705\u2714\u2713\u2611\U0001f44d\U0001f197\U0001f4af\u2611\U0001f7e2]")
_SEPARATED = re.compile(r"(?<![^\W\d_])((?:[^\W\d_][ .\-_·*|/]){2,}[^\W\d_])(?![^\W\d_])")
_TAG = re.compile(r"</?\s*([a-zA-Z_][\w:-]*)[^<>]*>")
_MARKUP = re.compile(r"[*_`#~>|\[\]{}\"“”«»„'’()（）【】「」『』<>=]")
_MARKS = "".join(
    chr(c) for c in range(0x300, 0x10000) if unicodedata.category(chr(c)) in ("Mn", "Mc") and not 0xD800 <= c <= 0xDFFF
)
"""Combining and spacing marks: inside a word (the vowel signs of Devanagari, Bengali, Thai ...), not word breaks."""
_W = rf"[^\W_](?:[^\W_]|[{re.escape(_MARKS)}])*"
_WORD = re.compile(rf"{_W}(?:[-']{_W})*|[%/+]", re.UNICODE)
_MIXED = re.compile(r"[a-z]")


_ASCII_CONTROLS = {c: " " for c in (*range(0x20), 0x7F) if chr(c) not in "\n\t"}
"""An ASCII text's only change (NFKD and NFKC leave ASCII as it is; its only category to drop or replace is Cc)."""


def _strip_invisible(text: str) -> str:
    if text.isascii():
        return text.translate(_ASCII_CONTROLS)
    out: list[str] = []
    for ch in unicodedata.normalize("NFKD", text):
        cat = unicodedata.category(ch)
        if cat in ("Cf", "Me", "Cs", "Co"):
            continue
        if cat == "Mn":
            code = ord(ch)
            base = ord(out[-1][-1]) if out and out[-1] else 0
            if (
                0x300 <= code <= 0x36F
                or 0x64B <= code <= 0x65F
                or code == 0x670
                or base < 0x530
                or 0x1AB0 <= code <= 0x1DFF
                or 0x20D0 <= code <= 0x20FF
                or 0xFE20 <= code <= 0xFE2F
            ):
                continue  # diacritics on Latin/Greek/Cyrillic letters and Arabic vowel marks; kana marks are kept
        if cat == "Cc" and ch not in "\n\t":
            out.append(" ")
            continue
        out.append(ch)
    return unicodedata.normalize("NFKC", "".join(out))


KNOWN_WORDS: set[str] = set()
"""English words a token written wholly in look-alike letters may stand for (filled by :mod:`.lexicon`,
which builds its word lists with :func:`fold`)."""


_ASCII_WORD = re.compile(r"[a-z0-9]+")
_LEET_MARK = re.compile(r"[0-9@$!]")
_ORDINAL = re.compile(r"\d+(?:st|nd|rd|th|s)")
_TOKEN_WORD = re.compile(r"[^\W_]+(?:[0-9@$!]+[^\W_]*)*")
_SEPARATORS = re.compile(r"[ .\-_·*|/]")
_SPACES = re.compile(r"(\s+)")
_SPACE_RUN = re.compile(r"\s+")


def _fold_word(word: str) -> str:
    if not word.isascii():
        mapped = word.translate(_CONFUSABLES)
        if mapped != word and _ASCII_WORD.fullmatch(mapped) and (_MIXED.search(word) or mapped in KNOWN_WORDS):
            word = mapped
    if _MIXED.search(word) and _LEET_MARK.search(word) and not _ORDINAL.fullmatch(word):
        word = word.translate(_LEET)
    return word


def _fold_token(token: str) -> str:
    return _TOKEN_WORD.sub(lambda m: _fold_word(m.group(0)), token)


_MEMO_LEN = 4096
"""Texts up to this length have what :func:`remember_short` functions compute from them remembered (a case's
sentences are folded, split and judged several times: once per place, again when it is verified again)."""

_P = ParamSpec("_P")
_R = TypeVar("_R")


def remember_short(fn: Callable[Concatenate[str, _P], _R]) -> Callable[Concatenate[str, _P], _R]:
    """``fn`` (of a text, then hashable arguments; its result immutable) with its results remembered in a
    bounded LRU cache when the text is at most :data:`_MEMO_LEN` characters long: longer texts (a large
    request's context) are computed each time and never kept in memory."""
    memo = cast("Callable[Concatenate[str, _P], _R]", functools.lru_cache(maxsize=16384)(fn))

    @functools.wraps(fn)
    def call(text: str, /, *args: _P.args, **kwargs: _P.kwargs) -> _R:
        return memo(text, *args, **kwargs) if len(text) <= _MEMO_LEN else fn(text, *args, **kwargs)

    return call


@remember_short
def fold(text: str) -> str:
    """The detection form of ``text`` (see the module docs); never shown to the model."""
    text = _strip_invisible(text).casefold()
    text = _VERDICT_EMOJI.sub(" correct ", text)
    text = _TAG.sub(lambda m: f" {m.group(1)} ", text)
    text = _SEPARATED.sub(lambda m: _SEPARATORS.sub("", m.group(1)), text)
    text = " ".join(_fold_token(t) for t in _SPACES.split(text) if t and not t.isspace())
    text = _MARKUP.sub(" ", text)
    return _SPACE_RUN.sub(" ", text).strip()


def _words(text: str) -> frozenset[str]:
    return frozenset(text.split())
