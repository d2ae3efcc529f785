"""Final-value prediction for partial learning curves (numpy only, no Ax).

The rule: a running curve, seen up to progression ``t``, is summarised by a
few features taken from its own points in the window ``[t/2, t]``: its
smoothed level at ``t``, the gain a log-linear fit ``a + b log(s)`` predicts
between ``t`` and the final progression ``T``, and the gain a saturating fit
``a + b / s`` predicts (two of the parametric families of Domhan et al. 2015,
fitted in closed form). How much of each extrapolation really happens is
learned from the finished curves of the same experiment: every finished curve
is cut at the same ``t``, the same features are computed, and a ridge
regression (shrunk toward "final = log-linear extrapolation", the prior that
holds when few curves are finished) maps features to the final value. The fit is
then redone locally (finished curves with features close to the running
one's weigh more, shrunk toward the global fit), and the predictive spread is
the local leave-one-out residual scale (blended with the global one when few
finished curves are close) plus the local fit's own variance. A curve unlike
every finished one (its nearest finished curve more than ``novelty``
standard deviations away in feature space) gets its spread widened by that
distance over ``novelty``: the finished curves say little about it. This
matters because the rule itself biases the finished set: the slow starters it
stops never finish, so a later slow starter looks more hopeless than it is.

Curves may be logged at any progressions; finished curves that share their
progressions are handled as one matrix. A non-finite value is dropped.

Example::

    model = CurvePredictor([(steps, values), ...], final_step=30)
    mean, std = model.predict(running_steps, running_values)
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np


def _clean(steps: Sequence[float], values: Sequence[float]) -> tuple[np.ndarray, ...]:
    s = np.asarray(steps, dtype=float)
    v = np.asarray(values, dtype=float)
    keep = np.isfinite(s) & np.isfinite(v)
    s, v = s[keep], v[keep]
    order = np.argsort(s, kind="stable")
    return s[order], v[order]


def curve_features(
    steps: np.ndarray, values: np.ndarray, t: float, final_step: float
) -> np.ndarray:
    """Features of curves cut at progression ``t``.

    ``values`` is an ``(n, m)`` matrix of ``n`` curves logged at the same
    ``m`` progressions ``steps``; points after ``t`` are ignored. Returns an
    ``(n, 4)`` matrix: 1, smoothed level at ``t``, log-linear gain to
    ``final_step``, saturating (``a + b/s``) gain to ``final_step``.
    """
    steps = np.asarray(steps, dtype=float)
    values = np.atleast_2d(np.asarray(values, dtype=float))
    seen = steps <= t + 1e-9
    window = seen & (steps >= t / 2.0) & (steps > 0)
    if window.sum() < 2:  # too few points for a trend: use the last two seen
        idx = np.flatnonzero(seen & (steps > 0))[-2:]
        window = np.zeros_like(seen)
        window[idx] = True
    s = steps[window]
    y = values[:, window]
    n = values.shape[0]
    t_eff = max(t, float(s.max())) if s.size else t
    level = values[:, np.flatnonzero(seen)[-1]] if seen.any() else np.zeros(n)
    gains = []
    levels = []
    for transform in (np.log, np.reciprocal):
        basis = transform(s)
        if s.size >= 2 and np.ptp(basis) > 0:
            xb = basis - basis.mean()
            slope = (y - y.mean(axis=1, keepdims=True)) @ xb / (xb @ xb)
            at_t, at_final = transform(t_eff), transform(float(final_step))
            gains.append(slope * (at_final - at_t))
            levels.append(y.mean(axis=1) + slope * (at_t - basis.mean()))
        else:
            gains.append(np.zeros(n))
            levels.append(level)
    smooth = 0.5 * (levels[0] + level)  # fitted level is less noisy than the last point
    return np.column_stack([np.ones(n), smooth, gains[0], gains[1]])


@dataclass
class Prediction:
    """Predicted final value of one curve, with its standard deviation."""

    mean: float
    std: float
    step: float  # progression the prediction was made from
    n_curves: int  # finished curves it learned from


class CurvePredictor:
    """Predict final values of partial curves from finished curves (see module doc).

    Args:
        finished: ``(steps, values)`` of every finished curve of the metric.
        final_step: progression at which a curve is finished (default: the
            largest progression among the finished curves).
        ridge: strength of the shrinkage toward the prior weights
            ``(0, 1, 1, 0)`` (final = level + log-linear gain), in units of
            finished curves.
        min_std: floor of the predictive standard deviation (metric units).
        locality: bandwidth of the local refit, in standard deviations (over
            the finished curves) of each feature: a finished curve at that
            distance weighs exp(-1/2) as much as an identical one.
        novelty: distance (same units) to the nearest finished curve beyond
            which the predictive standard deviation is multiplied by
            ``distance / novelty``; ``None``: never widened.
    """

    def __init__(
        self,
        finished: Sequence[tuple[Sequence[float], Sequence[float]]],
        final_step: float | None = None,
        ridge: float = 2.0,
        min_std: float = 1e-3,
        locality: float = 1.0,
        novelty: float | None = 2.0,
    ) -> None:
        curves = [_clean(s, v) for s, v in finished]
        curves = [(s, v) for s, v in curves if s.size >= 2]
        self.n_curves = len(curves)
        self.final_step = float(
            final_step
            if final_step is not None
            else max((s[-1] for s, _ in curves), default=1.0)
        )
        self.ridge = ridge
        self.min_std = min_std
        self.locality = locality
        self.novelty = novelty
        # Group curves that share their progressions: each group is one matrix.
        groups: dict[bytes, list[int]] = {}
        for i, (s, _) in enumerate(curves):
            groups.setdefault(s.tobytes(), []).append(i)
        self._groups = [
            (curves[idx[0]][0], np.vstack([curves[i][1] for i in idx]))
            for idx in groups.values()
        ]
        self._finals = (
            np.concatenate([m[:, -1] for _, m in self._groups])
            if self._groups
            else np.zeros(0)
        )
        self._fits: dict[float, tuple] = {}

    @property
    def finals(self) -> np.ndarray:
        """Final values of the finished curves."""
        return self._finals

    def _fit(self, t: float) -> tuple:
        key = round(float(t), 9)
        if key in self._fits:
            return self._fits[key]
        x = np.vstack(
            [curve_features(s, m, t, self.final_step) for s, m in self._groups]
        )
        y = self._finals
        prior = np.array([0.0, 1.0, 1.0, 0.0])
        lam = self.ridge * np.diag([1e-6, 1.0, 1.0, 1.0])
        scale = np.maximum(x.std(axis=0), 1e-6)
        scale[0] = 1.0
        xs = x / scale
        a = xs.T @ xs + lam
        b = xs.T @ (y - x @ prior)
        w_s = np.linalg.solve(a, b)
        w = prior + w_s / scale
        resid = y - x @ w
        hat = np.einsum("ij,ij->i", xs @ np.linalg.inv(a), xs)
        loo = resid / np.clip(1.0 - hat, 0.05, None)
        sigma = float(np.sqrt(np.mean(loo**2))) if loo.size else 1.0
        fit = (w, x, loo, sigma, np.linalg.inv(a), scale)
        self._fits[key] = fit
        return fit

    def predict(self, steps: Sequence[float], values: Sequence[float]) -> Prediction:
        """Predicted final value (mean, std) of one partial curve."""
        s, v = _clean(steps, values)
        if s.size == 0:
            raise ValueError("a curve needs at least one finite point to be predicted")
        t = float(s[-1])
        if self.n_curves == 0:
            return Prediction(float(v[-1]), float("inf"), t, 0)
        if t >= self.final_step:
            return Prediction(float(v[-1]), self.min_std, t, self.n_curves)
        w_g, x, _, sigma, _, scale = self._fit(t)
        f = curve_features(s, v[None, :], t, self.final_step)[0]
        # Local refit: finished curves whose features are near this one's weigh
        # more; the fit is shrunk toward the global one, which it equals when
        # nothing is near.
        xs, fs = x / scale, f / scale
        d2 = np.sum((xs[:, 1:] - fs[1:]) ** 2, axis=1)
        k = np.exp(-0.5 * d2 / self.locality**2)
        lam = self.ridge * np.diag([1e-6, 1.0, 1.0, 1.0])
        a = xs.T @ (k[:, None] * xs) + lam
        a_inv = np.linalg.inv(a)
        y = self._finals
        w = w_g + (a_inv @ (xs.T @ (k * (y - x @ w_g)))) / scale
        resid = y - x @ w
        hat = k * np.einsum("ij,jk,ik->i", xs, a_inv, xs)
        loo = resid / np.clip(1.0 - hat, 0.05, None)
        mean = float(f @ w)
        mass = float(k.sum())  # how many finished curves are near, in effect
        local_var = float(k @ loo**2) / max(mass, 1e-12)
        # Few near curves: lean on the global residual scale.
        var = (mass * local_var + sigma**2) / (mass + 1.0)
        # Variance of the local fit at this point (weighted least squares).
        g = a_inv @ fs
        fit_var = float(g @ (xs.T @ ((k**2)[:, None] * xs)) @ g)
        std = np.sqrt(var * (1.0 + fit_var))
        if self.novelty is not None and d2.size:
            # Unlike every finished curve: widen by the distance to the nearest.
            std *= max(1.0, float(np.sqrt(d2.min())) / self.novelty)
        return Prediction(mean, max(float(std), self.min_std), t, self.n_curves)
