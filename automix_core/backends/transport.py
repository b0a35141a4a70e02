"""The two transports of the OpenAI wire layer: a blocking one (stdlib ``urllib``) and an async,
cancellable one (httpx, imported only when it is used: the ``server`` extra installs it).

Each sends one JSON body and returns the reply's JSON object, or raises the
:class:`~automix_core.errors.ModelError` that :class:`~.wire.CallSite` words for the failure; what
the body holds and what the reply means is :mod:`.wire`'s business.
"""

from __future__ import annotations

import asyncio
import http.client
import json
import urllib.error
import urllib.request
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from .wire import CallSite, decode_payload

if TYPE_CHECKING:
    import httpx

__all__ = ["ERROR_BODY_LIMIT", "AsyncTransport", "has_httpx", "post_json"]

ERROR_BODY_LIMIT = 64 * 1024
"""How much of an error reply is read for its message."""


def has_httpx() -> bool:
    """Whether httpx is importable (then async calls are cancellable; else they run in a thread)."""
    try:
        import httpx  # noqa: F401
    except ImportError:
        return False
    return True


def post_json(site: CallSite, body: Mapping[str, Any], headers: Mapping[str, str], timeout: float) -> dict[str, Any]:
    """POST ``body`` to ``site.url`` and return the reply's JSON object (blocking)."""
    data = json.dumps(body, ensure_ascii=False).encode("utf-8")
    req = urllib.request.Request(site.url, data=data, headers=dict(headers), method="POST")
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            raw = resp.read()
    except urllib.error.HTTPError as e:
        try:
            detail = e.read(ERROR_BODY_LIMIT)
        except (OSError, http.client.HTTPException):
            detail = b""
        finally:
            e.close()
        raise site.http_status(e.code, str(e.reason or ""), detail) from None
    except TimeoutError as e:
        raise site.timeout(timeout, str(e)) from None
    except urllib.error.URLError as e:
        if isinstance(e.reason, TimeoutError):
            raise site.timeout(timeout, str(e.reason)) from None
        raise site.error(f"connection failed: {e.reason}", retryable=True) from None
    except (ConnectionError, http.client.HTTPException, OSError) as e:
        raise site.connection(e) from None
    return decode_payload(raw, site)


class AsyncTransport:
    """An httpx client per event loop (a client's connections belong to the loop that opened them).

    ``transport`` replaces the network (an ``httpx`` transport, e.g. ``httpx.ASGITransport`` over an
    in-process app in tests). Cancelling the awaiting task cancels the request in flight.
    """

    def __init__(self, timeout: float, transport: httpx.AsyncBaseTransport | None = None) -> None:
        self.timeout = timeout
        self.transport = transport
        self._client: httpx.AsyncClient | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    def client(self) -> httpx.AsyncClient:
        import httpx

        loop = asyncio.get_running_loop()
        if self._client is None or self._loop is not loop or self._client.is_closed:
            limits = httpx.Limits(max_connections=256, max_keepalive_connections=64)
            self._client = httpx.AsyncClient(timeout=httpx.Timeout(self.timeout), limits=limits, trust_env=False,
                                             transport=self.transport)
            self._loop = loop
        return self._client

    async def post_json(self, site: CallSite, body: Mapping[str, Any], headers: Mapping[str, str]) -> dict[str, Any]:
        """POST ``body`` to ``site.url``; the whole call (not only each socket read) is bounded by ``timeout``."""
        import httpx

        data = json.dumps(body, ensure_ascii=False).encode("utf-8")
        try:
            resp = await asyncio.wait_for(self.client().post(site.url, content=data, headers=dict(headers)),
                                          self.timeout)
        except asyncio.TimeoutError:
            raise site.timeout(self.timeout, "no complete reply") from None
        except httpx.TimeoutException as exc:
            raise site.timeout(self.timeout, type(exc).__name__) from None
        except httpx.HTTPError as exc:
            raise site.connection(exc) from None
        if resp.status_code >= 400:
            raise site.http_status(resp.status_code, resp.reason_phrase, resp.content[:ERROR_BODY_LIMIT])
        return decode_payload(resp.content, site)

    async def get_status(self, url: str, headers: Mapping[str, str], timeout: float) -> int:
        """GET ``url`` and return its HTTP status; raises ``httpx.HTTPError`` when there is no reply."""
        resp = await self.client().get(url, headers=dict(headers), timeout=timeout)
        return resp.status_code

    async def aclose(self) -> None:
        if self._client is not None:
            client, self._client = self._client, None
            await client.aclose()
