"""How often ``gp_moo`` calls a ``known_metrics`` estimator per suggestion.

The space of the docs' example (``docs/generation.md``, "Metrics known before
training"): two integer widths (log scale) and a continuous learning rate;
objectives val_acc (up) and num_params (down). ``--sobol`` Sobol trials, then
``--steps`` model-based suggestions with ``known_metrics={"num_params": ...}``;
val_acc is a smooth made-up function of the parameters plus noise (what the
model learns does not matter here, only where the acquisition looks). For
every suggestion: the estimator's calls, the distinct parameter dicts and
distinct width pairs among them, and the wall and CPU seconds the suggestion
took, and how often BoTorch's optimiser ended abnormally and started again;
then the same run without ``known_metrics`` for the cost.

``--space demo``: the NAS demo's six parameters instead (``config/demo.yaml``:
the two widths, learning rate, dropout, and the ordered ``batch_size`` and
integer ``epochs``, which BoTorch searches as discrete dimensions).
``--mean analytic`` (a diagnostic, not a feature): the interpolated estimate
is replaced by the same parameter count written as a differentiable function
of the model's inputs, to tell the cost of the interpolation's kinks from
that of the estimator calls.

    OMP_NUM_THREADS=1 python benchmarks/known_metrics_calls.py
    OMP_NUM_THREADS=1 python benchmarks/known_metrics_calls.py --space demo \
        --out benchmarks/results/known_metrics_calls_demo

Writes ``benchmarks/results/known_metrics_calls.{md,json}`` (or ``--out``).
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import time
import warnings
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results"
CALLS: list[tuple[int, int, float]] = []


def num_params(p: dict) -> float:
    """The MLP's parameter count (784 -> h1 -> h2 -> 10); records each call."""
    h1, h2 = p["hidden_size_1"], p["hidden_size_2"]
    CALLS.append((h1, h2, p["learning_rate"]))
    return 784 * h1 + h1 + h1 * h2 + h2 + h2 * 10 + 10


def _experiment():
    from ax.core.experiment import Experiment
    from ax.core.metric import Metric
    from ax.core.objective import Objective
    from ax.core.optimization_config import MultiObjectiveOptimizationConfig
    from ax.core.parameter import ParameterType, RangeParameter
    from ax.core.search_space import SearchSpace

    space = SearchSpace(
        [
            RangeParameter("hidden_size_1", ParameterType.INT, 16, 128, log_scale=True),
            RangeParameter("hidden_size_2", ParameterType.INT, 16, 128, log_scale=True),
            RangeParameter(
                "learning_rate", ParameterType.FLOAT, 1e-4, 1e-2, log_scale=True
            ),
        ]
    )
    acc, size = Metric("val_acc"), Metric("num_params", lower_is_better=True)
    objective = Objective(
        expression="val_acc, -num_params",
        metric_name_to_signature={
            "val_acc": acc.signature,
            "num_params": size.signature,
        },
    )
    return Experiment(
        search_space=space,
        metrics=[acc, size],
        name="known_calls",
        optimization_config=MultiObjectiveOptimizationConfig(objective=objective),
    )


def _demo_experiment():
    if str(HERE) not in sys.path:  # imported rather than run as a script
        sys.path.insert(0, str(HERE))
    from demo_known_params import demo_experiment

    return demo_experiment()[0]


def _analytic_mean() -> None:
    """Replace the interpolated estimate by ``num_params`` as a smooth function.

    The model's inputs hold the widths as log10 values (Ax's ``Log``
    transform); the count is written in torch, so it has an exact gradient
    and no kinks. Only for this diagnostic: it assumes the formula above.
    """
    from ax_nas_plugins.generation import _known

    def smooth(self, X):
        i, j = (self.decoder.names.index(n) for n in ("hidden_size_1", "hidden_size_2"))
        h1, h2 = 10 ** X[..., i], 10 ** X[..., j]
        CALLS.extend([(0, 0, 0.0)] * X[..., 0].numel())
        return 784 * h1 + h1 + h1 * h2 + h2 + h2 * 10 + 10

    _known.KnownValues.__call__ = smooth


def _run(known: bool, sobol: int, steps: int, space: str) -> list[dict]:
    """One run; a row per model-based suggestion."""
    import pandas as pd
    import torch
    from ax.core.data import Data

    import ax_nas_plugins as anp

    # the acquisition's random restarts draw from torch's global generator
    torch.manual_seed(0)
    exp = _demo_experiment() if space == "demo" else _experiment()
    options: dict = {"experiment": exp, "seed": 0, "num_initial_trials": sobol}
    if known:
        options["known_metrics"] = {"num_params": num_params}
    gs = anp.generation_strategy("gp_moo", **options)
    rng = np.random.default_rng(0)
    rows = []
    for i in range(sobol + steps):
        n0, t, c = len(CALLS), time.perf_counter(), time.process_time()
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            gr = gs.gen_single_trial(experiment=exp, n=1)
        seconds, cpu = time.perf_counter() - t, time.process_time() - c
        restarts = sum("Trying again" in str(w.message) for w in caught)
        calls = CALLS[n0:]
        trial = exp.new_trial(generator_run=gr)
        trial.mark_running(no_runner_required=True)
        p = trial.arm.parameters
        acc = (
            0.9
            - 0.1 * abs(np.log(p["learning_rate"] / 1e-3))
            + 0.01 * np.log(p["hidden_size_1"])
            + rng.normal(0, 0.01)
        )
        values = {"val_acc": float(acc), "num_params": float(num_params(p))}
        df = pd.DataFrame({"metric_name": list(values), "mean": list(values.values())})
        df = df.assign(
            trial_index=trial.index,
            arm_name=trial.arm.name,
            metric_signature=df["metric_name"],
            sem=0.0,
        )
        exp.attach_data(Data(df=df))
        trial.mark_completed()
        if i < sobol:
            continue
        row = {
            "known_metrics": known,
            "suggestion": i + 1,
            "calls": len(calls),
            "distinct_points": len(set(calls)),
            "distinct_widths": len({c[:2] for c in calls}),
            "restarts": restarts,
            "seconds": round(seconds, 1),
            "cpu_seconds": round(cpu, 1),
        }
        rows.append(row)
        print(row, flush=True)
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--sobol", type=int, default=8)
    ap.add_argument("--steps", type=int, default=4)
    ap.add_argument("--space", choices=("docs", "demo"), default="docs")
    ap.add_argument(
        "--mean", choices=("interpolated", "analytic"), default="interpolated"
    )
    ap.add_argument("--note", default="", help="a sentence on the machine's load")
    ap.add_argument("--out", type=Path, default=RESULTS / "known_metrics_calls")
    args = ap.parse_args()
    if args.mean == "analytic":
        _analytic_mean()
    rows = _run(True, args.sobol, args.steps, args.space) + _run(
        False, args.sobol, args.steps, args.space
    )
    header = (
        "| `known_metrics` | suggestion | estimator calls | distinct points "
        "| distinct width pairs | restarts | wall s | CPU s |"
    )
    space = (
        "The NAS demo's six parameters (`config/demo.yaml`)"
        if args.space == "demo"
        else "Space of the docs' example"
    )
    mean = (
        " The estimate is the analytic, differentiable count (`--mean analytic`, "
        "a diagnostic): calls are the points the mean was evaluated at."
        if args.mean == "analytic"
        else ""
    )
    lines = [
        "# `known_metrics`: estimator calls and cost per `gp_moo` suggestion",
        "",
        f"{space}; {args.sobol} Sobol trials first, seed 0; "
        "the same made-up val_acc for both runs. Restarts: BoTorch's "
        "'Optimization failed ... Trying again with a new set of initial "
        f"conditions' warnings.{mean} Machine: "
        f"{platform.machine()}, {platform.system()}, 2 CPU cores{args.note}. "
        f"Measured {time.strftime('%Y-%m-%dT%H:%MZ', time.gmtime())}.",
        "",
        header,
        "| --- | --- | --- | --- | --- | --- | --- | --- |",
        *(
            f"| {'yes' if r['known_metrics'] else 'no'} | {r['suggestion']} | "
            f"{r['calls'] if r['known_metrics'] else '-'} | "
            f"{r['distinct_points'] if r['known_metrics'] else '-'} | "
            f"{r['distinct_widths'] if r['known_metrics'] else '-'} | "
            f"{r['restarts']} | {r['seconds']} | {r['cpu_seconds']} |"
            for r in rows
        ),
    ]
    args.out.with_suffix(".md").write_text("\n".join(lines) + "\n")
    args.out.with_suffix(".json").write_text(json.dumps(rows, indent=1) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
