"""Helpers for metric tests: real Ax experiments and real TensorBoard files."""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence

from ax.core.arm import Arm
from ax.core.experiment import Experiment
from ax.core.metric import Metric
from ax.core.objective import Objective
from ax.core.optimization_config import MultiObjectiveOptimizationConfig
from ax.core.outcome_constraint import OutcomeConstraint
from ax.core.parameter import ParameterType, RangeParameter
from ax.core.search_space import SearchSpace
from ax.core.trial import Trial


def experiment(
    metrics: Sequence[Metric] = (),
    name: str = "tb_test",
    objectives: Iterable[tuple[Metric, bool, float]] | None = None,
) -> Experiment:
    """An experiment on x in [0, 1]; ``objectives``: (metric, minimize, bound)."""
    space = SearchSpace([RangeParameter("x", ParameterType.FLOAT, 0.0, 1.0)])
    opt = None
    if objectives:
        objectives = list(objectives)
        expression = ", ".join(
            ("-" if minimize else "") + m.name for m, minimize, _ in objectives
        )
        sigs = {m.name: m.signature for m, _, _ in objectives}
        thresholds = [
            OutcomeConstraint(
                expression=f"{m.name} {'<=' if minimize else '>='} {bound}",
                metric_name_to_signature={m.name: m.signature},
            )
            for m, minimize, bound in objectives
        ]
        opt = MultiObjectiveOptimizationConfig(
            objective=Objective(expression=expression, metric_name_to_signature=sigs),
            objective_thresholds=thresholds,
        )
    return Experiment(
        search_space=space, name=name, optimization_config=opt, metrics=list(metrics)
    )


def running_trial(
    exp: Experiment, log_dir: str | os.PathLike[str] | None, x: float = 0.5
) -> Trial:
    """A RUNNING trial whose run_metadata points at ``log_dir``."""
    trial = exp.new_trial()
    trial.add_arm(Arm({"x": x}))
    if log_dir is not None:
        path = os.fspath(log_dir)
        # Ours reads tensorboard_dir; Ax's TensorboardMetric reads tb_log_dir.
        trial.update_run_metadata({"tensorboard_dir": path, "tb_log_dir": path})
    trial.mark_running(no_runner_required=True)
    return trial


def write_curve(log_dir, tag: str, values: Sequence[float], steps=None) -> None:
    """Write ``values`` under ``tag`` with torch's SummaryWriter."""
    from torch.utils.tensorboard import SummaryWriter

    w = SummaryWriter(os.fspath(log_dir))
    for i, v in enumerate(values):
        w.add_scalar(tag, v, i if steps is None else steps[i])
    w.close()
