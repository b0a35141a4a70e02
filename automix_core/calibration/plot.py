"""Cost-quality pictures of evaluation results (needs matplotlib: ``pip install 'automix[plot]'``).

:func:`plot_cost_quality` draws, for each policy, its test cost-quality curve (the best test
quality reached at or below each cost, as :func:`~automix_core.calibration.metrics.auc_normalized` scores it),
the references (always calling one tier, random mixing of always-small and always-large, the
oracle) and the cost regions of the ΔIBC protocol as shaded bands.

matplotlib is imported only when a picture is drawn, so the rest of the library works without it.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .evaluate import MethodResult

if TYPE_CHECKING:
    from matplotlib.figure import Figure

__all__ = ["PLOT_INSTALL_HINT", "plot_cost_quality", "require_matplotlib"]

PLOT_INSTALL_HINT = "pictures need matplotlib: pip install 'automix[plot]' (or pip install matplotlib)"

# colour-blind-safe palette (Okabe-Ito) for policies; references are drawn in greys and black
_COLOURS = ("#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#882255", "#56B4E9", "#44AA99", "#999933")
_STYLES = ("-", (0, (5, 2)), "-.", (0, (1, 1.5)), (0, (8, 2, 1, 2, 1, 2)))
_REF_MARKERS = ("s", "^", "D", "v", "P", "X")


def require_matplotlib() -> Any:
    """The ``matplotlib`` module, or an ImportError that says how to install it."""
    try:
        import matplotlib
    except ImportError as exc:
        raise ImportError(PLOT_INSTALL_HINT) from exc
    return matplotlib


def _envelope(points: Sequence[Sequence[float]]) -> tuple[list[float], list[float]]:
    """The best-so-far step curve of ``points`` (quality strictly rising with cost), held flat out to
    the most expensive point."""
    xs: list[float] = []
    ys: list[float] = []
    best = -math.inf
    pts = sorted(((float(p[0]), float(p[1])) for p in points), key=lambda p: (p[0], -p[1]))
    for c, q in pts:
        if q > best:
            best = q
            xs.append(c)
            ys.append(q)
    if pts and pts[-1][0] > xs[-1]:
        xs.append(pts[-1][0])
        ys.append(best)
    return xs, ys


def _is_reference(name: str) -> bool:
    return name.startswith("always-") or name in ("random", "oracle")


def plot_cost_quality(
    results: Mapping[str, MethodResult],
    out: str | Path | None = None,
    *,
    title: str,
    cost_range: tuple[float, float] | None = None,
    regions: int = 5,
    cost_unit: str = "USD",
    quality_label: str = "quality on test queries (mean score)",
    annotate: bool = True,
    subtitle: str | None = None,
    log_cost: bool | None = None,
    dpi: int = 150,
) -> Figure:
    """Draw the cost-quality curves of ``results`` (as from :func:`~automix_core.calibration.evaluate.evaluate`).

    Args:
        results: method name -> result. ``always-<model>``, ``random`` and ``oracle`` entries are
            drawn as references; every other entry as a policy curve.
        out: if given, the figure is saved there (format from the suffix, e.g. ``.png``).
        title: the picture's title; name the data and the models.
        cost_range: the [low, high] cost range of the ΔIBC protocol (:func:`.evaluate.cost_range`
            of the training records); with it, ``regions`` equal cost regions are shaded.
        cost_unit: ``"USD"`` (costs below 0.1 per query are shown per 1,000 queries) or any other
            unit name, shown as is (e.g. ``"tier-0 calls"`` for unit costs).
        annotate: add each policy's mean ΔIBC and AUC to its legend entry.
        subtitle: a second, smaller title line (e.g. the evaluation protocol).
        log_cost: a logarithmic cost axis (default: when the costs drawn span 10x or more, so that
            the cheap end, where cascades act, stays readable).

    Returns the matplotlib :class:`~matplotlib.figure.Figure` (drawn without pyplot, so it is safe in
    threads and needs no display). Raises ImportError naming ``pip install 'automix[plot]'`` when
    matplotlib is missing.
    """
    require_matplotlib()
    from matplotlib.figure import Figure
    from matplotlib.ticker import FuncFormatter, PercentFormatter

    costs = [p[0] for r in results.values() for p in r.points]
    if cost_range is not None:
        costs += list(cost_range)
    top = max(costs, default=1.0)
    scale, unit = 1.0, cost_unit
    if cost_unit == "USD" and 0 < top < 0.1:
        scale, unit = 1000.0, "USD per 1,000 queries"
    elif cost_unit == "USD":
        unit = "USD per query"

    fig = Figure(figsize=(9.0, 7.0), dpi=dpi, layout="constrained")
    ax = fig.add_subplot()
    positive = [c for c in costs if c > 0]
    if log_cost is None:
        log_cost = bool(positive) and max(positive) >= 10 * min(positive)
    if log_cost and positive:
        ax.set_xscale("log")
        plain = FuncFormatter(lambda v, _pos: f"{v:g}")
        ax.xaxis.set_major_formatter(plain)
        ax.xaxis.set_minor_formatter(FuncFormatter(lambda v, _pos: f"{v:g}" if f"{v:.1e}"[0] in "25" else ""))

    if cost_range is not None and regions >= 1 and cost_range[1] > cost_range[0]:
        lo, hi = cost_range
        step = (hi - lo) / regions
        for j in range(regions):
            a, b = (lo + j * step) * scale, (lo + (j + 1) * step) * scale
            ax.axvspan(a, b, color="0.5" if j % 2 == 0 else "0.75", alpha=0.12, lw=0, zorder=0)
            mid = math.sqrt(a * b) if log_cost and a > 0 else (a + b) / 2
            ax.text(mid, 0.99, f"R{j + 1}", transform=ax.get_xaxis_transform(), ha="center", va="top",
                    fontsize=9, color="0.35")

    pol = [n for n in results if not _is_reference(n)]
    for i, name in enumerate(pol):
        r = results[name]
        xs, ys = _envelope(r.points)
        if not xs:
            continue
        label = name
        if annotate and not math.isnan(r.mean_dibc):
            auc = "" if math.isnan(r.auc) else f", AUC {r.auc:.2f}"
            label = f"{name} (ΔIBC {r.mean_dibc:+.0f}%{auc})"
        colour = _COLOURS[i % len(_COLOURS)]
        # the first policy is drawn on top and thickest; the rest get dashes, so overlaps stay visible
        ax.step([x * scale for x in xs], ys, where="post", color=colour, lw=2.6 if i == 0 else 1.8,
                ls=_STYLES[i % len(_STYLES)], label=label, zorder=3 + (len(pol) - i) / 10)
        ax.plot([xs[0] * scale], [ys[0]], "o", color=colour, ms=4, zorder=3)

    if "random" in results and results["random"].points:
        rp = sorted(results["random"].points)
        ax.plot([p[0] * scale for p in rp], [p[1] for p in rp], "--", color="0.35", lw=1.4,
                label="random mixing (small ↔ large)", zorder=2)
    always = [n for n in results if n.startswith("always-")]
    for j, name in enumerate(always):
        p = results[name].points[0]
        label = f"always {name.removeprefix('always-')}"
        x = p[0]
        if j == 0 and cost_range is not None:
            # the curves start from the small tier *with* its verification (what every cascade pays);
            # the always-small reference is drawn on that basis, not at its bare answer cost
            x = cost_range[0]
        ax.plot([x * scale], [p[1]], _REF_MARKERS[j % len(_REF_MARKERS)], color="black", ms=8, mfc="white",
                mew=1.6, label=label, zorder=4)
    if "oracle" in results and results["oracle"].points:
        p = results["oracle"].points[0]
        ax.plot([p[0] * scale], [p[1]], "*", color="black", ms=13, label="oracle (cheapest correct tier)", zorder=4)

    xlabel = f"mean cost per query ({unit})" if unit != "USD per query" else "mean cost per query (USD)"
    ax.set_xlabel(xlabel + (", log scale" if log_cost else ""))
    ax.set_ylabel(quality_label)
    qs = [p[1] for r in results.values() for p in r.points]
    if qs and min(qs) >= 0.0 and max(qs) <= 1.0:
        ax.yaxis.set_major_formatter(PercentFormatter(xmax=1.0, decimals=0))
    ax.grid(True, alpha=0.3, zorder=1)
    ax.margins(x=0.02, y=0.06)
    ax.set_title(title if subtitle is None else f"{title}\n{subtitle}", fontsize=12 if subtitle is None else 11)
    # below the axes, so that no curve or reference point is hidden behind it
    fig.legend(loc="outside lower center", ncols=2, fontsize=9, frameon=False)
    if out is not None:
        Path(out).parent.mkdir(parents=True, exist_ok=True)
        fig.savefig(out)
    return fig
