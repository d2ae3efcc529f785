"""Real learning curves for early-stopping tests, and an Ax experiment holding them.

The curves are the benchmark's cache (``benchmarks/data``): MLPs really
trained on scikit-learn's digits for 30 epochs.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
CURVES = REPO / "benchmarks" / "data" / "curves_digits.json"


def digits_curves() -> tuple[np.ndarray, np.ndarray]:
    """(val_acc curves ``(n, 30)``, num_params ``(n,)``) of the cached MLPs."""
    configs = json.loads(CURVES.read_text())["configs"]
    curves = np.array([c["val_acc"] for c in configs], dtype=float)
    params = np.array([c["num_params"] for c in configs], dtype=float)
    return curves, params


def make_experiment(
    multi_objective: bool = True,
    acc_threshold: float | None = 0.8,
    metric_cls: type | None = None,
    n_configs: int = 10_001,
    metrics: tuple | None = None,
    epochs_parameter: bool = False,
):
    """An Ax experiment: val_acc (curve, maximize) and optionally num_params (min).

    The parameter ``config`` indexes the cached curves; with
    ``epochs_parameter`` the space also searches ``epochs`` (2 to 30), each
    trial's own length (see :func:`add_trial`'s ``budget``).
    """
    from ax.core.experiment import Experiment
    from ax.core.metric import Metric
    from ax.core.objective import Objective
    from ax.core.optimization_config import (
        MultiObjectiveOptimizationConfig,
        OptimizationConfig,
    )
    from ax.core.outcome_constraint import OutcomeConstraint
    from ax.core.parameter import ParameterType, RangeParameter
    from ax.core.search_space import SearchSpace

    if metrics is not None:  # ready-made (val_acc, num_params) metric objects
        acc, size = metrics
    else:
        metric_cls = metric_cls or Metric
        acc = metric_cls(name="val_acc", lower_is_better=False)
        size = metric_cls(name="num_params", lower_is_better=True)
    params = [RangeParameter("config", ParameterType.INT, lower=0, upper=n_configs - 1)]
    if epochs_parameter:
        params.append(RangeParameter("epochs", ParameterType.INT, lower=2, upper=30))
    space = SearchSpace(params)
    sig = {"val_acc": acc.signature, "num_params": size.signature}
    if multi_objective:
        thresholds = [
            OutcomeConstraint(
                expression="num_params <= 30000",
                metric_name_to_signature=sig,
                relative=False,
            )
        ]
        if acc_threshold is not None:
            thresholds.append(
                OutcomeConstraint(
                    expression=f"val_acc >= {acc_threshold}",
                    metric_name_to_signature=sig,
                    relative=False,
                )
            )
        opt = MultiObjectiveOptimizationConfig(
            objective=Objective(
                expression="val_acc, -num_params", metric_name_to_signature=sig
            ),
            objective_thresholds=thresholds,
        )
        metrics = [acc, size]
    else:
        opt = OptimizationConfig(
            objective=Objective(
                expression="val_acc",
                metric_name_to_signature={"val_acc": acc.signature},
            )
        )
        metrics = [acc]
    return Experiment(
        name="es_test", search_space=space, optimization_config=opt, metrics=metrics
    )


def add_trial(
    experiment,
    config: int,
    curve,
    params: float | None,
    epochs: int,
    status,
    params_per_step: bool = True,
    budget: int | None = None,
):
    """A trial of ``config`` with the first ``epochs`` points of ``curve`` attached.

    num_params is reported at every step (a flat curve) or, with
    ``params_per_step=False``, once without a progression. ``budget`` is the
    trial's ``epochs`` parameter (experiments made with ``epochs_parameter``).
    """
    import pandas as pd
    from ax.core.arm import Arm
    from ax.core.data import Data
    from ax.core.trial_status import TrialStatus

    trial = experiment.new_trial()
    parameters = {"config": int(config)}
    if budget is not None:
        parameters["epochs"] = int(budget)
    trial.add_arm(Arm(parameters=parameters))
    trial.mark_running(no_runner_required=True)
    arm = trial.arm.name
    acc = experiment.metrics["val_acc"]
    rows = [
        {
            "trial_index": trial.index,
            "arm_name": arm,
            "metric_name": "val_acc",
            "metric_signature": acc.signature,
            "mean": float(curve[e]),
            "sem": float("nan"),
            "step": float(e + 1),
        }
        for e in range(epochs)
    ]
    if params is not None and "num_params" in experiment.metrics:
        size = experiment.metrics["num_params"]
        rows += [
            {
                "trial_index": trial.index,
                "arm_name": arm,
                "metric_name": "num_params",
                "metric_signature": size.signature,
                "mean": float(params),
                "sem": 0.0,
                "step": float(e + 1) if params_per_step else float("nan"),
            }
            for e in (range(epochs) if params_per_step else [0])
        ]
    experiment.attach_data(Data(df=pd.DataFrame(rows)))
    if status == TrialStatus.COMPLETED:
        trial.mark_completed()
    elif status == TrialStatus.EARLY_STOPPED:
        trial.mark_early_stopped()
    return trial
