"""Model costs (latency, size) as ``log(value)``: Ax's ``LogY`` that picks its metrics.

The rule: in a **multi-objective** search, an objective that is **minimised**,
whose observed values are **all positive**, and whose objective threshold (if
it has one) is absolute and positive is modelled as ``log(value)``; every other
metric is left as it is. The choice is made again at every model fit from the
data seen so far, so a cost that later reports 0 or a negative value simply
stops being logged. Naming the metrics (``config={"metrics": [...]}``, which
is what a preset's ``log_objectives=[...]`` does) skips the choice; they must
then stay positive, as with Ax's ``LogY``.

Why one would: the costs a network is traded against span orders of
magnitude (a parameter count from 10^3 to 10^6, a latency whose fastest cells
are a few per cent of its range), and the front lives at the small end; on a
log scale the GP and the hypervolume the acquisition maximises look at ratios.
Measured (``docs/generation_benchmarks.md``): on NAS-Bench-201 cifar10 it did not raise
the hypervolume reached (6 seeds) at about the same CPU per suggestion, so the
presets leave it off (``log_objectives=None``) unless asked.

Predictions are returned on the original scale (Ax's ``LogY`` untransform), and
thresholds are logged with the data, so nothing outside the model changes.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

from ax.adapter.transforms.log_y import LogY

if TYPE_CHECKING:
    from ax.adapter.data_utils import ExperimentData
    from ax.core.optimization_config import OptimizationConfig


def cost_objectives(
    optimization_config: OptimizationConfig | None,
    experiment_data: ExperimentData | None,
) -> list[str]:
    """Signatures of the objectives the module rule logs (may be empty)."""
    from ax.core.optimization_config import MultiObjectiveOptimizationConfig

    if not isinstance(optimization_config, MultiObjectiveOptimizationConfig):
        return []
    if experiment_data is None or experiment_data.observation_data.empty:
        return []
    obs = experiment_data.observation_data
    thresholds = {
        t.metric_signatures[0]: t for t in optimization_config.objective_thresholds
    }
    chosen = []
    for signature, weight in optimization_config.objective.metric_weights:
        if weight >= 0 or ("mean", signature) not in obs.columns:
            continue
        values = obs["mean", signature].dropna().to_numpy(dtype=float)
        if len(values) == 0 or not all(math.isfinite(v) and v > 0 for v in values):
            continue
        threshold = thresholds.get(signature)
        if threshold is not None and (threshold.relative or threshold.bound <= 0):
            continue
        chosen.append(signature)
    return chosen


class LogCostY(LogY):
    """``LogY`` over the given ``metrics``, or over the cost objectives (module rule).

    Example (what a preset builds; the option is ``log_objectives``)::

        generator_kwargs = {
            "transforms": [*Mixed_transforms, LogCostY, *Y_trans],
            "transform_configs": {"LogCostY": {"metrics": ["latency"]}},  # or {}
        }
    """

    def __init__(
        self,
        search_space: Any = None,
        experiment_data: ExperimentData | None = None,
        adapter: Any = None,
        config: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(
            search_space=search_space,
            experiment_data=experiment_data,
            adapter=adapter,
            config=config,
        )
        if "metrics" not in self.config:
            opt = getattr(adapter, "_optimization_config", None) if adapter else None
            self.metric_signatures = cost_objectives(opt, experiment_data)


def register_for_storage() -> None:
    """Make Ax's stores know :class:`LogCostY` (idempotent; Ax's public hook)."""
    from ax.storage.transform_registry import register_transform

    register_transform(LogCostY)


register_for_storage()
