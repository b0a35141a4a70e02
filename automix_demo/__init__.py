"""``automix demo``: AutoMix live on real local models (the core over llama.cpp, as ``automix serve
--local`` runs it), no API key.

It lives outside :mod:`automix_core` (it installs and serves models and scores the shipped data); the
core's command line finds it through the ``automix.commands`` entry point, as it finds ``automix serve``. This module
imports nothing heavy: :mod:`.run` does the work.
"""

from __future__ import annotations

import argparse
from typing import Any

__all__ = ["add_cli"]


def add_cli(sub: Any) -> None:
    """Register ``automix demo`` on the ``automix`` subcommand parser ``sub``."""
    d: argparse.ArgumentParser = sub.add_parser(
        "demo", help="AutoMix live on real local models (Qwen2.5-Coder 0.5B -> 1.5B)")
    d.add_argument("--k", type=int, default=None,
                   help="self-verification samples in the sampling modes (default: the router's method)")
    d.add_argument("--questions", type=int, default=5)
    d.add_argument("--recorded-only", action="store_true",
                   help="only score the shipped recorded dataset (no model is started or downloaded)")
    d.add_argument("--learn-questions", type=int, default=10,
                   help="questions served with shadowing for the learning loop (default 10; -1: no loop)")
    d.add_argument("--workdir", default="automix-demo", help="folder for the loop's traffic, router and report")
    d.set_defaults(func=_run)


def _run(args: argparse.Namespace) -> int:
    from .run import main

    return main([*(["--k", str(args.k)] if args.k else []), "--questions", str(args.questions),
                 *(["--recorded-only"] if args.recorded_only else []),
                 "--learn-questions", str(args.learn_questions), "--workdir", args.workdir])
