"""Make real boosting curves for the early-stopping benchmark (held-out family).

A second family of real learning curves, never used to tune ``learning_curve``:
scikit-learn's ``HistGradientBoostingClassifier`` on the bundled digits data
(70/30 stratified split), 60 boosting rounds, validation accuracy recorded
every 2 rounds (30 points, "epochs" = 2 rounds each). The search space:
``learning_rate`` in [0.01, 0.5] log, ``max_leaf_nodes`` in [4, 64] log,
``max_depth`` in {2, ..., 8}, ``min_samples_leaf`` in [2, 50] log,
``l2_regularization`` in [1e-3, 10] log, ``max_features`` in [0.2, 1.0].
The objective known before training is the model's leaf budget, the most
leaves the final model can have: ``60 rounds x 10 classes x
min(max_leaf_nodes, 2**max_depth)`` (stored as ``num_params``, so the
benchmark treats it like a parameter count). One thread, fixed seeds.

Usage::

    nice -n 10 python benchmarks/make_curves_gbm.py --n 200
"""

from __future__ import annotations

import argparse
import json
import math
import os
import time
from pathlib import Path

import numpy as np

DATA = Path(__file__).resolve().parent / "data"
ROUNDS = 60
EVERY = 2
SPACE = {
    "learning_rate": (0.01, 0.5),  # log
    "max_leaf_nodes": (4, 64),  # int, log
    "max_depth": [2, 3, 4, 5, 6, 7, 8],
    "min_samples_leaf": (2, 50),  # int, log
    "l2_regularization": (1e-3, 10.0),  # log
    "max_features": (0.2, 1.0),
}


def _log_uniform(rng: np.random.Generator, lo: float, hi: float) -> float:
    return float(math.exp(rng.uniform(math.log(lo), math.log(hi))))


def sample_configs(n: int, seed: int) -> list[dict]:
    rng = np.random.default_rng(seed)
    return [
        {
            "learning_rate": _log_uniform(rng, *SPACE["learning_rate"]),
            "max_leaf_nodes": round(_log_uniform(rng, *SPACE["max_leaf_nodes"])),
            "max_depth": int(rng.choice(SPACE["max_depth"])),
            "min_samples_leaf": round(_log_uniform(rng, *SPACE["min_samples_leaf"])),
            "l2_regularization": _log_uniform(rng, *SPACE["l2_regularization"]),
            "max_features": float(rng.uniform(*SPACE["max_features"])),
        }
        for _ in range(n)
    ]


def train_curve(cfg: dict, xtr, ytr, xva, yva, seed: int) -> list[float]:
    from sklearn.ensemble import HistGradientBoostingClassifier

    model = HistGradientBoostingClassifier(
        max_iter=ROUNDS, early_stopping=False, random_state=seed, **cfg
    )
    model.fit(xtr, ytr)
    curve = []
    for i, pred in enumerate(model.staged_predict(xva), start=1):
        if i % EVERY == 0:
            curve.append(round(float(np.mean(pred == yva)), 5))
    return curve


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=200)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument(
        "--train-seed",
        type=int,
        default=1000,
        help="configuration i trains with seed TRAIN_SEED + i (1000: the cached "
        "tables; another value retrains the same configurations, for "
        "early_stopping_noise.py)",
    )
    ap.add_argument(
        "--out",
        default=str(DATA / "curves_gbm_digits.json"),
        help="cache file (the first 200 configurations are the same for every --n)",
    )
    args = ap.parse_args()
    os.environ.setdefault("OMP_NUM_THREADS", "1")  # before sklearn's OpenMP starts
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    ds = load_digits()
    xtr, xva, ytr, yva = train_test_split(
        ds.data, ds.target, test_size=0.3, random_state=0, stratify=ds.target
    )
    n_classes = int(ds.target.max()) + 1
    out = []
    t0 = time.time()
    for i, cfg in enumerate(sample_configs(args.n, args.seed)):
        curve = train_curve(cfg, xtr, ytr, xva, yva, seed=args.train_seed + i)
        leaves = ROUNDS * n_classes * min(cfg["max_leaf_nodes"], 2 ** cfg["max_depth"])
        out.append({**cfg, "num_params": leaves, "val_acc": curve})
        if i % 20 == 0:
            print(f"{i}/{args.n} {time.time() - t0:.1f}s final={curve[-1]:.3f}")
    path = Path(args.out)
    payload = {
        "dataset": "gbm_digits",
        "train_seed": args.train_seed,
        "model": "HistGradientBoostingClassifier",
        "epochs": ROUNDS // EVERY,
        "rounds_per_epoch": EVERY,
        "n_val": len(yva),
        "space": SPACE,
        "generated_seconds": round(time.time() - t0, 1),
        "configs": out,
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(payload, separators=(",", ":")))
    print(f"wrote {path} ({len(out)} curves, {time.time() - t0:.0f}s)")


if __name__ == "__main__":
    main()
