"""PNG figures: matplotlib's object API on an Agg canvas (no pyplot, no global backend).

The rule: each figure is made on its own ``Figure`` with an Agg canvas, so a
report never changes matplotlib's process-wide backend or state.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ax_nas_plugins.report.cv import CVPoint
from ax_nas_plugins.report.data import ReportData, curve_metrics, feasible


def _figure(width: float, height: float) -> Any:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height), dpi=100)
    FigureCanvasAgg(fig)
    return fig


def pareto_png(report: ReportData, path: Path) -> Path:
    """Objective 2 vs 1, each trial coloured by index; thresholds; the front."""
    fig = _figure(7, 5)
    ax = fig.add_subplot(1, 1, 1)
    objs = report.objectives
    rows = [r for r in report.rows if all(r.get(o.metric) is not None for o in objs)]
    n = max(len(report.rows) - 1, 1)
    if len(objs) >= 2:
        xo, yo = objs[1], objs[0]
        done = [r for r in rows if feasible(r, report)]
        other = [r for r in rows if not feasible(r, report)]
        sc = ax.scatter(
            [r[xo.metric] for r in done],
            [r[yo.metric] for r in done],
            c=[r["trial_index"] for r in done],
            cmap="viridis",
            vmin=0,
            vmax=n,
            s=45,
            edgecolors="black",
            linewidths=0.5,
            label="completed",
        )
        if other:
            ax.scatter(
                [r[xo.metric] for r in other],
                [r[yo.metric] for r in other],
                c=[r["trial_index"] for r in other],
                cmap="viridis",
                vmin=0,
                vmax=n,
                marker="x",
                s=40,
                label="stopped early / failed (last value)",
            )
        front = sorted(
            (r for r in rows if r["trial_index"] in report.pareto),
            key=lambda r: r[xo.metric],
        )
        if front:
            ax.step(
                [r[xo.metric] for r in front],
                [r[yo.metric] for r in front],
                where="post",
                color="crimson",
                linewidth=1.5,
                label="Pareto front",
            )
        for o, line in ((xo, ax.axvline), (yo, ax.axhline)):
            if o.threshold is not None:
                line(o.threshold, color="gray", linestyle="--", linewidth=1)
        ax.set_xlabel(f"{xo.metric} ({'min' if xo.minimize else 'max'})")
        ax.set_ylabel(f"{yo.metric} ({'min' if yo.minimize else 'max'})")
        fig.colorbar(sc, ax=ax, label="trial index")
        ax.set_title("Pareto frontier (observed final values)")
    elif objs:
        o = objs[0]
        xs = [r["trial_index"] for r in rows]
        ys = [r[o.metric] for r in rows]
        ax.scatter(xs, ys, c=xs, cmap="viridis", vmin=0, vmax=n, s=45)
        ax.set_xlabel("trial index")
        ax.set_ylabel(o.metric)
        ax.set_title(f"{o.metric} by trial")
    ax.legend(loc="best", fontsize=8)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path)
    return path


def curves_png(report: ReportData, path: Path) -> Path | None:
    """Learning curves of the objectives; early-stopped trials dashed, ended by an x."""
    from matplotlib import colormaps

    metrics = curve_metrics(report)
    if not metrics:
        return None
    fig = _figure(6 * len(metrics), 4.5)
    cmap = colormaps["viridis"]
    n = max(len(report.rows) - 1, 1)
    status = {r["trial_index"]: r["status"] for r in report.rows}
    for k, metric in enumerate(metrics):
        ax = fig.add_subplot(1, len(metrics), k + 1)
        for idx, curves in sorted(report.curves.items()):
            pts = curves.get(metric)
            if not pts:
                continue
            stopped = status.get(idx) == "EARLY_STOPPED"
            xs, ys = zip(*pts, strict=True)
            ax.plot(
                xs,
                ys,
                color=cmap(idx / n),
                linestyle="--" if stopped else "-",
                linewidth=1.2,
            )
            if stopped:
                ax.plot(xs[-1], ys[-1], marker="x", color="crimson", markersize=8)
        ax.set_xlabel("step (epoch)")
        ax.set_ylabel(metric)
        ax.set_title(f"{metric}: learning curves (x = stopped early)")
        ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path)
    return path


def cv_png(points: dict[str, list[CVPoint]], path: Path) -> Path | None:
    """Predicted vs observed for each metric, with +-2 standard errors."""
    metrics = [m for m, pts in points.items() if pts]
    if not metrics:
        return None
    fig = _figure(5 * len(metrics), 4.5)
    for k, metric in enumerate(metrics):
        ax = fig.add_subplot(1, len(metrics), k + 1)
        pts = points[metric]
        obs = [p.observed for p in pts]
        pred = [p.predicted for p in pts]
        ax.errorbar(
            obs,
            pred,
            yerr=[2 * p.predicted_sem for p in pts],
            fmt="o",
            markersize=4,
            capsize=2,
        )
        low, high = min(obs + pred), max(obs + pred)
        ax.plot([low, high], [low, high], color="gray", linestyle="--", linewidth=1)
        ax.set_xlabel(f"observed {metric}")
        ax.set_ylabel(f"predicted {metric} (leave-one-out, +-2 SE)")
        ax.set_title(f"Cross-validation: {metric}")
        ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path)
    return path
