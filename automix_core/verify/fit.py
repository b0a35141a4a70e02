"""Fitting a prompt to a token limit, written once for the engine's answer prompts and the
verifier's prompts: the context is cut from the left (its end kept); when the other parts alone do
not fit, the context is dropped and the question (and the answer, when there is one) share the room,
each keeping its end.
"""

from __future__ import annotations

from collections.abc import Callable

from ..accounting.tokens import count_messages, truncate_left
from ..models import Message

__all__ = ["FIT_ROUNDS", "fit_case"]

FIT_ROUNDS = 8
"""How many times a prompt is rebuilt at most while fitting it (each round corrects by the tokens the
last one was over; tokenizers do not cut text exactly where asked)."""


def fit_case(build: Callable[[str, str, str], list[Message]], question: str, answer: str, context: str,
             limit: int, model: str) -> list[Message]:
    """``build(question, answer, context)`` cut to at most ``limit`` tokens of ``model`` (see the module
    docs); after :data:`FIT_ROUNDS` rounds, or when nothing is left to cut, the last try is returned even
    when it is over (the model then reports the error)."""
    parts = 2 if answer else 1
    share: int | None = None
    context_room = limit - count_messages(build(question, answer, ""), model)
    if context_room <= 0:
        share = max(1, (limit - count_messages(build("", "", ""), model)) // parts)
        context_room = 0
    fitted: list[Message] = []
    for _ in range(FIT_ROUNDS):
        q = question if share is None else truncate_left(question, share, model)
        a = answer if share is None or not answer else truncate_left(answer, share, model)
        c = truncate_left(context, context_room, model) if context_room > 0 else ""
        fitted = build(q, a, c)
        excess = count_messages(fitted, model) - limit
        if excess <= 0:
            break
        if context_room > 0:
            context_room = max(0, context_room - excess)
        elif share is not None and share > 1:
            share = max(1, share - (excess + parts - 1) // parts)
        else:
            break
    return fitted
