"""OpenAI-style errors and the secret scrubber of the server.

Every error the server returns has OpenAI's shape, ``{"error": {"message", "type", "param", "code"}}``,
with the HTTP status OpenAI uses for that kind of failure. Messages pass through :class:`Scrubber`
first, so no API key (upstream or client) can reach a response or a log line.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any

from automix_core import AutoMixError
from automix_core.integration import scrub_secrets

__all__ = ["APIError", "Scrubber", "error_body"]


class APIError(AutoMixError):
    """An error answered as OpenAI's error JSON with ``status`` (in the one tree: :class:`AutoMixError`).

    ``extra`` holds top-level fields added next to ``error`` (e.g. the ``automix`` object of a request
    whose tiers all failed, so the calls it paid for are still reported).
    """

    def __init__(
        self,
        status: int,
        message: str,
        *,
        type: str = "invalid_request_error",
        param: str | None = None,
        code: str | None = None,
        headers: Mapping[str, str] | None = None,
        extra: Mapping[str, Any] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.type = type
        self.param = param
        self.code = code
        self.headers = dict(headers or {})
        self.extra = dict(extra or {})

    def body(self, scrubber: Scrubber | None = None) -> dict[str, Any]:
        message = scrubber.scrub(self.message) if scrubber is not None else self.message
        out: dict[str, Any] = {"error": error_body(message, self.type, self.param, self.code)}
        if self.extra:
            out.update(scrubber.scrub_obj(self.extra) if scrubber is not None else self.extra)
        return out


def error_body(message: str, type: str, param: str | None = None, code: str | None = None) -> dict[str, Any]:
    """The inner ``error`` object of OpenAI's error JSON."""
    return {"message": message, "type": type, "param": param, "code": code}


# Shapes of credentials that may appear in an upstream's error text even when the server does not
# know their value (e.g. a provider echoing a key it was sent by a proxy in between).
_PATTERNS = (
    re.compile(r"(?i)(bearer\s+)[A-Za-z0-9._~+/=-]{8,}"),
    re.compile(r"\bsk-[A-Za-z0-9_-]{8,}"),
    re.compile(r"(?i)(api[_-]?key[\"']?\s*[:=]\s*[\"']?)[A-Za-z0-9._-]{8,}"),
)


class Scrubber:
    """Replaces known secret values and credential-shaped strings with ``***``.

    Known values go through the core's :func:`~automix_core.integration.scrub_secrets`; the credential
    shapes are the server's addition (an upstream may echo a key the server never held).
    """

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        # longest first, so a secret that contains another is replaced whole
        self._secrets = sorted({s for s in secrets if s and len(s) >= 4}, key=len, reverse=True)

    def scrub(self, text: str) -> str:
        text = scrub_secrets(text, self._secrets)
        for pat in _PATTERNS:
            text = pat.sub(lambda m: (m.group(1) if m.groups() else "") + "***", text)
        return text

    def scrub_obj(self, value: Any) -> Any:
        """``value`` with every string inside it scrubbed (dicts, lists, tuples)."""
        if isinstance(value, str):
            return self.scrub(value)
        if isinstance(value, dict):
            return {k: self.scrub_obj(v) for k, v in value.items()}
        if isinstance(value, (list, tuple)):
            return [self.scrub_obj(v) for v in value]
        return value
