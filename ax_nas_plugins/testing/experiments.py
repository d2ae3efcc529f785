"""Small Ax experiments for tests, benchmarks and examples.

The rule: :func:`two_param_experiment` builds an Ax ``Experiment`` over two
float parameters ``x1`` and ``x2`` with one objective read from one metric
(Ax's noiseless ``BraninMetric`` on Branin's domain by default), so that
orchestrator scripts, fault tests and benchmarks do not each repeat the same
twenty lines. Nothing here starts a job: the runner is given.

Example::

    from ax_nas_plugins.testing.experiments import two_param_experiment

    exp = two_param_experiment("demo", runner=my_runner)
"""

from __future__ import annotations

from typing import Any

#: Branin's domain (x1 in [-5, 10], x2 in [0, 15]).
BRANIN_BOUNDS = ((-5.0, 10.0), (0.0, 15.0))


def two_param_experiment(
    name: str,
    runner: Any,
    metric: Any = None,
    bounds: tuple[tuple[float, float], tuple[float, float]] = BRANIN_BOUNDS,
    minimize: bool = True,
) -> Any:
    """An ``Experiment`` on ``x1``, ``x2`` in ``bounds`` optimising ``metric``.

    ``metric`` defaults to a noiseless ``BraninMetric`` named ``branin``;
    it is minimised unless ``minimize`` is False.
    """
    from ax.core.experiment import Experiment
    from ax.core.objective import Objective
    from ax.core.optimization_config import OptimizationConfig
    from ax.core.parameter import ParameterType, RangeParameter
    from ax.core.search_space import SearchSpace

    if metric is None:
        from ax.metrics.branin import BraninMetric

        metric = BraninMetric(name="branin", param_names=["x1", "x2"], noise_sd=0.0)
    (lo1, hi1), (lo2, hi2) = bounds
    sign = "-" if minimize else ""
    return Experiment(
        name=name,
        search_space=SearchSpace(
            [
                RangeParameter("x1", ParameterType.FLOAT, lo1, hi1),
                RangeParameter("x2", ParameterType.FLOAT, lo2, hi2),
            ]
        ),
        optimization_config=OptimizationConfig(
            objective=Objective(
                expression=f"{sign}{metric.name}",
                metric_name_to_signature={metric.name: metric.signature},
            )
        ),
        metrics=[metric],
        runner=runner,
    )
