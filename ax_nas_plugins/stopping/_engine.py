"""One round of stopping decisions on plain data (no Ax): the strategy's core.

:class:`LearningCurveEarlyStoppingStrategy` turns Ax ``Data`` into
:class:`TrialData` and calls :func:`decide`; the benchmark replays recorded
curves through the same function. See the strategy's docstring for the rule.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np

from ax_nas_plugins.stopping._predictor import CurvePredictor, Prediction
from ax_nas_plugins.stopping._rule import (
    ObjectiveSpec,
    adds_hypervolume,
    p_adds_hypervolume,
    pareto_mask,
)


@dataclass
class TrialData:
    """What is known of one trial: curves of the curve objectives, known values."""

    curves: dict[str, tuple[np.ndarray, np.ndarray]] = field(default_factory=dict)
    known: dict[str, float] = field(default_factory=dict)

    def last(self, name: str) -> float:
        if name in self.known:
            return self.known[name]
        steps, values = self.curves.get(name, (np.zeros(0), np.zeros(0)))
        return float(values[np.argmax(steps)]) if len(values) else math.nan

    def progression(self, names: Sequence[str]) -> float:
        """Latest progression reached by every one of the ``names`` curves."""
        lasts = [
            float(np.max(self.curves[n][0])) if n in self.curves else -math.inf
            for n in names
        ]
        return min(lasts) if lasts else -math.inf


@dataclass
class Decision:
    """A stopping decision for one trial and the reason a person can read."""

    stop: bool
    reason: str
    probability: float | None = None
    predictions: dict[str, Prediction] = field(default_factory=dict)


@dataclass(frozen=True)
class RuleOptions:
    """Options of the rule (documented on the strategy)."""

    threshold: float = 0.05
    tolerance: float = 0.0
    min_progression: float | None = None
    max_progression: float | None = None
    min_curves: int = 5
    min_trials_completed: int = 5
    max_fraction_stopped: float | None = 0.9
    final_progression: float | None = None
    prior_strength: float = 2.0
    seed: int = 0


def _fmt(x: float) -> str:
    if not math.isfinite(x):
        return str(x)
    if float(x).is_integer() and abs(x) < 1e15:
        return str(int(x))
    if x != 0 and (abs(x) >= 1e4 or abs(x) < 1e-3):
        return f"{x:.3g}"
    return f"{x:.3f}".rstrip("0").rstrip(".") if abs(x) >= 1 else f"{x:.3f}"


def front_of(
    objectives: Sequence[ObjectiveSpec], completed: Mapping[int, TrialData]
) -> np.ndarray:
    """Final points of completed trials, higher-is-better, Pareto rows only."""
    signs = np.array([o.sign() for o in objectives])
    rows = [[t.last(o.name) for o in objectives] for t in completed.values()]
    if not rows:
        return np.zeros((0, len(objectives)))
    pts = np.asarray(rows, dtype=float) * signs
    pts = pts[np.all(np.isfinite(pts), axis=1)]
    return pts[pareto_mask(pts)] if len(pts) else pts


def reference_point(
    objectives: Sequence[ObjectiveSpec], completed: Mapping[int, TrialData]
) -> np.ndarray:
    """Thresholds where given; else nothing for one objective, the nadir for many."""
    ref = np.full(len(objectives), -np.inf)
    for j, o in enumerate(objectives):
        if o.threshold is not None:
            ref[j] = o.sign() * o.threshold
        elif len(objectives) > 1:
            vals = np.array([t.last(o.name) for t in completed.values()], dtype=float)
            vals = vals[np.isfinite(vals)] * o.sign()
            if vals.size:
                ref[j] = vals.min() - 0.1 * (np.ptp(vals) or abs(vals.min()) or 1.0)
    return ref


def build_predictors(
    objectives: Sequence[ObjectiveSpec],
    completed: Mapping[int, TrialData],
    options: RuleOptions,
) -> dict[str, CurvePredictor]:
    """One curve predictor per curve objective, from the completed trials' curves."""
    predictors = {}
    for o in objectives:
        if o.known:
            continue
        finished = [t.curves[o.name] for t in completed.values() if o.name in t.curves]
        predictors[o.name] = CurvePredictor(
            finished,
            final_step=options.final_progression,
            ridge=options.prior_strength,
        )
    return predictors


def decide(
    objectives: Sequence[ObjectiveSpec],
    running: Mapping[int, TrialData],
    completed: Mapping[int, TrialData],
    options: RuleOptions,
    n_stopped: int = 0,
    n_trials: int | None = None,
    predictors: Mapping[str, CurvePredictor] | None = None,
) -> dict[int, Decision]:
    """Decide, for every running trial, whether to stop it now.

    Args:
        objectives: the objectives, in order (curve and known ones).
        running: data of the trials to decide on, by trial index.
        completed: data of the trials that ran to completion.
        options: the rule's options.
        n_stopped: trials early-stopped before this round (for the cap).
        n_trials: trials that count toward the cap's denominator (default:
            completed + stopped + running).
        predictors: prebuilt predictors (else built from ``completed``).
    """
    names = [o.name for o in objectives]
    curve_names = [o.name for o in objectives if not o.known]
    keep_all = {i: Decision(False, "") for i in running}
    n_complete = len(completed)
    if n_complete < options.min_trials_completed:
        for i in running:
            keep_all[i].reason = (
                f"only {n_complete} completed trial(s), fewer than "
                f"min_trials_completed={options.min_trials_completed}"
            )
        return keep_all
    predictors = dict(predictors or build_predictors(objectives, completed, options))
    n_curves = min((p.n_curves for p in predictors.values()), default=n_complete)
    if n_curves < options.min_curves:
        for i in running:
            keep_all[i].reason = (
                f"only {n_curves} finished curve(s), fewer than "
                f"min_curves={options.min_curves}"
            )
        return keep_all
    front = front_of(objectives, completed)
    ref = reference_point(objectives, completed)
    tol = np.array([0.0 if o.known else options.tolerance for o in objectives])
    single = len(objectives) == 1
    label = "P(beats incumbent)" if single else "P(adds HV)"
    decisions: dict[int, Decision] = {}
    for idx, trial in running.items():
        decisions[idx] = _decide_one(
            trial,
            objectives,
            names,
            curve_names,
            predictors,
            front,
            ref,
            tol,
            options,
            label,
            single,
        )
    _apply_cap(decisions, options, n_stopped, n_trials, len(running), n_complete)
    return decisions


def _decide_one(
    trial: TrialData,
    objectives: Sequence[ObjectiveSpec],
    names: Sequence[str],
    curve_names: Sequence[str],
    predictors: Mapping[str, CurvePredictor],
    front: np.ndarray,
    ref: np.ndarray,
    tol: np.ndarray,
    options: RuleOptions,
    label: str,
    single: bool,
) -> Decision:
    prog = trial.progression(curve_names) if curve_names else math.inf
    if curve_names and not math.isfinite(prog):
        return Decision(False, "no curve data yet")
    if options.min_progression is not None and prog < options.min_progression:
        return Decision(
            False,
            f"progression {_fmt(prog)} < min_progression {options.min_progression}",
        )
    if options.max_progression is not None and prog > options.max_progression:
        return Decision(
            False,
            f"progression {_fmt(prog)} > max_progression {options.max_progression}",
        )
    signs = np.array([o.sign() for o in objectives])
    current = np.array([trial.last(n) for n in names]) * signs
    if not np.all(np.isfinite(current)):
        missing = [n for n, c in zip(names, current, strict=True) if not np.isfinite(c)]
        return Decision(False, f"no value yet for {', '.join(missing)}")
    if adds_hypervolume(current, front, ref):
        what = "best so far" if single else "on the current Pareto front"
        return Decision(False, f"current point is {what}; never stopped")
    mean = current.copy()
    std = np.zeros(len(objectives))
    preds: dict[str, Prediction] = {}
    for j, o in enumerate(objectives):
        if o.known:
            continue
        steps, values = trial.curves[o.name]
        if len(steps) < 2:
            return Decision(False, f"only one point of {o.name} so far")
        final_step = predictors[o.name].final_step
        if float(np.max(steps)) >= final_step:
            return Decision(
                False, f"{o.name} reached the final progression {_fmt(final_step)}"
            )
        p = predictors[o.name].predict(steps, values)
        preds[o.name] = p
        mean[j] = signs[j] * p.mean
        std[j] = p.std
    prob = p_adds_hypervolume(mean, std, front, ref, tol, seed=options.seed)
    parts = []
    for o in objectives:
        if o.name in preds:
            p = preds[o.name]
            parts.append(
                f"predicted final {o.name} {_fmt(p.mean)} ± {_fmt(p.std)} "
                f"(from progression {_fmt(p.step)}, {p.n_curves} finished curves)"
            )
        else:
            parts.append(f"{o.name} {_fmt(trial.last(o.name))} (known)")
    stop = prob < options.threshold
    cmp = "<" if stop else ">="
    reason = f"{'; '.join(parts)}; {label} = {prob:.3g} {cmp} {options.threshold:g}"
    return Decision(stop, reason, prob, preds)


def _apply_cap(
    decisions: dict[int, Decision],
    options: RuleOptions,
    n_stopped: int,
    n_trials: int | None,
    n_running: int,
    n_complete: int,
) -> None:
    if options.max_fraction_stopped is None:
        return
    total = n_trials if n_trials is not None else n_complete + n_stopped + n_running
    allowed = math.floor(options.max_fraction_stopped * total) - n_stopped
    to_stop = sorted(
        (i for i, d in decisions.items() if d.stop),
        key=lambda i: decisions[i].probability or 0.0,
    )
    for i in to_stop[max(allowed, 0) :]:
        d = decisions[i]
        d.stop = False
        d.reason += (
            f"; kept: max_fraction_stopped={options.max_fraction_stopped:g} "
            f"reached ({n_stopped} of {total} trials stopped)"
        )
