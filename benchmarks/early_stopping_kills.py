"""Which true Pareto members does ``learning_curve`` stop, and why (issue 12, item 1).

The replay of ``benchmarks/early_stopping.py`` (same tables, same 20 orders of
100 configurations, sequential), with the rule's decision kept for every
trial it stops. Each stopped member of the order's true Pareto set falls in
the first of these classes that fits:

- **below the reference**: its true final val_acc is at or below the
  objective threshold, so it adds no hypervolume (it is on the Pareto set only
  because nothing is smaller);
- **near-tie**: its true final value beats the front it was judged against
  (the best completed val_acc among models at most its size, or the
  threshold) by at most ``--samples`` validation samples (one sample is the
  smallest step between logged accuracies);
- **mispredicted**: its true final value lies more than 3 predicted standard
  deviations above the prediction that stopped it;
- **other**.

It also splits the epochs of every order into: the first
``min_trials_completed`` trials (nothing is stopped before they finish),
trials that were stopped (up to their stop), true Pareto members run to the
end, and the rest run to the end. Output: a table on stdout and
``benchmarks/results/early_stopping_kills.{md,json}``.

Usage::

    python benchmarks/early_stopping_kills.py                      # ~2 min
    python benchmarks/early_stopping_kills.py --datasets digits --thresholds 0.05
"""

from __future__ import annotations

import argparse
import json
from collections import Counter
from datetime import datetime, timezone

import numpy as np
from early_stopping import (
    MACHINE,
    RESULTS,
    THRESHOLDS,
    LearningCurve,
    replay,
    replay_setup,
    true_pareto,
    write_results,
)

from ax_nas_plugins.stopping._engine import front_of

CLASSES = ("below the reference", "near-tie", "mispredicted", "other")
PARTS = ("first trials", "stopped", "Pareto, full", "others, full")


class RecordingRule(LearningCurve):
    """``learning_curve`` as in the replay, keeping each stop's decision and bar."""

    def reset(self, curves, params, order):
        super().reset(curves, params, order)
        self.stops: dict[int, tuple[int, float, float, float]] = {}

    def should_stop(self, running):
        out = self.decisions(running)
        front = front_of(self.objectives, self.completed)
        stop = set()
        for c, d in out.items():
            if not d.stop:
                continue
            stop.add(c)
            # blockers: completed front points at most this model's size
            blockers = front[front[:, 1] >= -float(self.params[c])]
            bar = float(blockers[:, 0].max()) if len(blockers) else -np.inf
            p = d.predictions["val_acc"]
            self.stops[c] = (running[c], p.mean, p.std, bar)
        return stop


def resolution(curves: np.ndarray) -> float:
    """Smallest step between logged accuracies: one validation sample."""
    values = np.unique(np.round(curves, 9))
    return float(np.min(np.diff(values)))


def classify(final, ref, bar, mean, std, step, samples) -> str:
    if final <= ref:
        return "below the reference"
    if np.isfinite(bar) and final - max(bar, ref) <= samples * step + 1e-9:
        return "near-tie"
    if (final - mean) / std > 3.0:
        return "mispredicted"
    return "other"


def run(dataset: str, threshold: float, orders: int, samples: int) -> dict:
    curves, params, max_params, perms = replay_setup(dataset, orders, 100)
    ref = THRESHOLDS[dataset]["val_acc"]
    rule = RecordingRule(True, THRESHOLDS[dataset], max_params, threshold=threshold)
    step = resolution(curves)
    epochs = curves.shape[1]
    kills: Counter = Counter()
    parts: Counter = Counter()
    n_pareto, saved = 0, []
    for order in perms:
        res = replay(rule, curves, params, order, workers=1)
        saved.append(res["saved"])
        pareto = set(order[true_pareto(curves[order, -1], params[order])].tolist())
        n_pareto += len(pareto)
        first = set(order[: rule.options.min_trials_completed].tolist())
        for c in order.tolist():
            if c in rule.stops:
                parts["stopped"] += rule.stops[c][0]
            elif c in first:
                parts["first trials"] += epochs
            elif c in pareto:
                parts["Pareto, full"] += epochs
            else:
                parts["others, full"] += epochs
        for c, (_, mean, std, bar) in rule.stops.items():
            if c in pareto:
                final = float(curves[c, -1])
                kills[classify(final, ref, bar, mean, std, step, samples)] += 1
    total = orders * 100 * epochs
    return {
        "dataset": dataset,
        "threshold": threshold,
        "saved": float(np.mean(saved)),
        "pareto_members": n_pareto,
        "killed": sum(kills.values()),
        "kills": {k: kills[k] for k in CLASSES},
        "epochs": {k: parts[k] / total for k in PARTS},
        "sample": step,
    }


def markdown(rows: list[dict], meta: dict) -> str:
    head = (
        "| data set | threshold | epochs saved | Pareto members killed | "
        + " | ".join(CLASSES)
        + " | "
        + " | ".join(f"epochs: {p}" for p in PARTS)
        + " |"
    )
    lines = [
        "# Which Pareto members learning_curve stops (issue 12, item 1)",
        "",
        f"Measured {meta['date']}; {meta['machine']}.",
        f"{meta['orders']} orders of 100 configurations, sequential; a near-tie "
        f"beats the front it was judged against by at most {meta['samples']} "
        "validation samples. Epoch shares are of all epochs of all orders.",
        "",
        head,
        "|" + "---|" * (4 + len(CLASSES) + len(PARTS)),
    ]
    for r in rows:
        killed = f"{r['killed']} of {r['pareto_members']}"
        killed += f" ({100 * r['killed'] / r['pareto_members']:.1f}%)"
        cells = [
            r["dataset"],
            f"{r['threshold']:g}",
            f"{100 * r['saved']:.1f}%",
            killed,
            *(str(r["kills"][k]) for k in CLASSES),
            *(f"{100 * r['epochs'][p]:.1f}%" for p in PARTS),
        ]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument(
        "--datasets", nargs="+", default=["digits", "breast_cancer", "gbm_digits"]
    )
    ap.add_argument("--thresholds", nargs="+", type=float, default=[0.05, 0.2])
    ap.add_argument("--orders", type=int, default=20)
    ap.add_argument("--samples", type=int, default=3)
    ap.add_argument("--out", default=str(RESULTS / "early_stopping_kills"))
    args = ap.parse_args()
    rows = []
    for dataset in args.datasets:
        for threshold in args.thresholds:
            row = run(dataset, threshold, args.orders, args.samples)
            rows.append(row)
            print(json.dumps(row), flush=True)
    meta = {
        "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "machine": MACHINE,
        "orders": args.orders,
        "samples": args.samples,
    }
    write_results(args.out, markdown(rows, meta), meta, rows)


if __name__ == "__main__":
    main()
