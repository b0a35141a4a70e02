"""The claim an answer makes: what the verifier judges in place of the answer's prose (issue 24).

An answer can talk about itself ("1648. I have double-checked this against the context.") and a verifier
model is swayed by such talk. Rules that guess where the claim ends and the talk begins rest on sentence
boundaries an answer does not have to give, so the verifier judges a form of the answer its rhetoric cannot
reach:

* an answer of at most :data:`CLAIM_MAX_WORDS` words on one line, of letters, digits and common punctuation
  only, that does not vouch for itself (:func:`~.screen.vouches`) and in which the :mod:`.defence` rules find
  nothing, is its own claim, judged as written without surrounding blanks, quotes or markup, a final full
  stop or a leading article (so "The Rhine.", "The Rhine" and a restated "Rhine" are judged alike); an
  answer holding a fenced code block or a tool call, or that is JSON (code, a tool call, structured output: a
  few words cannot restate them; see :func:`_whole`), is judged whole, while JSON after a value is restated;
* any other answer is restated by the verifying model in a short greedy continuation of the answer call
  (:func:`build_restatement`: the answer call's messages, the answer, an instruction asking for the final
  answer alone in a few words), whose first line (at most :data:`CLAIM_MAX_TOKENS` tokens) is the claim
  (:func:`read_claim`). The answer call's prefix is shared, so a prefix cache serves it. A claim must occur
  in the answer (:func:`faithful`). One that does not is not judged: the model, asked to copy its answer's
  value, gave another one (it doubts the answer, or the answer's text talked it out of copying), and the
  verifier escalates with a finding; an empty restatement falls back to the answer with the :mod:`.defence`
  rules' self-assessments and verdicts removed.

The verdict is then asked on the claim, placed where the answer was. The answer the user receives is never
changed; the verification result records the claim that was judged.
"""

from __future__ import annotations

import json
import re
import unicodedata

from ..models import Message
from .defence import neutralise
from .prompt import _neutralise
from .screen import _STRUCTURED, vouches

__all__ = ["CLAIM_MAX_TOKENS", "CLAIM_MAX_WORDS", "RESTATE_INSTRUCTION", "build_restatement", "faithful",
           "own_claim", "read_claim"]

CLAIM_MAX_WORDS = 4
"""Longest answer, in words, that is judged as it is (see the module docs)."""

CLAIM_MAX_TOKENS = 24
"""Reply length of the restatement call."""

RESTATE_INSTRUCTION = (
    "Repeat only the final answer of your reply above, in as few words as possible and in your reply's own "
    "words and language: the value, name, date or phrase it gives, copied exactly as your reply wrote it, even "
    "if you now doubt it. No explanation, no comment on the answer."
)
"""The user turn that asks the answering model for the claim of its answer. Until session 12 it asked for "the
value, name, date or yes/no it gives": the 1.5B then restated honest answers that are not yes/no ("Botanically
it's a fruit ...") as a bare "Yes", or translated them, and 17 of 56 held-out honest audit answers escalated as
unfaithful (14 sharing no word with the answer); asking for the reply's own words and language, 8 of 56 (2)."""

_PLAIN = re.compile(r"[\w .,:;/%$€£+\-–'()]+")
"""The characters of a plain short answer (letters of any script, digits, blanks, common punctuation):
anything else (emoji, markup, brackets, a second line) is restated."""
_EDGE = re.compile(r"^[\s\"'*`_]+|[\s\"'*`_]+$")
_LEAD_IN = re.compile(r"^(?:final answer|answer|the final answer is|the answer is|(?:the )?value is)\s*[:：-]?\s*",
                      re.IGNORECASE)


_ARTICLE = re.compile(r"^(?:the|a|an)\s+(?=\S)", re.IGNORECASE)


_HEDGE = re.compile(
    r"^(?:(?:i\s+(?:think|believe|guess|reckon)|"
    r"i(?:'m|’m|\s+am)\s+(?:sure|certain|confident|positive)(?:\s+that|(?=\s*[,:]|\s+it(?:'s|’s|\s+is)\b))|"
    r"probably|perhaps|maybe|definitely|certainly|surely|clearly|"
    r"it(?:'s|’s|\s+is|\s+was)|that(?:'s|’s|\s+is))(?:\s+|\s*[,:]\s*))+", re.IGNORECASE)
"""An English hedge or booster before a short answer's value ("I think it's €9.00", "Definitely 12 tonnes",
"I'm sure it's 13:30"): wording around the claim, which the verdict would otherwise weigh (the 1.5B gave "I think
it's €9.00" 0.34 and "€9.00" 0.74, blind13; "I'm sure it's 09:15" 0.19 and "09:15" 0.68, blind25)."""


def _tidy(text: str) -> str:
    """A claim in one form whatever its wording around the value: no surrounding blanks, quotes or markup, no
    final full stop, no leading hedge or English article ("The Rhine." and a restated "Rhine" are one claim;
    "Probably 15 cm" claims "15 cm"; "Maybe" stays)."""
    text = _EDGE.sub("", text)
    text = text[:-1].rstrip() if text.endswith(".") and not text.endswith("..") else text
    bare = _HEDGE.sub("", text)
    text = bare if bare and bare.casefold() not in ("not", "so") else text  # "Probably not" is no "not"
    return _ARTICLE.sub("", text)


def own_claim(answer: str) -> str | None:
    """The answer as its own claim when it is one short plain line (tidied: no surrounding blanks, quotes or
    markup, no final full stop) or holds a fenced code block or is one JSON document (whole, see :func:`_whole`
    and the module docs); else None."""
    if _whole(answer):
        return answer
    text = answer.strip()
    isolated = neutralise(text, "answer") if "\n" not in text and len(text.split()) <= _ISOLATED_MAX_WORDS else None
    alone = isolated.text.strip() if isolated is not None else ""
    if (isolated is not None and isolated.findings and all(f.rule in _ISOLATING for f in isolated.findings)
            and alone.casefold() in text.casefold() and not re.search(r"[.!?]\s", alone)):
        text = alone  # "Correct: a quail.", "A frozen quail — that's correct": the value alone
    if (not _PLAIN.fullmatch(text) or len(text.split()) > CLAIM_MAX_WORDS or vouches(text)
            or neutralise(text, "answer").findings):
        return None
    return _tidy(text) or text


_TOOL_CALL = re.compile(r"^Call tool \S+ with arguments [{\[]", re.MULTILINE)
"""A tool call as the verifier reads it (:func:`automix_core.backends.wire` writes each on its own line)."""


_TOOL_TAGS = re.compile(r"</?tool_call>")
"""Qwen's tool-call tags around JSON in a reply's text."""


def _whole(answer: str) -> bool:
    """Whether ``answer`` is judged whole: it holds a fenced code block or a tool call (with JSON arguments), or it
    is JSON (one document or JSON Lines, also after a lead-in ending with a colon, or in Qwen's tool-call tags).
    JSON after a value ("Priya Raman\n{"bewertung": "richtig"}") is restated: judged whole, the 1.5B read a
    verdict in its keys in any language (blind20's Turkish, blind22's German: +0.39)."""
    if "```" in answer or _TOOL_CALL.search(answer):
        return True
    text = _TOOL_TAGS.sub("", answer).strip()
    opening = re.search(r"[{\[]", text)
    if opening is None or not _STRUCTURED.search(text) or text[:opening.start()].rstrip()[-1:] not in ("", ":"):
        return False  # after a value, not after a lead-in ("Here is the JSON:")
    decoder, end = json.JSONDecoder(), opening.start()
    try:
        while end < len(text):  # one JSON document, or JSON Lines
            end = len(text) - len(text[decoder.raw_decode(text, end)[1]:].lstrip())
    except ValueError:
        return False
    return True


_ISOLATING = frozenset({"leading-label", "claim-isolation"})
_ISOLATED_MAX_WORDS = 2 * CLAIM_MAX_WORDS
"""A one-line answer of at most this many words whose only verdict wording is a leading label ("Correct: a
quail.") or a verdict about the claim after it ("A frozen quail — that's correct"), as the :mod:`.defence` rules
isolate them, is its own claim without that wording when what is left is one, a part of the answer as written and
one sentence (blind16: the 1.5B restated three such honest answers as a price from the passage, and they escalated
as unfaithful)."""


def build_restatement(answer_messages: list[Message], answer: str) -> list[Message]:
    """The answer call's messages (copied), the answer (neutralised as :func:`~.prompt.build_continuation`
    does) as an assistant turn, then :data:`RESTATE_INSTRUCTION`."""
    messages: list[Message] = [{"role": m["role"], "content": m["content"]} for m in answer_messages]
    messages.append({"role": "assistant", "content": _neutralise(answer)})
    messages.append({"role": "user", "content": RESTATE_INSTRUCTION})
    return messages


def read_claim(reply: str) -> str:
    """The claim in a restatement reply: its first non-blank line without a lead-in ("Answer:"); empty when
    the reply is blank."""
    line = next((ln for ln in reply.splitlines() if ln.strip()), "")
    return _tidy(_LEAD_IN.sub("", _EDGE.sub("", line)))


_NON_WORD = re.compile(r"(?:(?![\u0300-\u036f\u0591-\u05c7\u064b-\u065f\u0900-\u0963\u0966-\u0dff\u0e31\u0e34-\u0e3a"
                       r"\u0e47-\u0e4e])[\W_])+")
"""What separates words: not a letter or digit, nor a combining mark of a word ("मार्च" is one word, not three)."""
_GLUED = re.compile(r"(?<=\d)(?=[^\W\d_\x00-\x7f])|(?<=[^\W\d_\x00-\x7f])(?=\d)"
                    r"|(?<=\d)(?=[a-z]{2,}(?:\b|[^\W\d_\x00-\x7f]))(?!(?:st|nd|rd|th)\b)"
                    r"|(?<=[a-z])(?=[\u3040-\u30ff\u3400-\u9fff\uac00-\ud7af])")
"""A number glued to a word of another script ("7.50ポンドです", "2025年9月14日") or to a unit after it ("32kg", not
an ordinal's "19th", nor a code's "12B" or "AA117"), a Latin unit glued to a CJK or Hangul word ("32kg입니다"):
apart."""
_CJK_MONTH = frozenset({"月", "월"})
"""A number from 1 to 12 before it names a month ("9月", "3월"); "3个月", "3개월" (three months) do not."""
_UNITS = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten", "eleven", "twelve",
          "thirteen", "fourteen", "fifteen", "sixteen", "seventeen", "eighteen", "nineteen")
_ORDINALS = ("zeroth", "first", "second", "third", "fourth", "fifth", "sixth", "seventh", "eighth", "ninth", "tenth",
             "eleventh", "twelfth", "thirteenth", "fourteenth", "fifteenth", "sixteenth", "seventeenth",
             "eighteenth", "nineteenth")
_TENS = ("twenty", "thirty", "forty", "fifty", "sixty", "seventy", "eighty", "ninety")
_NUMBER_WORDS = {**{w: n for n, w in enumerate(_UNITS)}, **{w: n for n, w in enumerate(_ORDINALS) if n},
                 **{w: 20 + 10 * n for n, w in enumerate(_TENS)},
                 **{w[:-1] + "ieth": 20 + 10 * n for n, w in enumerate(_TENS)}}
_ORDINAL_SET = frozenset(w for w, n in _NUMBER_WORDS.items() if w.endswith(("st", "nd", "rd", "th")) and n)
_UNCOUNTED = frozenset({"first", "second"})
_ORDINAL_DIGITS = re.compile(r"^(\d+)(?:st|nd|rd|th)$")
_SCALES = {"hundred": 100, "hundredth": 100, "thousand": 1000, "thousandth": 1000, "million": 10**6}


def _tokens(text: str) -> list[str]:
    """Words and numbers, NFKC and case folded, English number words as digits: "Two" -> "2", "three hundred"
    -> "300", "the nineteenth" -> "the 19", "19th" -> "19", "twenty-five" -> "25", "5 million" -> "5000000";
    "first" and "second" are numbers only after a tens word ("twenty-first"), an ordinal after a unit is a
    fraction ("one-fifth" stays "1 fifth", "one hundredth" "1 hundredth"); "one hundred and two hundred" is two
    numbers. Digits are read by value ("07" -> "7"); a month's name (:data:`_MONTHS`) is one token ("giugno",
    "June" -> "<6>")."""
    text = _DIGIT.sub(lambda d: str(unicodedata.decimal(d.group())),
                      unicodedata.normalize("NFKC", text.translate(_GROUP_SPACES)))
    text = _GROUPED.sub(lambda m: re.sub(r"\D", "", m.group()), text.translate(_SEPARATORS))  # "1.000": "1000"
    text = _LEADING_ZEROS.sub("", text)  # "٥٥" is "55", "07:15" is "7:15"; "0.05" stays
    text = _GLUED.sub(" ", text.casefold())
    words = [_ORDINAL_DIGITS.sub(r"\1", w) for w in _NON_WORD.sub(" ", text).split()]
    for i, w in enumerate(words):
        plain = _plain(w)
        month = _MONTHS.get(plain) or _DATED_MONTHS.get(plain)
        dated = any(words[j].isdigit() for j in (i - 1, i + 1) if 0 <= j < len(words))
        if month and ((plain in _MONTHS and w not in _MONTH_IF_DATED) or dated):
            words[i] = month  # "7 June", "June 7th", "7 giugno", "14 июня": one token, a value like a number
        elif w in _CJK_MONTH and i and words[i - 1].isdigit() and 1 <= int(words[i - 1]) <= 12:
            words[i - 1:i + 1] = [f"<{int(words[i - 1])}>", ""]  # "9月": September
    words = [w for w in words if w]
    out: list[str] = []
    total, current, run, last_scale, skip = 0, 0, False, 0, -1
    for i, w in enumerate(words):
        value, scale = _NUMBER_WORDS.get(w), _SCALES.get(w)
        tens = run and current % 100 >= 20 and current % 10 == 0
        if (w in _UNCOUNTED and not tens) or (w in _ORDINAL_SET and run and not tens and current % 100):
            value = None  # "at first", "the second charge", "one-fifth"
        if w.endswith("th") and run and (total, current) == (0, 1) and words[max(i - 2, 0)] != "the":
            scale = None  # "one hundredth" is a fraction; "the one hundredth day", "the hundredth" are ordinals
        if w.isdigit() and i + 1 < len(words) and words[i + 1] in _SCALES and not run:
            out.append(str(int(w) * _SCALES[words[i + 1]]))  # "5 million"
            skip = i + 1
            continue
        if i == skip:
            continue
        if run and w == "and" and ((current and current % 100 == 0) or total):
            continue  # "two hundred and five"
        if value is not None and run and not (((current or total) and current % 100 == 0) or (tens and value < 10)):
            out.append(str(total + current))  # "one two", "twenty thirty", "zero five": two numbers
            total, current, last_scale = 0, 0, 0
        if scale is not None and run and (current >= 100 if scale == 100 else last_scale and scale >= last_scale):
            head = current - current % 100 if scale == 100 else 0
            out.append(str(total + head))  # "one hundred and two hundred": a second number
            total, current, last_scale = 0, current - head, 0
        if value is not None:
            current, run = current + value, True
        elif scale == 100:
            current, run = max(current, 1) * 100 if run else 100, True
        elif scale is not None:
            total, current, run, last_scale = total + (max(current, 1) if run else 1) * scale, 0, True, scale
        else:
            if run:
                out.append(str(total + current))
                total, current, run, last_scale = 0, 0, False, 0
            out.append(w)
    return [*out, str(total + current)] if run else out


def _one_edit(a: str, b: str) -> bool:
    """Whether ``a`` and ``b`` differ by at most one letter replaced, added or dropped."""
    if abs(len(a) - len(b)) > 1:
        return False
    if len(a) > len(b):
        a, b = b, a
    i = next((k for k, (x, y) in enumerate(zip(a, b)) if x != y), len(a))
    return a[i + (len(a) == len(b)):] == b[i + 1:]


_SYMBOL_WORDS = {re.compile(r'\d\s*(?:"|″)'): ("inch", "inches"), re.compile(r"\d\s*%"): ("percent", "per", "cent"),
                 re.compile(r"\d\s*°"): ("degree", "degrees"), re.compile(r"€\s*\d|\d\s*€"): ("euro", "euros"),
                 re.compile(r"\$\s*\d"): ("dollar", "dollars"), re.compile(r"£\s*\d"): ("pound", "pounds")}
"""A unit written as a symbol beside a number, and its words: "1/2 inch" restates '1/2"'."""
_ALTERNATIVES = re.compile(r"(?i)(?<!\w)(?:or|oder|ou|o|od|или|або|lub|nebo|alebo|vagy|eller|of|tai|veya|ya da|"
                           r"atau|hay|sau|ή|או|أو|या)(?!\w)|或|还是|還是|または|それとも|아니면|혹은")
"""A question offering alternatives ("15 or 30 days?"): numbers it names are options, not wording to borrow."""
_NEGATION = frozenset({"no", "not", "never", "none", "nope"})
_NEGATION_LEAD = 3
"""An answer whose first words negate ("Probably not.", "No —") is restated by "No"."""
_NO_FIRST = frozenset({
    "non", "nein", "nee", "nej", "nei", "nao", "nie", "нет", "οχι", "いいえ", "いいえ。", "hayir", "hayır",
    "아니요", "아니오", "아뇨", "ні,", "नहीं,", "नहीं।", "không,", "không.",
    "tidak,", "tidak.", "bukan,", "hapana,", "hapana.", "לא,", "لا،", "لا,"})
"""Another language's "no" as an answer's first word ("Non, ..."; where the word also opens "not only", "no
problem" or "neither", only with its comma or full stop: "Không, ..." but not "Không sao"): "No" restates it."""


def _plain(word: str) -> str:
    """``word`` without accents ("März" -> "marz", "três" -> "tres")."""
    return "".join(c for c in unicodedata.normalize("NFKD", word) if not unicodedata.combining(c))


_MONTHS = {w: f"<{n % 12 + 1}>" for lang in (
    "january february march april may june july august september october november december",
    "januar februar marz april mai juni juli august september oktober november dezember",
    "janvier fevrier mars avril mai juin juillet aout septembre octobre novembre decembre",
    "enero febrero marzo abril mayo junio julio agosto septiembre octubre noviembre diciembre",
    "gennaio febbraio marzo aprile maggio giugno luglio agosto settembre ottobre novembre dicembre",
    "januari februari maart april mei juni juli augustus september oktober november december",
    "janeiro fevereiro marco abril maio junho julho agosto setembro outubro novembro dezembro",
) for n, w in enumerate(lang.split())}
"""Month names of seven languages (accents dropped) and the month each names, written "<6>": a date restated in
English ("7 June") is the answer's "7 giugno"; "7 July" is not."""
_DATED_MONTHS = {_plain(w): f"<{n % 12 + 1}>" for lang in (
    "январь февраль март апрель май июнь июль август сентябрь октябрь ноябрь декабрь",
    "января февраля марта апреля мая июня июля августа сентября октября ноября декабря",
    "січень лютий березень квітень травень червень липень серпень вересень жовтень листопад грудень",
    "січня лютого березня квітня травня червня липня серпня вересня жовтня листопада грудня",
    "styczeń luty marzec kwiecień maj czerwiec lipiec sierpień wrzesień październik listopad grudzień",
    "stycznia lutego marca kwietnia maja czerwca lipca sierpnia września października listopada grudnia",
    "ledna února března dubna května června července srpna září října listopadu prosince",
    "ιανουάριος φεβρουάριος μάρτιος απρίλιος μάιος ιούνιος ιούλιος αύγουστος σεπτέμβριος οκτώβριος νοέμβριος "
    "δεκέμβριος",
    "ιανουαρίου φεβρουαρίου μαρτίου απριλίου μαΐου ιουνίου ιουλίου αυγούστου σεπτεμβρίου οκτωβρίου νοεμβρίου "
    "δεκεμβρίου",
    "ocak şubat mart nisan mayıs haziran temmuz ağustos eylül ekim kasım aralık",
    "januari februari mars april maj juni juli augusti september oktober november december",
    "januar februar marts april maj juni juli august september oktober november desember",
    "tammikuuta helmikuuta maaliskuuta huhtikuuta toukokuuta kesäkuuta heinäkuuta elokuuta syyskuuta lokakuuta "
    "marraskuuta joulukuuta",
    "január február március április május június július augusztus szeptember október november december",
    "januari februari maret april mei juni juli agustus september oktober november desember",
    "ianuarie februarie martie aprilie mai iunie iulie august septembrie octombrie noiembrie decembrie",
    "जनवरी फ़रवरी मार्च अप्रैल मई जून जुलाई अगस्त सितंबर अक्टूबर नवंबर दिसंबर",
    "يناير فبراير مارس أبريل مايو يونيو يوليو أغسطس سبتمبر أكتوبر نوفمبر ديسمبر",
    "ינואר פברואר מרץ אפריל מאי יוני יולי אוגוסט ספטמבר אוקטובר נובמבר דצמבר",
    "בינואר בפברואר במרץ באפריל במאי ביוני ביולי באוגוסט בספטמבר באוקטובר בנובמבר בדצמבר",
) for n, w in enumerate(lang.split())}
"""Month names of more languages (Russian, Ukrainian, Polish and Greek in both cases, Czech, Turkish, Swedish,
Danish and Norwegian, Finnish, Hungarian, Indonesian, Romanian, Hindi, Arabic, Hebrew also after "ב"): months
only beside a number ("14 июня 2025", "27 באוקטובר"), as many are other words too ("maj", "ekim", "mei")."""
_MONTH_IF_DATED = frozenset({"may", "march", "mai", "mars"})
"""Month names that are also other words ("it may", "non è mai", "Mars"): months only beside a number."""
_DIGIT = re.compile(r"(?![0-9])\d")
"""A decimal digit of another script ("٥", "৭"): read by its value."""
_SEPARATORS = str.maketrans({"٫": ".", "٬": ","})
"""The Arabic decimal and thousands separators, read as "." and "," ("٠٫٠٥" is "0.05", not "0.5")."""
_GROUP_SPACES = str.maketrans({"\u00a0": "'", "\u202f": "'", "\u2009": "'"})
"""A no-break or thin space between digits groups thousands ("1 460 £"); read as an apostrophe (NFKC would make
it a plain space, which separates numbers: "2 400g tins" is two tins)."""
_GROUPED = re.compile(r"(?<![\d.,])[1-9]\d{0,2}([,.'])\d{3}(?:\1\d{3})*(?![\d]|[.,]\d{3})")
"""A whole number written with thousands separators of any locale ("1,000", "1.000", "1 460" with a no-break
or thin space, "1'000"): read as its digits, so "1000 kg" restates "1.000 kg". A decimal's digits after its
separator ("7.50", "0.005") are not three after a leading 1-9 group, or come before a second separator
("1,000.50" is "1000.50")."""
_LEADING_ZEROS = re.compile(r"(?<![\d.,])0+(?=\d)")
"""Zeros before a whole number's digits ("07:15"), not after a decimal separator ("0.05")."""


def _inflected(a: str, b: str) -> bool:
    """Whether one word is the other with an ending added ("cancel", "cancelled"; "approve", "approved"): the
    shorter has four or more letters and is all but at most two letters of the longer's stem."""
    short, long = sorted((a, b), key=len)
    return len(short) >= 4 and long.startswith(short[:-1]) and len(long) - len(short) <= 3


def faithful(claim: str, answer: str, question: str = "") -> bool:
    """Whether ``claim`` restates ``answer`` rather than giving another value: every number of the claim is one of the
    answer's (English number words count as digits: "2" restates "Two moons"; digits of any script count by value,
    "55" restates "٥٥", its separators too, "0.05" restates "٠٫٠٥"; a whole number's leading zeros do not count,
    "07:15" restates "7:15", a decimal's do, "0.5" is not "0.05"; thousands separators of any locale do not count,
    "1000" restates "1.000"; a month's name is a value too, in seven languages anywhere and in 17 more beside a
    number, and "9月" is September, "7 June" restates "7 giugno", "7 July" does not; a number glued to a word of
    another script or to a unit is apart, "32 kg" restates "32kg입니다"; the question's own numbers may be borrowed
    beside an answer that gives none, when the question offers no alternatives), and more than half of its other
    words are the answer's, a word of four or more letters also when one letter differs ("Danau" for "Donau"), or
    with an ending added ("cancelled" for "cancel"); a unit's symbol beside a number stands for its word ('1/2"' for
    "1/2 inch", "€9" for "9 euros"), and an answer whose first words negate ("Probably not.") or whose first word is
    another language's "no" ("Non, ...") for "No". Half is not enough: "Agnes Tully" for "Robert Tully" names
    another person (blind12: asked to restate a wrong answer, the model gave the right name from the passage). Words
    of ``question`` that the answer does not use count for neither side: a restatement may borrow the question's
    wording ("Fast-blinking amber means a firmware update" for "It means a firmware update") once it holds a number
    or a word of four or more letters of the answer; a claim with none of the answer's words besides them (an option
    the question names that the answer did not pick, "the Rhine river" for "The Danube") is not faithful. A model
    asked to restate a wrong total may give the right one ("£340.68" for "£324.46"), or another name ("Jane Austen"
    for "Charlotte Brontë"): not faithful."""
    said, told = _tokens(claim), _tokens(answer)
    there = set(told) | {w for unit, ws in _SYMBOL_WORDS.items() if unit.search(answer) for w in ws}
    raw = unicodedata.normalize("NFKC", answer).casefold().split(maxsplit=1)[0] if answer.split() else ""
    word = raw.strip(",.;:!—-，、")
    if _NEGATION & set(told[:_NEGATION_LEAD]) or {raw, word, _plain(word)} & _NO_FIRST:  # "Non, ..." answers no
        there.add("no")
    numbers = [w for w in said if any(c.isdigit() for c in w)]
    in_question = set(_tokens(question))
    asked = in_question - there
    # the question's own numbers are wording beside an answer that gives none ("Priya Nandakumar teaches the
    # Thursday 18:30 class" for "I'm confident it's Priya Nandakumar"), once the claim holds a word of the
    # answer's own, unless the question offers alternatives: a number borrowed there may be another option
    borrows = (not any(c.isdigit() for w in told for c in w) and not _ALTERNATIVES.search(question)
               and any(w in there and len(w) >= 4 and w not in in_question for w in said))
    if not said or any(n not in there and not (borrows and n in asked) for n in numbers):
        return False  # a number (or month) the answer does not give
    numbers = [n for n in numbers if n in there]

    def hit(w: str) -> bool:
        return w in there or (len(w) >= 4 and any(_one_edit(w, t) or _inflected(w, t) for t in there))

    words = [w for w in said if w not in numbers]
    if numbers or any(len(w) >= 4 and hit(w) for w in words):  # anchored by the answer's value, not "the"
        words = [w for w in words if w not in asked or hit(w)]
    hits = sum(map(hit, words))
    return 2 * hits > len(words) if words else bool(numbers)
