"""A per-operation latency table for NAS-Bench-201 cells, timed on this CPU.

A latency estimate that a user can make before training and without the
target hardware: time each of the cell's five operations once, at the shapes
of the network's three stages, and add them up over a cell's six edges (a
look-up-table model, as hardware-aware NAS uses). Here the table is timed on
this machine's CPU, while NAS-Bench-201's latency was measured on a GPU, so
the estimate is one "from another machine": its error is correlated across
cells through the operations, not independent per cell.

Operations as NAS-Bench-201 defines them (written here from the paper's
description): ``none`` (multiply by zero), ``skip_connect`` (identity),
``nor_conv_1x1`` and ``nor_conv_3x3`` (ReLU, convolution without bias, batch
norm), ``avg_pool_3x3`` (stride 1, padding 1). Each edge's output is added to
its node, so one tensor addition is timed with every operation. Stages: 16,
32, 64 channels at 32x32, 16x16, 8x8 (CIFAR) or 16x16, 8x8, 4x4
(ImageNet16-120); batch 32; one thread; eval mode; median of ``--repeats``
timings after a warm-up.

Writes ``benchmarks/data/nb201_cpu_latency_lut.json``: for each input size,
the seconds per operation and stage; ``nas_bench_201.py``'s
``lut_latency_<dataset>`` estimators read it.

    OMP_NUM_THREADS=1 python benchmarks/make_latency_lut.py
"""

from __future__ import annotations

import argparse
import json
import platform
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
OUT = HERE / "data" / "nb201_cpu_latency_lut.json"
OPS = ["none", "skip_connect", "nor_conv_1x1", "nor_conv_3x3", "avg_pool_3x3"]
CHANNELS = (16, 32, 64)
#: Input side of the first stage, per data set family.
INPUT_SIDE = {"cifar": 32, "imagenet16": 16}


def make_op(name: str, channels: int):
    """The NAS-Bench-201 operation ``name`` on ``channels`` channels (eval mode)."""
    from torch import nn

    if name == "none":
        return lambda x: x.mul(0.0)
    if name == "skip_connect":
        return lambda x: x
    if name == "avg_pool_3x3":
        return nn.AvgPool2d(3, stride=1, padding=1, count_include_pad=False).eval()
    k = 1 if name == "nor_conv_1x1" else 3
    return nn.Sequential(
        nn.ReLU(inplace=False),
        nn.Conv2d(channels, channels, k, padding=k // 2, bias=False),
        nn.BatchNorm2d(channels),
    ).eval()


def time_op(name: str, channels: int, side: int, batch: int, repeats: int) -> float:
    """Median seconds of one edge: the operation plus the addition to its node."""
    import torch

    op = make_op(name, channels)
    x = torch.randn(batch, channels, side, side)
    acc = torch.zeros_like(x)
    times = []
    with torch.no_grad():
        for i in range(repeats + 5):
            t = time.perf_counter()
            acc.add_(op(x))
            if i >= 5:
                times.append(time.perf_counter() - t)
    return float(np.median(times))


def main() -> None:
    import torch

    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--repeats", type=int, default=50)
    ap.add_argument("--out", type=Path, default=OUT)
    args = ap.parse_args()
    torch.set_num_threads(1)
    lut: dict[str, dict[str, list[float]]] = {}
    for family, side in INPUT_SIDE.items():
        lut[family] = {}
        for name in OPS:
            row = [
                time_op(name, c, side // 2**s, args.batch, args.repeats)
                for s, c in enumerate(CHANNELS)
            ]
            lut[family][name] = row
            ms = "  ".join(f"{v * 1e3:7.3f} ms" for v in row)
            print(f"{family:10s} {name:13s} {ms}")
    doc = {
        "what": "seconds per NAS-Bench-201 edge (operation + addition), per stage",
        "stages": [
            {"channels": c, "side": {f: s // 2**i for f, s in INPUT_SIDE.items()}}
            for i, c in enumerate(CHANNELS)
        ],
        "batch": args.batch,
        "repeats": args.repeats,
        "threads": 1,
        "machine": f"{platform.processor() or platform.machine()}, "
        f"{platform.system()} {platform.release()}",
        "torch": torch.__version__,
        "measured": time.strftime("%Y-%m-%dT%H:%MZ", time.gmtime()),
        "lut": lut,
    }
    args.out.write_text(json.dumps(doc, indent=1) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
