"""Compute-matched early stopping: hypervolume reached per epoch spent.

The number users care about: when a rule stops a trial, the epochs it saves
go to new trials. Every rule replays the same random orders of **all** cached
configurations of a real-curve table (``benchmarks/data``; see
``benchmarks/early_stopping.py``), one trial at a time (or ``--workers``),
until the budget of ``--budget-trials`` full trials' epochs is spent; after
every epoch the rule decides which running trials to stop. At each fraction
of the budget the hypervolume of the **true final values of the trials
completed so far** (val_acc up, log10 num_params down; the same reference
point as ``early_stopping.py``) is divided by the hypervolume no stopping
reaches with the whole budget on the same order.

Rules: no stopping; ``learning_curve`` (defaults, and ``--thresholds``,
by default 0.2);
Ax's percentile rule (p50, re-implemented on arrays as in
``early_stopping.py``); Optuna's
``MedianPruner``; Optuna's ``HyperbandPruner(min_resource=5)`` and
``SuccessiveHalvingPruner(min_resource=1, reduction_factor=3)`` (ASHA), both
real Optuna through ask/tell.

Targets (issue 12, item 2): ``learning_curve`` reaches the no-stopping final
HV with at most half the epochs, and is above every other rule at every
budget from 25% on.

Usage::

    nice -n 10 python benchmarks/early_stopping_compute.py
    python benchmarks/early_stopping_compute.py --orders 3 --datasets digits
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import statistics
import time
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
from early_stopping import (  # the sibling script: same rules, same curves
    MACHINE,
    RESULTS,
    THRESHOLDS,
    AxPercentile,
    LearningCurve,
    NoStopping,
    OptunaPruner,
    Rule,
    hypervolume_2d,
    load_curves,
)

#: Fractions of the budget at which the hypervolume is reported.
GRID = tuple(round(0.05 * k, 2) for k in range(1, 21))


def make_rules(
    dataset: str, max_params: float, thresholds: tuple[float, ...] = (0.2,)
) -> list[Rule]:
    import optuna

    epochs = 30
    return [
        NoStopping(),
        LearningCurve(True, THRESHOLDS[dataset], max_params),
        *(
            LearningCurve(True, THRESHOLDS[dataset], max_params, threshold=t)
            for t in thresholds
        ),
        AxPercentile(),
        OptunaPruner("Optuna median", lambda: optuna.pruners.MedianPruner()),
        OptunaPruner(
            "Optuna Hyperband",
            lambda: optuna.pruners.HyperbandPruner(min_resource=5, max_resource=epochs),
        ),
        OptunaPruner(
            "ASHA (Optuna successive halving)",
            lambda: optuna.pruners.SuccessiveHalvingPruner(
                min_resource=1, reduction_factor=3
            ),
        ),
    ]


def timeline(
    rule: Rule,
    curves: np.ndarray,
    params: np.ndarray,
    order: np.ndarray,
    workers: int,
    budget: int,
) -> tuple[list[tuple[int, int]], int | None]:
    """(epochs spent at completion, configuration) of every completed trial, and
    the epochs spent when the table ran out of configurations (None: it did not).
    """
    epochs_max = curves.shape[1]
    rule.reset(curves, params, order)
    queue = list(order)
    running: dict[int, int] = {}
    done: list[tuple[int, int]] = []
    used = 0
    exhausted = None
    while (queue or running) and used < budget:
        while queue and len(running) < workers:
            c = int(queue.pop(0))
            running[c] = 0
            rule.started(c)
        if not queue and exhausted is None:
            exhausted = used
        for c in running:
            running[c] += 1
            used += 1
        for c in [c for c, t in running.items() if t >= epochs_max]:
            del running[c]
            done.append((used, c))
            rule.finished(c, False, epochs_max)
        if running:
            for c in rule.should_stop(dict(running)):
                rule.finished(c, True, running.pop(c))
    return done, exhausted


def hv_log(finals, params, done: list[int], ref_acc: float, max_params: float):
    if not done:
        return 0.0
    idx = np.asarray(done, dtype=int)
    return hypervolume_2d(
        finals[idx], np.log10(params[idx]), ref_acc, math.log10(max_params)
    )


def curve_of(done, finals, params, budget, ref_acc, max_params) -> list[float]:
    """HV-log of the trials completed by each budget fraction of GRID."""
    return [
        hv_log(
            finals,
            params,
            [c for used, c in done if used <= f * budget + 1e-9],
            ref_acc,
            max_params,
        )
        for f in GRID
    ]


def summarize(per_rule: dict[str, list[list[float]]], exhausted: dict) -> dict:
    """Mean relative HV per budget; budget at which the no-stopping HV is reached."""
    out = {}
    for name, runs in per_rule.items():
        ex = [e for e in exhausted[name] if e is not None]
        arr = np.asarray(runs)
        reach = []
        for run in arr:
            hit = np.flatnonzero(run >= 1.0 - 1e-9)
            reach.append(GRID[hit[0]] if hit.size else math.inf)
        finite = [r for r in reach if math.isfinite(r)]
        out[name] = {
            "mean": arr.mean(axis=0).round(4).tolist(),
            "worst": arr.min(axis=0).round(4).tolist(),
            "reach_median": statistics.median(reach),
            "reach_share": len(finite) / len(reach),
            "exhausted_share": len(ex) / len(runs),
            "exhausted_at_median": statistics.median(ex) if ex else None,
        }
    return out


def targets(summary: dict) -> dict:
    ours = summary["learning_curve"]
    others = [k for k in summary if not k.startswith("learning_curve")]
    from_25 = [i for i, f in enumerate(GRID) if f >= 0.25]
    behind = [
        (GRID[i], k)
        for i in from_25
        for k in others
        if summary[k]["mean"][i] >= ours["mean"][i]
    ]
    below = [
        (f, k)
        for f, k in behind
        if summary[k]["mean"][GRID.index(f)] > ours["mean"][GRID.index(f)]
    ]
    return {
        "never_below_from_25": not below,
        "below": below,
        "reach_half": ours["reach_median"] <= 0.5,
        "reach_median": ours["reach_median"],
        "above_all_from_25": not behind,
        "not_above": behind,
    }


def plot(all_summaries: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    keys = list(all_summaries)
    fig, axes = plt.subplots(
        1, len(keys), figsize=(5.2 * len(keys), 4.2), squeeze=False
    )
    for ax, key in zip(axes[0], keys, strict=True):
        for name, s in all_summaries[key].items():
            style = {"lw": 2.6, "color": "black"} if name == "learning_curve" else {}
            ax.plot([100 * f for f in GRID], s["mean"], label=name, **style)
        ax.axhline(1.0, color="grey", ls=":", lw=1)
        ax.axvline(50, color="grey", ls=":", lw=1)
        ax.set_title(key)
        ax.set_xlabel("epochs spent (% of the no-stopping budget)")
        ax.set_ylabel("HV-log / no-stopping final HV-log")
        ax.set_ylim(0.5, 1.1)
        ax.grid(alpha=0.3)
    axes[0][0].legend(fontsize=8, loc="lower right")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def _ex(s: dict) -> str:
    if s["exhausted_at_median"] is None:
        return "no"
    return f"{100 * s['exhausted_at_median']:.0f}%; {100 * s['exhausted_share']:.0f}%"


def markdown(all_summaries: dict, all_targets: dict, meta: dict) -> str:
    lines = [
        "# Early stopping, compute-matched (HV-log per epoch spent)",
        "",
        f"Generated by `benchmarks/early_stopping_compute.py` on {meta['date']}.",
        f"Machine: {meta['machine']}.",
        f"{meta['orders']} random orders of every cached configuration; budget = "
        f"{meta['budget_trials']} full trials' epochs; saved epochs go to the next "
        "configurations of the order. HV-log of the completed trials' true final "
        "values relative to no stopping's with the whole budget (mean over "
        f"orders). Plot: `{meta.get('plot', 'early_stopping_compute.png')}`.",
        "",
    ]
    shown = (0.1, 0.25, 0.5, 0.75, 1.0)
    cols = [GRID.index(f) for f in shown]
    for key, summary in all_summaries.items():
        t = all_targets[key]
        lines += [
            f"## {key}",
            "",
            "| rule | "
            + " | ".join(f"{int(100 * f)}%" for f in shown)
            + " | reaches no-stopping final HV at (median) | orders that reach it "
            "| table exhausted at (median; orders) |",
            "|---|" + "---|" * (len(shown) + 3),
        ]
        for name, s in summary.items():
            reach = s["reach_median"]
            reach_s = "never" if not math.isfinite(reach) else f"{100 * reach:.0f}%"
            lines.append(
                f"| {name} | "
                + " | ".join(f"{s['mean'][i]:.3f}" for i in cols)
                + f" | {reach_s} | {100 * s['reach_share']:.0f}% | {_ex(s)} |"
            )
        behind = ", ".join(f"{k} at {100 * f:.0f}%" for f, k in t["not_above"][:6])
        lines += [
            "",
            f"Targets: reaches the no-stopping final HV with <= 50% of the epochs: "
            f"**{'met' if t['reach_half'] else 'not met'}**; above every other "
            f"rule at every budget from 25% on: "
            f"**{'met' if t['above_all_from_25'] else 'not met'}**"
            + (f" (not above: {behind})" if behind else "")
            + f"; never below another rule from 25% on: "
            f"**{'yes' if t['never_below_from_25'] else 'no'}**.",
            "",
        ]
    return "\n".join(lines) + "\n"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument(
        "--datasets", nargs="+", default=["digits", "breast_cancer", "gbm_digits"]
    )
    ap.add_argument("--orders", type=int, default=20)
    ap.add_argument("--budget-trials", type=int, default=100)
    ap.add_argument("--workers", nargs="+", type=int, default=[1])
    ap.add_argument(
        "--thresholds",
        nargs="*",
        type=float,
        default=[0.2],
        help="learning_curve thresholds to run besides the default (0.05)",
    )
    ap.add_argument("--out", default=str(RESULTS / "early_stopping_compute"))
    args = ap.parse_args()
    logging.getLogger("optuna").setLevel(logging.ERROR)
    summaries: dict = {}
    for dataset in args.datasets:
        curves, params, max_params = load_curves(dataset)
        ref_acc = THRESHOLDS[dataset]["val_acc"]
        finals = curves[:, -1]
        budget = args.budget_trials * curves.shape[1]
        rng = np.random.default_rng(1)
        orders = [rng.permutation(len(curves)) for _ in range(args.orders)]
        for workers in args.workers:
            key = f"{dataset}, {'sequential' if workers == 1 else f'{workers} workers'}"
            per_rule: dict[str, list[list[float]]] = {}
            exhausted: dict[str, list[float | None]] = {}
            base: list[float] = []
            for rule in make_rules(dataset, max_params, tuple(args.thresholds)):
                t0 = time.time()
                runs, ex = [], []
                for k, order in enumerate(orders):
                    done, at = timeline(rule, curves, params, order, workers, budget)
                    ex.append(None if at is None else at / budget)
                    hv = curve_of(done, finals, params, budget, ref_acc, max_params)
                    if rule.name == "no stopping":
                        base.append(hv[-1])
                    runs.append([h / base[k] for h in hv])
                per_rule[rule.name] = runs
                exhausted[rule.name] = ex
                mean = np.mean(runs, axis=0)
                print(
                    f"{key:28s} {rule.name:34s} "
                    + " ".join(f"{m:.3f}" for m in mean[[1, 4, 9, 14, 19]])
                    + f" [{time.time() - t0:.0f}s]",
                    flush=True,
                )
            summaries[key] = summarize(per_rule, exhausted)
    all_targets = {k: targets(s) for k, s in summaries.items()}
    meta = {
        "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "machine": MACHINE,
        "orders": args.orders,
        "budget_trials": args.budget_trials,
        "grid": GRID,
        "plot": Path(args.out).with_suffix(".png").name,
    }
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.with_suffix(".json").write_text(
        json.dumps(
            {"meta": meta, "summaries": summaries, "targets": all_targets}, indent=1
        )
    )
    out.with_suffix(".md").write_text(markdown(summaries, all_targets, meta))
    plot(summaries, out.with_suffix(".png"))
    for key, t in all_targets.items():
        print(key, t)
    print(f"wrote {out.with_suffix('.md')}, .json and .png")


if __name__ == "__main__":
    main()
