"""The ``latency``, ``num_params`` and ``model_size_bytes`` metrics.

Each reads one value a trainer logged once with :mod:`ax_nas_plugins.measure`
(or by hand, under the same tag) and reports it the way ``mode="final"`` of
the ``tensorboard`` metric does: the last value, at every step of the trial's
curve metrics, so Ax pairs it with accuracy in every trial.

The three differ only in their default name and tag (:data:`DEFAULTS`); they
are one class, :class:`ModelStatMetric`. ``LatencyMetric``, ``NumParamsMetric``
and ``ModelSizeMetric`` are kept as one-line subclasses that pick their
defaults, so the entry points and the class names stored in existing
experiments keep loading.
"""

from __future__ import annotations

from typing import ClassVar

from ax_nas_plugins.measure import (
    LATENCY_P90_TAG,
    LATENCY_TAG,
    MODEL_SIZE_TAG,
    NUM_PARAMS_TAG,
)
from ax_nas_plugins.metrics.tensorboard import TensorBoardCurveMetric

__all__ = [
    "DEFAULTS",
    "LATENCY_P90_TAG",
    "LATENCY_TAG",
    "MODEL_SIZE_TAG",
    "NUM_PARAMS_TAG",
    "LatencyMetric",
    "ModelSizeMetric",
    "ModelStatMetric",
    "NumParamsMetric",
]

#: Default Ax metric name and tag, by kind (the entry-point name).
DEFAULTS: dict[str, tuple[str, str]] = {
    "latency": ("latency_ms", LATENCY_TAG),
    "num_params": ("num_params", NUM_PARAMS_TAG),
    "model_size_bytes": ("model_size_bytes", MODEL_SIZE_TAG),
}


class ModelStatMetric(TensorBoardCurveMetric):
    """A value about the model logged once by the trainer (lower is better).

    The rule: the last value of ``tag`` in the trial's TensorBoard dir,
    reported at the steps of the trial's curve metrics (``mode="final"`` of
    :class:`TensorBoardCurveMetric`). ``kind`` picks the default name and tag:

    - ``latency``: ``latency_ms``, the median of
      :func:`ax_nas_plugins.measure.measure_latency` (``latency_p90_ms`` for
      the 90th percentile). Latency only means something on the hardware you
      deploy to: measure it there (see ``docs/metrics.md``).
    - ``num_params``: from :func:`ax_nas_plugins.measure.count_params`.
    - ``model_size_bytes``: from :func:`ax_nas_plugins.measure.model_size_bytes`.

    Example::

        anp.metric("latency")                       # median, ms
        anp.metric("latency", name="p90", tag="latency_p90_ms")
        anp.metric("num_params")

    Args:
        name: Ax metric name (default: the kind's).
        tag: Scalar tag as logged (default: the kind's).
        lower_is_better: Direction of the objective.
        log_dir: Template of the trial's dir; None reads run_metadata.
        steps_from: Tag whose steps the value is reported at (see
            :class:`TensorBoardCurveMetric`).
    """

    #: Key of :data:`DEFAULTS`; set by each registered subclass.
    kind: ClassVar[str] = "num_params"

    def __init__(
        self,
        name: str | None = None,
        tag: str | None = None,
        lower_is_better: bool | None = True,
        log_dir: str | None = None,
        steps_from: str | None = None,
    ) -> None:
        default_name, default_tag = DEFAULTS[self.kind]
        super().__init__(
            name=default_name if name is None else name,
            tag=default_tag if tag is None else tag,
            lower_is_better=lower_is_better,
            mode="final",
            log_dir=log_dir,
            steps_from=steps_from,
        )


class LatencyMetric(ModelStatMetric):
    """``ModelStatMetric`` of kind ``latency`` (median latency in ms)."""

    kind = "latency"


class NumParamsMetric(ModelStatMetric):
    """``ModelStatMetric`` of kind ``num_params`` (number of parameters)."""

    kind = "num_params"


class ModelSizeMetric(ModelStatMetric):
    """``ModelStatMetric`` of kind ``model_size_bytes`` (bytes of weights, buffers)."""

    kind = "model_size_bytes"
