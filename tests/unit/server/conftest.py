"""Fixtures of the server's unit tests: the app over an in-process scripted upstream (no network).

The upstream is :class:`automix_server.testing.FakeUpstream`'s ASGI app, reached through
``httpx.ASGITransport``; the server app itself is called the same way.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Any

import httpx
import pytest

from automix_server import ServerApp, create_app, parse_config
from automix_server.testing import FakeUpstream

KEY = "client-key-0123456789"
UPSTREAM_KEY = "sk-upstream-secret-abcdef123456"
AUTH = {"Authorization": f"Bearer {KEY}"}


def base_config(**top: Any) -> dict[str, Any]:
    """Two tiers (small, large) on the fake upstream, k=2, one client key ``KEY``."""
    route = top.pop("route", {})
    tiers = [
        {"name": "small", "base_url": "http://upstream/v1", "model": "small", "api_key_env": "TEST_UPSTREAM_KEY",
         "price": {"input_per_million": 1.0, "output_per_million": 2.0}, "timeout": 5},
        {"name": "large", "base_url": "http://upstream/v1", "model": "large", "api_key_env": "TEST_UPSTREAM_KEY",
         "price": {"input_per_million": 10.0, "output_per_million": 20.0}, "timeout": 5},
    ]
    cfg: dict[str, Any] = {
        "api_keys": [{"name": "tester", "key": KEY}],
        "routes": {"automix": {"tiers": tiers, "cascade": {"k": 2, "retries": 0}, **route}},
    }
    cfg.update(top)
    return cfg


class AppClient:
    """The app, its :class:`ServerApp`, and an httpx client calling it in process."""

    def __init__(self, app: Any, client: httpx.AsyncClient) -> None:
        self.app = app
        self.server: ServerApp = app.state.server
        self.client = client

    async def chat(self, body: dict[str, Any], headers: dict[str, str] | None = None) -> httpx.Response:
        return await self.client.post("/v1/chat/completions", json=body, headers=AUTH if headers is None else headers)


def ask(text: str, **extra: Any) -> dict[str, Any]:
    return {"model": "automix", "messages": [{"role": "user", "content": text}], **extra}


class Helpers:
    """What the tests use: the keys, the base config and request builders (``h`` fixture)."""

    KEY = KEY
    UPSTREAM_KEY = UPSTREAM_KEY
    AUTH = AUTH
    base_config = staticmethod(base_config)
    ask = staticmethod(ask)


@pytest.fixture
def h() -> type[Helpers]:
    return Helpers


@pytest.fixture(autouse=True)
def _upstream_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TEST_UPSTREAM_KEY", UPSTREAM_KEY)


@pytest.fixture
def fake() -> FakeUpstream:
    return FakeUpstream()


@pytest.fixture
async def make_client(fake: FakeUpstream) -> AsyncIterator[Callable[..., AppClient]]:
    """``make_client(config_dict=None, **create_app_kwargs)``: an :class:`AppClient` over ``fake``."""
    made: list[AppClient] = []

    def make(config: dict[str, Any] | None = None, **kwargs: Any) -> AppClient:
        cfg = parse_config(config if config is not None else base_config())
        app = create_app(cfg, transport=httpx.ASGITransport(app=fake.app), install_sighup=False, **kwargs)
        client = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://automix", timeout=30)
        ac = AppClient(app, client)
        made.append(ac)
        return ac

    yield make
    for ac in made:
        await ac.client.aclose()
        await ac.server.aclose()
