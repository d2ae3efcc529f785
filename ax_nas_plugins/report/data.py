"""What a report shows, as plain data read from an Ax experiment.

The rule: one row per trial with its parameters, status, the reason it ended
(failed or stopped early) and each metric's *final* value (the last step of
its curve); curves keep every step. The Pareto set is computed here with
numpy from those final values: the COMPLETED trials with a value for every
objective that meet every outcome constraint, and that no other such trial
dominates (at least as good on every objective, better on one). Objective
thresholds do not filter the set; the plots draw them. Early-stopped and
failed trials are shown, never in the set.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ax.core.experiment import Experiment


@dataclass(frozen=True)
class ObjectiveInfo:
    """One objective: metric name, direction and threshold (or None)."""

    metric: str
    minimize: bool
    threshold: float | None = None


@dataclass
class ReportData:
    """Everything a report draws; plain Python, no Ax objects."""

    experiment: str
    objectives: list[ObjectiveInfo]
    constraints: list[tuple[str, str, float]]  # (metric, "<=" | ">=", bound)
    parameters: list[str]
    metrics: list[str]
    rows: list[dict[str, Any]]  # per trial: index, status, reason, params, finals
    curves: dict[int, dict[str, list[tuple[float, float]]]] = field(
        default_factory=dict
    )
    pareto: list[int] = field(default_factory=list)


def collect(experiment: Experiment, events: str | Path | None = None) -> ReportData:
    """Read trials, final values and curves from ``experiment`` (no model fit)."""
    oc = experiment.optimization_config
    objectives: list[ObjectiveInfo] = []
    constraints: list[tuple[str, str, float]] = []
    if oc is not None:
        thresholds = {}
        for t in getattr(oc, "objective_thresholds", []) or []:
            thresholds[t.metric_names[0]] = float(t.bound)
        for name, weight in oc.objective.metric_weights:
            objectives.append(ObjectiveInfo(name, weight < 0, thresholds.get(name)))
        for c in oc.outcome_constraints:
            op = "<=" if c.op.name == "LEQ" else ">="
            constraints.append((c.metric_names[0], op, float(c.bound)))
    reasons = _event_reasons(events)
    data = experiment.lookup_data()
    finals: dict[int, dict[str, float]] = {}
    for rec in data.df.to_dict("records"):
        finals.setdefault(int(rec["trial_index"]), {})[rec["metric_name"]] = float(
            rec["mean"]
        )
    curves: dict[int, dict[str, list[tuple[float, float]]]] = {}
    full = getattr(data, "full_df", data.df)
    if "step" in full.columns:
        for rec in full.sort_values("step").to_dict("records"):
            if rec["step"] is None or math.isnan(rec["step"]):
                continue
            curves.setdefault(int(rec["trial_index"]), {}).setdefault(
                rec["metric_name"], []
            ).append((float(rec["step"]), float(rec["mean"])))
    parameters = list(experiment.search_space.parameters)
    metrics = sorted(experiment.metrics)
    rows = []
    for idx, trial in sorted(experiment.trials.items()):
        arm = getattr(trial, "arm", None)
        params = dict(arm.parameters) if arm is not None else {}
        reason = trial.status_reason or reasons.get(idx)
        rows.append(
            {
                "trial_index": idx,
                "status": trial.status.name,
                "reason": reason or "",
                **{p: params.get(p) for p in parameters},
                **{m: finals.get(idx, {}).get(m) for m in metrics},
            }
        )
    report = ReportData(
        experiment=experiment.name,
        objectives=objectives,
        constraints=constraints,
        parameters=parameters,
        metrics=metrics,
        rows=rows,
        curves=curves,
    )
    report.pareto = pareto_set(report)
    return report


def _event_reasons(events: str | Path | None) -> dict[int, str]:
    """Reasons from the run's event log (``events.jsonl``), where Ax kept none."""
    if events is None or not Path(events).is_file():
        return {}
    reasons = {}
    for line in Path(events).read_text(encoding="utf-8").splitlines():
        try:
            event = json.loads(line)
        except json.JSONDecodeError:
            continue  # a line cut by a kill
        if event.get("reason"):
            reasons[int(event["trial_index"])] = str(event["reason"])
    return reasons


def feasible(row: dict[str, Any], report: ReportData) -> bool:
    """Completed, every objective observed, every outcome constraint met."""
    if row["status"] != "COMPLETED":
        return False
    for o in report.objectives:
        value = row.get(o.metric)
        if value is None or not math.isfinite(value):
            return False
    for metric, op, bound in report.constraints:
        value = row.get(metric)
        if value is None or (value > bound if op == "<=" else value < bound):
            return False
    return True


def pareto_set(report: ReportData) -> list[int]:
    """Indices of the non-dominated feasible trials (see the module rule)."""
    import numpy as np

    rows = [r for r in report.rows if feasible(r, report)]
    if not rows or not report.objectives:
        return []
    # Larger is better in every column.
    y = np.array(
        [
            [-r[o.metric] if o.minimize else r[o.metric] for o in report.objectives]
            for r in rows
        ],
        dtype=float,
    )
    keep = []
    for i in range(len(rows)):
        dominated = np.any(np.all(y >= y[i], axis=1) & np.any(y > y[i], axis=1))
        if not dominated:
            keep.append(rows[i]["trial_index"])
    return sorted(keep)


def curve_metrics(report: ReportData) -> list[str]:
    """Objectives whose curves change over steps (not a size logged every epoch)."""
    return [
        o.metric
        for o in report.objectives
        if any(
            len({round(v, 12) for _, v in c.get(o.metric, [])}) > 1
            for c in report.curves.values()
        )
    ]
