"""Shared fixtures for tests on a real local model (llama.cpp via xllamacpp serving SmolLM2-135M).

``smollm_server`` is session-scoped: one embedded server for every test that asks for it. It skips
(with the reason) when xllamacpp is not importable or the SmolLM2 weights are not in the cache;
install them with ``python -m automix_core.backends.local install smollm2-135m`` (or
``automix models install smollm2-135m``).
"""

from __future__ import annotations

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


def pytest_configure(config: pytest.Config) -> None:
    """pytest-benchmark off unless ``--benchmark-enable``: its one user here, langchain-tests' standard
    ``test_init_time``, times ten model constructions for about a second and asserts nothing on the time;
    disabled, the benchmark fixture runs them once (a construction that fails still fails the test)."""
    if hasattr(config.option, "benchmark_disable"):
        config.option.benchmark_disable = True


@pytest.fixture(scope="session")
def smollm_server() -> Iterator[LocalServer]:
    """A running :class:`LocalServer` for SmolLM2-135M (4 slots, 2 threads); ``.model()`` gives a client."""
    require_smollm()
    with LocalServer(SMOLLM, parallel=SMOLLM_PARALLEL, threads=2) as server:
        yield server
