"""Progress of a cascade as LangChain custom events.

The first streamed token of an AutoMix model comes after the whole cascade (the answer is streamed
once it is verified and accepted), so ``stream``/``astream`` cannot show progress by themselves.
Instead every AutoMix run (``AutoMixChatModel`` and ``AutoMixRunnable``, ``invoke``, ``stream`` and
their async forms) dispatches custom callback events while the cascade runs, the LangChain way
(as :func:`~langchain_core.callbacks.manager.dispatch_custom_event` does from inside a runnable):
they reach a callback handler's ``on_custom_event`` and appear in ``astream_events(version="v2")``
as ``on_custom_event`` events, with the AutoMix run's ``run_id``, tags and metadata:

* :data:`ANSWER_EVENT` (``"automix.answer"``): a tier's answer is ready, verification follows;
* :data:`VERIFIED_EVENT` (``"automix.verified"``): its confidence;
* :data:`DECISION_EVENT` (``"automix.decision"``): accept or escalate, and to which tier;
* :data:`FAILED_EVENT` (``"automix.failed"``): a call failed after its retries.

Their data (see :func:`automix_core.integration.progress_event`) hold tier indices, model names,
confidences and fixed words, never text a model or the caller wrote, nor keys. Every one of them is
delivered before the first streamed token (and before the run's end event). Runs without callback
handlers build nothing.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Sequence
from typing import Any, TypeVar

from langchain_core.callbacks import AsyncCallbackManager, CallbackManager

from automix_core.integration import PROGRESS_EVENTS, ProgressHook

from .tiers import ChildCallbacks

__all__ = ["ANSWER_EVENT", "DECISION_EVENT", "FAILED_EVENT", "PROGRESS_EVENT_NAMES", "VERIFIED_EVENT",
           "flushed", "progress_hook"]

T = TypeVar("T")

ANSWER_EVENT = PROGRESS_EVENTS["answer"]
VERIFIED_EVENT = PROGRESS_EVENTS["verify"]
DECISION_EVENT = PROGRESS_EVENTS["decide"]
FAILED_EVENT = PROGRESS_EVENTS["failure"]
PROGRESS_EVENT_NAMES = frozenset(PROGRESS_EVENTS.values())
"""The names of AutoMix's progress events (to filter ``on_custom_event`` by)."""


class _AsyncSender:
    """Sends through an async callback manager from a (sync) hook: each event is a task that first
    waits for the one before, so handlers see them in order; :meth:`flush` waits for the last."""

    def __init__(self, manager: AsyncCallbackManager) -> None:
        self.manager = manager
        self.last: asyncio.Task[None] | None = None

    def __call__(self, name: str, data: dict[str, Any]) -> None:
        self.last = asyncio.get_running_loop().create_task(self._send(self.last, name, data))

    async def _send(self, before: asyncio.Task[None] | None, name: str, data: dict[str, Any]) -> None:
        if before is not None:
            await before
        try:
            await self.manager.on_custom_event(name, data, run_id=self.manager.parent_run_id)
        except Exception:  # a handler's failure never breaks the request (as for any hook)
            return

    async def flush(self) -> None:
        if self.last is not None:
            await self.last


def progress_hook(callbacks: ChildCallbacks, names: Sequence[str]) -> tuple[ProgressHook, _AsyncSender | None] | None:
    """The hook that reports one request's progress to the AutoMix run's callback handlers (the
    handlers its child calls get, i.e. the inheritable ones: ``callbacks()``), with the async sender to
    flush (:func:`flushed`) on the async path; None when the run has no handler (nothing to tell)."""
    manager = callbacks()
    if not isinstance(manager, (CallbackManager, AsyncCallbackManager)) or not manager.handlers \
            or manager.parent_run_id is None:
        return None
    if isinstance(manager, AsyncCallbackManager):
        sender = _AsyncSender(manager)
        return ProgressHook(names, sender), sender
    run_id = manager.parent_run_id
    sync = manager

    def send(name: str, data: dict[str, Any]) -> None:
        sync.on_custom_event(name, data, run_id=run_id)

    return ProgressHook(names, send), None


async def flushed(run: Awaitable[T], sender: _AsyncSender | None) -> T:
    """``await run``, returning once the progress events it scheduled have been delivered (the hook
    only schedules them, see :class:`_AsyncSender`)."""
    try:
        return await run
    finally:
        if sender is not None:
            await sender.flush()
