"""The ``automix`` command line: ``eval``, ``calibrate`` and ``models``."""

from __future__ import annotations

import argparse
import json
import math
import sys
from collections.abc import Sequence
from typing import Any

from .evaluate import DEFAULT_METHODS, MethodResult, evaluate, evaluate_cv
from .local import add_cli as add_models_cli
from .policies import POLICIES, PolicyError
from .records import Record, RecordArrays, RecordError, filter_records, read_records, to_arrays
from .router import RouterError, calibrate

__all__ = ["main"]


def _floats(text: str) -> list[float]:
    try:
        vals = [float(x) for x in text.split(",")]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated numbers, got {text!r}") from None
    if any(not math.isfinite(v) or v < 0 for v in vals):
        raise argparse.ArgumentTypeError(f"costs must be finite and >= 0, got {text!r}")
    return vals


def _models(text: str) -> list[str]:
    names = [x.strip() for x in text.split(",") if x.strip()]
    if len(names) < 2:
        raise argparse.ArgumentTypeError(f"--models needs at least two names, cheapest first; got {text!r}")
    return names


def _load(args: argparse.Namespace, split: str | None, records: list[Record] | None = None) -> RecordArrays:
    recs = read_records(args.records) if records is None else records
    recs = filter_records(recs, task=args.task, group=args.group, split=split)
    if not recs:
        raise RecordError(
            f"no records match task={args.task!r} group={args.group!r} split={split!r} in {', '.join(args.records)}"
        )
    # records of another cascade (whose `models` do not list every requested model) are left out;
    # a record that lists a model but lacks its output is an error (or skipped with --skip-missing)
    recs = [r for r in recs if set(args.models) <= set(r.models)]
    if not recs:
        raise RecordError(f"no record lists all of the models {args.models} (task={args.task!r}, group={args.group!r})")
    if args.skip_missing:
        recs = [r for r in recs if all(m in r.outputs for m in args.models)]
    arr = to_arrays(recs, args.models)
    if args.unit_costs is not None:
        arr = arr.with_unit_costs(args.unit_costs)
    return arr


def _add_data_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("records", nargs="+", help="AutoMix records v1 file(s) (JSONL)")
    p.add_argument("--models", type=_models, required=True, help="model names, cheapest first: A,B[,C...]")
    p.add_argument("--task", default=None, help="keep only records of this task")
    p.add_argument("--group", default=None, help="keep only records of this group")
    p.add_argument("--unit-costs", type=_floats, default=None,
                   help="fixed cost per call of each tier (replaces recorded costs; verifier cost 0)")
    p.add_argument("--skip-missing", action="store_true", help="drop records lacking one of the models")
    p.add_argument("--grid", type=int, default=200, help="operating points swept per policy (default 200)")


def _cmd_eval(args: argparse.Namespace) -> int:
    methods = args.methods.split(",") if args.methods else list(DEFAULT_METHODS)
    for m in methods:
        if m not in POLICIES:
            raise PolicyError(f"unknown policy {m!r}; known policies: {', '.join(sorted(POLICIES))}")
    records = read_records(args.records)
    train = _load(args, args.train_split, records)
    has_test = args.cv is None and any(r.split == args.test_split for r in records)
    if has_test:
        test = _load(args, args.test_split, records)
        res = evaluate(train, test, methods, regions=args.regions, grid=args.grid)
        how = f"train split {args.train_split!r} ({len(train)}), test split {args.test_split!r} ({len(test)})"
    else:
        k = args.cv or 5
        res = evaluate_cv(train, k, methods, regions=args.regions, grid=args.grid, repeats=args.repeats)
        how = f"{k}-fold cross-validation x {args.repeats} over {len(train)} records (no {args.test_split!r} split)"
    if args.json:
        print(json.dumps({name: r.to_json() for name, r in res.items()}, allow_nan=False))
    else:
        _print_table(res, how, args.models)
    return 0


def _fmt(x: float | None, spec: str = ".1f") -> str:
    return "-" if x is None or (isinstance(x, float) and math.isnan(x)) else format(x, spec)


def _print_table(res: dict[str, MethodResult], how: str, models: Sequence[str]) -> None:
    print(f"AutoMix eval: {' -> '.join(models)}; {how}")
    print(f"{'method':28s} {'mean ΔIBC %':>12s} {'AUC':>7s}  per-region ΔIBC %")
    for name, r in res.items():
        regions = " ".join(f"{v:7.1f}" for v in r.dibc_regions)
        print(f"{name:28s} {_fmt(r.mean_dibc):>12s} {_fmt(r.auc, '.3f'):>7s}  {regions}")


def _cmd_calibrate(args: argparse.Namespace) -> int:
    train = _load(args, args.train_split)
    router = calibrate(train, args.policy, budget=args.budget, target=args.target, grid=args.grid)
    path = router.save(args.output)
    op = router.operating_point
    info: dict[str, Any] = {"output": str(path), "policy": router.policy.describe(), "records": len(train)}
    if op is not None:
        info |= {"train_cost": op.cost, "train_quality": op.quality, "train_dibc": op.dibc, "selection": op.selection}
    print(json.dumps(info))
    return 0


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="automix", description="AutoMix: small model first, escalate when needed.")
    sub = p.add_subparsers(dest="command", required=True)

    e = sub.add_parser("eval", help="fit every policy on train records and score it on test records")
    _add_data_args(e)
    e.add_argument("--train-split", default="train")
    e.add_argument("--test-split", default="test")
    e.add_argument("--cv", type=int, default=None, help="k-fold cross-validation instead of a test split")
    e.add_argument("--repeats", type=int, default=1, help="repeat cross-validation over this many splits")
    e.add_argument("--regions", type=int, default=5, help="cost regions for mean ΔIBC (default 5)")
    e.add_argument("--methods", default=None, help=f"policies to score (default {','.join(DEFAULT_METHODS)})")
    e.add_argument("--json", action="store_true", help="print one JSON object keyed by method")
    e.set_defaults(func=_cmd_eval)

    c = sub.add_parser("calibrate", help="fit a router on records and save it as JSON")
    _add_data_args(c)
    c.add_argument("--train-split", default=None, help="use only records of this split (default: all)")
    c.add_argument("--policy", default="pomdp", choices=sorted(POLICIES))
    g = c.add_mutually_exclusive_group()
    g.add_argument("--budget", type=float, default=None, help="mean cost per query must stay <= this")
    g.add_argument("--target", type=float, default=None, help="reach at least this mean quality, cheapest")
    c.add_argument("-o", "--output", required=True, help="router JSON to write")
    c.set_defaults(func=_cmd_calibrate)

    add_models_cli(sub)
    d = sub.add_parser("demo", help="AutoMix live on real local models (Qwen2.5-Coder 0.5B -> 1.5B)")
    d.add_argument("--k", type=int, default=4, help="self-verification samples (default 4)")
    d.add_argument("--questions", type=int, default=5)
    d.set_defaults(func=lambda a: _demo(["--k", str(a.k), "--questions", str(a.questions)]))
    return p


def _demo(argv: list[str]) -> int:
    from .demo import main as demo_main

    return demo_main(argv)


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        rc: int = args.func(args)
        return rc
    except (RecordError, RouterError, PolicyError, ValueError) as exc:
        print(f"automix: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("automix: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
