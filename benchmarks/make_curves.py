"""Make real learning curves for the early-stopping benchmark (cached as JSON).

Trains small MLPs (the Ax NAS tutorial's search space: hidden_size_1/2,
learning_rate, dropout, batch_size) for 30 epochs on scikit-learn's bundled
data sets and records validation accuracy after every epoch, plus the model's
parameter count. One thread, fixed seeds: the same file comes out every time
on the same machine.

Usage::

    nice -n 10 python benchmarks/make_curves.py --dataset digits --n 200
    # the compute-matched replay's larger tables (the first 200 are the above):
    python benchmarks/make_curves.py --dataset digits --n 600 \
        --out benchmarks/data/curves_digits_600.json
"""

from __future__ import annotations

import argparse
import json
import math
import time
from pathlib import Path

import numpy as np
import torch
from sklearn.datasets import load_breast_cancer, load_digits
from sklearn.model_selection import train_test_split
from sklearn.preprocessing import StandardScaler

DATA = Path(__file__).resolve().parent / "data"
EPOCHS = 30

#: The Ax NAS tutorial's search space (torchx MNIST example).
SPACE = {
    "hidden_size_1": (16, 128),  # int, log scale
    "hidden_size_2": (16, 128),  # int, log scale
    "learning_rate": (1e-4, 1e-2),  # log scale
    "dropout": (0.0, 0.5),
    "batch_size": [32, 64, 128, 256],
}


def sample_configs(n: int, seed: int) -> list[dict]:
    rng = np.random.default_rng(seed)
    configs = []
    for _ in range(n):
        lo1, hi1 = SPACE["hidden_size_1"]
        lo2, hi2 = SPACE["hidden_size_2"]
        lr_lo, lr_hi = SPACE["learning_rate"]
        configs.append(
            {
                "hidden_size_1": round(math.exp(rng.uniform(*np.log([lo1, hi1])))),
                "hidden_size_2": round(math.exp(rng.uniform(*np.log([lo2, hi2])))),
                "learning_rate": float(
                    math.exp(rng.uniform(np.log(lr_lo), np.log(lr_hi)))
                ),
                "dropout": float(rng.uniform(*SPACE["dropout"])),
                "batch_size": int(rng.choice(SPACE["batch_size"])),
            }
        )
    return configs


def load(name: str) -> tuple[np.ndarray, np.ndarray]:
    if name == "digits":
        ds = load_digits()
    elif name == "breast_cancer":
        ds = load_breast_cancer()
    else:
        raise SystemExit(f"unknown dataset {name!r}; allowed: digits, breast_cancer")
    return ds.data.astype(np.float32), ds.target.astype(np.int64)


def train_curve(
    cfg: dict, xtr, ytr, xva, yva, n_classes: int, seed: int
) -> tuple[list[float], int]:
    torch.manual_seed(seed)
    h1, h2, p = cfg["hidden_size_1"], cfg["hidden_size_2"], cfg["dropout"]
    model = torch.nn.Sequential(
        torch.nn.Linear(xtr.shape[1], h1),
        torch.nn.ReLU(),
        torch.nn.Dropout(p),
        torch.nn.Linear(h1, h2),
        torch.nn.ReLU(),
        torch.nn.Dropout(p),
        torch.nn.Linear(h2, n_classes),
    )
    n_params = sum(t.numel() for t in model.parameters())
    opt = torch.optim.Adam(model.parameters(), lr=cfg["learning_rate"])
    loss_fn = torch.nn.CrossEntropyLoss()
    bs = cfg["batch_size"]
    curve = []
    g = torch.Generator().manual_seed(seed)
    for _ in range(EPOCHS):
        model.train()
        perm = torch.randperm(len(xtr), generator=g)
        for i in range(0, len(xtr), bs):
            idx = perm[i : i + bs]
            opt.zero_grad()
            loss_fn(model(xtr[idx]), ytr[idx]).backward()
            opt.step()
        model.eval()
        with torch.no_grad():
            acc = (model(xva).argmax(1) == yva).float().mean().item()
        curve.append(round(acc, 5))
    return curve, n_params


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--dataset", default="digits")
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
        type=Path,
        default=None,
        help="output file (default: benchmarks/data/curves_<dataset>.json)",
    )
    args = ap.parse_args()
    torch.set_num_threads(1)
    x, y = load(args.dataset)
    xtr, xva, ytr, yva = train_test_split(
        x, y, test_size=0.3, random_state=0, stratify=y
    )
    scaler = StandardScaler().fit(xtr)
    xtr = torch.tensor(scaler.transform(xtr), dtype=torch.float32)
    xva = torch.tensor(scaler.transform(xva), dtype=torch.float32)
    ytr, yva = torch.tensor(ytr), torch.tensor(yva)
    n_classes = int(y.max()) + 1
    configs = sample_configs(args.n, args.seed)
    out = []
    t0 = time.time()
    for i, cfg in enumerate(configs):
        curve, n_params = train_curve(
            cfg, xtr, ytr, xva, yva, n_classes, seed=args.train_seed + i
        )
        out.append({**cfg, "num_params": n_params, "val_acc": curve})
        if i % 20 == 0:
            print(
                f"{i}/{len(configs)} {time.time() - t0:.1f}s final={curve[-1]:.3f}",
                flush=True,
            )
    path = args.out or DATA / f"curves_{args.dataset}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    payload = {
        "dataset": args.dataset,
        "train_seed": args.train_seed,
        "epochs": EPOCHS,
        "n_val": len(yva),
        "space": SPACE,
        "generated_seconds": round(time.time() - t0, 1),
        "configs": out,
    }
    path.write_text(json.dumps(payload, separators=(",", ":")))
    print(f"wrote {path} ({len(out)} curves, {time.time() - t0:.0f}s)")


if __name__ == "__main__":
    main()
