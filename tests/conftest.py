"""Shared fixtures for tests on a real local model (llama.cpp via xllamacpp serving SmolLM2-135M).

``smollm_server`` is session-scoped: one embedded server for every test that asks for it. It skips
(with the reason) when xllamacpp is not importable or the SmolLM2 weights are not in the cache;
install them with ``python -m automix_core.backends.local install smollm2-135m`` (or
``automix models install smollm2-135m``).
"""

from __future__ import annotations

import gc
from collections.abc import Iterator

import pytest

from automix_core.backends.local import LocalServer, is_installed, model_path

SMOLLM = "smollm2-135m"
SMOLLM_PARALLEL = 4


def require_xllamacpp() -> None:
    """Skip the calling test unless xllamacpp imports."""
    try:
        import xllamacpp  # noqa: F401
    except ImportError as exc:
        pytest.skip(f"xllamacpp is not importable ({exc}); pip install 'automix[local]'")


def require_smollm() -> None:
    """Skip the calling test unless xllamacpp imports and the SmolLM2 weights are installed."""
    require_xllamacpp()
    if not is_installed(SMOLLM):
        pytest.skip(
            f"SmolLM2 weights not installed at {model_path(SMOLLM)}; "
            f"run: python -m automix_core.backends.local install {SMOLLM}"
        )


GC_THRESHOLD = (7000, 10, 10)
"""The cyclic garbage collector's thresholds for test runs: a young collection per 7,000 new container
objects instead of 700, so a tenth as many full collections; with the heap of LangChain, LlamaIndex,
FastAPI, matplotlib, ... each full collection costs about 0.1 s (6.7 s of CPU of ``make unit`` went to the
collector, 2.6 s with this and :func:`pytest_collection_finish`). Nothing waits for the collector: what a
test checks about finalisation, it checks after ``gc.collect()``."""


def pytest_configure(config: pytest.Config) -> None:
    """The collector's thresholds (:data:`GC_THRESHOLD`), and pytest-benchmark off unless
    ``--benchmark-enable``: its only users here, langchain-tests' standard ``test_init_time`` and
    ``test_stream_time``, time their calls for about a second each and assert nothing on the time; disabled,
    the benchmark fixture runs them once (a call that fails still fails the test)."""
    if hasattr(config.option, "benchmark_disable"):
        config.option.benchmark_disable = True
    gc.set_threshold(*GC_THRESHOLD)


def pytest_collection_finish(session: pytest.Session) -> None:
    """What collection imported (the libraries and the test modules) lives until the session ends: it is
    moved out of the collector's sight (``gc.freeze``), so full collections during the tests stop walking
    it again. Garbage made while collecting is freed first; what the tests make is collected as before."""
    gc.collect()
    gc.freeze()


@pytest.fixture(scope="session")
def smollm_server() -> Iterator[LocalServer]:
    """A running :class:`LocalServer` for SmolLM2-135M (4 slots, 2 threads); ``.model()`` gives a client."""
    require_smollm()
    with LocalServer(SMOLLM, parallel=SMOLLM_PARALLEL, threads=2) as server:
        yield server
