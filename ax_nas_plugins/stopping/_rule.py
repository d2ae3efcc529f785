"""The stopping rule on plain numbers: P(a trial's final point adds hypervolume).

The rule: every objective is turned to "higher is better". A point adds
hypervolume to a front when it is strictly better than the reference point in
every objective and no front point is at least as good in all objectives. For
a running trial the curve objectives are uncertain (a Gaussian per objective,
from :mod:`._predictor`) and the others are known. With one uncertain
objective the probability is exact: the trial must beat the best front value
among the front points that are at least as good in every known objective.
With several it is a Monte-Carlo estimate from a fixed seed. A ``tolerance``
lowers every front point's curve objectives by that much first, so a trial
predicted to land within the tolerance of the front still counts as adding.

A single objective is the same rule with one dimension: the front is the
incumbent, and "adds hypervolume" reads "beats the incumbent".

NaN: front points with a non-finite value are ignored; an uncertain objective
with infinite standard deviation gives probability 1 (nothing is known yet).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.special import ndtr

_MC_SAMPLES = 512


@dataclass(frozen=True)
class ObjectiveSpec:
    """One objective: its name, direction, threshold (reference) and whether known.

    ``known`` objectives (a parameter count, a latency) do not change while a
    trial trains; their current value is taken as final.
    """

    name: str
    minimize: bool
    threshold: float | None = None
    known: bool = False

    def sign(self) -> float:
        return -1.0 if self.minimize else 1.0


def pareto_mask(points: np.ndarray) -> np.ndarray:
    """Rows of ``points`` (higher is better in every column) not dominated."""
    n = points.shape[0]
    keep = np.ones(n, dtype=bool)
    for i in range(n):
        if not keep[i]:
            continue
        ge = np.all(points >= points[i], axis=1) & np.any(points > points[i], axis=1)
        if ge.any():
            keep[i] = False
    return keep


def adds_hypervolume(point: np.ndarray, front: np.ndarray, ref: np.ndarray) -> bool:
    """Does ``point`` (higher is better) add hypervolume to ``front`` above ``ref``?"""
    if not np.all(point > ref):
        return False
    if front.size == 0:
        return True
    return not bool(np.any(np.all(front >= point, axis=1)))


def p_adds_hypervolume(
    mean: np.ndarray,
    std: np.ndarray,
    front: np.ndarray,
    ref: np.ndarray,
    tolerance: np.ndarray | None = None,
    seed: int = 0,
) -> float:
    """Probability that a Gaussian point adds hypervolume (all "higher is better").

    Args:
        mean: ``(d,)`` predicted final values (known objectives: their value).
        std: ``(d,)`` standard deviations; ``0`` marks a known objective.
        front: ``(n, d)`` current front (need not be filtered to Pareto points).
        ref: ``(d,)`` reference point (``-inf`` where there is none).
        tolerance: ``(d,)`` amounts the front is lowered by before comparing.
        seed: seed of the Monte-Carlo draw (more than one uncertain objective).
    """
    mean = np.asarray(mean, dtype=float)
    std = np.asarray(std, dtype=float)
    front = np.asarray(front, dtype=float).reshape(-1, mean.size)
    front = front[np.all(np.isfinite(front), axis=1)]
    if tolerance is not None:
        front = front - np.asarray(tolerance, dtype=float)
    unknown = std > 0
    if np.any(np.isinf(std)):
        return 1.0
    known = ~unknown
    if np.any(mean[known] <= ref[known]):
        return 0.0
    # Only front points at least as good in every known objective can block.
    blockers = front[np.all(front[:, known] >= mean[known], axis=1)]
    if not unknown.any():
        return float(blockers.shape[0] == 0)
    if unknown.sum() == 1:
        j = int(np.flatnonzero(unknown)[0])
        bar = max(ref[j], blockers[:, j].max()) if blockers.size else ref[j]
        return float(ndtr((mean[j] - bar) / std[j]))
    rng = np.random.default_rng(seed)
    draws = np.repeat(mean[None, :], _MC_SAMPLES, axis=0)
    draws[:, unknown] += (
        rng.standard_normal((_MC_SAMPLES, int(unknown.sum()))) * std[unknown]
    )
    above = np.all(draws[:, unknown] > ref[unknown], axis=1)
    if blockers.size:
        dominated = np.any(
            np.all(blockers[None, :, unknown] >= draws[:, None, unknown], axis=2),
            axis=1,
        )
    else:
        dominated = np.zeros(_MC_SAMPLES, dtype=bool)
    return float(np.mean(above & ~dominated))
