"""Replay real learning curves through early-stopping rules and compare them.

Curves come from ``benchmarks/make_curves.py`` (small MLPs trained for 30
epochs on scikit-learn's bundled data sets, cached in ``benchmarks/data``).
Every rule sees the same orders of configurations (``--orders`` random orders
of ``--configs`` configurations drawn from the cache), run one at a time
(sequential) or with 4 workers. After every epoch of every running trial the
rule is asked which running trials to stop, as an Orchestrator poll would.

Rules: no stopping; an oracle that stops, after its first epoch, every
configuration off the order's true Pareto set; Ax's percentile rule (p50,
Ax's defaults ``min_progression=10``, ``min_curves=5``, re-implemented on
arrays as Ax computes it); Optuna's ``MedianPruner`` and ``HyperbandPruner``
(``min_resource=5``), run for real through Optuna's ask/tell interface; and
``learning_curve`` (this package), called through the same
``_engine.decide`` the Ax strategy calls, multi-objective (val_acc up,
num_params down, num_params known) and single-objective (val_acc only).

Measured per order: epochs saved, hypervolume of the true final values of the
configurations that completed (num_params and log10(num_params)) relative to
no stopping, share of the order's true Pareto set that was stopped, regret of
the best completed val_acc (accuracy points), decision time.

Usage::

    nice -n 10 python benchmarks/early_stopping.py            # all data sets
    python benchmarks/early_stopping.py --orders 3 --datasets digits   # quick
"""

from __future__ import annotations

import argparse
import hashlib
import json
import logging
import math
import platform
import statistics
import time
from collections.abc import Callable
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

from ax_nas_plugins.stopping._engine import (
    RuleOptions,
    TrialData,
    build_predictors,
    decide,
)
from ax_nas_plugins.stopping._rule import ObjectiveSpec, pareto_mask

HERE = Path(__file__).resolve().parent
DATA = HERE / "data"
RESULTS = HERE / "results"

#: Objective thresholds (the hypervolume reference point, and the strategy's).
THRESHOLDS = {
    "digits": {"val_acc": 0.8},
    "breast_cancer": {"val_acc": 0.85},
    "gbm_digits": {"val_acc": 0.8},  # held out: never used to tune the rule
    # the same family, 600 configurations (the first 200 are gbm_digits'): for
    # the compute-matched replay, which runs out of a 200-configuration table
    "gbm_digits_600": {"val_acc": 0.8},
    # 600 configurations of the MLP tables (the first 200 are the tables above)
    "digits_600": {"val_acc": 0.8},
    "breast_cancer_600": {"val_acc": 0.85},
}


def load_curves(dataset: str) -> tuple[np.ndarray, np.ndarray, float]:
    payload = json.loads((DATA / f"curves_{dataset}.json").read_text())
    configs = payload["configs"]
    curves = np.array([c["val_acc"] for c in configs], dtype=float)
    params = np.array([c["num_params"] for c in configs], dtype=float)
    space = payload["space"]
    if dataset.startswith("gbm_digits"):  # leaf budget of the largest model
        rounds = payload["epochs"] * payload["rounds_per_epoch"]
        leaves = min(space["max_leaf_nodes"][1], 2 ** max(space["max_depth"]))
        return curves, params, float(rounds * 10 * leaves)
    hmax = space["hidden_size_1"][1], space["hidden_size_2"][1]
    base = dataset.removesuffix("_600")
    n_in = _n_inputs(base)
    n_out = 10 if base == "digits" else 2
    max_params = (
        n_in * hmax[0] + hmax[0] + hmax[0] * hmax[1] + hmax[1] + hmax[1] * n_out + n_out
    )
    return curves, params, float(max_params)


def replay_setup(
    dataset: str, n_orders: int, configs: int
) -> tuple[np.ndarray, np.ndarray, float, list[np.ndarray]]:
    """A table's curves, parameter counts, largest model and replay orders.

    The rule: every replay script sees the same orders, ``n_orders`` random
    permutations of the table (seed 0) cut to their first ``configs``; the
    scoring context (reference accuracy, largest model) is set for ``dataset``.
    """
    curves, params, max_params = load_curves(dataset)
    CONTEXT.update(ref_acc=THRESHOLDS[dataset]["val_acc"], max_params=max_params)
    rng = np.random.default_rng(0)
    orders = [rng.permutation(len(curves))[:configs] for _ in range(n_orders)]
    return curves, params, max_params, orders


def _n_inputs(dataset: str) -> int:
    return {"digits": 64, "breast_cancer": 30}[dataset]


# ---------------------------------------------------------------- rules


class Rule:
    """A stopping rule driven by the replay loop."""

    name = "rule"

    def reset(self, curves: np.ndarray, params: np.ndarray, order: np.ndarray) -> None:
        self.curves, self.params, self.order = curves, params, order

    def started(self, cfg: int) -> None:
        pass

    def finished(self, cfg: int, stopped: bool, epochs: int) -> None:
        pass

    def should_stop(self, running: dict[int, int]) -> set[int]:
        return set()


class NoStopping(Rule):
    name = "no stopping"


class Oracle(Rule):
    name = "oracle"

    def reset(self, curves, params, order):
        super().reset(curves, params, order)
        self.keep = set(order[true_pareto(curves[order, -1], params[order])])

    def should_stop(self, running):
        return {c for c in running if c not in self.keep}


class AxPercentile(Rule):
    """Ax's PercentileEarlyStoppingStrategy on arrays (defaults of Ax 1.3.1)."""

    name = "Ax percentile p50"

    def __init__(
        self, percentile: float = 50.0, min_progression: int = 10, min_curves: int = 5
    ):
        self.q, self.min_progression, self.min_curves = (
            percentile / 100,
            min_progression,
            min_curves,
        )

    def reset(self, curves, params, order):
        super().reset(curves, params, order)
        self.epochs: dict[int, int] = {}
        self.n_completed = 0

    def finished(self, cfg, stopped, epochs):
        self.epochs[cfg] = epochs
        self.n_completed += not stopped

    def should_stop(self, running):
        if self.n_completed < self.min_curves:
            return set()
        seen = {**self.epochs, **running}
        if max(running.values()) < self.min_progression:
            return set()
        stop = set()
        for c, t in running.items():
            if t < self.min_progression:
                continue
            vals = [self.curves[o, t - 1] for o, e in seen.items() if e >= t]
            if self.curves[c, t - 1] < np.quantile(vals, self.q):
                stop.add(c)
        return stop


class OptunaPruner(Rule):
    """An Optuna pruner, run for real through ask/tell."""

    def __init__(self, name: str, make: Callable[[], object]):
        self.name, self.make = name, make

    def reset(self, curves, params, order):
        import optuna

        optuna.logging.set_verbosity(optuna.logging.ERROR)
        super().reset(curves, params, order)
        # Hyperband assigns brackets by hashing the study name: fix it per order.
        name = "replay-" + hashlib.sha256(np.asarray(order).tobytes()).hexdigest()[:16]
        self.study = optuna.create_study(
            study_name=name, direction="maximize", pruner=self.make()
        )
        self.trials: dict[int, object] = {}

    def started(self, cfg):
        self.trials[cfg] = self.study.ask()

    def finished(self, cfg, stopped, epochs):
        from optuna.trial import TrialState

        trial = self.trials.pop(cfg)
        if stopped:
            self.study.tell(trial, state=TrialState.PRUNED)
        else:
            self.study.tell(trial, float(self.curves[cfg, epochs - 1]))

    def should_stop(self, running):
        stop = set()
        for c, t in running.items():
            trial = self.trials[c]
            trial.report(float(self.curves[c, t - 1]), t)
            if trial.should_prune():
                stop.add(c)
        return stop


class LearningCurve(Rule):
    """This package's rule, through the strategy's own ``decide``."""

    def __init__(
        self,
        multi_objective: bool,
        thresholds: dict[str, float],
        max_params: float,
        **options,
    ):
        self.multi = multi_objective
        self.name = "learning_curve" + ("" if multi_objective else " single-obj.")
        if options:
            self.name += " " + ",".join(f"{k}={v}" for k, v in options.items())
        objectives = [
            ObjectiveSpec("val_acc", minimize=False, threshold=thresholds["val_acc"])
        ]
        if multi_objective:
            objectives.append(
                ObjectiveSpec(
                    "num_params", minimize=True, threshold=max_params, known=True
                )
            )
        else:
            objectives[0] = ObjectiveSpec("val_acc", minimize=False)
        self.objectives = objectives
        self.options = RuleOptions(**options)
        self.times: list[float] = []

    def reset(self, curves, params, order):
        super().reset(curves, params, order)
        self.completed: dict[int, TrialData] = {}
        self.n_stopped = 0
        self.predictors = None  # rebuilt when a trial completes (as Ax's data changes)
        self.steps = np.arange(1, curves.shape[1] + 1, dtype=float)

    def _data(self, cfg: int, epochs: int) -> TrialData:
        known = {"num_params": float(self.params[cfg])} if self.multi else {}
        return TrialData(
            curves={"val_acc": (self.steps[:epochs], self.curves[cfg, :epochs])},
            known=known,
        )

    def finished(self, cfg, stopped, epochs):
        if stopped:
            self.n_stopped += 1
        else:
            self.completed[cfg] = self._data(cfg, epochs)
            self.predictors = None

    def should_stop(self, running):
        return {c for c, d in self.decisions(running).items() if d.stop}

    def decisions(self, running: dict[int, int]) -> dict:
        """The rule's decision for every running trial (timed)."""
        data = {c: self._data(c, t) for c, t in running.items()}
        t0 = time.perf_counter()
        if self.predictors is None and len(self.completed) >= 2:
            self.predictors = build_predictors(
                self.objectives, self.completed, self.options
            )
        out = decide(
            self.objectives,
            data,
            self.completed,
            self.options,
            n_stopped=self.n_stopped,
            predictors=self.predictors,
        )
        self.times.append(time.perf_counter() - t0)
        return out


# ---------------------------------------------------------------- replay


def replay(
    rule: Rule, curves: np.ndarray, params: np.ndarray, order: np.ndarray, workers: int
) -> dict:
    epochs_max = curves.shape[1]
    rule.reset(curves, params, order)
    queue = list(order)
    running: dict[int, int] = {}
    stopped: set[int] = set()
    completed: set[int] = set()
    used = 0
    while queue or running:
        while queue and len(running) < workers:
            c = int(queue.pop(0))
            running[c] = 0
            rule.started(c)
        for c in running:
            running[c] += 1
            used += 1
        for c in [c for c, t in running.items() if t >= epochs_max]:
            del running[c]
            completed.add(c)
            rule.finished(c, False, epochs_max)
        if running:
            for c in rule.should_stop(dict(running)):
                stopped.add(c)
                rule.finished(c, True, running.pop(c))
    return score(curves, params, order, completed, stopped, used)


def true_pareto(finals: np.ndarray, params: np.ndarray) -> np.ndarray:
    pts = np.column_stack([finals, -params])
    return np.flatnonzero(pareto_mask(pts))


def hypervolume_2d(
    acc: np.ndarray, cost: np.ndarray, ref_acc: float, ref_cost: float
) -> float:
    """Area dominated by points (acc up, cost down) above the reference point."""
    keep = (acc > ref_acc) & (cost < ref_cost)
    acc, cost = acc[keep], cost[keep]
    if acc.size == 0:
        return 0.0
    order = np.argsort(cost)
    area, best = 0.0, ref_acc
    edges = np.append(cost[order], ref_cost)
    for i, k in enumerate(order):
        best = max(best, acc[k])
        area += (edges[i + 1] - edges[i]) * (best - ref_acc)
    return area


CONTEXT: dict = {}


def score(curves, params, order, completed, stopped, used) -> dict:
    finals = curves[:, -1]
    ref_acc, max_params = CONTEXT["ref_acc"], CONTEXT["max_params"]
    done = np.array(sorted(completed), dtype=int)
    allc = np.asarray(order)
    hv = (
        hypervolume_2d(finals[done], params[done], ref_acc, max_params)
        if done.size
        else 0.0
    )
    hv_all = hypervolume_2d(finals[allc], params[allc], ref_acc, max_params)
    lmax = math.log10(max_params)
    hv_log = (
        hypervolume_2d(finals[done], np.log10(params[done]), ref_acc, lmax)
        if done.size
        else 0.0
    )
    hv_log_all = hypervolume_2d(finals[allc], np.log10(params[allc]), ref_acc, lmax)
    pareto = set(allc[true_pareto(finals[allc], params[allc])].tolist())
    costly = costly_pareto(finals, params, allc, ref_acc, lmax, hv_log_all)
    best_all = finals[allc].max()
    best_done = finals[done].max() if done.size else 0.0
    return {
        "saved": 1.0 - used / (len(order) * curves.shape[1]),
        "hv": hv / hv_all,
        "hv_log": hv_log / hv_log_all,
        "pareto_killed": len(pareto & stopped) / len(pareto),
        "pareto_killed_costly": (
            len(costly & stopped) / len(costly) if costly else 0.0
        ),
        "regret": 100.0 * (best_all - best_done),
    }


#: A Pareto member is "costly" when leaving it out loses more than this share of
#: the order's HV-log (a near-tie, e.g. one validation sample behind a neighbour,
#: costs less).
COSTLY_HV = 1e-3


def costly_pareto(finals, params, allc, ref_acc, lmax, hv_log_all) -> set[int]:
    """Members of the order's true Pareto set whose loss costs > COSTLY_HV of HV-log.

    A near-tie-aware companion of "Pareto set killed": a member whose removal
    leaves the hypervolume (val_acc, log10 num_params) almost unchanged is not
    counted. Reported next to the original share, never instead of it.
    """
    members = allc[true_pareto(finals[allc], params[allc])]
    out = set()
    for m in members.tolist():
        rest = allc[allc != m]
        hv = hypervolume_2d(finals[rest], np.log10(params[rest]), ref_acc, lmax)
        if hv_log_all > 0 and 1.0 - hv / hv_log_all > COSTLY_HV:
            out.add(m)
    return out


def make_rules(
    dataset: str, max_params: float, sweep: tuple[float, ...] | None = None
) -> list[Rule]:
    import optuna

    sweep = SWEEP if sweep is None else sweep

    th = THRESHOLDS[dataset]
    return [
        NoStopping(),
        Oracle(),
        AxPercentile(),
        OptunaPruner("Optuna median", lambda: optuna.pruners.MedianPruner()),
        OptunaPruner(
            "Optuna Hyperband",
            lambda: optuna.pruners.HyperbandPruner(min_resource=5, max_resource=30),
        ),
        LearningCurve(True, th, max_params),
        LearningCurve(False, th, max_params),
        *[LearningCurve(True, th, max_params, threshold=t) for t in sweep],
        # the 0.1 rule (no widening for curves unlike the finished ones)
        LearningCurve(True, th, max_params, novelty=None),
    ]


#: More aggressive thresholds of ``learning_curve``: its savings/quality trade-off.
SWEEP = (0.2, 0.5, 0.8, 0.95)
BASELINES = ("Ax percentile p50", "Optuna median", "Optuna Hyperband")
MACHINE = (
    "2 CPU cores, 24 GiB RAM, no GPU; shared with other jobs (a Kubernetes compile, "
    "SAASBO benchmarks, other engineers' tests), so wall times are noisy"
)


def write_results(out: str | Path, text: str, meta: dict, rows: list[dict]) -> None:
    """Print ``text``; write it to ``out``.md and ``meta``, ``rows`` to .json."""
    print(text)
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.with_suffix(".md").write_text(text)
    out.with_suffix(".json").write_text(
        json.dumps({"meta": meta, "rows": rows}, indent=1)
    )
    print(f"wrote {out.with_suffix('.md')} and {out.with_suffix('.json')}")


def summarize(runs: list[dict], times: list[float]) -> dict:
    agg = {k: statistics.mean(r[k] for r in runs) for k in runs[0]}
    agg["hv_log_worst"] = min(r["hv_log"] for r in runs)
    agg["regret_worst"] = max(r["regret"] for r in runs)
    agg["decision_ms_median"] = 1e3 * statistics.median(times) if times else None
    return agg


def strategy_decision_ms(
    n_completed: int = 100,
    n_running: int = 4,
    repeats: int = 30,
    budgets: bool = False,
):
    """Median wall and CPU ms of ``should_stop_trials_early`` on a real experiment.

    The experiment holds ``n_completed`` completed digits curves (30 epochs,
    val_acc and num_params) and ``n_running`` running trials at epoch 8; every
    call reads Ax's data and refits the curve model, as under an Orchestrator.
    With ``budgets`` the space searches ``epochs``: completed trials ran 10, 20
    or 30 epochs and the running ones have budgets 10, 20, 30, 30 (a curve
    model per budget).
    """
    import sys

    import pandas as pd
    from ax.core.arm import Arm
    from ax.core.data import Data

    sys.path.insert(0, str(HERE.parent / "tests"))
    from _curves import make_experiment  # the tests' experiment builder

    import ax_nas_plugins as anp

    curves, params, _ = load_curves("digits")
    exp = make_experiment(multi_objective=True, epochs_parameter=budgets)
    rows = []
    running = set()
    for i in range(n_completed + n_running):
        budget = (10, 20, 30)[i % 3] if i < n_completed else (10, 20, 30, 30)[i % 4]
        arm = {"config": i, **({"epochs": budget} if budgets else {})}
        trial = exp.new_trial().add_arm(Arm(parameters=arm))
        trial.mark_running(no_runner_required=True)
        full = budget if budgets else 30
        epochs = full if i < n_completed else 8
        for name, vals in (("val_acc", curves[i]), ("num_params", [params[i]] * 30)):
            m = exp.metrics[name]
            rows += [
                (
                    trial.index,
                    trial.arm.name,
                    name,
                    m.signature,
                    float(vals[e]),
                    e + 1.0,
                )
                for e in range(epochs)
            ]
        if i < n_completed:
            trial.mark_completed()
        else:
            running.add(trial.index)
    df = pd.DataFrame(
        rows,
        columns=[
            "trial_index",
            "arm_name",
            "metric_name",
            "metric_signature",
            "mean",
            "step",
        ],
    ).assign(sem=float("nan"))
    exp.attach_data(Data(df=df))
    es = anp.early_stopping("learning_curve")
    wall, cpu = [], []
    for _ in range(repeats):
        t0, c0 = time.perf_counter(), time.process_time()
        es.should_stop_trials_early(trial_indices=running, experiment=exp)
        wall.append(time.perf_counter() - t0)
        cpu.append(time.process_time() - c0)
    return {"wall": 1e3 * statistics.median(wall), "cpu": 1e3 * statistics.median(cpu)}


def _ms(t: dict) -> str:
    return f"{t['cpu']:.1f} ms CPU ({t['wall']:.1f} ms wall on the shared machine)"


def _line(key: str, agg: dict, times: list[float], seconds: float) -> str:
    dec = f" dec={agg['decision_ms_median']:.2f}ms" if times else ""
    return (
        f"{key:45s} saved={agg['saved']:.3f} hv={agg['hv']:.3f} "
        f"hv_log={agg['hv_log']:.3f} (worst {agg['hv_log_worst']:.3f}) "
        f"pareto_killed={agg['pareto_killed']:.3f} "
        f"(costly {agg['pareto_killed_costly']:.3f}) regret={agg['regret']:.2f} "
        f"(worst {agg['regret_worst']:.2f}){dec} [{seconds:.0f}s]"
    )


COLUMNS = (
    "rule",
    "epochs saved",
    "HV",
    "HV-log",
    "HV-log worst",
    "Pareto set killed",
    "Pareto killed (costly)",
    "regret (acc. pts)",
    "regret worst",
    "decision ms (median)",
)


def _row(agg: dict) -> list[str]:
    dec = agg["decision_ms_median"]
    return [
        agg["rule"],
        f"{100 * agg['saved']:.1f}%",
        f"{agg['hv']:.3f}",
        f"{agg['hv_log']:.3f}",
        f"{agg['hv_log_worst']:.3f}",
        f"{100 * agg['pareto_killed']:.1f}%",
        f"{100 * agg['pareto_killed_costly']:.1f}%",
        f"{agg['regret']:.2f}",
        f"{agg['regret_worst']:.2f}",
        "" if dec is None else f"{dec:.2f}",
    ]


def comparisons(results: dict) -> list[dict]:
    """For each baseline: our best HV-log among settings saving at least as much."""
    out = []
    groups = {(r["dataset"], r["workers"]) for r in results.values()}
    for dataset, workers in sorted(groups):
        group = [
            r
            for r in results.values()
            if r["dataset"] == dataset and r["workers"] == workers
        ]
        ours = [
            r
            for r in group
            if r["rule"].startswith("learning_curve") and "single" not in r["rule"]
        ]
        for base in (r for r in group if r["rule"] in BASELINES):
            eligible = [r for r in ours if r["saved"] >= base["saved"]]
            best = max(eligible, key=lambda r: r["hv_log"], default=None)
            out.append(
                {
                    "dataset": dataset,
                    "workers": workers,
                    "baseline": base["rule"],
                    "baseline_saved": base["saved"],
                    "baseline_hv_log": base["hv_log"],
                    "ours": best["rule"] if best else None,
                    "ours_saved": best["saved"] if best else None,
                    "ours_hv_log": best["hv_log"] if best else None,
                    "better": bool(best and best["hv_log"] > base["hv_log"]),
                }
            )
    return out


def markdown(results: dict, comps: list[dict], meta: dict) -> str:
    lines = [
        "# Early-stopping benchmark (replayed real learning curves)",
        "",
        f"Generated by `benchmarks/early_stopping.py` on {meta['date']}.",
        f"Machine: {meta['machine']}.",
        f"{meta['orders']} orders of {meta['configs_per_order']} configurations per "
        "data set; HV relative to no stopping; objective thresholds "
        f"{meta['thresholds']} and num_params <= the largest model of the space.",
        f"Decision time of the Ax strategy itself (4 running trials, 100 finished "
        f"curves, real `Experiment`), median: **{_ms(meta['strategy_decision_ms'])}**"
        "; with `epochs` searched (completed trials of 10/20/30 epochs, "
        "running budgets 10/20/30/30, a curve model per budget): "
        f"**{_ms(meta['strategy_decision_ms_budgets'])}**.",
        "",
    ]
    groups = sorted({(r["dataset"], r["workers"]) for r in results.values()})
    for dataset, workers in groups:
        lines += [
            f"## {dataset}, {'sequential' if workers == 1 else f'{workers} workers'}",
            "",
            "| " + " | ".join(COLUMNS) + " |",
            "|" + "---|" * len(COLUMNS),
        ]
        for r in results.values():
            if r["dataset"] == dataset and r["workers"] == workers:
                lines.append("| " + " | ".join(_row(r)) + " |")
        lines.append("")
    lines += [
        "## Against each baseline at equal or greater savings",
        "",
        "| data set | workers | baseline | its saved / HV-log | ours (setting) | "
        "our saved / HV-log | strictly better |",
        "|---|---|---|---|---|---|---|",
    ]
    for c in comps:
        ours = (
            f"{100 * c['ours_saved']:.1f}% / {c['ours_hv_log']:.3f}"
            if c["ours"]
            else "none saves as much"
        )
        lines.append(
            f"| {c['dataset']} | {c['workers']} | {c['baseline']} | "
            f"{100 * c['baseline_saved']:.1f}% / {c['baseline_hv_log']:.3f} | "
            f"{c['ours'] or ''} | {ours} | {'yes' if c['better'] else 'NO'} |"
        )
    return "\n".join(lines) + "\n"


def print_tables(results: dict, comps: list[dict]) -> None:
    from rich.console import Console
    from rich.table import Table

    console = Console(width=180)
    for dataset, workers in sorted(
        {(r["dataset"], r["workers"]) for r in results.values()}
    ):
        table = Table(title=f"{dataset}, workers={workers}")
        for col in COLUMNS:
            table.add_column(col)
        for r in results.values():
            if r["dataset"] == dataset and r["workers"] == workers:
                table.add_row(*_row(r))
        console.print(table)
    table = Table(title="learning_curve vs baselines at >= their savings")
    for col in (
        "data set",
        "workers",
        "baseline",
        "ours",
        "HV-log base/ours",
        "better",
    ):
        table.add_column(col)
    for c in comps:
        hv = f"{c['baseline_hv_log']:.3f} / " + (
            f"{c['ours_hv_log']:.3f}" if c["ours"] else "-"
        )
        table.add_row(
            c["dataset"],
            str(c["workers"]),
            c["baseline"],
            c["ours"] or "-",
            hv,
            "yes" if c["better"] else "NO",
        )
    console.print(table)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--datasets", nargs="+", default=["digits", "breast_cancer"])
    ap.add_argument("--orders", type=int, default=20)
    ap.add_argument("--configs", type=int, default=100)
    ap.add_argument("--workers", nargs="+", type=int, default=[1, 4])
    ap.add_argument(
        "--sweep",
        nargs="*",
        type=float,
        default=list(SWEEP),
        help="more aggressive thresholds of learning_curve to run",
    )
    ap.add_argument(
        "--rules",
        nargs="*",
        default=None,
        help="only rules whose name contains one of these",
    )
    ap.add_argument("--out", default=str(RESULTS / "early_stopping"))
    args = ap.parse_args()
    logging.getLogger("optuna").setLevel(logging.ERROR)
    results: dict = {}
    for dataset in args.datasets:
        curves, params, max_params, orders = replay_setup(
            dataset, args.orders, args.configs
        )
        for workers in args.workers:
            for rule in make_rules(dataset, max_params, tuple(args.sweep)):
                if args.rules and not any(r in rule.name for r in args.rules):
                    continue
                t0 = time.time()
                runs = [replay(rule, curves, params, o, workers) for o in orders]
                times = getattr(rule, "times", [])
                agg = summarize(runs, times)
                key = f"{dataset}|{workers}|{rule.name}"
                results[key] = {
                    "dataset": dataset,
                    "workers": workers,
                    "rule": rule.name,
                    **agg,
                    "runs": runs,
                }
                print(_line(key, agg, times, time.time() - t0), flush=True)
    meta = {
        "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "machine": MACHINE,
        "python": platform.python_version(),
        "orders": args.orders,
        "configs_per_order": args.configs,
        "thresholds": THRESHOLDS,
        "strategy_decision_ms": strategy_decision_ms(),
        "strategy_decision_ms_budgets": strategy_decision_ms(budgets=True),
    }
    comps = comparisons(results)
    print_tables(results, comps)
    ms = _ms(meta["strategy_decision_ms"])
    print(f"Ax strategy decision (4 running, 100 finished): {ms} median")
    ms = _ms(meta["strategy_decision_ms_budgets"])
    print(f"... with `epochs` searched (a curve model per budget): {ms}")
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    payload = {"meta": meta, "comparisons": comps, "results": results}
    out.with_suffix(".json").write_text(json.dumps(payload, indent=1))
    out.with_suffix(".md").write_text(markdown(results, comps, meta))
    print(f"wrote {out.with_suffix('.json')} and {out.with_suffix('.md')}")


if __name__ == "__main__":
    main()
