"""A runner, a metric and a hook plugin, written as a third party would."""

from __future__ import annotations

import json
import os

import pandas as pd
from ax.core.base_trial import TrialStatus
from ax.core.data import Data
from ax.core.metric import Metric, MetricFetchE, MetricFetchResult
from ax.core.runner import Runner
from ax.utils.common.result import Err, Ok

from ax_nas_plugins.hooks import hookimpl


class ToyRunner(Runner):
    """Runs nothing: records the trial in JSON run_metadata and completes it."""

    def __init__(self, queue: str = "default", retries: int = 0) -> None:
        self.queue = queue
        self.retries = retries

    def run(self, trial):
        return {"queue": self.queue, "job_id": f"job-{trial.index}"}

    def poll_trial_status(self, trials):
        return {TrialStatus.COMPLETED: {t.index for t in trials}}


class ToyMetric(Metric):
    """Returns the sum of the numeric parameters times ``scale``."""

    def __init__(self, name: str, scale: float = 1.0, lower_is_better=None) -> None:
        super().__init__(name=name, lower_is_better=lower_is_better)
        self.scale = scale

    def fetch_trial_data(self, trial, **kwargs) -> MetricFetchResult:
        try:
            rows = [
                {
                    "arm_name": arm.name,
                    "metric_name": self.name,
                    "metric_signature": self.signature,
                    "mean": self.scale
                    * sum(
                        v for v in arm.parameters.values() if isinstance(v, int | float)
                    ),
                    "sem": 0.0,
                    "trial_index": trial.index,
                }
                for arm in trial.arms
            ]
            return Ok(value=Data(df=pd.DataFrame(rows)))
        except Exception as e:  # pragma: no cover - surfaced to Ax
            return Err(MetricFetchE(message=str(e), exception=e))


class ToyHooks:
    """Writes every experiment-saved event to the file in TOY_HOOK_FILE."""

    @hookimpl
    def ax_nas_experiment_saved(self, experiment_name, location):
        path = os.environ.get("TOY_HOOK_FILE")
        if path:
            with open(path, "a") as fh:
                fh.write(json.dumps({"saved": experiment_name}) + "\n")
