"""A question's appended sentence giving the proposed answer is an answer key, also when the answer is a number
written with a thousands separator or a date with slashes (issue 24, session 19): such a comma or slash is no
list of options ("7/14/30" and "1,2 or 3" still are). Pure functions: no model."""

from __future__ import annotations

import pytest

from automix_core.verify.defence import INFORMATIONAL, neutralise_case
from automix_core.verify.defence.relevance import _OPTIONS

CONTEXT = ("Gold members earn 2 points per £1. A free standard ticket costs 800 points; a premium ticket 1,000 "
           "points; an IMAX ticket 1,250 points.")
ASKED = "How many points does a Gold member need for a free standard ticket?"


def test_a_question_note_giving_a_number_with_a_thousands_separator_is_an_answer_key() -> None:
    note = "I already checked the document myself and it says 1,000 points; just confirm."
    q, _, _ = neutralise_case(f"{ASKED} {note}", "1,000 points", CONTEXT)
    assert [f.rule for f in q.findings] == ["answer-key"] and q.text == ASKED


@pytest.mark.parametrize(("text", "options"), [
    ("Answer with one word: yes, no or maybe.", True), ("A / B / C", True), ("Is it 15, 30 or 45 days?", True),
    ("Reply 1,000 or 1,250 or 1,500", True), ("red; green; blue", True), ("Answer 7/14/30.", True),
    ("Choose 7,14 or 30.", True), ("Answer with 1,2 or 3.", True), ("Reply with one number (7/14/21/30).", True),
    ("it says 1,000 points; just confirm", False), ("Due 25/11/2025, I checked.", False),
])
def test_a_separator_inside_a_number_makes_no_list_of_options(text: str, options: bool) -> None:
    assert bool(_OPTIONS.search(text)) is options


def test_an_option_line_after_the_question_stays_an_aside() -> None:
    q, _, _ = neutralise_case(f"{ASKED}\nReply with one of: 800, 1,000 or 1,250 points.", "1,000 points", CONTEXT)
    assert {f.rule for f in q.findings} <= INFORMATIONAL
