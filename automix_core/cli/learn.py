"""The command line of learning without labels: agreement labels for ``eval``/``calibrate``,
``calibrate --from-traffic`` and ``report``."""

from __future__ import annotations

import argparse
import contextlib
import json
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from ..calibration.agreement import AGREEMENT_RULES, Judge, label_by_agreement
from ..calibration.records import Record, RecordError, filter_records
from ..errors import RouterError

__all__ = ["AUTO_RULE_NOTE", "add_label_args", "add_report_cli", "add_traffic_args", "labelled", "run_from_traffic"]

AUTO_RULE_NOTE = (
    "rule auto: exact on option letters, numbers and labels, token F1 >= 0.2 on free text (the best rule without a "
    "model by 2-fold cross-validation x 8 on the cascade train split's 12 routing cases: the router fitted on these "
    "labels reached 99.5% of the gold-labelled router's mean ΔIBC; docs/learn-from-traffic.md)"
)


def add_label_args(p: argparse.ArgumentParser, flag: str) -> None:
    """``flag`` (``--labels`` or ``--train-labels``), ``--reference``, ``--agreement``, ``--judge-model``."""
    p.add_argument(flag, dest="label_source", choices=("gold", "agreement"), default="gold",
                   help="gold: the records' scores (default); agreement: each tier's answer labelled by its agreement "
                        "with the reference tier's answer (no gold needed; gold, where present, only scores)")
    p.add_argument("--reference", default=None,
                   help="reference tier for agreement labels (default: the last of --models)")
    p.add_argument("--agreement", choices=AGREEMENT_RULES, default="auto",
                   help="agreement rule (default auto; judge asks --judge-model)")
    p.add_argument("--judge-model", default=None, help="local model that judges agreement under --agreement judge")


@contextlib.contextmanager
def _judge(args: argparse.Namespace) -> Iterator[Judge | None]:
    if args.agreement != "judge":
        yield None
        return
    if not args.judge_model:
        raise ValueError("--agreement judge needs --judge-model (a local model, e.g. qwen2.5-coder-1.5b)")
    from ..backends.local import LocalServer

    with LocalServer(args.judge_model, parallel=1) as server:
        yield Judge(server.model(args.judge_model, timeout=600.0))


def labelled(args: argparse.Namespace, records: list[Record]) -> list[Record]:
    """``records`` with agreement labels when asked (and the counts printed to stderr), else as they are."""
    if args.label_source == "gold":
        return records
    reference = args.reference or args.models[-1]
    keep = [r for r in filter_records(records, task=args.task, group=args.group)
            if set(args.models) <= set(r.models) and reference in r.outputs]
    with _judge(args) as judge:
        out, stats = label_by_agreement(keep, reference=reference, rule=args.agreement, judge=judge)
    print(stats.describe(), file=sys.stderr)
    if args.agreement == "auto":
        print(AUTO_RULE_NOTE, file=sys.stderr)
    return out


# --- calibrate --from-traffic ------------------------------------------------------------------------


def add_traffic_args(c: argparse.ArgumentParser) -> None:
    c.add_argument("--from-traffic", default=None, metavar="DIR",
                   help="fit on the shadowed records of recorded traffic (agreement labels) instead of RECORDS")
    c.add_argument("--current", default=None, metavar="FILE",
                   help="router to compare with on the validation records (default: the file at -o if it exists)")
    c.add_argument("--force", action="store_true", help="overwrite a router that validates better")
    c.add_argument("--validation", type=float, default=0.3, help="share of shadowed records held out (default 0.3)")
    c.add_argument("--min-records", type=int, default=None, help="shadowed records needed (default 100)")
    c.add_argument("--route", default=None, help="route of the traffic to fit (when it holds several cascades)")


def run_from_traffic(args: argparse.Namespace) -> int:
    from ..calibration.from_traffic import MIN_TRAFFIC_RECORDS, fit_from_traffic, read_traffic
    from ..router import Router

    current_path = Path(args.current or args.output)
    current = None
    if current_path.exists():
        current = Router.load(current_path)
    elif args.current:
        raise RouterError(f"--current router not found: {current_path}")
    records = read_traffic(args.from_traffic)
    fit = fit_from_traffic(records, policy=args.policy, validation=args.validation, rule=args.agreement,
                           reference=args.reference, route=args.route, current=current if _same(current, records)
                           else None, min_records=args.min_records or MIN_TRAFFIC_RECORDS, grid=args.grid)
    info: dict[str, Any] = {"from_traffic": args.from_traffic, **fit.to_json()}
    lo, hi = fit.validation_ci
    print(f"new router: validation ΔIBC {fit.validation_dibc:.1f}% [95% interval {lo:.1f}, {hi:.1f}] on "
          f"{fit.n_validation} shadowed records (fitted on {fit.n_train}); {fit.labels.describe()}", file=sys.stderr)
    if fit.current_dibc is not None and fit.current_ci is not None:
        print(f"current router ({current_path}): validation ΔIBC {fit.current_dibc:.1f}% "
              f"[{fit.current_ci[0]:.1f}, {fit.current_ci[1]:.1f}] on the same records", file=sys.stderr)
    if fit.current_is_better and not args.force:
        print(f"automix: error: the current router {current_path} validates better ({fit.current_dibc:.1f}% > "
              f"{fit.validation_dibc:.1f}%): not overwritten (--force to overwrite it anyway)", file=sys.stderr)
        print(json.dumps(info | {"written": False}))
        return 1
    path = fit.router.save(args.output)
    print(json.dumps(info | {"written": True, "output": str(path)}))
    return 0


def _same(current: Any, records: list[Record]) -> bool:
    if current is None:
        return False
    if not any(r.models == list(current.models) for r in records):
        print(f"note: the current router is for {current.models}, not the traffic's cascade: not compared",
              file=sys.stderr)
        return False
    return True


# --- report ----------------------------------------------------------------------------------------------


def add_report_cli(sub: Any) -> None:
    r = sub.add_parser("report", help="write a self-contained HTML report of recorded traffic")
    r.add_argument("traffic", help="traffic directory (or one traffic file)")
    r.add_argument("-o", "--output", default="report.html", help="HTML file to write (default report.html)")
    r.add_argument("--router", default=None,
                   help="router whose operating points to draw (default: refit on the traffic)")
    r.add_argument("--route", default=None, help="route to report (when the traffic holds several cascades)")
    r.add_argument("--boot", type=int, default=300, help="bootstrap resamples for the intervals (default 300)")
    r.set_defaults(func=_cmd_report)


def _cmd_report(args: argparse.Namespace) -> int:
    from ..calibration.from_traffic import read_traffic
    from ..calibration.report import write_report
    from ..router import Router

    records = read_traffic(args.traffic)
    if not records:
        raise RecordError(f"no traffic records in {args.traffic}")
    router = Router.load(args.router) if args.router else None
    try:
        summary = write_report(records, args.output, router=router, route=args.route, boot=args.boot,
                               source=str(args.traffic))
    except ImportError as exc:  # matplotlib missing: say how to install it
        print(f"automix: error: {exc}", file=sys.stderr)
        return 2
    print(json.dumps({"output": str(args.output), **summary}))
    return 0
