"""The cascade: the engine (:mod:`.engine`) and what it is made of and returns (:mod:`.result`)."""

from ..errors import AllTiersFailedError
from .engine import WINDOW_SLACK, AutoMix, build_answer_messages
from .result import AutoMixResult, Event, Hook, Screen, Tier, TierTrace

__all__ = [
    "WINDOW_SLACK",
    "AllTiersFailedError",
    "AutoMix",
    "AutoMixResult",
    "Event",
    "Hook",
    "Screen",
    "Tier",
    "TierTrace",
    "build_answer_messages",
]
