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
    """What is known of one trial: curves of the curve objectives, known values.

    ``budget`` is the progression at which this trial is done (its own
    ``epochs``), when it is known; ``None`` means "the experiment's final
    progression".
    """

    curves: dict[str, tuple[np.ndarray, np.ndarray]] = field(default_factory=dict)
    known: dict[str, float] = field(default_factory=dict)
    budget: float | None = None

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
    novelty: float | None = 2.0


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
    budget: float | None = None,
) -> dict[str, CurvePredictor]:
    """One curve predictor per curve objective, from the completed trials' curves.

    With a ``budget`` (a trial's own final progression), the predictor learns
    only from finished curves that reached it, each cut at the budget: their
    value there is what "final" means for that trial.
    """
    predictors = {}
    for o in objectives:
        if o.known:
            continue
        finished = [t.curves[o.name] for t in completed.values() if o.name in t.curves]
        if budget is not None:
            finished = [
                _cut(s, v, budget)
                for s, v in finished
                if len(s) and float(np.max(s)) >= budget - 1e-9
            ]
        predictors[o.name] = CurvePredictor(
            finished,
            final_step=budget if budget is not None else options.final_progression,
            ridge=options.prior_strength,
            novelty=options.novelty,
        )
    return predictors


def _cut(
    steps: np.ndarray, values: np.ndarray, step: float
) -> tuple[np.ndarray, np.ndarray]:
    keep = steps <= step + 1e-9
    return steps[keep], values[keep]


@dataclass
class _Round:
    """What one decision round shares between its trials (no trial-specific data).

    ``predictor(name, budget)`` gives the curve predictor for one objective
    and one final progression (``None``: the experiment's), built once per
    round.
    """

    objectives: Sequence[ObjectiveSpec]
    completed: Mapping[int, TrialData]
    options: RuleOptions
    front: np.ndarray
    ref: np.ndarray
    predictors: dict[float | None, dict[str, CurvePredictor]]

    @property
    def names(self) -> list[str]:
        return [o.name for o in self.objectives]

    @property
    def curve_names(self) -> list[str]:
        return [o.name for o in self.objectives if not o.known]

    @property
    def signs(self) -> np.ndarray:
        return np.array([o.sign() for o in self.objectives])

    @property
    def single(self) -> bool:
        return len(self.objectives) == 1

    @property
    def tolerance(self) -> np.ndarray:
        tol = self.options.tolerance
        return np.array([0.0 if o.known else tol for o in self.objectives])

    def predictor(self, name: str, budget: float | None) -> CurvePredictor:
        if budget not in self.predictors:
            self.predictors[budget] = build_predictors(
                self.objectives, self.completed, self.options, budget
            )
        return self.predictors[budget][name]


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
        predictors: prebuilt predictors for trials without their own budget
            (else built from ``completed``).
    """
    keep_all = {i: Decision(False, "") for i in running}
    n_complete = len(completed)
    if n_complete < options.min_trials_completed:
        for i in running:
            keep_all[i].reason = (
                f"only {n_complete} completed trial(s), fewer than "
                f"min_trials_completed={options.min_trials_completed}"
            )
        return keep_all
    default = dict(predictors or build_predictors(objectives, completed, options))
    n_curves = min((p.n_curves for p in default.values()), default=n_complete)
    if n_curves < options.min_curves:
        for i in running:
            keep_all[i].reason = (
                f"only {n_curves} finished curve(s), fewer than "
                f"min_curves={options.min_curves}"
            )
        return keep_all
    round_ = _Round(
        objectives=objectives,
        completed=completed,
        options=options,
        front=front_of(objectives, completed),
        ref=reference_point(objectives, completed),
        predictors={None: default},
    )
    decisions = {idx: _decide_one(trial, round_) for idx, trial in running.items()}
    _apply_cap(decisions, options, n_stopped, n_trials, len(running), n_complete)
    return decisions


def _gate(trial: TrialData, r: _Round) -> str | None:
    """Why this trial cannot be stopped now, before any prediction (or None)."""
    options = r.options
    prog = trial.progression(r.curve_names) if r.curve_names else math.inf
    if r.curve_names and not math.isfinite(prog):
        return "no curve data yet"
    if trial.budget is not None and prog >= trial.budget - 1e-9:
        return f"reached its own final progression {_fmt(trial.budget)}; never stopped"
    if options.min_progression is not None and prog < options.min_progression:
        return f"progression {_fmt(prog)} < min_progression {options.min_progression}"
    if options.max_progression is not None and prog > options.max_progression:
        return f"progression {_fmt(prog)} > max_progression {options.max_progression}"
    return None


def _decide_one(trial: TrialData, r: _Round) -> Decision:
    """Stop when P(final point adds HV) < threshold; see the module's rule."""
    why_not = _gate(trial, r)
    if why_not is not None:
        return Decision(False, why_not)
    current = np.array([trial.last(n) for n in r.names]) * r.signs
    if not np.all(np.isfinite(current)):
        missing = [
            n for n, c in zip(r.names, current, strict=True) if not np.isfinite(c)
        ]
        return Decision(False, f"no value yet for {', '.join(missing)}")
    if adds_hypervolume(current, r.front, r.ref):
        what = "best so far" if r.single else "on the current Pareto front"
        return Decision(False, f"current point is {what}; never stopped")
    mean = current.copy()
    std = np.zeros(len(r.objectives))
    preds: dict[str, Prediction] = {}
    for j, o in enumerate(r.objectives):
        if o.known:
            continue
        steps, values = trial.curves[o.name]
        if len(steps) < 2:
            return Decision(False, f"only one point of {o.name} so far")
        predictor = r.predictor(o.name, trial.budget)
        final_step = predictor.final_step
        if float(np.max(steps)) >= final_step:
            return Decision(
                False, f"{o.name} reached the final progression {_fmt(final_step)}"
            )
        if predictor.n_curves < r.options.min_curves:
            return Decision(
                False,
                f"only {predictor.n_curves} finished curve(s) of {o.name} reach "
                f"progression {_fmt(final_step)}, fewer than "
                f"min_curves={r.options.min_curves}",
            )
        p = predictor.predict(steps, values)
        preds[o.name] = p
        mean[j] = r.signs[j] * p.mean
        std[j] = p.std
    prob = p_adds_hypervolume(
        mean, std, r.front, r.ref, r.tolerance, seed=r.options.seed
    )
    return _decision(trial, r, prob, preds)


def _decision(
    trial: TrialData, r: _Round, prob: float, preds: dict[str, Prediction]
) -> Decision:
    """The decision and its reason, from the probability of improving."""
    parts = []
    for o in r.objectives:
        if o.name in preds:
            p = preds[o.name]
            parts.append(
                f"predicted final {o.name} {_fmt(p.mean)} ± {_fmt(p.std)} "
                f"(from progression {_fmt(p.step)}, {p.n_curves} finished curves)"
            )
        else:
            parts.append(f"{o.name} {_fmt(trial.last(o.name))} (known)")
    threshold = r.options.threshold
    stop = prob < threshold
    label = "P(beats incumbent)" if r.single else "P(adds HV)"
    cmp = "<" if stop else ">="
    reason = f"{'; '.join(parts)}; {label} = {prob:.3g} {cmp} {threshold:g}"
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
