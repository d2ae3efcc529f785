"""Curve post-processing with the same rules and numbers as Ax's TensorboardMetric.

The rule, in Ax's order (``ax/metrics/tensorboard.py``,
``_process_records_to_df``):

1. Points logged more than once at the same step are averaged (NaN values
   are left out of the average, as pandas' ``groupby().mean()`` does).
2. Non-finite values (NaN, +inf, -inf) are dropped with a warning; a curve
   with no finite value at all is an error.
3. ``smoothing`` > 0: the curve is interpolated onto an evenly spaced grid of
   as many steps (from the first to the last step), then smoothed with an
   exponentially weighted mean, ``alpha = 1 - smoothing`` (TensorBoard's
   slider).
4. ``quantile``: each point becomes the quantile of the curve up to it
   (pandas ``expanding().quantile``, linear interpolation).
5. ``cumulative_best``: running minimum (``lower_is_better``) or maximum.

The same pandas/numpy calls are used wherever Ax's result depends on them, so
the numbers are the same to the last bit on the same points.
"""

from __future__ import annotations

import logging

import numpy as np

logger = logging.getLogger(__name__)


class NoFiniteValuesError(ValueError):
    """Every point of the curve is NaN or infinite."""


def process_curve(
    steps: np.ndarray,
    values: np.ndarray,
    *,
    smoothing: float = 0.0,
    quantile: float | None = None,
    cumulative_best: bool = False,
    lower_is_better: bool | None = True,
    label: str = "curve",
) -> tuple[np.ndarray, np.ndarray]:
    """Processed ``(steps, means)`` of one raw, step-sorted curve (see module docs).

    Args:
        steps: Steps, sorted ascending (duplicates allowed).
        values: Values at those steps.
        smoothing: In [0, 1); 0 leaves the curve as it is.
        quantile: In [0, 1], or None.
        cumulative_best: Apply the running best after the other steps.
        lower_is_better: Direction of the running best (None: higher is better).
        label: Names the curve in the warning about dropped values.
    """
    if len(steps) > 1 and not np.all(steps[1:] > steps[:-1]):
        import pandas as pd

        grouped = pd.DataFrame({"step": steps, "mean": values}).groupby("step").mean()
        steps = grouped.index.to_numpy(dtype=np.float64)
        values = grouped["mean"].to_numpy(dtype=np.float64)
    finite = np.isfinite(values)
    if not finite.all():
        if not finite.any():
            raise NoFiniteValuesError("All values are NaNs or Infs.")
        bad = int((~finite).sum())
        logger.warning(
            "%s: %d / %d data points are NaNs or Infs. Filtering out non-finite "
            "values.",
            label,
            bad,
            len(values),
        )
        steps, values = steps[finite], values[finite]
    if smoothing > 0 or quantile is not None:
        import pandas as pd

        if smoothing > 0:
            grid = np.linspace(steps.min(), steps.max(), len(steps))
            values = np.interp(grid, steps, values)
            steps = grid
            values = pd.Series(values).ewm(alpha=1 - smoothing).mean().to_numpy()
        if quantile is not None:
            values = pd.Series(values).expanding().quantile(quantile).to_numpy()
    if cumulative_best:
        if lower_is_better:
            values = np.minimum.accumulate(values)
        else:
            values = np.maximum.accumulate(values)
    return steps, values
