"""How much of a Pareto set survives retraining: item 1's noise floor (issue 12).

Issue 12 asks early stopping to stop at most 10% of the true Pareto set while
saving at least 60% of the epochs. The true Pareto set is made of one training
run per configuration; retrain the same configurations with other training
seeds (``make_curves.py --train-seed``, ``make_curves_gbm.py --train-seed``;
cached in ``benchmarks/data/retrain/``) and some members change. This script
measures that, on the replay's 20 orders of 100 configurations
(``early_stopping.replay_setup``):

- **spread**: per configuration, the standard deviation of the final val_acc
  over the training seeds, in validation samples (median and 90th percentile);
- **agreement**: the share of an order's true Pareto set (the cached training
  seed) that is still on the Pareto set of the same 100 configurations
  retrained (each retrained table separately);
- **retrain oracles**: rules replayed like the others (sequential, scored on
  the cached curves) that stop after one epoch every configuration off the
  Pareto set of the *retrained* finals, or of their mean over the retrained
  tables; with ``k`` > 0 a configuration is kept when it is within ``k``
  validation samples of that front. Such a rule knows everything about a
  configuration but nothing about the luck of the run it is judging, which a
  curve-based rule does see in part (its own first epochs), so this is a
  reference, not a bound.

Output: a table on stdout and ``benchmarks/results/early_stopping_noise.{md,json}``.

Usage::

    for s in 2000 3000; do for d in digits breast_cancer; do
      python benchmarks/make_curves.py --dataset $d --train-seed $s \\
        --out benchmarks/data/retrain/curves_${d}_train$s.json; done; done
    python benchmarks/make_curves_gbm.py --train-seed 2000 \\
        --out benchmarks/data/retrain/curves_gbm_digits_train2000.json
    python benchmarks/early_stopping_noise.py                 # ~1 min
"""

from __future__ import annotations

import argparse
import json
import statistics
from datetime import datetime, timezone

import numpy as np
from early_stopping import (
    CONTEXT,
    DATA,
    MACHINE,
    RESULTS,
    THRESHOLDS,
    LearningCurve,
    Rule,
    costly_pareto,
    hypervolume_2d,
    replay,
    replay_setup,
    summarize,
    true_pareto,
    write_results,
)
from early_stopping_kills import resolution

RETRAIN = DATA / "retrain"
#: The replay's scores (``early_stopping.summarize``) kept for each oracle row.
SCORES = ("saved", "hv_log", "hv_log_worst", "pareto_killed", "pareto_killed_costly")


def retrained_finals(dataset: str, n: int) -> dict[int, np.ndarray]:
    """Final val_acc of each retrained table of ``dataset``, by training seed.

    The rule: a table counts when its configurations are the cached table's
    (same hyperparameters, in the same order); anything else is an error
    naming the file.
    """
    base = json.loads((DATA / f"curves_{dataset}.json").read_text())["configs"]
    keys = [k for k in base[0] if k not in ("val_acc", "num_params")]
    out = {}
    for path in sorted(RETRAIN.glob(f"curves_{dataset}_train*.json")):
        payload = json.loads(path.read_text())
        configs = payload["configs"]
        if len(configs) < n or any(
            [a[k] for k in keys] != [b[k] for k in keys]
            for a, b in zip(configs[:n], base[:n], strict=True)
        ):
            raise SystemExit(
                f"{path}: not a retrain of benchmarks/data/curves_{dataset}.json "
                "(its configurations differ); make it with the same --seed and --n"
            )
        out[int(payload["train_seed"])] = np.array(
            [c["val_acc"][-1] for c in configs[:n]], dtype=float
        )
    return out


class RetrainOracle(Rule):
    """Stops after one epoch every configuration off the front of other finals.

    ``finals`` are the configurations' final values from other training runs.
    A configuration is stopped when another one of the order, at most its size,
    beats it there by at least ``margin`` (strictly in size or value): with
    ``margin`` 0 that is "off the Pareto set of ``finals``"; a larger margin
    keeps the near-ties.
    """

    def __init__(self, name: str, finals: np.ndarray, margin: float) -> None:
        self.name, self.finals, self.margin = name, finals, margin

    def reset(self, curves, params, order):
        super().reset(curves, params, order)
        order = np.asarray(order)
        self.keep = set()
        f, p = self.finals, params
        for c in order.tolist():
            bar = f[c] + self.margin
            beaten = (p[order] <= p[c]) & (f[order] >= bar) & (order != c)
            beaten &= (p[order] < p[c]) | (f[order] > bar)
            if not beaten.any():
                self.keep.add(c)

    def should_stop(self, running):
        return {c for c in running if c not in self.keep}


def agreement(
    finals: np.ndarray, other: np.ndarray, params: np.ndarray, orders, costly_only: bool
) -> float:
    """Mean share of each order's Pareto set (``finals``) on ``other``'s Pareto set."""
    shares = []
    lmax = np.log10(CONTEXT["max_params"])
    for order in orders:
        if costly_only:
            hv_all = hypervolume_2d(
                finals[order], np.log10(params[order]), CONTEXT["ref_acc"], lmax
            )
            members = costly_pareto(
                finals, params, order, CONTEXT["ref_acc"], lmax, hv_all
            )
        else:
            members = set(order[true_pareto(finals[order], params[order])].tolist())
        if not members:
            continue
        again = set(order[true_pareto(other[order], params[order])].tolist())
        shares.append(len(members & again) / len(members))
    return statistics.mean(shares)


class StopRecorder(LearningCurve):
    """``learning_curve`` as in the replay, keeping the set of trials it stopped."""

    def reset(self, curves, params, order):
        super().reset(curves, params, order)
        self.stopped: set[int] = set()

    def finished(self, cfg, stopped, epochs):
        super().finished(cfg, stopped, epochs)
        if stopped:
            self.stopped.add(cfg)


def rule_kills(
    dataset: str,
    threshold: float,
    curves: np.ndarray,
    params: np.ndarray,
    max_params: float,
    orders: list[np.ndarray],
    retrains: dict[int, np.ndarray],
) -> dict:
    """Which Pareto members ``learning_curve`` stops, by whether a retrain keeps them.

    A member of an order's true Pareto set is *reproducible* when it is also on
    the Pareto set of every retrained table's finals for that order. Returns the
    replay's scores with the share of reproducible members stopped and the
    share of the stopped members that are reproducible (against the share of
    all members that are).
    """
    rule = StopRecorder(True, THRESHOLDS[dataset], max_params, threshold=threshold)
    finals = curves[:, -1]
    scores, killed, killed_repro, n_members, n_repro = [], 0, 0, 0, 0
    repro_shares = []
    for order in orders:
        scores.append(replay(rule, curves, params, order, workers=1))
        members = set(order[true_pareto(finals[order], params[order])].tolist())
        repro = set(members)
        for other in retrains.values():
            repro &= set(order[true_pareto(other[order], params[order])].tolist())
        stopped = rule.stopped & members
        killed += len(stopped)
        killed_repro += len(stopped & repro)
        n_members += len(members)
        n_repro += len(repro)
        if repro:
            repro_shares.append(len(stopped & repro) / len(repro))
    agg = summarize(scores, [])
    return {
        "threshold": threshold,
        **{key: agg[key] for key in ("saved", "hv_log_worst", "pareto_killed")},
        "reproducible_killed": statistics.mean(repro_shares),
        "members": n_members,
        "reproducible_members": n_repro,
        "killed_members": killed,
        "killed_reproducible": killed_repro,
    }


def run(
    dataset: str, n_orders: int, margins: list[int], thresholds: list[float]
) -> list[dict]:
    curves, params, max_params, orders = replay_setup(dataset, n_orders, 100)
    finals = curves[:, -1]
    retrains = retrained_finals(dataset, len(curves))
    if not retrains:
        raise SystemExit(
            f"no retrained table of {dataset} in {RETRAIN}; make one with "
            "make_curves.py --train-seed (see this script's usage)"
        )
    step = resolution(curves)
    runs = np.column_stack([finals, *retrains.values()])
    spread = runs.std(axis=1, ddof=1) / step
    base = {
        "dataset": dataset,
        "retrain_seeds": sorted(retrains),
        "sample": round(step, 5),
        "spread_median_samples": round(float(np.median(spread)), 2),
        "spread_p90_samples": round(float(np.percentile(spread, 90)), 2),
        "agreement": {
            str(s): round(agreement(finals, f, params, orders, False), 3)
            for s, f in retrains.items()
        },
        "agreement_costly": {
            str(s): round(agreement(finals, f, params, orders, True), 3)
            for s, f in retrains.items()
        },
    }
    base["learning_curve"] = [
        rule_kills(dataset, t, curves, params, max_params, orders, retrains)
        for t in thresholds
    ]
    mean_other = np.mean(list(retrains.values()), axis=0)
    sources = {f"train seed {s}": f for s, f in retrains.items()}
    if len(retrains) > 1:
        sources["mean of the retrains"] = mean_other
    rows = []
    for source, other in sources.items():
        for k in margins:
            rule = RetrainOracle(f"retrain oracle ({source}, k={k})", other, k * step)
            agg = summarize(
                [replay(rule, curves, params, o, workers=1) for o in orders], []
            )
            rows.append(
                {
                    **base,
                    "rule": rule.name,
                    "source": source,
                    "k": k,
                    **{key: agg[key] for key in SCORES},
                }
            )
    return rows


def markdown(rows: list[dict], meta: dict) -> str:
    lines = [
        "# The noise floor of issue 12, item 1: retrained Pareto sets",
        "",
        f"Measured {meta['date']} by `benchmarks/early_stopping_noise.py`; "
        f"{meta['orders']} orders of 100 configurations (the replay's); "
        f"machine: {meta['machine']} (times do not matter here).",
        "",
        "| data set | retrain seeds | one sample | final's sd over seeds, "
        "median / p90 (samples) | Pareto set still Pareto after a retrain | "
        "same, costly members |",
        "|---|---|---|---|---|---|",
    ]
    first = list({r["dataset"]: r for r in reversed(rows)}.values())[::-1]
    for r in first:
        agree = ", ".join(f"{v:.0%}" for v in r["agreement"].values())
        costly = ", ".join(f"{v:.0%}" for v in r["agreement_costly"].values())
        lines.append(
            f"| {r['dataset']} | {', '.join(map(str, r['retrain_seeds']))} | "
            f"{r['sample']:.4f} | {r['spread_median_samples']:.2f} / "
            f"{r['spread_p90_samples']:.2f} | {agree} | {costly} |"
        )
    lines += [
        "",
        "`learning_curve` (sequential replay, the same orders): a Pareto member "
        "is *reproducible* when it is on the Pareto set of every retrain too.",
        "",
        "| data set | threshold | epochs saved | HV-log worst | Pareto set killed | "
        "reproducible members killed | stopped members that are reproducible | "
        "all members that are reproducible |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in first:
        for k in r["learning_curve"]:
            share = k["killed_reproducible"] / max(k["killed_members"], 1)
            lines.append(
                f"| {r['dataset']} | {k['threshold']} | {k['saved']:.1%} | "
                f"{k['hv_log_worst']:.3f} | {k['pareto_killed']:.1%} | "
                f"{k['reproducible_killed']:.1%} | {k['killed_reproducible']} of "
                f"{k['killed_members']} ({share:.0%}) | "
                f"{k['reproducible_members']} of {k['members']} "
                f"({k['reproducible_members'] / k['members']:.0%}) |"
            )
    lines += [
        "",
        "Retrain oracles (stop after one epoch what is off the front of the "
        "retrained finals, keeping what is within k samples of it), scored on "
        "the cached curves like the replay's rules:",
        "",
        "| data set | front from | k | epochs saved | HV-log | HV-log worst | "
        "Pareto set killed | Pareto killed (costly) |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(
            f"| {r['dataset']} | {r['source']} | {r['k']} | {r['saved']:.1%} | "
            f"{r['hv_log']:.3f} | {r['hv_log_worst']:.3f} | "
            f"{r['pareto_killed']:.1%} | {r['pareto_killed_costly']:.1%} |"
        )
    return "\n".join(lines) + "\n"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument(
        "--datasets", nargs="+", default=["digits", "breast_cancer", "gbm_digits"]
    )
    ap.add_argument("--orders", type=int, default=20)
    ap.add_argument("--margins", nargs="+", type=int, default=[0, 1, 2, 3])
    ap.add_argument(
        "--thresholds",
        nargs="+",
        type=float,
        default=[0.05, 0.2],
        help="learning_curve thresholds to replay (none: --thresholds with no value)",
    )
    ap.add_argument("--out", default=str(RESULTS / "early_stopping_noise"))
    args = ap.parse_args()
    rows = []
    for dataset in args.datasets:
        rows += run(dataset, args.orders, args.margins, args.thresholds)
    meta = {
        "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "machine": MACHINE,
        "orders": args.orders,
    }
    write_results(args.out, markdown(rows, meta), meta, rows)


if __name__ == "__main__":
    main()
