"""Leave-one-out cross-validation of the surrogate, with Ax's own code.

The rule: a BoTorch model (Ax's ``Generators.BOTORCH_MODULAR``, the model
behind ``gp_moo``) is fitted to the final values of the COMPLETED trials, and
``ax.adapter.cross_validation.cross_validate(folds=-1)`` predicts each trial
from all the others. Each point is (observed, predicted mean, predicted
standard error). Fewer than three completed trials, or a fit that fails, give
no points and a note that says why.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ax.core.experiment import Experiment

MIN_TRIALS = 3


@dataclass(frozen=True)
class CVPoint:
    trial_index: int
    observed: float
    predicted: float
    predicted_sem: float


def leave_one_out(
    experiment: Experiment, metrics: list[str]
) -> tuple[dict[str, list[CVPoint]], str | None]:
    """LOO points per metric in ``metrics``, and a note when there are none."""
    from ax.core.base_trial import TrialStatus
    from ax.core.data import Data

    done = [
        i for i, t in experiment.trials.items() if t.status == TrialStatus.COMPLETED
    ]
    if len(done) < MIN_TRIALS:
        return {}, f"needs {MIN_TRIALS} completed trials, has {len(done)}"
    df = experiment.lookup_data(trial_indices=done).df
    df = df[df["metric_name"].isin(metrics)].drop(columns=["step"], errors="ignore")
    try:
        from ax.adapter.cross_validation import cross_validate
        from ax.adapter.registry import Generators

        adapter = Generators.BOTORCH_MODULAR(experiment=experiment, data=Data(df=df))
        results = cross_validate(adapter, folds=-1)
    except Exception as exc:  # too little or degenerate data: say so, no crash
        return {}, f"the model could not be fitted: {type(exc).__name__}: {exc}"
    sig_to_name = {m.signature: n for n, m in experiment.metrics.items()}
    points: dict[str, list[CVPoint]] = {m: [] for m in metrics}
    for res in results:
        obs, pred = res.observed.data, res.predicted
        trial = res.observed.features.trial_index
        for i, sig in enumerate(obs.metric_signatures):
            name = sig_to_name.get(sig, sig)
            if name not in points or sig not in pred.metric_signatures:
                continue
            j = pred.metric_signatures.index(sig)
            var = float(pred.covariance[j, j])
            points[name].append(
                CVPoint(
                    trial_index=int(trial) if trial is not None else -1,
                    observed=float(obs.means[i]),
                    predicted=float(pred.means[j]),
                    predicted_sem=math.sqrt(var) if var > 0 else 0.0,
                )
            )
    return points, None
