"""Local models, one namespace: the catalog, the installer, the embedded llama.cpp server and the
routers shipped for catalog pairs (what ``automix serve --local`` and the demo use)."""

from __future__ import annotations

from .backends.local import (
    DEFAULT_SERVE_CTX,
    MODELS,
    LocalModel,
    LocalServer,
    ServedModel,
    cache_dir,
    install_model,
    is_installed,
    model_path,
)
from .shipped import SHIPPED_ROUTERS, shipped_router_path

__all__ = ["DEFAULT_SERVE_CTX", "MODELS", "SHIPPED_ROUTERS", "LocalModel", "LocalServer", "ServedModel", "cache_dir",
           "install_model", "is_installed", "model_path", "shipped_router_path"]
