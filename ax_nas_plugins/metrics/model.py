"""The ``latency``, ``num_params`` and ``model_size_bytes`` metrics.

Each reads one value a trainer logged once with :mod:`ax_nas_plugins.measure`
(or by hand, under the same tag) and reports it the way ``mode="final"`` of
the ``tensorboard`` metric does: the last value, at every step of the trial's
curve metrics, so Ax pairs it with accuracy in every trial.
"""

from __future__ import annotations

from ax_nas_plugins.measure import (
    LATENCY_P90_TAG,
    LATENCY_TAG,
    MODEL_SIZE_TAG,
    NUM_PARAMS_TAG,
)
from ax_nas_plugins.metrics.tensorboard import TensorBoardCurveMetric

__all__ = [
    "LATENCY_P90_TAG",
    "LATENCY_TAG",
    "MODEL_SIZE_TAG",
    "NUM_PARAMS_TAG",
    "LatencyMetric",
    "ModelSizeMetric",
    "NumParamsMetric",
]


class LatencyMetric(TensorBoardCurveMetric):
    """Median inference latency in ms, logged once by the trainer (lower is better).

    The rule: the last value of ``tag`` (``latency_ms``, the median of
    :func:`ax_nas_plugins.measure.measure_latency`; use ``latency_p90_ms`` for
    the 90th percentile) in the trial's TensorBoard dir, reported at the steps
    of the trial's curve metrics. Latency only means something on the
    hardware you deploy to: measure it there (see ``docs/metrics.md``).

    Example::

        anp.metric("latency")                       # median, ms
        anp.metric("latency", name="p90", tag="latency_p90_ms")

    Args:
        name: Ax metric name.
        tag: Scalar tag as logged.
        lower_is_better: Direction of the objective.
        log_dir: Template of the trial's dir; None reads run_metadata.
        steps_from: Tag whose steps the value is reported at (see
            :class:`TensorBoardCurveMetric`).
    """

    def __init__(
        self,
        name: str = "latency_ms",
        tag: str = LATENCY_TAG,
        lower_is_better: bool | None = True,
        log_dir: str | None = None,
        steps_from: str | None = None,
    ) -> None:
        super().__init__(
            name=name,
            tag=tag,
            lower_is_better=lower_is_better,
            mode="final",
            log_dir=log_dir,
            steps_from=steps_from,
        )


class NumParamsMetric(TensorBoardCurveMetric):
    """Number of model parameters, logged once by the trainer (lower is better).

    The rule: the last value of ``tag`` (``num_params``, from
    :func:`ax_nas_plugins.measure.count_params`) in the trial's TensorBoard
    dir, reported at the steps of the trial's curve metrics.

    Example::

        anp.metric("num_params")

    Args:
        name: Ax metric name.
        tag: Scalar tag as logged.
        lower_is_better: Direction of the objective.
        log_dir: Template of the trial's dir; None reads run_metadata.
        steps_from: Tag whose steps the value is reported at.
    """

    def __init__(
        self,
        name: str = "num_params",
        tag: str = NUM_PARAMS_TAG,
        lower_is_better: bool | None = True,
        log_dir: str | None = None,
        steps_from: str | None = None,
    ) -> None:
        super().__init__(
            name=name,
            tag=tag,
            lower_is_better=lower_is_better,
            mode="final",
            log_dir=log_dir,
            steps_from=steps_from,
        )


class ModelSizeMetric(TensorBoardCurveMetric):
    """Bytes of the model's parameters and buffers, logged once (lower is better).

    The rule: the last value of ``tag`` (``model_size_bytes``, from
    :func:`ax_nas_plugins.measure.model_size_bytes`) in the trial's
    TensorBoard dir, reported at the steps of the trial's curve metrics.

    Example::

        anp.metric("model_size_bytes")

    Args:
        name: Ax metric name.
        tag: Scalar tag as logged.
        lower_is_better: Direction of the objective.
        log_dir: Template of the trial's dir; None reads run_metadata.
        steps_from: Tag whose steps the value is reported at.
    """

    def __init__(
        self,
        name: str = "model_size_bytes",
        tag: str = MODEL_SIZE_TAG,
        lower_is_better: bool | None = True,
        log_dir: str | None = None,
        steps_from: str | None = None,
    ) -> None:
        super().__init__(
            name=name,
            tag=tag,
            lower_is_better=lower_is_better,
            mode="final",
            log_dir=log_dir,
            steps_from=steps_from,
        )
