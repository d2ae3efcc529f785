"""One self-contained HTML page: plotly figures (plotly.js inlined) and the trial table.

The rule: the page needs no network to view (plotly.js is inlined once, at the
top), and each figure is an ordinary plotly ``div``: Pareto frontier (hover
shows the trial's parameters), learning curves (hover on an early-stopped
trial shows why it was stopped), leave-one-out cross-validation, the table.
"""

from __future__ import annotations

import html
from pathlib import Path
from typing import Any

from ax_nas_plugins.report.cv import CVPoint
from ax_nas_plugins.report.data import ReportData, curve_metrics, feasible


def _hover(row: dict[str, Any], report: ReportData) -> str:
    parts = [f"trial {row['trial_index']} ({row['status'].lower()})"]
    parts += [f"{m} = {_fmt(row.get(m))}" for m in report.metrics]
    parts += [f"{p} = {_fmt(row.get(p))}" for p in report.parameters]
    if row["reason"]:
        parts.append(f"reason: {html.escape(row['reason'][:300])}")
    return "<br>".join(parts)


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    return "" if value is None else str(value)


def pareto_figure(report: ReportData) -> Any:
    import plotly.graph_objects as go

    fig = go.Figure()
    objs = report.objectives
    rows = [r for r in report.rows if all(r.get(o.metric) is not None for o in objs)]
    n = max(len(report.rows) - 1, 1)
    if len(objs) < 2:
        o = objs[0] if objs else None
        if o is not None:
            fig.add_scatter(
                x=[r["trial_index"] for r in rows],
                y=[r[o.metric] for r in rows],
                mode="markers",
                hovertext=[_hover(r, report) for r in rows],
                hoverinfo="text",
            )
            fig.update_layout(xaxis_title="trial index", yaxis_title=o.metric)
        return fig
    xo, yo = objs[1], objs[0]
    for label, group, symbol in (
        ("completed", [r for r in rows if feasible(r, report)], "circle"),
        ("stopped early / failed", [r for r in rows if not feasible(r, report)], "x"),
    ):
        if not group:
            continue
        fig.add_scatter(
            x=[r[xo.metric] for r in group],
            y=[r[yo.metric] for r in group],
            mode="markers",
            name=label,
            marker={
                "color": [r["trial_index"] for r in group],
                "colorscale": "Viridis",
                "cmin": 0,
                "cmax": n,
                "size": 10,
                "symbol": symbol,
                "showscale": label == "completed",
                "colorbar": {"title": "trial"},
            },
            hovertext=[_hover(r, report) for r in group],
            hoverinfo="text",
        )
    front = sorted(
        (r for r in rows if r["trial_index"] in report.pareto),
        key=lambda r: r[xo.metric],
    )
    if front:
        fig.add_scatter(
            x=[r[xo.metric] for r in front],
            y=[r[yo.metric] for r in front],
            mode="lines",
            line={"shape": "hv", "color": "crimson"},
            name="Pareto front",
            hoverinfo="skip",
        )
    if xo.threshold is not None:
        fig.add_vline(x=xo.threshold, line_dash="dash", line_color="gray")
    if yo.threshold is not None:
        fig.add_hline(y=yo.threshold, line_dash="dash", line_color="gray")
    fig.update_layout(
        title="Pareto frontier (observed final values; dashed: thresholds)",
        xaxis_title=f"{xo.metric} ({'min' if xo.minimize else 'max'})",
        yaxis_title=f"{yo.metric} ({'min' if yo.minimize else 'max'})",
        legend={"orientation": "h", "y": -0.2},
    )
    return fig


def curves_figure(report: ReportData) -> Any | None:
    import plotly.graph_objects as go
    from plotly.colors import sample_colorscale

    metric = next(iter(curve_metrics(report)), None)
    if metric is None:
        return None
    rows = {r["trial_index"]: r for r in report.rows}
    n = max(len(report.rows) - 1, 1)
    fig = go.Figure()
    for idx, curves in sorted(report.curves.items()):
        pts = curves.get(metric)
        if not pts or idx not in rows:
            continue
        row = rows[idx]
        stopped = row["status"] == "EARLY_STOPPED"
        xs = [p[0] for p in pts]
        ys = [p[1] for p in pts]
        why = (
            f"<br>stopped early: {html.escape(row['reason'][:300])}" if stopped else ""
        )
        fig.add_scatter(
            x=xs,
            y=ys,
            mode="lines+markers",
            name=f"trial {idx}" + (" (stopped)" if stopped else ""),
            line={
                "color": sample_colorscale("Viridis", idx / n)[0],
                "dash": "dash" if stopped else "solid",
            },
            marker={
                "symbol": ["circle"] * (len(xs) - 1) + ["x" if stopped else "circle"],
                "size": [4] * (len(xs) - 1) + [10 if stopped else 4],
            },
            hovertext=[
                f"trial {idx}, step {x:g}: {metric} = {y:.4g}{why}"
                for x, y in zip(xs, ys, strict=True)
            ],
            hoverinfo="text",
        )
    fig.update_layout(
        title=f"Learning curves of {metric} (dashed, x: stopped early; hover: why)",
        xaxis_title="step (epoch)",
        yaxis_title=metric,
    )
    return fig


def cv_figure(points: dict[str, list[CVPoint]]) -> Any | None:
    from plotly.subplots import make_subplots

    metrics = [m for m, pts in points.items() if pts]
    if not metrics:
        return None
    fig = make_subplots(rows=1, cols=len(metrics), subplot_titles=metrics)
    for k, metric in enumerate(metrics, start=1):
        pts = points[metric]
        obs = [p.observed for p in pts]
        pred = [p.predicted for p in pts]
        fig.add_scatter(
            x=obs,
            y=pred,
            mode="markers",
            error_y={"type": "data", "array": [2 * p.predicted_sem for p in pts]},
            hovertext=[f"trial {p.trial_index}" for p in pts],
            name=metric,
            row=1,
            col=k,
        )
        low, high = min(obs + pred), max(obs + pred)
        fig.add_scatter(
            x=[low, high],
            y=[low, high],
            mode="lines",
            line={"dash": "dash", "color": "gray"},
            showlegend=False,
            row=1,
            col=k,
        )
        fig.update_xaxes(title_text=f"observed {metric}", row=1, col=k)
        fig.update_yaxes(title_text="predicted (LOO, +-2 SE)", row=1, col=k)
    fig.update_layout(title="Leave-one-out cross-validation of the surrogate")
    return fig


def table_html(report: ReportData) -> str:
    cols = ["trial_index", "status", *report.metrics, *report.parameters, "reason"]
    head = "".join(f"<th>{html.escape(c)}</th>" for c in cols)
    body = []
    for r in report.rows:
        mark = ' class="pareto"' if r["trial_index"] in report.pareto else ""
        cells = "".join(f"<td>{html.escape(_fmt(r.get(c)))}</td>" for c in cols)
        body.append(f"<tr{mark}>{cells}</tr>")
    return f"<table><tr>{head}</tr>{''.join(body)}</table>"


def write_html(
    report: ReportData,
    figures: list[Any],
    notes: list[str],
    path: Path,
) -> Path:
    """Write the page; plotly.js is inlined with the first figure."""
    parts = []
    for i, fig in enumerate(figures):
        parts.append(
            fig.to_html(
                full_html=False, include_plotlyjs=(i == 0), default_width="100%"
            )
        )
    note_html = "".join(f"<p class='note'>{html.escape(n)}</p>" for n in notes)
    page = f"""<!DOCTYPE html>
<html><head><meta charset="utf-8">
<title>{html.escape(report.experiment)}: ax-nas report</title>
<style>
body {{ font-family: sans-serif; margin: 1.5em; }}
table {{ border-collapse: collapse; font-size: 12px; }}
td, th {{ border: 1px solid #ccc; padding: 2px 6px; }}
tr.pareto {{ background: #fde7e7; }}
.note {{ color: #555; }}
</style></head><body>
<h1>{html.escape(report.experiment)}</h1>
<p>{len(report.rows)} trials; Pareto-optimal (highlighted in the table):
{", ".join(str(i) for i in report.pareto) or "none yet"}.</p>
{note_html}
{"".join(parts)}
<h2>All trials</h2>
{table_html(report)}
</body></html>
"""
    path.write_text(page, encoding="utf-8")
    return path
