"""The ``automix`` command line: ``eval``, ``calibrate`` and ``models``."""

from __future__ import annotations

import argparse
import importlib.metadata
import json
import math
import os
import sys
from collections.abc import Sequence
from typing import Any

from ..calibration.evaluate import (
    DEFAULT_METHODS,
    DIBC_DEFINITION,
    MethodResult,
    baseline_problem,
    evaluate,
    evaluate_cv,
    verification_note,
)
from ..calibration.records import Record, RecordArrays, RecordError, filter_records, read_records, to_arrays
from ..policies import POLICIES, PolicyError
from ..router import RouterError, calibrate
from .learn import add_label_args, add_report_cli, add_traffic_args, labelled, run_from_traffic
from .models import add_cli as add_models_cli

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


def _names(text: str) -> list[str]:
    names = [x.strip() for x in text.split(",") if x.strip()]
    if not names:
        raise argparse.ArgumentTypeError("--models needs at least one name")
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


def _add_data_args(p: argparse.ArgumentParser, *, optional: bool = False) -> None:
    p.add_argument("records", nargs="*" if optional else "+", help="AutoMix records v1 file(s) (JSONL)")
    p.add_argument("--models", type=_models, required=not optional, help="model names, cheapest first: A,B[,C...]")
    p.add_argument("--task", default=None, help="keep only records of this task")
    p.add_argument("--group", default=None, help="keep only records of this group")
    p.add_argument("--unit-costs", type=_floats, default=None,
                   help="fixed cost per call of each tier (replaces recorded costs; verifier cost 0)")
    p.add_argument("--skip-missing", action="store_true", help="drop records lacking one of the models")
    p.add_argument("--grid", type=int, default=200, help="operating points swept per policy (default 200)")
    p.add_argument("--kernel-scale", type=float, default=None,
                   help="POMDP observation kernel width in multiples of Silverman's rule (default 3; "
                        "smaller keeps narrow features of the confidence, larger smooths noise)")


def _options(args: argparse.Namespace) -> dict[str, dict[str, Any]]:
    """Per-policy keyword arguments of ``candidates`` from the command line."""
    return {} if args.kernel_scale is None else {"pomdp": {"kernel_scale": args.kernel_scale}}


def _cmd_eval(args: argparse.Namespace) -> int:
    methods = args.methods.split(",") if args.methods else list(DEFAULT_METHODS)
    for m in methods:
        if m not in POLICIES:
            raise PolicyError(f"unknown policy {m!r}; known policies: {', '.join(sorted(POLICIES))}")
    if args.plot:  # fail before the work if the picture cannot be drawn
        try:
            from ..calibration.plot import require_matplotlib

            require_matplotlib()
        except ImportError as exc:
            print(f"automix: error: {exc}", file=sys.stderr)
            return 2
    records = read_records(args.records)
    train_records = labelled(args, records)
    train = _load(args, args.train_split, train_records)
    has_test = args.cv is None and any(r.split == args.test_split for r in records)
    problem = baseline_problem(train)
    if problem is None and has_test:
        problem = baseline_problem(_load(args, args.test_split, records))
    if problem is not None:  # a table of zeros would look like a result
        print(f"automix: error: {problem}", file=sys.stderr)
        return 1
    note = verification_note(train)
    if note is not None:
        print(note, file=sys.stderr)
    if has_test:
        test = _load(args, args.test_split, records)
        res = evaluate(train, test, methods, regions=args.regions, grid=args.grid, options=_options(args),
                       selection=args.selection, bootstrap=args.bootstrap if args.json else 0)
        how = f"train split {args.train_split!r} ({len(train)}), test split {args.test_split!r} ({len(test)})"
    else:
        k = args.cv or 5
        gold = None
        if train_records is not records:  # fit on agreement labels, score each fold on the gold labels
            ids = {r.id for r in train_records}
            gold = _load(args, args.train_split, [r for r in records if r.id in ids])
        res = evaluate_cv(gold or train, k, methods, regions=args.regions, grid=args.grid, repeats=args.repeats,
                          options=_options(args), selection=args.selection, train_data=train if gold else None)
        how = f"{k}-fold cross-validation x {args.repeats} over {len(train)} records (no {args.test_split!r} split)"
    if args.json:
        print(json.dumps({name: r.to_json() for name, r in res.items()}, allow_nan=False))
    else:
        _print_table(res, f"{how}; selection {args.selection!r}", args.models, paper_costs=args.unit_costs is not None,
                     billed=bool(train.verifier_cost.any()))
    if args.plot:
        _plot(args, res, train, how)
    return 0


def _plot(args: argparse.Namespace, res: dict[str, MethodResult], train: RecordArrays, how: str) -> None:
    from ..calibration.evaluate import cost_range
    from ..calibration.plot import plot_cost_quality

    data = ", ".join(os.path.basename(p) for p in args.records)
    where = " / ".join(x for x in (args.task, args.group) if x)
    title = args.title or f"{where + ': ' if where else ''}{' → '.join(args.models)}  ({data})"
    plot_cost_quality(res, args.plot, title=title, subtitle=how, cost_range=cost_range(train), regions=args.regions,
                      cost_unit="tier-0 calls" if args.unit_costs is not None else "USD")
    print(f"wrote {args.plot}", file=sys.stderr if args.json else sys.stdout)


def _fmt(x: float | None, spec: str = ".1f") -> str:
    return "-" if x is None or (isinstance(x, float) and math.isnan(x)) else format(x, spec)


def _print_table(res: dict[str, MethodResult], how: str, models: Sequence[str], *, paper_costs: bool = False,
                 billed: bool = False) -> None:
    print(f"AutoMix eval: {' -> '.join(models)}; {how}")
    print(DIBC_DEFINITION)
    print("costs: unit costs per call, verification not billed (the paper's protocol)" if paper_costs else
          "costs: the records' own; each method's include the verification it asked for, the references' "
          "(random, always-*, oracle) none")
    if billed:
        print("(the references random, always-* and oracle verify nothing: not scored when verification is billed)")
    print(f"{'method':28s} {'mean ΔIBC %':>12s} {'AUC':>7s}  per-region ΔIBC %{'':27s} {'2-5 mean':>8s}")
    for name, r in res.items():
        if billed and (name in ("random", "oracle") or name.startswith("always-")):
            print(f"{name:28s} {'-':>12s} {'-':>7s}")
            continue
        regions = " ".join(f"{v:7.1f}" for v in r.dibc_regions)
        print(f"{name:28s} {_fmt(r.mean_dibc):>12s} {_fmt(r.auc, '.3f'):>7s}  {regions}  {_fmt(r.mean_dibc_2_5):>8s}")


def _cmd_calibrate(args: argparse.Namespace) -> int:
    if args.kernel_scale is not None and args.policy != "pomdp":
        raise PolicyError(f"--kernel-scale applies to the pomdp policy only, not {args.policy!r}")
    if args.from_traffic:
        return run_from_traffic(args)
    if not args.records or not args.models:
        raise ValueError("calibrate needs RECORDS and --models (or --from-traffic DIR)")
    split = args.train_split
    if split is None:  # records with splits: fit on the train split (as eval does), never on the test split
        splits = {r.split for r in filter_records(read_records(args.records), task=args.task, group=args.group)}
        split = "train" if "train" in splits else None
    from ..calibration.reverify import records_method

    train = _load(args, split, labelled(args, read_records(args.records)))
    router = calibrate(train, args.policy, budget=args.budget, target=args.target, grid=args.grid,
                       options=_options(args).get(args.policy))
    observed = args.models if router.observes_last else args.models[:-1]  # the tiers whose confidence it reads
    router.verification = records_method(read_records(args.records), observed)
    if router.verification is None:
        print("warning: the records do not name one verification method for the observed tiers; the router "
              "records none (AutoMix then verifies as version-1 routers did: few-shot, k=8)", file=sys.stderr)
    path = router.save(args.output)
    op = router.operating_point
    info: dict[str, Any] = {"output": str(path), "policy": router.policy.describe(), "records": len(train),
                            "split": split if split is not None else "all",
                            "verification": None if router.verification is None else router.verification.describe()}
    if router.mix is not None:  # the operating point is a mixture: name both settings exactly
        info["mix"] = {"policy": router.mix[0].describe(), "probability": router.mix[1]}
    if op is not None:
        info |= {"train_cost": op.cost, "train_quality": op.quality, "train_dibc": op.dibc, "selection": op.selection}
        if op.dibc is not None and op.dibc < 0:
            print(f"warning: the fitted router loses against always-{args.models[-1]} on its own records (ΔIBC "
                  f"{op.dibc:.1f}% < 0: each unit of cost buys less quality than calling the large model alone); "
                  "check that the confidences tell right from wrong answers (automix eval)", file=sys.stderr)
    print(json.dumps(info))
    return 0


def _cmd_collect(args: argparse.Namespace) -> int:
    import contextlib

    from ..accounting.prices import PriceTable
    from ..backends.local import MODELS, LocalServer
    from ..backends.openai_compat import OpenAICompatibleModel
    from ..calibration.collect import collect, load_contractnli, load_jsonl, load_pubmedqa, scorer_for

    if args.reverify:
        return _reverify(args)
    if args.format == "pubmedqa":
        items = load_pubmedqa(args.dataset)
    elif args.format == "contractnli":
        items = load_contractnli(args.dataset)
    else:
        labels = [x for x in (args.labels or "").split(",") if x]
        items = load_jsonl(args.dataset, question=args.question_field, answer=args.answer_field,
                           context=args.context_field or None, task=args.task_name, labels=labels)
    if args.limit:
        items = items[: args.limit]
    labels_seen = items[0].labels if items else ()
    if any(it.reference is None for it in items):
        print(f"note: {sum(it.reference is None for it in items)} of {len(items)} items have no gold answer "
              f"(field {args.answer_field!r}): their records are unlabelled (score null) with each answer's agreement "
              "with the last tier's ('agrees'); fit on them with automix calibrate --labels agreement", file=sys.stderr)
    endpoints = dict(e.split("=", 1) for e in args.endpoint)
    # each entry is NAME or ALIAS=LOCAL_MODEL (the same local model may serve two tiers under aliases)
    specs = [tuple(m.split("=", 1)) if "=" in m else (m, m) for m in args.models]
    names = [a for a, _ in specs]
    if len(set(names)) != len(names):
        raise ValueError(f"tier names must differ, got {names} (use ALIAS=MODEL)")
    unknown = [a for a, m in specs if m not in MODELS and a not in endpoints]
    if unknown:
        raise ValueError(f"no endpoint for model(s) {unknown}: give --endpoint NAME=URL or use a local model "
                         f"({', '.join(MODELS)})")
    local = sorted({m for a, m in specs if m in MODELS and a not in endpoints})
    prices = PriceTable().with_prices({n: m.price for n, m in MODELS.items()})
    prices = prices.with_prices({a: MODELS[m].price for a, m in specs if m in MODELS})
    with contextlib.ExitStack() as stack:
        judge = None
        if args.score == "judge":
            from ..calibration.agreement import Judge

            if not args.judge_model:
                raise ValueError("--score judge needs --judge-model (a local model, e.g. qwen2.5-coder-1.5b)")
            judged = Judge(stack.enter_context(LocalServer(args.judge_model)).model(args.judge_model))
            judge = lambda a, r: float(judged.agree(None, a, r))  # noqa: E731
        scorer = scorer_for(args.score, labels_seen, judge)
        tiers = []
        ks = [int(x) for x in str(args.k).split(",")]
        servers = {m: stack.enter_context(LocalServer(m, parallel=max(*ks, args.concurrency))) for m in local}
        key = os.environ.get(args.api_key_env) if args.api_key_env else None
        for alias, model in specs:
            if alias not in endpoints:
                tiers.append(servers[model].model(name=alias, timeout=args.timeout))
            else:
                tiers.append(OpenAICompatibleModel(endpoints[alias], model, name=alias, api_key=key,
                                                   timeout=args.timeout))
        summary = collect(items, tiers, args.output, prices=prices, k=ks[0] if len(ks) == 1 else ks, scorer=scorer,
                          concurrency=args.concurrency, test_share=args.test_share, verify_mode=args.verify_mode,
                          verify_prompt=args.verify_prompt)
    print(summary.table())
    for item_id, err in summary.failed[:10]:
        print(f"  failed {item_id}: {err}", file=sys.stderr)
    return 130 if summary.interrupted else (1 if summary.failed else 0)


def _reverify(args: argparse.Namespace) -> int:
    from ..accounting.prices import PriceTable
    from ..backends.local import MODELS, LocalServer
    from ..calibration.reverify import reverify
    from ..verify.verifier import Verifier

    names = list(args.models)
    unknown = [m for m in names if m not in MODELS]
    if unknown:
        raise ValueError(f"--reverify verifies with local models only ({', '.join(MODELS)}), got {unknown}")
    ks = [int(x) for x in str(args.k).split(",")]
    prices = PriceTable().with_prices({n: m.price for n, m in MODELS.items()})
    with LocalServer(names, parallel=max(*ks, 1)) as server:
        verifiers = {n: Verifier(server.model(n, timeout=args.timeout), k=k, mode=args.verify_mode,
                                 layout=args.verify_prompt) for n, k in zip(names, ks * len(names))}
        summary = reverify(read_records(args.dataset), verifiers, args.output, prices=prices)
    print(summary.table())
    for item_id, err in summary.failed[:10]:
        print(f"  failed {item_id}: {err}", file=sys.stderr)
    return 130 if summary.interrupted else (1 if summary.failed else 0)


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="automix", description="AutoMix: small model first, escalate when needed.")
    sub = p.add_subparsers(dest="command", required=True)

    e = sub.add_parser("eval", help="fit every policy on train records and score it on test records")
    _add_data_args(e)
    add_label_args(e, "--train-labels")
    e.add_argument("--train-split", default="train")
    e.add_argument("--test-split", default="test")
    e.add_argument("--cv", type=int, default=None, help="k-fold cross-validation instead of a test split")
    e.add_argument("--repeats", type=int, default=1, help="repeat cross-validation over this many splits")
    e.add_argument("--regions", type=int, default=5, help="cost regions for mean ΔIBC (default 5)")
    e.add_argument("--methods", default=None, help=f"policies to score (default {','.join(DEFAULT_METHODS)})")
    e.add_argument("--json", action="store_true",
                   help="print one JSON object keyed by method (each with dibc_ci95, bootstrap over test queries)")
    e.add_argument("--selection", choices=("extended", "paper"), default="extended",
                   help="operating points per cost region: extended (mixtures, ties to the costliest; default) or "
                        "paper (deterministic points, ties to the cheapest, as in the paper)")
    e.add_argument("--bootstrap", type=int, default=200, help="resamples for --json's dibc_ci95 (default 200; 0: none)")
    e.add_argument("--plot", default=None, metavar="OUT.png",
                   help="also draw the cost-quality curves to this image (needs: pip install 'automix[plot]')")
    e.add_argument("--title", default=None, help="title of the --plot picture (default: data, task and models)")
    e.set_defaults(func=_cmd_eval)

    c = sub.add_parser("calibrate", help="fit a router on records and save it as JSON")
    _add_data_args(c, optional=True)
    add_label_args(c, "--labels")
    add_traffic_args(c)
    c.add_argument("--train-split", default=None,
                   help="use only records of this split (default: 'train' when the records have one, else all)")
    c.add_argument("--policy", default="pomdp", choices=sorted(POLICIES))
    g = c.add_mutually_exclusive_group()
    g.add_argument("--budget", type=float, default=None, help="mean cost per query must stay <= this")
    g.add_argument("--target", type=float, default=None, help="reach at least this mean quality, cheapest")
    c.add_argument("-o", "--output", required=True, help="router JSON to write")
    c.set_defaults(func=_cmd_calibrate)

    col = sub.add_parser("collect", help="run every tier and its self-verification on a labelled dataset")
    col.add_argument("dataset", help="dataset file")
    col.add_argument("--format", choices=["pubmedqa", "contractnli", "jsonl"], default="jsonl")
    col.add_argument("--models", type=_names, required=True,
                     help="model names cheapest first; ALIAS=LOCAL_MODEL names a local model's tier")
    col.add_argument("--endpoint", action="append", default=[], metavar="NAME=URL",
                     help="OpenAI-compatible base URL of a model that is not a local one (repeatable)")
    col.add_argument("--api-key-env", default=None, help="environment variable holding the endpoints' API key")
    col.add_argument("-o", "--output", required=True, help="records file to append to (resumable)")
    col.add_argument("--k", default="8", help="self-verification samples per answer: one value, or one per tier")
    col.add_argument("--limit", type=int, default=None, help="use only the first N items")
    col.add_argument("--concurrency", type=int, default=2)
    col.add_argument("--timeout", type=float, default=600.0)
    col.add_argument("--test-share", type=float, default=0.3, help="share of ids put in the test split")
    col.add_argument("--question-field", default="question")
    col.add_argument("--answer-field", default="answer")
    col.add_argument("--context-field", default="context")
    col.add_argument("--task-name", default="jsonl")
    col.add_argument("--labels", default=None, help="comma-separated labels for label tasks (exact-match score)")
    col.add_argument("--score", choices=("exact", "contain", "f1", "judge"), default=None,
                     help="how answers are scored against gold (default: the first label for label tasks, else "
                          "contain: normalised containment either way, number words as digits)")
    col.add_argument("--judge-model", default=None, help="local model that judges answers under --score judge")
    col.add_argument("--verify-mode", choices=("sample", "sequential", "logprob"), default="sample",
                     help="verification method (default sample: k samples; logprob: one call read from logprobs)")
    col.add_argument("--verify-prompt", choices=("few-shot", "continue"), default="few-shot",
                     help="verification prompt layout (continue: the answer call's conversation, then the answer)")
    col.add_argument("--reverify", action="store_true",
                     help="DATASET is a records file: verify its recorded answers of the --models (local models) "
                          "again with --verify-mode/--verify-prompt/--k, keeping everything else, into -o")
    col.set_defaults(func=_cmd_collect)

    add_models_cli(sub)
    add_report_cli(sub)
    add_plugin_commands(sub)
    return p


PLUGIN_GROUP = "automix.commands"
"""Entry-point group of commands other packages add (``demo``, ``serve``): each entry point is a
function ``add_cli(subparsers)``. The core imports none of them by name."""


def add_plugin_commands(sub: Any) -> None:
    """Register every command of the :data:`PLUGIN_GROUP` entry points; one whose package cannot be
    imported (an extra not installed) becomes a command that says so."""
    for ep in sorted(importlib.metadata.entry_points(group=PLUGIN_GROUP), key=lambda e: e.name):
        try:
            ep.load()(sub)
        except ImportError as exc:
            reason = f"automix {ep.name} is unavailable: {exc}"
            p = sub.add_parser(ep.name, help=f"(unavailable: {exc})", add_help=False)
            p.add_argument("rest", nargs=argparse.REMAINDER)
            p.set_defaults(func=lambda _a, reason=reason: _unavailable(reason))


def _unavailable(reason: str) -> int:
    print(f"automix: error: {reason}", file=sys.stderr)
    return 2


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
