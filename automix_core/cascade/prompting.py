"""What the engine knows of a prompt before it is sent: an answer prompt fitted to a tier's context window,
chat messages over a window, the cost an answer is estimated at, and whether a budget allows the next tier.

:class:`PromptFitting` is a base of :class:`~automix_core.cascade.engine.AutoMix` (kept apart so that the
engine module holds the cascade and its drivers only); shadow evaluation uses the same estimates.
"""

from __future__ import annotations

from collections.abc import Sequence

from ..accounting.ledger import Budget
from ..accounting.prices import PriceTable
from ..accounting.tokens import count_messages, messages_upper_bound
from ..errors import InvalidRequestTypeError
from ..models import Message, ModelError, RequestContext
from ..policies import Observation
from ..verify.fit import fit_case
from ..verify.prompt import build_answer_messages
from .result import Tier, TierTrace

__all__ = ["WINDOW_SLACK", "Fitted", "PromptFitting", "add_note", "answer_tokens", "best_answer", "check_messages"]

WINDOW_SLACK = 0.1
"""Share of a tier's context window kept free when fitting an answer prompt (tokenizer mismatch)."""

Fitted = dict[int, tuple[list[Message], bool]]
"""Each tier's fitted answer prompt of one request, and whether it was truncated (built once per tier)."""


def add_note(trace: TierTrace, note: str) -> None:
    trace.note = note if not trace.note else f"{trace.note}; {note}"


def best_answer(answers: dict[int, str], obs: list[Observation]) -> int:
    return max(answers, key=lambda i: (next((c for j, c in obs if j == i), 0.0), i))  # best confidence, later on ties


def answer_tokens(default: int | None, request: RequestContext | None) -> int | None:
    """The most output tokens one answer of ``request`` may take: its ``params["max_tokens"]`` when that is a
    positive int (the answering calls of that request are sent with it), else the engine's ``default``."""
    given = request.params.get("max_tokens") if request is not None else None
    return given if isinstance(given, int) and not isinstance(given, bool) and given > 0 else default


def check_messages(messages: object) -> list[Message]:
    if not isinstance(messages, list) or not messages:
        raise InvalidRequestTypeError("AutoMix messages must be a non-empty list of {'role': ..., 'content': str} "
                                      "dicts", param="messages")
    for i, m in enumerate(messages):
        if not isinstance(m, dict) or m.get("role") not in ("system", "user", "assistant"):
            raise InvalidRequestTypeError(f"AutoMix messages[{i}] must be a dict with role 'system', 'user' or "
                                          "'assistant'", param=f"messages[{i}]")
        if not isinstance(m.get("content"), str):
            raise InvalidRequestTypeError(f"AutoMix messages[{i}]['content'] must be text, got "
                                          f"{type(m.get('content')).__name__}", param=f"messages[{i}].content")
    return messages


class PromptFitting:
    """The engine's prompt sizes and cost estimates (a base of ``AutoMix``, which sets these attributes)."""

    tiers: list[Tier]
    prices: PriceTable
    system: str | None
    answer_max_tokens: int | None

    def _estimate_cost(self, tier: int, messages: Sequence[Message], request: RequestContext | None = None) -> float:
        """The cost of one answer of ``tier`` to ``messages``: the prompt, and the most output ``request`` allows
        (:func:`answer_tokens`; 256 tokens when nothing says)."""
        model = self.tiers[tier].model.name
        inp = count_messages(messages, model)
        out = answer_tokens(self.answer_max_tokens, request) or 256
        return self.prices.cost(model, inp, out)

    def _prompt_limit(self, tier: int) -> int | None:
        window = self.tiers[tier].model.context_window
        if window is None:
            return None
        return max(1, int(window * (1 - WINDOW_SLACK)) - (self.answer_max_tokens or 0))

    def _fitted_messages(self, tier: int, question: str, context: str) -> tuple[list[Message], bool]:
        """The answer prompt for ``tier`` from a text question and context, and whether it was truncated.

        When the tier's context window is known, the context is left-truncated (its end kept) so the
        prompt fits ``(1 - WINDOW_SLACK) * window - answer_max_tokens`` tokens; if the question alone
        does not fit, the context is dropped and the question keeps its end.
        """
        msgs = build_answer_messages(question, context, self.system)
        limit = self._prompt_limit(tier)
        if limit is None or messages_upper_bound(msgs) <= limit:
            return msgs, False
        msgs = fit_case(lambda q, _, c: build_answer_messages(q, c, self.system), question, "", context, limit,
                        self.tiers[tier].model.name)
        return msgs, msgs[-1]["content"] != build_answer_messages(question, context)[-1]["content"]

    def _over_window(self, tier: int, msgs: Sequence[Message]) -> ModelError | None:
        """An error when chat ``msgs`` (given as they are, not truncated) exceed the tier's whole window."""
        model = self.tiers[tier].model
        window = model.context_window
        if window is None or messages_upper_bound(msgs) <= window:
            return None
        n = count_messages(msgs, model.name)
        if n <= window:
            return None
        return ModelError(f"{model.name}: prompt of {n} tokens exceeds the context window of {window} tokens "
                          "(not sent)", model=model.name, retryable=False)

    def _prompt(self, i: int, question: str, context: str, messages: list[Message] | None,
                fitted: Fitted) -> tuple[list[Message], bool]:
        """Tier ``i``'s answer prompt: the chat ``messages`` as given, else the question and context
        fitted to its window (once per tier, kept in ``fitted``)."""
        if messages is not None:
            return messages, False
        if i not in fitted:
            fitted[i] = self._fitted_messages(i, question, context)
        return fitted[i]

    def _budget_blocks(self, budget: Budget | None, tr: TierTrace, target: int, traces: list[TierTrace],
                       question: str, context: str, messages: list[Message] | None, fitted: Fitted,
                       request: RequestContext | None) -> bool:
        """Whether ``budget`` (this request's) forbids going to ``target``; if so, says so in ``tr.note``."""
        if budget is None:
            return False
        est = self._estimate_cost(target, self._prompt(target, question, context, messages, fitted)[0], request)
        if budget.allows(est, sum(x.cost for x in traces)):
            return False
        add_note(tr, f"budget: escalation to tier {target} (est. ${est:.6f}) would exceed it")
        return True
