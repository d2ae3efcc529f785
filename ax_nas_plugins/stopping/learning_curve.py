"""``learning_curve``: stop trials unlikely to improve the Pareto front."""

from __future__ import annotations

import logging
import math
from collections.abc import Iterable, Iterator, Mapping, Sequence

import numpy as np
import pandas as pd
from ax.core.data import MAP_KEY
from ax.core.experiment import Experiment
from ax.core.trial_status import TrialStatus
from ax.early_stopping.strategies.base import BaseEarlyStoppingStrategy
from ax.exceptions.core import UserInputError
from ax.generation_strategy.generation_node import GenerationNode

from ax_nas_plugins.stopping._engine import (
    Decision,
    RuleOptions,
    TrialData,
    build_predictors,
    decide,
    front_of,
    reference_point,
)
from ax_nas_plugins.stopping._rule import ObjectiveSpec

logger = logging.getLogger(__name__)

#: Parameter names ``budget_parameter="auto"`` takes as a trial's own length.
AUTO_BUDGET_NAMES = ("epochs", "num_epochs", "n_epochs", "max_epochs")


class LearningCurveEarlyStoppingStrategy(BaseEarlyStoppingStrategy):
    """Stop a trial when its predicted final point is unlikely to improve the front.

    The rule: for every running trial, the final value of each objective that
    is a learning curve is predicted, with a standard deviation, from the
    trial's own partial curve and from what the experiment's finished curves
    show about how curves like it ended (see
    :class:`~ax_nas_plugins.stopping._predictor.CurvePredictor`).
    Objectives known early (a parameter count, a latency: their curves are
    flat, or they have no progression) are taken as known. With several
    objectives the trial is stopped when the probability that its final
    point adds hypervolume to the Pareto front of the completed trials (the
    objective thresholds are the reference point; without thresholds, the
    completed trials' nadir less 10% of the range) is below ``threshold``.
    With one objective it is stopped when the probability of beating the
    incumbent (best completed value) less ``tolerance`` is below
    ``threshold``. A trial whose current point is already on the front
    (or is the best so far) is never stopped.

    A trial's own length: when the number of epochs is searched, each trial
    is done at its own ``epochs``. ``budget_parameter`` names that parameter;
    the trial's final value is then predicted at its own budget (from the
    finished curves that reached it, cut there), and a trial that reached its
    budget is never stopped. The default ``"auto"`` takes a numeric parameter
    named ``epochs``, ``num_epochs``, ``n_epochs`` or ``max_epochs``, and
    uses it only while no completed trial's curves go past its value of that
    parameter and at least half end exactly at it (so a progression counted
    in steps, not epochs, switches it off).

    Safety: nothing is stopped before ``min_trials_completed`` trials have
    completed and ``min_curves`` finished curves exist; a trial is not
    stopped before its progression reaches ``min_progression`` or after
    ``max_progression``; at most ``max_fraction_stopped`` of all trials are
    ever stopped (the least promising first). With ``check_safe=True``,
    :meth:`_is_harmful` replays the rule leave-one-out on the completed trials
    of the current front and switches stopping off when it would have stopped
    more than ``max_front_loss`` of them.

    NaN and missing data: non-finite values are dropped; a trial without data
    for some objective is not stopped; completed trials without a value for
    every objective are left out of the front.

    Every decision carries a reason such as ``"predicted final val_acc 0.71
    ± 0.03 (from progression 5, 37 finished curves); num_params 5235
    (known); P(adds HV) = 0.004 < 0.05"``.

    Example::

        import ax_nas_plugins as anp
        from ax.orchestration.orchestrator import OrchestratorOptions

        es = anp.early_stopping("learning_curve", threshold=0.05, min_progression=3)
        options = OrchestratorOptions(early_stopping_strategy=es)

    Args:
        metric_signatures: signatures of the objectives to use (default: every
            objective of the experiment's optimization config).
        threshold: stop when the probability of improving is below this.
        tolerance: a trial predicted within this amount (in the curve
            objectives' units) of the front or incumbent still counts as
            improving.
        min_progression: do not stop a trial before this progression.
        max_progression: do not stop a trial after this progression.
        min_curves: finished curves (completed trials with curve data) needed
            before anything is stopped.
        min_trials_completed: completed trials needed before anything is
            stopped.
        max_fraction_stopped: cap on the share of all trials (completed,
            early-stopped and running) that are early-stopped; ``None`` for
            no cap.
        known_objectives: metric names of objectives to take as known (default:
            those with no progression or with flat curves in every completed
            trial).
        final_progression: progression at which a trial is finished (default:
            the largest progression reached by a completed trial).
        prior_strength: how strongly the curve model is pulled toward plain
            log-linear extrapolation, in units of finished curves.
        max_front_loss: see ``check_safe``.
        seed: seed of the Monte-Carlo estimate (several uncertain objectives).
        check_safe: run :meth:`_is_harmful` before deciding.
        budget_parameter: the parameter holding a trial's own final
            progression (e.g. ``"epochs"``); ``"auto"`` (default) detects it
            (see above); ``None`` for none (every trial ends at
            ``final_progression``).
        novelty: a running curve whose nearest finished curve is more than
            this many standard deviations away (in the curve model's feature
            space) gets its predicted spread widened by ``distance /
            novelty``; ``None`` never widens (the rule before 0.2).
    """

    def __init__(
        self,
        metric_signatures: Iterable[str] | None = None,
        threshold: float = 0.05,
        tolerance: float = 0.0,
        min_progression: float | None = None,
        max_progression: float | None = None,
        min_curves: int = 5,
        min_trials_completed: int = 5,
        max_fraction_stopped: float | None = 0.9,
        known_objectives: Sequence[str] | None = None,
        final_progression: float | None = None,
        prior_strength: float = 2.0,
        max_front_loss: float = 0.25,
        seed: int = 0,
        check_safe: bool = False,
        budget_parameter: str | None = "auto",
        novelty: float | None = 2.0,
    ) -> None:
        metric_signatures = (
            list(metric_signatures) if metric_signatures is not None else None
        )
        super().__init__(
            metric_signatures=metric_signatures,
            min_progression=min_progression,
            max_progression=max_progression,
            min_curves=min_curves,
            check_safe=check_safe,
        )
        _check_options(
            threshold=threshold,
            tolerance=tolerance,
            min_curves=min_curves,
            min_trials_completed=min_trials_completed,
            max_fraction_stopped=max_fraction_stopped,
            prior_strength=prior_strength,
            max_front_loss=max_front_loss,
            novelty=novelty,
        )
        self.threshold = threshold
        self.tolerance = tolerance
        self.min_trials_completed = min_trials_completed
        self.max_fraction_stopped = max_fraction_stopped
        self.known_objectives = (
            list(known_objectives) if known_objectives is not None else None
        )
        self.final_progression = final_progression
        self.prior_strength = prior_strength
        self.max_front_loss = max_front_loss
        self.seed = seed
        self.novelty = novelty
        if budget_parameter is not None and (
            not isinstance(budget_parameter, str) or not budget_parameter
        ):
            raise UserInputError(
                "learning_curve option `budget_parameter` must be a parameter "
                f"name, 'auto' or None; got {budget_parameter!r}."
            )
        self.budget_parameter = budget_parameter
        self._last_decisions: dict[int, Decision] = {}

    # ------------------------------------------------------------------ options

    @property
    def rule_options(self) -> RuleOptions:
        """The options as the plain-data rule takes them."""
        return RuleOptions(
            threshold=self.threshold,
            tolerance=self.tolerance,
            min_progression=self.min_progression,
            max_progression=self.max_progression,
            min_curves=int(self.min_curves or 0),
            min_trials_completed=self.min_trials_completed,
            max_fraction_stopped=self.max_fraction_stopped,
            final_progression=self.final_progression,
            prior_strength=self.prior_strength,
            seed=self.seed,
            novelty=self.novelty,
        )

    @property
    def last_decisions(self) -> dict[int, Decision]:
        """Every decision of the latest round (kept trials too), by trial index."""
        return dict(self._last_decisions)

    # ------------------------------------------------------------------ Ax API

    def _should_stop_trials_early(
        self,
        trial_indices: set[int],
        experiment: Experiment,
        current_node: GenerationNode | None = None,
    ) -> dict[int, str | None]:
        """Trials to stop now, each with the reason (see the class docstring)."""
        snapshot = self._snapshot(experiment, trial_indices)
        if snapshot is None:
            self._last_decisions = {}
            return {}
        objectives, running, completed = snapshot
        n_stopped = len(experiment.trial_indices_by_status[TrialStatus.EARLY_STOPPED])
        decisions = decide(
            objectives,
            running,
            completed,
            self.rule_options,
            n_stopped=n_stopped,
        )
        self._last_decisions = decisions
        for idx, d in decisions.items():
            logger.debug(
                "trial %s: %s: %s", idx, "stop" if d.stop else "keep", d.reason
            )
        return {idx: d.reason for idx, d in decisions.items() if d.stop}

    def _is_harmful(self, trial_indices: set[int], experiment: Experiment) -> bool:
        """Would the rule have stopped too much of the current front?

        Each completed trial on the current front is replayed leave-one-out:
        its curve is cut at each of its progressions (at most 10, from
        ``min_progression`` on) and judged against the other completed trials,
        as if it were running. Harmful when more than ``max_front_loss`` of
        the front would have been stopped. The replay ignores the cap and the
        order in which trials ran (it judges against trials that completed
        later, too), so it is stricter than the live rule.
        """
        snapshot = self._snapshot(experiment, set())
        if snapshot is None:
            return False
        objectives, _, completed = snapshot
        options = self.rule_options
        front = front_of(objectives, completed)
        ref = reference_point(objectives, completed)
        signs = np.array([o.sign() for o in objectives])
        on_front = []
        for idx, t in completed.items():
            point = np.array([t.last(o.name) for o in objectives]) * signs
            in_front = any(np.allclose(point, f) for f in front)
            if in_front and np.all(point > ref):
                on_front.append(idx)
        curve_names = [o.name for o in objectives if not o.known]
        if not on_front or not curve_names:
            return False
        uncapped = RuleOptions(**{**options.__dict__, "max_fraction_stopped": None})
        lost = 0
        for idx in on_front:
            others = {i: t for i, t in completed.items() if i != idx}
            predictors = build_predictors(objectives, others, uncapped)
            trial = completed[idx]
            steps = np.unique(np.concatenate([trial.curves[n][0] for n in curve_names]))
            final = float(steps.max())
            steps = steps[steps < final]
            if options.min_progression is not None:
                steps = steps[steps >= options.min_progression]
            if steps.size > 10:
                steps = steps[np.linspace(0, steps.size - 1, 10).round().astype(int)]
            for step in steps:
                cut = TrialData(
                    curves={n: _cut(*trial.curves[n], step) for n in trial.curves},
                    known=dict(trial.known),
                    budget=trial.budget,
                )
                d = decide(
                    objectives, {idx: cut}, others, uncapped, predictors=predictors
                )[idx]
                if d.stop:
                    lost += 1
                    break
        harmful = lost > self.max_front_loss * len(on_front)
        if harmful:
            logger.info(
                "learning_curve would have stopped %d of the %d front trials "
                "(max_front_loss=%g): not stopping.",
                lost,
                len(on_front),
                self.max_front_loss,
            )
        return harmful

    # ------------------------------------------------------------------ data

    def _objectives(self, experiment: Experiment) -> list[tuple[str, ObjectiveSpec]]:
        directions = self._all_objectives_and_directions(experiment=experiment)
        thresholds: dict[str, float] = {}
        opt = experiment.optimization_config
        if opt is not None:
            for th in getattr(opt, "objective_thresholds", []) or []:
                if not th.relative:
                    thresholds[th.metric_names[0]] = float(th.bound)
        specs = []
        for signature, minimize in directions.items():
            name = experiment.signature_to_metric[signature].name
            specs.append(
                (signature, ObjectiveSpec(name, minimize, thresholds.get(name)))
            )
        return specs

    def _snapshot(
        self, experiment: Experiment, trial_indices: set[int]
    ) -> tuple[list[ObjectiveSpec], dict[int, TrialData], dict[int, TrialData]] | None:
        """Objectives (with known ones marked), running and completed trial data."""
        sig_specs = self._objectives(experiment)
        data = experiment.lookup_data()
        df = data.full_df
        if df.empty:
            return None
        df = df[df["metric_signature"].isin([s for s, _ in sig_specs])]
        df = df[np.isfinite(df["mean"].to_numpy(dtype=float))]
        if MAP_KEY not in df.columns:
            df = df.assign(**{MAP_KEY: np.nan})
        completed_idx = set(experiment.trial_indices_by_status[TrialStatus.COMPLETED])
        wanted = completed_idx | set(trial_indices)
        df = df[df["trial_index"].isin(wanted)]
        name_of = {s: spec.name for s, spec in sig_specs}
        per_trial: dict[int, TrialData] = {i: TrialData() for i in wanted}
        for idx, sig, steps, values in _groups(df):
            name = name_of[sig]
            has_step = np.isfinite(steps)
            if has_step.any():
                per_trial[idx].curves[name] = (steps[has_step], values[has_step])
            else:
                per_trial[idx].known[name] = float(values[-1])
        completed = {i: per_trial[i] for i in completed_idx if i in per_trial}
        running = {i: per_trial[i] for i in trial_indices if i not in completed_idx}
        objectives = []
        for _, spec in sig_specs:
            known = self._is_known(spec.name, completed)
            objectives.append(
                ObjectiveSpec(spec.name, spec.minimize, spec.threshold, known)
            )
        for trials in (completed, running):
            for t in trials.values():
                for o in objectives:
                    if o.known and o.name in t.curves and o.name not in t.known:
                        t.known[o.name] = float(t.curves.pop(o.name)[1][-1])
        self._set_budgets(experiment, objectives, per_trial, completed)
        return objectives, running, completed

    def _set_budgets(
        self,
        experiment: Experiment,
        objectives: Sequence[ObjectiveSpec],
        trials: Mapping[int, TrialData],
        completed: Mapping[int, TrialData],
    ) -> None:
        """Each trial's own final progression, from ``budget_parameter``."""
        name = self._budget_parameter_name(experiment)
        if name is None:
            return
        budgets = {i: _budget_of(experiment, i, name) for i in trials}
        curve_names = [o.name for o in objectives if not o.known]
        if self.budget_parameter == "auto" and not _ends_match(
            {i: budgets[i] for i in completed}, completed, curve_names
        ):
            return
        for i, t in trials.items():
            t.budget = budgets[i]

    def _budget_parameter_name(self, experiment: Experiment) -> str | None:
        params = experiment.search_space.parameters
        if self.budget_parameter is None:
            return None
        if self.budget_parameter == "auto":
            return next((n for n in AUTO_BUDGET_NAMES if n in params), None)
        if self.budget_parameter not in params:
            raise UserInputError(
                "learning_curve option `budget_parameter` names "
                f"{self.budget_parameter!r}, which is not a parameter of the "
                f"search space; parameters: {sorted(params)} (or 'auto', None)."
            )
        return self.budget_parameter

    def _is_known(self, name: str, completed: Mapping[int, TrialData]) -> bool:
        if self.known_objectives is not None:
            return name in self.known_objectives
        seen = False
        for t in completed.values():
            if name in t.curves:
                values = t.curves[name][1]
                seen = True
                if len(values) > 1 and np.ptp(values) > 1e-9 * (
                    1.0 + float(np.max(np.abs(values)))
                ):
                    return False
            elif name in t.known:
                seen = True
        return seen


def _groups(df: pd.DataFrame) -> Iterator[tuple[int, str, np.ndarray, np.ndarray]]:
    """(trial index, metric signature, steps, values) per group, steps sorted.

    numpy instead of ``DataFrame.groupby``: this runs at every poll, and
    pandas' per-group overhead was most of a decision's time.
    """
    trial = df["trial_index"].to_numpy()
    codes, signatures = pd.factorize(df["metric_signature"])
    steps = df[MAP_KEY].to_numpy(dtype=float)
    values = df["mean"].to_numpy(dtype=float)
    order = np.lexsort((steps, codes, trial))  # NaN steps sort last
    trial, codes, steps, values = (
        trial[order],
        codes[order],
        steps[order],
        values[order],
    )
    edges = np.flatnonzero((np.diff(trial) != 0) | (np.diff(codes) != 0)) + 1
    for lo, hi in zip(np.r_[0, edges], np.r_[edges, len(trial)], strict=True):
        if hi > lo:
            yield (
                int(trial[lo]),
                str(signatures[codes[lo]]),
                steps[lo:hi],
                values[lo:hi],
            )


def _budget_of(experiment: Experiment, index: int, name: str) -> float | None:
    """The trial's value of the budget parameter (None: no single arm or no number)."""
    arm = getattr(experiment.trials[index], "arm", None)
    value = arm.parameters.get(name) if arm is not None else None
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    value = float(value)
    return value if math.isfinite(value) and value > 0 else None


def _ends_match(
    budgets: Mapping[int, float | None],
    completed: Mapping[int, TrialData],
    curve_names: Sequence[str],
) -> bool:
    """Do the completed trials' curves end at their budgets?

    Yes when no completed curve goes past its trial's budget and at least half
    of them end exactly at it (a last point not yet read is tolerated).
    """
    exact = total = 0
    for i, t in completed.items():
        for n in curve_names:
            if n not in t.curves or not len(t.curves[n][0]):
                continue
            b = budgets.get(i)
            if b is None:
                return False
            end = float(np.max(t.curves[n][0]))
            tol = 1e-6 * max(1.0, abs(b))
            if end > b + tol:
                return False
            exact += abs(end - b) <= tol
            total += 1
    return total > 0 and 2 * exact >= total


def _cut(
    steps: np.ndarray, values: np.ndarray, step: float
) -> tuple[np.ndarray, np.ndarray]:
    keep = steps <= step
    return steps[keep], values[keep]


def _check_options(**opts: float | int | None) -> None:
    """Clear errors for option values outside what the rule allows."""
    rules = {
        "threshold": (lambda v: 0.0 < v < 1.0, "a probability in (0, 1)"),
        "tolerance": (lambda v: v >= 0 and math.isfinite(v), "a finite number >= 0"),
        "min_curves": (lambda v: int(v) == v and v >= 1, "an integer >= 1"),
        "min_trials_completed": (lambda v: int(v) == v and v >= 1, "an integer >= 1"),
        "max_fraction_stopped": (
            lambda v: v is None or 0.0 < v <= 1.0,
            "None or a fraction in (0, 1]",
        ),
        "prior_strength": (lambda v: v > 0 and math.isfinite(v), "a number > 0"),
        "max_front_loss": (lambda v: 0.0 <= v < 1.0, "a fraction in [0, 1)"),
        "novelty": (
            lambda v: v is None or (v > 0 and math.isfinite(v)),
            "None or a number > 0",
        ),
    }
    for name, value in opts.items():
        ok, allowed = rules[name]
        try:
            good = bool(ok(value))
        except TypeError:
            good = False
        if not good:
            raise UserInputError(
                f"learning_curve option `{name}` must be {allowed}; got {value!r}."
            )
