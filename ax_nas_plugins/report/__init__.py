"""A run's report: Pareto plot, learning curves, cross-validation, trial table.

The rule: :func:`write_report` reads an Ax experiment (nothing else is needed;
the run's ``events.jsonl`` adds stop reasons Ax did not keep) and writes, in
one folder: ``pareto.png``, ``curves.png``, ``cv.png`` (matplotlib),
``report.html`` (one self-contained page, plotly.js inlined, no network
needed), ``trials.csv`` and ``trials.md``. A figure without data (no curves
yet, too few trials for cross-validation) is left out and the page says why.

Example::

    from ax_nas_plugins.report import write_report

    paths = write_report(experiment, "report")
    print(paths["html"])
"""

from __future__ import annotations

import csv
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ax_nas_plugins.report.data import ReportData, collect, pareto_set

if TYPE_CHECKING:
    from ax.core.experiment import Experiment

__all__ = ["ReportData", "collect", "pareto_set", "write_report", "write_tables"]


def write_tables(report: ReportData, out: Path) -> tuple[Path, Path]:
    """``trials.csv`` and ``trials.md``: one row per trial, the Pareto set marked."""
    cols = ["trial_index", "status", *report.metrics, *report.parameters, "reason"]
    csv_path, md_path = out / "trials.csv", out / "trials.md"
    with csv_path.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow([*cols, "pareto_optimal"])
        for r in report.rows:
            writer.writerow(
                [r.get(c) for c in cols] + [r["trial_index"] in report.pareto]
            )
    lines = [
        f"# {report.experiment}: all trials",
        "",
        "Pareto-optimal trials are marked with `*`.",
        "",
        "| " + " | ".join(["trial", *cols[1:]]) + " |",
        "|" + "---|" * len(cols),
    ]
    for r in report.rows:
        star = "*" if r["trial_index"] in report.pareto else ""
        cells = [f"{r['trial_index']}{star}"] + [_md(r.get(c)) for c in cols[1:]]
        lines.append("| " + " | ".join(cells) + " |")
    md_path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return csv_path, md_path


def _md(value: Any) -> str:
    if isinstance(value, float):
        text = f"{value:.4g}"
    else:
        text = "" if value is None else str(value)
    return text.replace("|", "\\|").replace("\n", " ")


def write_report(
    experiment: Experiment,
    out: str | Path,
    events: str | Path | None = None,
    cross_validation: bool = True,
) -> dict[str, Path]:
    """Write every file of the report into ``out``; return their paths by kind."""
    from ax_nas_plugins.report import html, static
    from ax_nas_plugins.report.cv import leave_one_out

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    report = collect(experiment, events)
    notes: list[str] = []
    points: dict[str, Any] = {}
    if cross_validation:
        points, why = leave_one_out(experiment, [o.metric for o in report.objectives])
        if why:
            notes.append(f"No cross-validation: {why}.")
    paths: dict[str, Path] = {}
    paths["pareto_png"] = static.pareto_png(report, out / "pareto.png")
    curves = static.curves_png(report, out / "curves.png")
    if curves is not None:
        paths["curves_png"] = curves
    else:
        notes.append("No learning curves (no metric with more than one step).")
    cv = static.cv_png(points, out / "cv.png")
    if cv is not None:
        paths["cv_png"] = cv
    paths["csv"], paths["markdown"] = write_tables(report, out)
    figures = [html.pareto_figure(report)]
    for fig in (html.curves_figure(report), html.cv_figure(points)):
        if fig is not None:
            figures.append(fig)
    paths["html"] = html.write_html(report, figures, notes, out / "report.html")
    return paths
