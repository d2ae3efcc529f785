"""How well each latency estimate of the ``known_metrics`` variants tracks the truth.

For every NAS-Bench-201 data set and every estimator of
``nas_bench_201.py``'s ``known_metrics`` variants (``known``, ``noisy``,
``lut``, ``params``): Spearman's rank correlation with the table's mean
latency over all 15,625 cells and over the fastest 20% of them (where the
front's most valuable cells are), and the share of the latency's variance a
linear fit on the estimate explains (R^2), and how much of what that fit
leaves (the residual, which the GP has to learn) a linear fit on the count
of each operation in the cell explains. For reference, the R^2 of a linear
fit on the count of each operation in the cell (how close the latency is to
additive in the operations). And what an estimate says at the fast end: the
number of cells tied at its lowest value (a model told the estimate cannot
tell them apart), the share of the table's hypervolume lost without those
cells, and the rank correlation over the 729 cells without a convolution
(where the fastest members of the front are).

    python benchmarks/latency_estimates.py

Writes ``benchmarks/results/latency_estimates.{md,json}``; needs the
benchmarks' extra (``pip install -e '.[bench]'``) for the tables.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import nas_bench_201 as nb  # noqa: E402

DATASETS = ("cifar10", "cifar100", "imagenet")
KINDS = ("known", "noisy", "lut", "params")


def r2(x: np.ndarray, y: np.ndarray) -> float:
    """Share of ``y``'s variance explained by a least-squares fit on ``x``."""
    a = np.column_stack([np.ones(len(y)), x])
    coef = np.linalg.lstsq(a, y, rcond=None)[0]
    return float(1.0 - np.var(y - a @ coef) / np.var(y))


def residual(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """``y`` minus its least-squares fit on ``x`` (what the GP must learn)."""
    a = np.column_stack([np.ones(len(y)), x])
    return y - a @ np.linalg.lstsq(a, y, rcond=None)[0]


def hv_share(acc: np.ndarray, lat: np.ndarray, cells: np.ndarray) -> float:
    """Share of the whole table's hypervolume lost without ``cells`` (a mask).

    Hypervolume of (max ``acc``, min ``lat``) against the worst of each, as
    ``nas_bench_201.py`` scores a run: 1 - HV(the other cells) / HV(all).
    """
    pts = np.stack([-acc, lat], axis=1)
    ref = np.array([-acc.min(), lat.max()])
    return 1.0 - nb.hv2d(pts[~cells], ref) / nb.hv2d(pts, ref)


def main() -> None:
    from scipy.stats import spearmanr

    rows = []
    for dataset in DATASETS:
        truth = nb._latency_table(dataset)
        keys = sorted(truth)
        lat = np.array([truth[k] for k in keys])
        fast = lat < np.quantile(lat, 0.2)
        counts = np.array([[k.count(str(o)) for o in range(1, 5)] for k in keys])
        true = nb.NB201(dataset, 0).true
        acc = np.array([true[k][0] for k in keys])
        # cells without a convolution (operations none, skip, pooling only)
        conv_free = np.array(["2" not in k and "3" not in k for k in keys])
        for kind in KINDS:
            fn = getattr(nb, f"{kind}_latency_{dataset}")
            est = np.array(
                [
                    fn(dict(zip(nb.PARAMS, (nb.OPS[int(c)] for c in k), strict=True)))
                    for k in keys
                ]
            )
            rows.append(
                {
                    "dataset": dataset,
                    "estimate": kind,
                    "spearman": float(spearmanr(lat, est)[0]),
                    "spearman_fastest_20pct": float(spearmanr(lat[fast], est[fast])[0]),
                    "r2": r2(est, lat),
                    # the exact estimate leaves only rounding error
                    "residual_r2_op_counts": None
                    if kind == "known"
                    else r2(counts, residual(est, lat)),
                    "cells_tied_at_lowest": int((est == est.min()).sum()),
                    "hv_share_of_tied_cells": hv_share(acc, lat, est == est.min()),
                    "spearman_conv_free": None
                    if np.ptp(est[conv_free]) == 0
                    else float(spearmanr(lat[conv_free], est[conv_free])[0]),
                }
            )
        rows.append(
            {
                "dataset": dataset,
                "estimate": "(linear fit on the operation counts)",
                "spearman": None,
                "spearman_fastest_20pct": None,
                "r2": r2(counts, lat),
                "residual_r2_op_counts": None,
                "cells_tied_at_lowest": None,
                "hv_share_of_tied_cells": None,
                "spearman_conv_free": None,
            }
        )

    def fmt(v: float | None) -> str:
        return "-" if v is None else f"{v:.2f}"

    lines = [
        "# Latency estimates of the `known_metrics` variants against the table",
        "",
        "NAS-Bench-201, all 15,625 cells, the table's mean latency; "
        f"computed {time.strftime('%Y-%m-%dT%H:%MZ', time.gmtime())}.",
        "",
        "| data set | estimate | Spearman | Spearman, fastest 20% | R^2 | "
        "R^2 of the residual on the operation counts | "
        "cells tied at the estimate's lowest value | "
        "HV lost without those cells | "
        "Spearman over the 729 cells without a convolution |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- |",
        *(
            f"| {r['dataset']} | {r['estimate']} | {fmt(r['spearman'])} | "
            f"{fmt(r['spearman_fastest_20pct'])} | {fmt(r['r2'])} | "
            f"{fmt(r['residual_r2_op_counts'])} | "
            f"{r['cells_tied_at_lowest'] or '-'} | "
            f"{fmt(r['hv_share_of_tied_cells'])} | "
            f"{fmt(r['spearman_conv_free'])} |"
            for r in rows
        ),
    ]
    out = HERE / "results" / "latency_estimates"
    out.with_suffix(".md").write_text("\n".join(lines) + "\n")
    out.with_suffix(".json").write_text(json.dumps(rows, indent=1) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
