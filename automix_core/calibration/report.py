"""``automix report DIR -o report.html``: one self-contained HTML page about recorded traffic.

The page holds its figures as inline SVG (drawn with matplotlib, ``pip install 'automix[plot]'``),
no script, no stylesheet or image from elsewhere: it opens offline and can be mailed. Figures (see
:mod:`.traffic_stats` for what each measures): the headline (agreement with the reference, savings
against always-reference, escalation rate, each with its interval); the cost-quality curve of the
router's operating points on the shadowed traffic (agreement labels) with the router's own point and
its bootstrap interval; agreement and savings over time with their intervals; histograms of the first
tier's confidence for answers that agree and that do not.
"""

from __future__ import annotations

import html
import io
import re
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ..router import Router, frontier
from .agreement import label_by_agreement
from .evaluate import refs
from .from_traffic import router_outcome, shadowed, traffic_arrays
from .plot import require_matplotlib
from .records import Record, RecordError
from .traffic_stats import TrafficSummary, summarize_traffic
from .uncertainty import interval, resample_counts

__all__ = ["render_report", "write_report"]

_BLUE, _ORANGE, _GREEN, _GREY = "#0072B2", "#D55E00", "#009E73", "#777777"


def _svg(fig: Any) -> str:
    buf = io.StringIO()
    fig.savefig(buf, format="svg", bbox_inches="tight")
    import matplotlib.pyplot as plt

    plt.close(fig)
    text = buf.getvalue()
    text = re.sub(r"<\?xml[^>]*\?>\s*", "", text)
    text = re.sub(r"<!DOCTYPE[^>]*>\s*", "", text)
    return re.sub(r"<metadata>.*?</metadata>\s*", "", text, flags=re.DOTALL)


def _figure(w: float = 6.4, h: float = 3.6) -> tuple[Any, Any]:
    mpl = require_matplotlib()
    mpl.use("Agg")
    mpl.rcParams["svg.fonttype"] = "none"  # text stays text: searchable, small
    import matplotlib.pyplot as plt

    return plt.subplots(figsize=(w, h))


def _curve(records: Sequence[Record], models: list[str], router: Router | None, boot: int) -> tuple[str, str]:
    """The cost-quality figure (SVG) and its caption."""
    used = shadowed(records, models)
    if len(used) < 10:
        return "", f"Too few shadowed requests ({len(used)}) for a cost-quality curve (10 or more are needed)."
    labelled, _ = label_by_agreement(used, reference=models[-1])
    data, w = traffic_arrays(labelled, models)
    policy = router.policy.name if router is not None else "pomdp"
    reps = np.clip(np.rint(w / w.min()), 1, 100).astype(int)  # weighted as the fit weighs them
    pts = sorted((c.point.cost, c.point.quality)
                 for c in frontier(policy, data.subset(np.repeat(np.arange(len(data)), reps)), grid=60))
    small, large = refs(data)
    fig, ax = _figure()
    ax.plot([p[0] for p in pts], [p[1] for p in pts], "-", color=_BLUE, lw=1.6, label=f"{policy} operating points")
    ax.plot([small.cost, large.cost], [small.quality, large.quality], ":", color=_GREY, label="random mix of the two")
    ax.plot(small.cost, small.quality, "s", color=_GREY, label=f"always {models[0]}")
    ax.plot(large.cost, large.quality, "^", color="black", label=f"always {models[-1]}")
    caption = (f"Operating points of the {policy} policy on {len(used)} shadowed requests, weighted: mean cost per "
               "request (USD, verification included) against the share of answers that agree with the reference tier.")
    if router is not None and list(router.models) == models:
        cost, qual = router_outcome(router, data)
        counts = resample_counts(len(cost), boot) * w
        cs, qs = (counts @ cost) / counts.sum(axis=1), (counts @ qual) / counts.sum(axis=1)
        c0, q0 = float(np.average(cost, weights=w)), float(np.average(qual, weights=w))
        (clo, chi), (qlo, qhi) = interval(cs), interval(qs)
        ax.errorbar([c0], [q0], xerr=[[c0 - clo], [chi - c0]], yerr=[[q0 - qlo], [qhi - q0]], fmt="o", color=_ORANGE,
                    capsize=3, label="current router (95% interval)")
        caption += (f" The current router: cost {c0:.3g} [{clo:.3g}, {chi:.3g}], agreement {q0:.1%} "
                    f"[{qlo:.1%}, {qhi:.1%}] (bootstrap 95% intervals).")
    ax.set_xlabel("mean cost per request (USD, verification included)")
    ax.set_ylabel("agreement with the reference")
    ax.legend(fontsize=8, loc="lower right")
    ax.grid(alpha=0.3)
    return _svg(fig), caption


def _over_time(s: TrafficSummary) -> str:
    if not s.over_time:
        return ""
    fig, ax = _figure()
    mid = [(b["start"] + b["end"]) / 2 for b in s.over_time]
    t0 = mid[0]
    hours = [(m - t0) / 3600 for m in mid]
    for key, colour, label in (("agreement", _BLUE, "agreement with the reference"),
                               ("savings", _GREEN, "savings against always-reference")):
        vals = [b[key] for b in s.over_time]
        lo = [b[f"{key}_ci95"][0] for b in s.over_time]
        hi = [b[f"{key}_ci95"][1] for b in s.over_time]
        ax.plot(hours, vals, "o-", color=colour, label=label)
        ax.fill_between(hours, lo, hi, color=colour, alpha=0.15)
    ax.set_xlabel("hours since the first time bin's centre")
    ax.set_ylabel("share (95% interval shaded)")
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3)
    return _svg(fig)


def _histogram(s: TrafficSummary) -> str:
    if not s.confidence_agree and not s.confidence_disagree:
        return ""
    fig, ax = _figure(6.4, 3.2)
    bins = np.linspace(0, 1, 21)
    for pairs, colour, label in ((s.confidence_agree, _BLUE, "agrees"), (s.confidence_disagree, _ORANGE, "disagrees")):
        ax.hist([c for c, _ in pairs], bins=bins, weights=[w for _, w in pairs], alpha=0.6, color=colour,
                label=f"{label} ({len(pairs)} requests)")
    ax.set_xlabel(f"verifier confidence of {s.models[0]}'s answer")
    ax.set_ylabel("requests (weighted)")
    ax.legend(fontsize=8)
    return _svg(fig)


def _pct(x: float) -> str:
    return "–" if x != x else f"{x:.1%}"


def render_report(records: Sequence[Record], *, router: Router | None = None, route: str | None = None,
                  boot: int = 300, source: str = "") -> tuple[str, dict[str, Any]]:
    """The HTML page and its figures as JSON."""
    recs = [r for r in records if route is None or r.task == route]
    if not recs:
        raise RecordError(f"no traffic records{f' of route {route!r}' if route else ''}")
    models = list(recs[0].models)
    recs = [r for r in recs if r.models == models]
    s = summarize_traffic(recs, boot=boot)
    curve, curve_caption = _curve(recs, models, router, boot)
    a_lo, a_hi = s.agreement.ci
    e_lo, e_hi = s.escalation.ci
    rows = [
        ("Served answers that agree with the reference", f"{_pct(s.agreement.value)} [{_pct(a_lo)}, {_pct(a_hi)}]",
         f"{s.agreement.k} of {s.agreement.records} shadowed requests agree, weighted; Wilson 95% interval"),
        ("Savings against always-reference", f"{_pct(s.savings)} [{_pct(s.savings_ci[0])}, {_pct(s.savings_ci[1])}]",
         f"served {s.served_cost:.3g} vs reference {s.reference_cost:.3g} USD per request (weighted over the shadowed "
         "ones), verification included; bootstrap 95% interval"),
        ("Escalation rate", f"{_pct(s.escalation.value)} [{_pct(e_lo)}, {_pct(e_hi)}]",
         f"{s.escalation.k}/{s.escalation.records} requests served past {models[0]}; Wilson 95% interval"),
        ("Verifier separation (AUROC)", "–" if s.auroc is None else f"{s.auroc:.3f}",
         f"{models[0]}'s confidence, agreeing vs disagreeing answers"),
    ]
    span = ("" if s.span is None else
            f" from {time.strftime('%Y-%m-%d %H:%M', time.gmtime(s.span[0]))} to "
            f"{time.strftime('%Y-%m-%d %H:%M', time.gmtime(s.span[1]))} UTC")
    esc = html.escape
    table = "\n".join(f"<tr><th>{esc(a)}</th><td class=v>{esc(b)}</td><td>{esc(c)}</td></tr>" for a, b, c in rows)
    time_rows = "\n".join(
        f"<tr><td>{time.strftime('%m-%d %H:%M', time.gmtime(b['start']))}</td><td>{b['n']}</td>"
        f"<td>{_pct(b['agreement'])} [{_pct(b['agreement_ci95'][0])}, {_pct(b['agreement_ci95'][1])}]</td>"
        f"<td>{_pct(b['savings'])} [{_pct(b['savings_ci95'][0])}, {_pct(b['savings_ci95'][1])}]</td></tr>"
        for b in s.over_time)
    sections = [
        f"<h2>Cost and quality</h2>{curve}<p>{esc(curve_caption)}</p>",
        f"<h2>Over time</h2>{_over_time(s)}<table><tr><th>bin start (UTC)</th><th>shadowed</th><th>agreement</th>"
        f"<th>savings</th></tr>{time_rows}</table>",
        f"<h2>Does the verifier tell agreeing answers apart?</h2>{_histogram(s)}"
        f"<p>{len(s.confidence_agree)} answers of {esc(models[0])} agree with the reference, "
        f"{len(s.confidence_disagree)} do not (shadowed requests; AUROC, unweighted: "
        f"{'–' if s.auroc is None else f'{s.auroc:.3f}'}).</p>",
    ]
    page = f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>AutoMix traffic report</title>
<style>body{{font-family:system-ui,sans-serif;max-width:60em;margin:2em auto;padding:0 1em;color:#222}}
table{{border-collapse:collapse;margin:1em 0}}th,td{{border-bottom:1px solid #ddd;padding:.3em .6em;text-align:left}}
td.v{{font-weight:600;white-space:nowrap}}svg{{max-width:100%;height:auto}}</style></head><body>
<h1>AutoMix traffic report</h1>
<p>{esc(source)}: {s.n_requests} requests{esc(span)} through {esc(' → '.join(models))}; {s.n_shadowed} shadowed
(a uniform sample: every tier answered, after the response where the cascade had not run it), each weighted by
the inverse of its chance of being shadowed so that they stand for all requests. Quality is agreement with the
reference tier ({esc(models[-1])}), the quality of always calling it; costs include verification.</p>
<table>{table}</table>
{''.join(sections)}
</body></html>
"""
    return page, s.to_json()


def write_report(records: Sequence[Record], path: str | Path, **kwargs: Any) -> dict[str, Any]:
    """Write :func:`render_report`'s page to ``path``; returns its figures."""
    page, summary = render_report(records, **kwargs)
    Path(path).write_text(page, encoding="utf-8")
    return summary
