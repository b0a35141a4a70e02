"""The :class:`Verifier`: draws verdicts from a model and turns them into a confidence.

Confidence is the share of parsed samples that say "correct". When no sample parses, confidence
is :data:`NO_PARSE_CONFIDENCE` (0.0, "not verified", which makes threshold policies escalate) and
``parsed`` is False.
"""

from __future__ import annotations

import warnings
from collections.abc import Generator, Sequence
from dataclasses import dataclass, replace

from ..accounting.tokens import count_messages, messages_upper_bound
from ..models import ChatModel, Message, ModelError, RequestContext, checked_generation, request_kwargs
from ..settings import VerifyMode, VerifyPrompt
from ..steps import Done, advance
from .claim import CLAIM_MAX_TOKENS, build_restatement, faithful, own_claim, read_claim
from .defence import Finding, neutralise
from .draw import adraw, draw
from .fit import fit_case
from .method import lacks_logprobs, remember_no_logprobs
from .parse import _logprob_confidence, _parse_logprob_reply, parse_verdict, posterior_correct
from .prompt import (
    LOGPROB_MAX_TOKENS,
    NO_PARSE_CONFIDENCE,
    build_answer_messages,
    build_continuation,
    build_prompt,
)
from .result import Call, VerificationResult, _unfaithful
from .screen import LexicalScreen, Screening, VerificationScreen, _case_notes

__all__ = ["Call", "VerificationResult", "Verifier"]

# --- the verifier ------------------------------------------------------------------------------

def _restated_claim(call: Call, answer: str) -> tuple[str, bool]:
    """The claim a restatement call gives and True; for an empty one the answer with its judgement words
    removed and False (nothing restated to check for faithfulness)."""
    said = read_claim(call[1].texts[0] if call[1].texts else "")
    return (said, True) if said else (neutralise(answer, "answer").text or answer, False)


def _from_samples(mode: VerifyMode, calls: list[Call], billed_before: Sequence[Call] = ()) -> VerificationResult:
    samples = [text for _, gen in calls for text in gen.texts]
    verdicts = [parse_verdict(text) for text in samples]
    decided = [v for v in verdicts if v is not None]
    every_call = [*billed_before, *calls]
    return VerificationResult(
        confidence=sum(decided) / len(decided) if decided else NO_PARSE_CONFIDENCE,
        parsed=bool(decided),
        verdicts=verdicts,
        samples=samples,
        n_parsed=len(decided),
        mode=mode,
        generations=[gen for _, gen in every_call],
        messages=[messages for messages, _ in every_call],
    )


_CHARS_PER_TOKEN_BOUND = 32
"""More characters than any token covers: a text cut to ``limit * 32`` characters still holds every
token a prompt of ``limit`` tokens can keep, so the defence reads no more than can be sent."""


def _samples(call: Call) -> int:
    return len(call[1].texts)


class Verifier:
    """Self-verification of answers with ``model``.

    Modes:

    * ``"sample"``: ``k`` samples at ``temperature``, in one request with ``n=k`` when
      ``model.supports_n``, else ``k`` requests (concurrent in :meth:`averify`, sequential in
      :meth:`verify`).
    * ``"sequential"``: samples drawn ``batch_size`` at a time (one request with ``n`` or
      ``batch_size`` requests per batch). After each batch, with c "correct" and i "incorrect"
      parsed verdicts so far, drawing stops once the Beta(1 + c, 1 + i) posterior puts at least
      ``early_stop_confidence`` probability on one side of 0.5 (:func:`posterior_correct`), or once
      ``k`` samples are drawn. At 0.95, four unanimous verdicts stop; evenly split ones never do.
    * ``"logprob"``: one greedy call of at most :data:`LOGPROB_MAX_TOKENS` tokens asking for the bare
      verdict word, with ``logprob_top`` alternatives per position; confidence is the normalised mass
      of "correct" vs "incorrect" tokens (:func:`_logprob_confidence`). If the backend returns no
      logprobs or no verdict token appears, it falls back to ``"sample"`` mode (the failed call is
      billed). A model whose ``supports_logprobs`` is False samples at once; one whose attribute is None
      (unknown) and that returns no logprobs at all gets it set to False
      (:func:`~.method.remember_no_logprobs`), so the failed call is paid once per model object.

    What is judged is the answer's *claim* (:mod:`.claim`; with ``claims`` False, the answer as given): the
    answer itself when it is one short plain line, else the model's restatement of it in a greedy call that
    continues the answer call (billed, its messages and generation listed first). The claim goes where the
    answer went in either layout; the answer call's ``messages`` are always sent as they are. With
    ``defence`` on, ``screen`` (a :data:`~.screen.VerificationScreen`; :class:`~.screen.LexicalScreen` by
    default) sees the question, the claim and the context as the model is shown them and its factor scales
    the confidence, its findings reported in ``neutralised`` (the project's screen reads the claim). Neither
    layout rewrites what it shows: a question or context in which the :mod:`.defence` rules find
    grader-directed text, verdicts or fake turns gets a second verdict on the case without them, and the lower
    confidence counts (both calls billed; see :meth:`_noted_case`).

    Layouts (``layout``): ``"few-shot"`` (:func:`~.prompt.build_prompt`: system text and worked
    examples, a byte-identical prefix on every call, then the case) or ``"continue"``
    (:func:`~.prompt.build_continuation`: the answer call's ``messages``, the claim, a short verdict
    instruction; without ``messages``, the engine's answer prompt for the question and context). A
    continuation that does not fit the limits below is replaced by the fitted few-shot prompt.

    The context is left-truncated (its end kept) so that the prompt fits ``max_prompt_tokens`` and,
    when ``model.context_window`` is known, ``(1 - window_slack) * context_window - reply tokens``;
    the slack absorbs the gap between our tiktoken counts and the model's own tokenizer. If the
    question and answer alone do not fit, the context is dropped and each keeps its end within half
    of the room. If even the bare prompt does not fit, it is sent as small as it gets and the model
    reports the error. Model failures propagate as :class:`~automix_core.models.ModelError` (other
    exceptions from the model are wrapped into a non-retryable one); on failure no result is
    returned, so calls completed before the failure are not reported.
    """

    def __init__(
        self,
        model: ChatModel,
        k: int = 8,
        temperature: float = 1.0,
        max_tokens: int = 160,
        mode: VerifyMode = "sample",
        early_stop_confidence: float = 0.95,
        batch_size: int = 2,
        logprob_top: int = 10,
        max_prompt_tokens: int | None = None,
        window_slack: float = 0.1,
        layout: VerifyPrompt = "few-shot",
        defence: bool = True,
        screen: VerificationScreen | None = None,
        claims: bool = True,
    ) -> None:
        if mode not in ("sample", "sequential", "logprob"):
            raise ValueError(f"unknown verification mode {mode!r}")
        if layout not in ("few-shot", "continue"):
            raise ValueError(f"unknown verification prompt layout {layout!r}")
        if k < 1 or batch_size < 1 or max_tokens < 1 or logprob_top < 1:
            raise ValueError("k, batch_size, max_tokens and logprob_top must be >= 1")
        if not 0.5 < early_stop_confidence <= 1.0:
            raise ValueError("early_stop_confidence must be in (0.5, 1]")
        if not 0.0 <= window_slack < 1.0:
            raise ValueError("window_slack must be in [0, 1)")
        self.model, self.k, self.temperature, self.max_tokens = model, k, temperature, max_tokens
        self.mode: VerifyMode = mode
        self.early_stop_confidence, self.batch_size, self.logprob_top = early_stop_confidence, batch_size, logprob_top
        self.max_prompt_tokens, self.window_slack = max_prompt_tokens, window_slack
        self.layout: VerifyPrompt = layout
        self.screen: VerificationScreen | None = (screen or LexicalScreen()) if defence else None
        self.claims = claims

    # prompt ----------------------------------------------------------------------------------

    def _prompt_limit(self, reply_tokens: int) -> int | None:
        limits = [] if self.max_prompt_tokens is None else [self.max_prompt_tokens]
        window = self.model.context_window
        if window is not None:
            limits.append(int(window * (1 - self.window_slack)) - reply_tokens)
        return min(limits) if limits else None

    def prompt(self, question: str, claim: str, context: str = "", *, logprob: bool = False,
               messages: list[Message] | None = None) -> list[Message]:
        """The verdict messages this verifier sends for ``claim`` (what an answer claims, see :mod:`.claim`)
        in its layout, the question and context cut to what can reach the prompt (:meth:`_shown`), fitted (see
        the class docs); ``messages`` are the answer call's (``continue`` layout)."""
        question, context = self._shown(question, context)
        return self._prompt(question, claim, context, logprob=logprob, messages=messages)

    def _restatement(self, question: str, answer: str, context: str, answered: list[Message] | None) -> list[Message]:
        """The call that restates ``answer``'s claim: a continuation of the answer call, or, when that does not
        fit the limits, of a bare answer prompt with the question and the answer's end (where the final
        answer is) in half of the room each."""
        messages = build_restatement(answered if answered is not None else build_answer_messages(question, context),
                                     answer)
        limit, name = self._prompt_limit(CLAIM_MAX_TOKENS), self.model.name
        if limit is None or messages_upper_bound(messages) <= limit or count_messages(messages, name) <= limit:
            return messages
        return fit_case(lambda q, a, _: build_restatement(build_answer_messages(q), a), question, answer, "", limit,
                        name)

    def _prompt(self, question: str, answer: str, context: str = "", *, logprob: bool = False,
                messages: list[Message] | None = None) -> list[Message]:
        limit = self._prompt_limit(LOGPROB_MAX_TOKENS if logprob else self.max_tokens)
        if self.layout == "continue":
            answered = messages if messages is not None else build_answer_messages(question, context)
            continued = build_continuation(answered, answer, logprob=logprob)
            if (limit is None or messages_upper_bound(continued) <= limit
                    or count_messages(continued, self.model.name) <= limit):
                return continued
        full = build_prompt(question, answer, context, logprob=logprob)
        if limit is None or messages_upper_bound(full) <= limit:
            return full  # no window, or it fits for sure: no tokenizing
        return fit_case(lambda q, a, c: build_prompt(q, a, c, logprob=logprob), question, answer, context, limit,
                        self.model.name)

    # model calls -----------------------------------------------------------------------------

    def _wrap(self, error: Exception) -> ModelError:
        name = self.model.name
        return ModelError(f"verifier model {name!r} failed: {error!r}", model=name, retryable=False,
                          status_code=getattr(error, "status_code", None))

    def _call(self, messages: list[Message], n: int, temperature: float, max_tokens: int, logprobs: int | None,
              request: RequestContext | None = None) -> Call:
        try:
            gen = self.model.generate(messages, n=n, temperature=temperature, max_tokens=max_tokens, logprobs=logprobs,
                                      **request_kwargs(request))
        except ModelError:
            raise
        except Exception as error:
            raise self._wrap(error) from error
        return messages, checked_generation(gen, self.model.name)

    async def _acall(
        self, messages: list[Message], n: int, temperature: float, max_tokens: int, logprobs: int | None,
        request: RequestContext | None = None,
    ) -> Call:
        try:
            gen = await self.model.agenerate(
                messages, n=n, temperature=temperature, max_tokens=max_tokens, logprobs=logprobs,
                **request_kwargs(request))
        except ModelError:
            raise
        except Exception as error:
            raise self._wrap(error) from error
        return messages, checked_generation(gen, self.model.name)

    def _draw(self, messages: list[Message], n: int, request: RequestContext | None = None) -> list[Call]:
        """``n`` samples (:func:`~automix_core.verify.draw.draw`): one request with ``n`` if supported and
        the rest one by one, else ``n`` requests one after another."""
        return draw(lambda m: self._call(messages, m, self.temperature, self.max_tokens, None, request),
                    _samples, n, self.model.supports_n)

    async def _adraw(self, messages: list[Message], n: int, request: RequestContext | None = None) -> list[Call]:
        """``n`` samples as :meth:`_draw`, single requests concurrently."""
        return await adraw(lambda m: self._acall(messages, m, self.temperature, self.max_tokens, None, request),
                           _samples, n, self.model.supports_n)

    def _confident(self, calls: list[Call]) -> bool:
        """Whether the verdicts so far settle which side of 0.5 the chance of "correct" is on."""
        verdicts = [parse_verdict(text) for _, gen in calls for text in gen.texts]
        p = posterior_correct(verdicts.count(True), verdicts.count(False))
        return max(p, 1 - p) >= self.early_stop_confidence

    def _logprob_result(self, call: Call) -> VerificationResult | None:
        messages, gen = call
        if not gen.token_logprobs:
            return None
        confidence = _logprob_confidence(gen.token_logprobs[0])
        if confidence is None:
            return None
        verdicts = [_parse_logprob_reply(text) for text in gen.texts]
        return VerificationResult(
            confidence=confidence,
            parsed=True,
            verdicts=verdicts,
            samples=list(gen.texts),
            n_parsed=sum(v is not None for v in verdicts),
            mode="logprob",
            generations=[gen],
            messages=[messages],
        )

    # public ----------------------------------------------------------------------------------

    def _steps(self, question: str, answer: str, context: str,
               answered: list[Message] | None) -> Generator[_Ask, list[Call], VerificationResult]:
        """The verification of one case, written once: yields the calls it needs (see :class:`_Ask`). The
        claim of ``answer`` is judged (:mod:`.claim`; restated by the model unless the answer is its own
        claim), placed where the answer was; the screen's factor scales the confidence."""
        restated: list[Call] = []
        claim = own_claim(answer) if self.claims else answer
        if claim is None:
            restated, claim, said, kept = yield from self._restate(question, answer, context, answered, restated)
            of = "the answer"
            if said and kept:  # restated again on its own: an answer's prose can keep the model copying a value
                restated, again, _, kept = yield from self._restate(question, claim, context, answered, restated)
                claim, of = (claim, of) if kept else (again, f"the claim it restated ({claim[:60]})")
            if not kept:  # another value than the answer's: escalated
                return _unfaithful(self.mode, claim, restated, of)
        question, context = self._shown(question, context)
        screening = self.screen(question, claim, context) if self.screen is not None else Screening()
        result = yield from self._judge(question, claim, context, answered)
        noted = self._noted_case(question, claim, context, answered, answer)
        if noted is not None:  # a second verdict without the notes to the grader: the lower counts
            clean_q, clean_c, clean_messages, found = noted
            second_claim = claim
            if restated and any(f.place == "question" for f in found):
                # a question's note ("the expected answer is X") can keep the model from correcting a wrong answer
                # as it restates it: restated again without it. Not for a context's: an honest context the rules
                # misread (an exam key, a fact check's "Verdict:") would lose what the restatement rests on
                # (measured: the honest audit's exam key escalated in both layouts, 0.68 and 0.52 to 0)
                restated, second_claim, _, kept = yield from self._restate(clean_q, answer, clean_c, clean_messages,
                                                                           restated)
                if not kept:  # reported with the note behind it
                    unfaithful = _unfaithful(self.mode, second_claim, restated)
                    return replace(unfaithful, neutralised=(*found, *unfaithful.neutralised),
                                   generations=[g for _, g in restated] + result.generations,
                                   messages=[m for m, _ in restated] + result.messages)
            second = yield from self._judge(clean_q, second_claim, clean_c, clean_messages)
            lower = second if second.confidence < result.confidence else result
            result = replace(lower, neutralised=found, generations=result.generations + second.generations,
                             messages=result.messages + second.messages)
        return replace(result, confidence=result.confidence * screening.factor, claim=claim,
                       neutralised=(*result.neutralised, *screening.findings),
                       generations=[g for _, g in restated] + result.generations,
                       messages=[m for m, _ in restated] + result.messages)

    def _restate(self, question: str, answer: str, context: str, answered: list[Message] | None,
                 restated: list[Call]) -> Generator[_Ask, list[Call], tuple[list[Call], str, bool, bool]]:
        """``restated`` and a restatement of ``answer``'s claim (:meth:`_restatement`), the claim, whether the model
        said one (an empty restatement gives the answer without its judgement words), and whether it gives the
        answer's value (:func:`~.claim.faithful`; an empty one has nothing to check)."""
        restated = restated + (yield _Ask(self._restatement(question, answer, context, answered), 1, claim=True))
        claim, said = _restated_claim(restated[-1], answer)
        return restated, claim, said, not said or faithful(claim, answer, question)

    def _noted_case(self, question: str, claim: str, context: str, answered: list[Message] | None, answer: str = ""
                    ) -> tuple[str, str, list[Message] | None, tuple[Finding, ...]] | None:
        """When the :mod:`.defence` rules find grader-directed text, verdicts or fake turns in the question or the
        context (in the question also an aside that names the answer other than among options, or is in another language
        than the asking sentence): the question and context without them (any other short aside in the question is not a
        reason: every PubMedQA query's "Answer with one word: yes, no or maybe." is one), the answer call's messages
        with those in place (the engine's answer prompt when a changed text is not in the messages as given; the
        few-shot layout reads no messages), and the findings; else None. Both layouts show the question and context as
        given, so a note in a retrieved document reaches the verdict; it cannot lift the confidence: the verdict on the
        case without it is asked too, and the lower of the two confidences counts (one more call, only for such cases).
        An honest text the rules misread (a chat transcript with role markers, an exam key) costs that call and, at
        worst, the confidence of a case that lost a sentence."""
        if self.screen is None:
            return None
        q, c, found = _case_notes(question, claim, context, answer)
        changed = [(old, new.text) for old, new, place in ((context, c, "context"), (question, q, "question"))
                   if any(f.place == place for f in found) and " ".join(new.text.split()) != " ".join(old.split())]
        if not changed:
            return None
        clean = dict(changed)
        new_q, new_c = clean.get(question, question), clean.get(context, context)
        if answered is None or not all(any(old in m["content"] for m in answered) for old, _ in changed):
            return new_q, new_c, None, found
        messages = answered  # each replacement below builds new messages: the answer call's are never changed
        for old, new in changed:
            messages = [{"role": m["role"], "content": m["content"].replace(old, new)} for m in messages]
        return new_q, new_c, messages, found

    def _shown(self, question: str, context: str) -> tuple[str, str]:
        """The question and context cut to the ends that can reach the prompt (the fitting keeps ends), else as
        given: neither layout rewrites them (the few-shot layout fences and escapes them, :mod:`.prompt`)."""
        limit = self._prompt_limit(self.max_tokens)
        if limit is None:
            return question, context
        room = max(limit, 1) * _CHARS_PER_TOKEN_BOUND
        return question[-room:], context[-room:]

    def _judge(self, question: str, answer: str, context: str,
               answered: list[Message] | None) -> Generator[_Ask, list[Call], VerificationResult]:
        billed: list[Call] = []
        if self.mode == "logprob" and not lacks_logprobs(self.model):
            (call,) = yield _Ask(self._prompt(question, answer, context, logprob=True, messages=answered), 1,
                                 logprob=True)
            result = self._logprob_result(call)
            if result is not None:
                return result
            if not call[1].token_logprobs:
                remember_no_logprobs(self.model)
                warnings.warn(f"verifier model {self.model.name!r} returned no logprobs: logprob verification fell "
                              "back to sampling (billed), whose confidences a router calibrated on logprob ones "
                              "misreads; use a backend that returns logprobs or set verify_mode", UserWarning,
                              stacklevel=2)
            billed.append(call)
        messages = self._prompt(question, answer, context, messages=answered)
        if self.mode != "sequential":
            return _from_samples("sample", (yield _Ask(messages, self.k)), billed)
        calls: list[Call] = []
        requested = 0
        while requested < self.k and not self._confident(calls):
            batch = min(self.batch_size, self.k - requested)
            requested += batch
            calls += yield _Ask(messages, batch)
        return _from_samples("sequential", calls)

    def _greedy(self, step: _Ask) -> tuple[int, int | None]:
        """max_tokens and logprobs of a single greedy call: the restatement or the logprob verdict."""
        return (CLAIM_MAX_TOKENS, None) if step.claim else (LOGPROB_MAX_TOKENS, self.logprob_top)

    def verify(self, question: str, answer: str, context: str = "", *,
               messages: list[Message] | None = None, request: RequestContext | None = None) -> VerificationResult:
        """Verify ``answer`` to ``question`` (optionally against ``context``; ``messages``: the answer
        call's, for the ``continue`` layout; ``request``: passed to every call, see
        :class:`~automix_core.models.RequestContext`); see the class docs."""
        steps = self._steps(question, answer, context, messages)
        step = advance(steps, None)
        while not isinstance(step, Done):
            step = advance(steps, [self._call(step.messages, 1, 0.0, *self._greedy(step), request)]
                           if step.logprob or step.claim else self._draw(step.messages, step.n, request))
        result: VerificationResult = step.value
        return result

    async def averify(self, question: str, answer: str, context: str = "", *, messages: list[Message] | None = None,
                      request: RequestContext | None = None) -> VerificationResult:
        """Async :meth:`verify`; separate requests of one batch run concurrently."""
        steps = self._steps(question, answer, context, messages)
        step = advance(steps, None)
        while not isinstance(step, Done):
            step = advance(steps, [await self._acall(step.messages, 1, 0.0, *self._greedy(step), request)]
                           if step.logprob or step.claim else await self._adraw(step.messages, step.n, request))
        result: VerificationResult = step.value
        return result


@dataclass(frozen=True)
class _Ask:
    """A step of a verification: ``n`` samples of ``messages`` (drawn as :func:`~.draw.draw` does), or
    with ``logprob`` the one greedy logprob call, or with ``claim`` the one greedy restatement call."""

    messages: list[Message]
    n: int
    logprob: bool = False
    claim: bool = False
