"""What every unit test shares.

``one_default_ssl_context``: every httpx client built with the default ``verify=True`` (the OpenAI SDK's two
clients behind each ``ChatOpenAI`` and ``OpenAILike`` the adapter tests build) loads certifi's CA bundle into a
new SSL context, about 50 ms of CPU each, over a second of the unit run. The unit tests talk plain HTTP to
loopback fakes and never use TLS, so for the session those clients share one default context (httpx's own,
built once). A client given another ``verify`` or ``cert``, or an environment naming other CA files, gets
its own as before.
"""

from __future__ import annotations

import functools
import os
import ssl
from collections.abc import Iterator
from typing import Any

import pytest


@pytest.fixture(scope="session", autouse=True)
def one_default_ssl_context() -> Iterator[None]:
    try:
        from httpx._transports import default as transports
    except ImportError:  # httpx absent or reorganised: every client builds its own, as without this fixture
        yield
        return
    build = getattr(transports, "create_ssl_context", None)
    if build is None:
        yield
        return
    shared = functools.lru_cache(maxsize=1)(lambda: build())

    def create_ssl_context(verify: Any = True, cert: Any = None, trust_env: bool = True) -> ssl.SSLContext:
        if verify is True and cert is None and not (trust_env and (os.environ.get("SSL_CERT_FILE")
                                                                    or os.environ.get("SSL_CERT_DIR"))):
            context: ssl.SSLContext = shared()
            return context
        result: ssl.SSLContext = build(verify=verify, cert=cert, trust_env=trust_env)
        return result

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(transports, "create_ssl_context", create_ssl_context)
        yield
