"""Does telling ``gp_moo`` the parameter count help the NAS demo's search?

The demo's run config (``ax_nas_plugins/config/demo.yaml``): its six
parameters, its two objectives and their thresholds (val_acc >= 0.80,
num_params <= 20,000). Each trial trains the demo's MLP in this process on
scikit-learn's 8x8 digits (the data the demo's trainer falls back to when
MNIST is not on disk: 64 inputs), to its ``epochs``: the trainer's model
(``examples.mlp_trainer.build_model``) and optimiser (Adam) in a plain
PyTorch loop; Lightning's trainer, TensorBoard and early stopping are left
out so that a seed takes a minute, not ten.

Methods, each on the same seeds (a trial's training seed is its index, as in
the demo):

- ``sobol``: the pack's Sobol preset;
- ``gp_moo``: the demo's strategy;
- ``gp_moo_known``: ``gp_moo`` with ``known_metrics={"num_params": ...}``,
  the exact count for 64 inputs (``digits_num_params``);
- ``gp_moo_known_mnist``: the same with the count for MNIST's 784 inputs, the
  estimate a run gets when it assumes MNIST but the trainer falls back to
  digits (how much a wrong input size costs).

Score: the hypervolume of the completed trials' (val_acc, num_params) inside
the thresholds, as a fraction of the box they span (0.20 x 20,000), after
every evaluation (the table shows a few). One process per seed range; rows
are appended to the log, and ``--summarise`` writes the table.

    OMP_NUM_THREADS=1 taskset -c 0 python benchmarks/demo_known_params.py \
        --seeds 0 1 2 3 4
    python benchmarks/demo_known_params.py --summarise
"""

from __future__ import annotations

import argparse
import importlib
import json
import platform
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

HERE = Path(__file__).resolve().parent
if str(HERE) not in sys.path:  # the sibling scripts (nas_bench_201: hv2d)
    sys.path.insert(0, str(HERE))
RESULTS = HERE / "results"
LOG = RESULTS / "demo_known_params.jsonl"
METHODS = ("sobol", "gp_moo", "gp_moo_known", "gp_moo_known_mnist")
AT = (8, 12, 16, 20, 24)


def _count(n_in: int, h1: int, h2: int, n_out: int = 10) -> float:
    """Weights and biases of n_in -> h1 -> h2 -> n_out (the demo's MLP)."""
    return float(n_in * h1 + h1 + h1 * h2 + h2 + h2 * n_out + n_out)


def digits_num_params(p: dict[str, Any]) -> float:
    """The demo MLP's parameter count on 8x8 digits (64 inputs): exact here."""
    return _count(64, int(p["hidden_size_1"]), int(p["hidden_size_2"]))


def mnist_num_params(p: dict[str, Any]) -> float:
    """The count for MNIST's 784 inputs: a wrong input size for this problem."""
    return _count(784, int(p["hidden_size_1"]), int(p["hidden_size_2"]))


KNOWN = {
    "gp_moo_known": "demo_known_params:digits_num_params",
    "gp_moo_known_mnist": "demo_known_params:mnist_num_params",
}


def demo_experiment() -> tuple[Any, float, float]:
    """The demo's search space and objectives; (experiment, acc ref, size ref)."""
    from ax.core.experiment import Experiment
    from ax.core.metric import Metric

    cb = importlib.import_module("ax_nas_plugins.config.build")

    config = cb.load_config(Path(cb.__file__).parent / "demo.yaml")
    problems: list[tuple[str, str]] = []
    space = cb._search_space(config, problems)
    metrics = {
        o.metric: Metric(o.metric, lower_is_better=o.direction == "minimize")
        for o in config.objectives
    }
    opt = cb._optimization_config(config, metrics, problems)
    if problems:
        raise SystemExit(f"demo.yaml: {problems}")
    refs = {o.metric: float(o.threshold) for o in config.objectives}
    exp = Experiment(
        search_space=space,
        optimization_config=opt,
        metrics=list(metrics.values()),
        name="demo_known_params",
    )
    return exp, refs["val_acc"], refs["num_params"]


def train(p: dict[str, Any], seed: int) -> dict[str, float]:
    """Train the demo's MLP on digits as its trainer does; final val_acc, count."""
    import torch

    from ax_nas_plugins.examples.mlp_trainer import _digits, build_model

    data = _digits(seed, "benchmark")
    torch.manual_seed(seed)
    h1, h2 = int(p["hidden_size_1"]), int(p["hidden_size_2"])
    # the trainer's LightningModule; its layers are trained here directly
    model = build_model(
        data.x_train.shape[1], data.n_classes, h1, h2, p["dropout"]
    ).model
    opt = torch.optim.Adam(model.parameters(), lr=p["learning_rate"])
    g = torch.Generator().manual_seed(seed)
    bs, n = int(p["batch_size"]), len(data.y_train)
    for _ in range(int(p["epochs"])):
        model.train()
        order = torch.randperm(n, generator=g)
        for i in range(0, n, bs):
            idx = order[i : i + bs]
            opt.zero_grad()
            loss = torch.nn.functional.cross_entropy(
                model(data.x_train[idx]), data.y_train[idx]
            )
            loss.backward()
            opt.step()
    model.eval()
    with torch.no_grad():
        acc = (model(data.x_val).argmax(1) == data.y_val).float().mean().item()
    return {
        "val_acc": float(acc),
        "num_params": float(sum(t.numel() for t in model.parameters())),
    }


def hv_fraction(
    points: list[tuple[float, float]], acc_ref: float, size_ref: float
) -> float:
    """Area dominated inside (val_acc > acc_ref, num_params < size_ref), as a
    fraction of the box (1 - acc_ref) x size_ref (``nas_bench_201.hv2d``)."""
    from nas_bench_201 import hv2d

    minimised = np.array([(-a, s) for a, s in points], dtype=float).reshape(-1, 2)
    area = hv2d(minimised, np.array([-acc_ref, size_ref]))
    return area / ((1.0 - acc_ref) * size_ref)


def run(method: str, seed: int, budget: int) -> dict[str, Any]:
    """One search; the HV fraction after every evaluation."""
    import pandas as pd
    import torch
    from ax.core.data import Data

    import ax_nas_plugins as anp

    torch.manual_seed(seed)
    exp, acc_ref, size_ref = demo_experiment()
    if method == "sobol":
        gs = anp.generation_strategy("sobol", seed=seed)
    else:
        options: dict[str, Any] = {"experiment": exp, "seed": seed}
        if method in KNOWN:
            options["known_metrics"] = {"num_params": KNOWN[method]}
        gs = anp.generation_strategy("gp_moo", **options)
    points: list[tuple[float, float]] = []
    hv, cpu, model_cpu = [], [], []
    predicted: list[dict[str, float] | None] = []
    for _ in range(budget):
        c = time.process_time()
        gr = gs.gen_single_trial(experiment=exp, n=1)
        spent = time.process_time() - c
        trial = exp.new_trial(generator_run=gr)
        trial.mark_running(no_runner_required=True)
        y = train(trial.arm.parameters, trial.index)
        df = pd.DataFrame({"metric_name": list(y), "mean": list(y.values())})
        df = df.assign(
            trial_index=trial.index,
            arm_name=trial.arm.name,
            metric_signature=df["metric_name"],
            sem=float("nan"),
        )
        exp.attach_data(Data(df=df))
        trial.mark_completed()
        points.append((y["val_acc"], y["num_params"]))
        # the model's prediction for the arm it proposed (None for Sobol)
        pred = gr.model_predictions
        predicted.append({m: float(v[0]) for m, v in pred[0].items()} if pred else None)
        hv.append(round(hv_fraction(points, acc_ref, size_ref), 4))
        cpu.append(spent)
        if "sobol" not in (gr._generator_key or "sobol").lower():
            model_cpu.append(spent)
    return {
        "method": method,
        "seed": seed,
        "budget": budget,
        "hv": hv,
        "points": points,
        "predicted": predicted,
        "model_cpu_s_mean": round(float(np.mean(model_cpu)), 2) if model_cpu else None,
        "time": time.strftime("%Y-%m-%dT%H:%MZ", time.gmtime()),
        "machine": f"{platform.machine()} {platform.node()}",
    }


def _prediction_errors(latest: dict[tuple[str, int], Any]) -> dict[str, Any]:
    """Per method: median |predicted - observed| val_acc, relative num_params."""
    out: dict[str, Any] = {}
    for m in METHODS:
        acc, size, runs = [], [], 0
        for (method, _), r in sorted(latest.items()):
            if method != m or not r.get("predicted"):
                continue
            runs += 1
            for (a, n), pred in zip(r["points"], r["predicted"], strict=True):
                if pred:
                    acc.append(abs(pred["val_acc"] - a))
                    size.append(abs(pred["num_params"] - n) / n)
        if acc:
            out[m] = {
                "runs": runs,
                "steps": len(acc),
                "acc": float(np.median(acc)),
                "size": float(np.median(size)),
            }
    return out


def summarise(log: Path, out: Path) -> str:
    """Mean ± sd of the HV fraction by method after AT evaluations; paired gains."""
    rows = [json.loads(line) for line in log.read_text().splitlines() if line]
    latest = {(r["method"], r["seed"]): r for r in rows}
    by_method: dict[str, dict[int, list[float]]] = {}
    for (m, s), r in sorted(latest.items()):
        by_method.setdefault(m, {})[s] = r["hv"]
    runs = [h for d in by_method.values() for h in d.values()]
    cols = [n for n in AT if all(len(h) >= n for h in runs)]
    lines = [
        "# `known_metrics` in the NAS demo: HV fraction by evaluations",
        "",
        "The demo's space and objectives (`config/demo.yaml`), each trial trained "
        "in-process on 8x8 digits to its `epochs` (no early stopping); HV of "
        "(val_acc, num_params) inside val_acc >= 0.80, num_params <= 20,000, as a "
        "fraction of that box. Written by `benchmarks/demo_known_params.py "
        "--summarise`.",
        "",
        "| method | seeds | "
        + " | ".join(f"after {n}" for n in cols)
        + " | CPU s per model suggestion |",
        "| --- | --- | " + " | ".join("---" for _ in cols) + " | --- |",
    ]
    for m in METHODS:
        if m not in by_method:
            continue
        d = by_method[m]
        cells = []
        for n in cols:
            v = np.array([h[n - 1] for h in d.values()])
            cells.append(f"{v.mean():.3f} ± {v.std():.3f}")
        cpu = [latest[(m, s)]["model_cpu_s_mean"] for s in d]
        cpu = [c for c in cpu if c is not None]
        cpu_text = f"{min(cpu):.1f}-{max(cpu):.1f}" if cpu else "-"
        lines.append(f"| `{m}` | {len(d)} | " + " | ".join(cells) + f" | {cpu_text} |")
    lines += [
        "",
        "Paired with `gp_moo` on the same seeds (mean difference, its standard "
        "error, seeds higher):",
        "",
        "| method | " + " | ".join(f"after {n}" for n in cols) + " |",
        "| --- | " + " | ".join("---" for _ in cols) + " |",
    ]
    base = by_method.get("gp_moo", {})
    for m in METHODS:
        if m == "gp_moo" or m not in by_method:
            continue
        seeds = sorted(set(by_method[m]) & set(base))
        if len(seeds) < 2:
            continue
        cells = []
        for n in cols:
            diff = np.array([by_method[m][s][n - 1] - base[s][n - 1] for s in seeds])
            se = diff.std(ddof=1) / np.sqrt(len(diff))
            cells.append(
                f"{diff.mean():+.3f} ({se:.3f}; {int((diff > 0).sum())} of {len(diff)})"
            )
        lines.append(f"| `{m}` | " + " | ".join(cells) + " |")
    errors = _prediction_errors(latest)
    if errors:
        lines += [
            "",
            "The model's prediction for the arm it proposed, against what training "
            "gave (model steps of the runs that recorded it): median absolute "
            "error of val_acc, and median relative error of num_params.",
            "",
            "| method | runs | model steps | val_acc error | num_params error |",
            "| --- | --- | --- | --- | --- |",
            *(
                f"| `{m}` | {e['runs']} | {e['steps']} | {e['acc']:.3f} | "
                f"{100 * e['size']:.1f}% |"
                for m, e in errors.items()
            ),
        ]
    machines = sorted({r["machine"] for r in latest.values()})
    times = sorted(r["time"] for r in latest.values())
    lines += [
        "",
        f"Runs {times[0]} to {times[-1]} on {', '.join(machines)} (2 CPU cores, "
        "one process pinned to each, `OMP_NUM_THREADS=1`).",
    ]
    text = "\n".join(lines) + "\n"
    out.write_text(text)
    return text


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--seeds", type=int, nargs="*", default=[0])
    ap.add_argument("--methods", nargs="*", default=list(METHODS), choices=METHODS)
    ap.add_argument("--budget", type=int, default=24, help="the demo's max_trials")
    ap.add_argument("--log", type=Path, default=LOG)
    ap.add_argument("--summarise", action="store_true")
    args = ap.parse_args(argv)
    if args.summarise:
        print(summarise(args.log, args.log.with_suffix(".md")))
        return 0
    import torch

    torch.set_num_threads(1)
    for seed in args.seeds:
        for method in args.methods:
            row = run(method, seed, args.budget)
            with args.log.open("a") as fh:
                fh.write(json.dumps(row) + "\n")
            print(method, seed, row["hv"][-1], row["model_cpu_s_mean"], flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
