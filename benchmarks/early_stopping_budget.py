"""What if ``learning_curve`` knew how many trials are still to come? (issue 12, item 1)

An experiment on the replay of ``benchmarks/early_stopping.py`` (same tables,
same 20 orders of 100 configurations, sequential); it is not a rule of the
package. Early in a run the front is weak, so nearly every trial adds
hypervolume to it *now*, runs to the end and is overtaken later: on digits
those full runs off the true Pareto set are 18% of all epochs, half of them
among the first 20 trials. A rule that knows the number of trials still to
come can discount that.

The rule tried: ``learning_curve``'s ``P(adds HV)`` is multiplied by an
estimate of the chance that none of the ``N_left`` trials still to come
dominates the trial's predicted final point,
``(1 - q) ** (weight * N_left)``, where ``q`` is the share of completed trials
that dominate the predicted point (softly: a completed trial of at most the
same size counts ``Phi((its final - predicted) / predicted sd)``), shrunk
toward 0 by ``prior`` pseudo-trials: ``q = sum / (n + 1 + prior)``. Stop when
the product is below ``threshold``. ``weight < 1`` because ``q`` over-counts
(near-ties count about one half each).

A second knob, ``fall``: the threshold falls with the trial's progression,
``threshold * ((T - t) / T) ** fall`` at epoch ``t`` of ``T`` (``fall = 0``:
constant, the package's rule). A stop at epoch 3 saves 27 epochs, one at
epoch 25 saves 5, so the same evidence is worth more early. Rows with
``fall > 0`` and no budget (``weight`` None) are the falling threshold alone.

Output: a table on stdout and
``benchmarks/results/early_stopping_budget.{md,json}``.

Usage::

    python benchmarks/early_stopping_budget.py          # ~20 min on 2 shared cores
    python benchmarks/early_stopping_budget.py --datasets digits --orders 5
"""

from __future__ import annotations

import argparse
import json
import time
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
from early_stopping import (
    MACHINE,
    RESULTS,
    THRESHOLDS,
    LearningCurve,
    replay,
    replay_setup,
    summarize,
)
from scipy.special import ndtr

#: (threshold, weight, prior, start[, fall]) settings; weight None = no budget
#: discount; the discount applies once ``start`` trials have completed; ``fall``
#: (default 0: constant) makes the threshold fall with progression.
SETTINGS: tuple[tuple[float | None, ...], ...] = (
    (0.05, None, 0.0, 0),  # the defaults
    (0.2, None, 0.0, 0),  # the threshold trade-off, for comparison
    (0.02, 0.1, 10.0, 0),
    (0.02, 0.1, 5.0, 0),
    (0.01, 0.2, 10.0, 0),
    (0.02, 0.3, 20.0, 0),
    (0.02, 0.2, 5.0, 0),
    (0.05, 0.1, 5.0, 0),
    # where the savings and the kills come from: early decisions or late ones
    (0.02, 0.1, 0.0, 0),
    (0.02, 0.1, 0.0, 15),
    (0.02, 0.3, 20.0, 8),
    (0.02, 0.2, 5.0, 8),
    # a threshold that falls with progression, alone and with the discount
    (0.1, None, 0.0, 0, 1.0),
    (0.2, None, 0.0, 0, 1.0),
    (0.3, None, 0.0, 0, 2.0),
    (0.04, 0.2, 20.0, 8, 1.0),
    (0.04, 0.3, 20.0, 8, 1.0),
)


class BudgetAware(LearningCurve):
    """``learning_curve`` whose P(adds HV) is discounted by the trials to come."""

    def __init__(
        self,
        thresholds,
        max_params,
        *,
        total,
        weight,
        prior,
        start,
        threshold,
        fall=0.0,
    ):
        super().__init__(True, thresholds, max_params, threshold=threshold)
        self.total, self.weight, self.prior, self.start = total, weight, prior, start
        self.fall = fall
        self.name = f"threshold={threshold:g}" + (
            f", weight={weight:g}, prior={prior:g}" if weight else " (no budget)"
        )
        if start:
            self.name += f", from {start} completed"
        if fall:
            self.name += f", falling ((T - t) / T)^{fall:g}"

    def reset(self, curves, params, order):
        super().reset(curves, params, order)
        self.n_started = 0

    def started(self, cfg):
        self.n_started += 1

    def decisions(self, running):
        out = super().decisions(running)
        left = self.total - self.n_started
        n = len(self.completed)
        discount = bool(
            self.weight
            and left > 0
            and self.predictors is not None
            and n >= max(self.options.min_trials_completed, self.start)
        )
        if not discount and not self.fall:
            return out
        if discount:
            finished = self.completed.values()
            done = np.array(
                [[d.known["num_params"], d.last("val_acc")] for d in finished]
            )
            model = self.predictors["val_acc"]
        T = self.curves.shape[1]
        for c, t in running.items():
            d = out[c]
            if d.probability is None or t >= T:
                continue  # kept by a gate, or its current point adds HV now
            prob = d.probability
            if discount:
                p = model.predict(self.steps[:t], self.curves[c, :t])
                soft = (done[:, 0] <= self.params[c]) * ndtr(
                    (done[:, 1] - p.mean) / max(p.std, 1e-3)
                )
                q = float(soft.sum()) / (n + 1 + self.prior)
                prob *= (1.0 - q) ** (self.weight * left)
            # decided again at this epoch's threshold (the base rule's cap never
            # bound in these replays, so nothing it kept is overridden)
            d.stop = prob < self.options.threshold * ((T - t) / T) ** self.fall
            d.probability = prob
        return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument(
        "--datasets", nargs="+", default=["digits", "breast_cancer", "gbm_digits"]
    )
    ap.add_argument("--orders", type=int, default=20)
    ap.add_argument("--configs", type=int, default=100)
    ap.add_argument("--out", default=str(RESULTS / "early_stopping_budget"))
    args = ap.parse_args()
    rows = []
    for dataset in args.datasets:
        curves, params, max_params, orders = replay_setup(
            dataset, args.orders, args.configs
        )
        for threshold, weight, prior, start, *fall in SETTINGS:
            rule = BudgetAware(
                THRESHOLDS[dataset],
                max_params,
                total=args.configs,
                weight=weight,
                prior=prior,
                start=start,
                threshold=threshold,
                fall=fall[0] if fall else 0.0,
            )
            t0 = time.time()
            runs = [replay(rule, curves, params, o, 1) for o in orders]
            agg = summarize(runs, [])
            row = {"dataset": dataset, "setting": rule.name, **agg}
            rows.append(row)
            print(
                f"{dataset:14s} {rule.name:55s} saved={agg['saved']:.3f} "
                f"hv_log={agg['hv_log']:.3f} worst={agg['hv_log_worst']:.3f} "
                f"killed={agg['pareto_killed']:.3f} ({time.time() - t0:.0f}s)",
                flush=True,
            )
    meta = {
        "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "machine": MACHINE,
        "orders": args.orders,
        "configs_per_order": args.configs,
    }
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.with_suffix(".json").write_text(
        json.dumps({"meta": meta, "rows": rows}, indent=1)
    )
    lines = [
        "# Early stopping that knows the trials still to come (issue 12, item 1)",
        "",
        f"Generated by `benchmarks/early_stopping_budget.py` on {meta['date']}.",
        f"Machine: {MACHINE}. {args.orders} orders of {args.configs} configurations,"
        " sequential (the orders of `early_stopping.py`). Not a rule of the package:"
        " an experiment (see the script's docstring).",
        "",
        "| data set | setting | epochs saved | HV-log | HV-log worst | "
        "Pareto set killed | Pareto killed (costly) |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(
            f"| {r['dataset']} | {r['setting']} | {100 * r['saved']:.1f}% | "
            f"{r['hv_log']:.3f} | {r['hv_log_worst']:.3f} | "
            f"{100 * r['pareto_killed']:.1f}% | "
            f"{100 * r['pareto_killed_costly']:.1f}% |"
        )
    out.with_suffix(".md").write_text("\n".join(lines) + "\n")
    print(f"wrote {out.with_suffix('.md')} and {out.with_suffix('.json')}")


if __name__ == "__main__":
    main()
