"""The BO presets (gp_moo, saasbo, saasbo_fast, auto) on real Ax experiments.

SAAS fits run with a few NUTS steps and are marked ``slow``; every other test
fits real GPs on tiny budgets.
"""

from __future__ import annotations

import json
import math

import pytest

import ax_nas_plugins as anp
from ax_nas_plugins.generation._common import PresetError


def nodes(gs):
    """The strategy's nodes in order (public API)."""
    return list(gs.nodes_by_name.values())


TINY_NUTS = {
    "fit": "nuts",
    "warmup_steps": 16,
    "num_samples": 16,
    "thinning": 4,
    "max_tree_depth": 4,
}


# ------------------------------------------------------------------ helpers
def _metrics(names):
    from ax.core.metric import Metric

    return {n: Metric(n, lower_is_better=n != "acc") for n in names}


def _optimization_config(metrics, objectives, constraint=None, thresholds=False):
    from ax.core.objective import MultiObjective, Objective
    from ax.core.optimization_config import (
        MultiObjectiveOptimizationConfig,
        OptimizationConfig,
    )
    from ax.core.outcome_constraint import ObjectiveThreshold, OutcomeConstraint
    from ax.core.types import ComparisonOp

    objs = [
        Objective(
            expression=name if not metrics[name].lower_is_better else f"-{name}",
            metric_name_to_signature={name: metrics[name].signature},
        )
        for name in objectives
    ]
    constraints = []
    if constraint is not None:
        constraints.append(
            OutcomeConstraint(
                metric=metrics[constraint],
                op=ComparisonOp.LEQ,
                bound=0.8,
                relative=False,
            )
        )
    if len(objs) == 1:
        return OptimizationConfig(objective=objs[0], outcome_constraints=constraints)
    ths = None
    if thresholds:
        ths = [
            ObjectiveThreshold(
                metric=metrics[n],
                bound=0.0 if metrics[n].lower_is_better is False else 2.0,
                op=ComparisonOp.GEQ
                if not metrics[n].lower_is_better
                else ComparisonOp.LEQ,
                relative=False,
            )
            for n in objectives
        ]
    return MultiObjectiveOptimizationConfig(
        objective=MultiObjective(objectives=objs),
        outcome_constraints=constraints,
        objective_thresholds=ths,
    )


def nas_space(with_constraint: bool = True):
    """Every kind of parameter NAS uses, and a parameter constraint."""
    from ax.core.parameter import (
        ChoiceParameter,
        FixedParameter,
        ParameterType,
        RangeParameter,
    )
    from ax.core.parameter_constraint import ParameterConstraint
    from ax.core.search_space import SearchSpace

    params = [
        ChoiceParameter(
            "op",
            ParameterType.STRING,
            values=["conv", "pool", "skip", "none"],
            is_ordered=False,
            sort_values=False,
        ),
        ChoiceParameter(
            "width",
            ParameterType.INT,
            values=[16, 32, 64, 128],
            is_ordered=True,
            sort_values=True,
        ),
        RangeParameter("depth", ParameterType.INT, lower=1, upper=6),
        RangeParameter("kernel", ParameterType.INT, lower=1, upper=7),
        RangeParameter(
            "channels", ParameterType.INT, lower=8, upper=512, log_scale=True
        ),
        RangeParameter(
            "lr", ParameterType.FLOAT, lower=1e-4, upper=1e-1, log_scale=True
        ),
        FixedParameter("optimizer", ParameterType.STRING, value="adam"),
    ]
    constraints = []
    if with_constraint:
        constraints.append(ParameterConstraint(inequality="depth + kernel <= 8"))
    return SearchSpace(parameters=params, parameter_constraints=constraints)


def discrete_space(a_values=("x", "y", "z")):
    """3 x 2 x 2 = 12 cells (2 x 2 x 2 = 8 with two values of a): easy to exhaust."""
    from ax.core.parameter import ChoiceParameter, ParameterType
    from ax.core.search_space import SearchSpace

    return SearchSpace(
        parameters=[
            ChoiceParameter(
                "a",
                ParameterType.STRING,
                values=list(a_values),
                is_ordered=False,
                sort_values=False,
            ),
            ChoiceParameter(
                "b", ParameterType.INT, values=[1, 2], is_ordered=True, sort_values=True
            ),
            ChoiceParameter(
                "c",
                ParameterType.STRING,
                values=["p", "q"],
                is_ordered=False,
                sort_values=False,
            ),
        ]
    )


def make_experiment(
    space, objectives=("acc", "size"), constraint=None, thresholds=False, name="presets"
):
    from ax.core.experiment import Experiment

    names = list(objectives) + ([constraint] if constraint else [])
    metrics = _metrics(names)
    oc = _optimization_config(metrics, list(objectives), constraint, thresholds)
    return Experiment(
        search_space=space,
        optimization_config=oc,
        metrics=list(metrics.values()),
        name=name,
    )


def toy_outcomes(params: dict) -> dict[str, float]:
    """Deterministic outcomes of a parameterization (accuracy up, size down)."""
    code = sum(
        (i + 1) * (hash(str(v)) % 97) for i, v in enumerate(sorted(params.items()))
    )
    base = (code % 1000) / 1000.0
    depth = float(params.get("depth", 2))
    return {
        "acc": 0.5 + 0.4 * math.sin(base * 6.0) * 0.5 + 0.02 * depth,
        "size": 1.0 + base + 0.1 * depth,
        "lat": base,
    }


def complete(exp, trial, values=None):
    """Attach ``values`` (default: :func:`toy_outcomes`) and complete ``trial``."""
    import pandas as pd
    from ax.core.data import Data

    if values is None:
        values = toy_outcomes(trial.arm.parameters)
    rows = [
        {
            "trial_index": trial.index,
            "arm_name": trial.arm.name,
            "metric_name": m,
            "metric_signature": m,
            "mean": values[m],
            "sem": 0.0,
        }
        for m in exp.metrics
    ]
    exp.attach_data(Data(df=pd.DataFrame(rows)))
    trial.mark_completed()


def step(exp, gs, *, finish: bool = True):
    gr = gs.gen_single_trial(experiment=exp, n=1)
    trial = exp.new_trial(generator_run=gr)
    trial.mark_running(no_runner_required=True)
    if finish:
        complete(exp, trial)
    return trial, gr


def key(params: dict) -> str:
    return json.dumps(params, sort_keys=True)


# ------------------------------------------------------------------ acquisition
@pytest.mark.parametrize(
    ("objectives", "expected"),
    [
        (("acc",), "qLogNoisyExpectedImprovement"),
        (("acc", "size"), "qLogNoisyExpectedHypervolumeImprovement"),
        (("acc", "size", "lat", "m4"), "qLogNoisyExpectedHypervolumeImprovement"),
        (("acc", "size", "lat", "m4", "m5"), "qLogNParEGO"),
    ],
)
def test_acquisition_follows_objective_count(objectives, expected):
    exp = make_experiment(discrete_space(), objectives=objectives)
    for preset in ("gp_moo", "saasbo", "saasbo_fast"):
        gs = anp.generation_strategy(preset, experiment=exp)
        bo = nodes(gs)[-1].generator_specs[0]
        assert bo.generator_kwargs["botorch_acqf_class"].__name__ == expected


def test_acquisition_that_does_not_fit_the_objectives_is_refused():
    exp = make_experiment(discrete_space(), objectives=("acc", "size"))
    with pytest.raises(PresetError, match="optimises one objective"):
        anp.generation_strategy("gp_moo", experiment=exp, acquisition="qLogNEI")
    single = make_experiment(discrete_space(), objectives=("acc",))
    with pytest.raises(PresetError, match="multi-objective"):
        anp.generation_strategy("saasbo", experiment=single, acquisition="qLogNEHVI")
    with pytest.raises(PresetError, match="needs the experiment"):
        anp.generation_strategy("gp_moo", acquisition="qLogNParEGO")
    with pytest.raises(PresetError, match="unknown; allowed"):
        anp.generation_strategy("gp_moo", experiment=exp, acquisition="EI")


def test_options_are_checked_with_the_field_named():
    with pytest.raises(PresetError, match="num_initial_trials must be a positive"):
        anp.generation_strategy("gp_moo", num_initial_trials=0)
    with pytest.raises(PresetError, match="max_parallelism"):
        anp.generation_strategy("saasbo_fast", max_parallelism=0)
    with pytest.raises(
        PresetError, match=r"thinning \(16\) is larger than num_samples"
    ):
        anp.generation_strategy("saasbo", num_samples=8, thinning=16)
    with pytest.raises(PresetError, match="categorical_encoding"):
        anp.generation_strategy("gp_moo", categorical_encoding="ordinal")
    with pytest.raises(PresetError, match="not a torch device"):
        anp.generation_strategy("gp_moo", device="tpu-ish")
    with pytest.raises(anp.PluginOptionError, match="warmup_stpes"):
        anp.generation_strategy("saasbo_fast", warmup_stpes=4)


def test_cuda_request_without_cuda_raises_instead_of_running_on_cpu():
    import torch

    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA; the refusal applies only without it")
    with pytest.raises(PresetError, match="no CUDA device"):
        anp.generation_strategy("saasbo_fast", device="cuda")


def test_saas_without_jax_raises_instead_of_degrading(py):
    code = (
        "import sys; sys.modules['numpyro'] = None\n"
        "import ax_nas_plugins as anp\n"
        "try:\n"
        "    anp.generation_strategy('saasbo')\n"
        "except ImportError as e:\n"
        "    print('REFUSED', type(e).__name__, e)\n"
    )
    out = py(code)
    assert "REFUSED PluginLoadError" in out.stdout, out.stderr
    assert "saasbo with fit='nuts' needs numpyro, which is not installed" in out.stdout
    assert "ax-nas-plugins[saasbo]" in out.stdout


# ------------------------------------------------------------------ spaces, dedup
def test_gp_moo_on_a_mixed_nas_space_honours_every_parameter_kind():
    exp = make_experiment(nas_space(), objectives=("acc", "size"), constraint="lat")
    gs = anp.generation_strategy("gp_moo", experiment=exp, num_initial_trials=3, seed=0)
    seen = set()
    generators = []
    for _ in range(5):
        trial, gr = step(exp, gs)
        p = trial.arm.parameters
        generators.append(gr._generator_key)
        assert p["op"] in {"conv", "pool", "skip", "none"}
        assert p["width"] in {16, 32, 64, 128}
        assert isinstance(p["depth"], int) and 1 <= p["depth"] <= 6
        assert isinstance(p["channels"], int) and 8 <= p["channels"] <= 512
        assert 1e-4 <= p["lr"] <= 1e-1
        assert p["optimizer"] == "adam"
        assert p["depth"] + p["kernel"] <= 8
        assert key(p) not in seen
        seen.add(key(p))
    assert generators[:3] == ["Sobol"] * 3
    assert generators[3:] == ["anp:gp_moo"] * 2


def test_gp_moo_exhausts_a_discrete_space_without_a_repeat_then_refuses():
    exp = make_experiment(discrete_space(("x", "y")), objectives=("acc", "size"))
    gs = anp.generation_strategy("gp_moo", experiment=exp, num_initial_trials=3, seed=1)
    seen = set()
    for _ in range(8):
        trial, gr = step(exp, gs)
        assert key(trial.arm.parameters) not in seen
        seen.add(key(trial.arm.parameters))
    assert len(seen) == 8
    assert gr._generator_key == "anp:gp_moo"
    with pytest.raises(Exception) as info:  # a 9th cell does not exist
        gs.gen_single_trial(experiment=exp, n=1)
    assert "Sobol" not in type(info.value).__name__
    assert len(exp.trials) == 8


def test_pending_architectures_are_not_proposed_again():
    exp = make_experiment(discrete_space(), objectives=("acc", "size"))
    gs = anp.generation_strategy("gp_moo", experiment=exp, num_initial_trials=4, seed=2)
    for _ in range(4):
        step(exp, gs)
    pending = []
    for _ in range(4):  # model trials left running, no data yet
        trial, gr = step(exp, gs, finish=False)
        assert gr._generator_key == "anp:gp_moo"
        pending.append(trial)
    keys = [key(t.arm.parameters) for t in exp.trials.values()]
    assert len(keys) == len(set(keys)) == 8


def test_one_hot_encoding_option_runs_and_is_discrete():
    exp = make_experiment(discrete_space(), objectives=("acc",))
    gs = anp.generation_strategy(
        "gp_moo", experiment=exp, num_initial_trials=3, categorical_encoding="onehot"
    )
    keys = set()
    for _ in range(6):
        trial, gr = step(exp, gs)
        keys.add(key(trial.arm.parameters))
    assert gr._generator_key == "anp:gp_moo" and len(keys) == 6
    adapter = gs.adapter
    model = adapter.generator.surrogate.model
    assert type(model.input_transform).__name__ == "CategoricalOneHot"


def test_no_silent_sobol_fallback_even_after_storage(tmp_path):
    from ax_nas_plugins import storage

    exp = make_experiment(discrete_space(), objectives=("acc", "size"), name="nofb")
    gs = anp.generation_strategy("gp_moo", experiment=exp)
    assert nodes(gs)[-1].fallback_specs == {}
    assert nodes(gs)[0].fallback_specs != {}  # Sobol keeps Ax's own table
    path = tmp_path / "exp.json"
    storage.save_experiment(exp, path, gs)
    _, loaded = storage.load_experiment(path)
    assert nodes(loaded)[-1].fallback_specs == {}


def test_ax_own_loader_with_db_settings_keeps_the_rule(tmp_path):
    """Ax's loader, given `anp.db_settings`, as `from_stored_experiment` uses it."""
    from ax.storage.sqa_store.load import _load_generation_strategy_by_experiment_name

    from ax_nas_plugins import storage

    exp = make_experiment(discrete_space(), objectives=("acc", "size"), name="axload")
    gs = anp.generation_strategy("gp_moo", experiment=exp)
    step(exp, gs)  # attaches the strategy to the experiment
    path = tmp_path / "exp.db"
    storage.save_experiment(exp, path, gs)
    db = anp.db_settings(str(path))
    loaded = _load_generation_strategy_by_experiment_name(
        "axload", decoder=db.decoder, experiment=exp
    )
    assert nodes(loaded)[-1].fallback_specs == {}
    assert nodes(loaded)[0].fallback_specs != {}


# ------------------------------------------------------------------ storage
RESUME = """
import json, sys, warnings
warnings.filterwarnings("ignore")
sys.path.insert(0, {tests!r})
from test_generation_presets import nodes, step
from ax_nas_plugins import storage
exp, gs = storage.load_experiment({path!r}, name="resume")
before = len(exp.trials)
trial, gr = step(exp, gs)
keys = [json.dumps(t.arm.parameters, sort_keys=True) for t in exp.trials.values()]
print(json.dumps({{"name": gs.name, "before": before, "gen": gr._generator_key,
                  "unique": len(set(keys)) == len(keys),
                  "fallback": len(nodes(gs)[-1].fallback_specs)}}))
"""


@pytest.mark.parametrize("suffix", [".json", ".db"])
def test_gp_moo_is_stored_and_a_fresh_process_continues_with_it(tmp_path, py, suffix):
    from pathlib import Path

    from ax_nas_plugins import storage

    exp = make_experiment(discrete_space(), objectives=("acc", "size"), name="resume")
    gs = anp.generation_strategy("gp_moo", experiment=exp, num_initial_trials=3, seed=3)
    for _ in range(4):
        step(exp, gs)
    path = str(tmp_path / f"exp{suffix}")
    storage.save_experiment(exp, path, gs)
    out = py(RESUME.format(tests=str(Path(__file__).parent), path=path))
    assert out.returncode == 0, out.stderr[-3000:]
    result = json.loads(out.stdout.strip().splitlines()[-1])
    assert result == {
        "name": "gp_moo",
        "before": 4,
        "gen": "anp:gp_moo",
        "unique": True,
        "fallback": 0,
    }


# ------------------------------------------------------------------ auto
def test_auto_picks_by_budget_dimension_and_types(caplog):
    from ax.core.parameter import ParameterType, RangeParameter
    from ax.core.search_space import SearchSpace

    from ax_nas_plugins.generation.auto import choose

    assert choose(discrete_space(), budget=5, num_initial_trials=8)[0] == "sobol"
    assert choose(discrete_space(), budget=20, num_initial_trials=8)[0] == "sobol"
    assert choose(nas_space(), budget=40, num_initial_trials=8)[0] == "gp_moo"
    wide = SearchSpace(
        [RangeParameter(f"x{i}", ParameterType.FLOAT, 0.0, 1.0) for i in range(25)]
    )
    assert choose(wide, budget=40, num_initial_trials=8)[0] == "saasbo_fast"
    assert choose(wide, budget=1000, num_initial_trials=8)[0] == "gp_moo"
    exp = make_experiment(nas_space())
    with caplog.at_level("INFO", logger="ax_nas_plugins.generation"):
        gs = anp.generation_strategy("auto", experiment=exp, budget=40)
    assert gs.name == "auto:gp_moo"
    assert "auto: chose gp_moo because" in caplog.text
    with pytest.raises(PresetError, match="needs the search space"):
        anp.generation_strategy("auto")


def _sobol_trials(gs) -> int:
    first = next(iter(gs.nodes_by_name.values()))
    return first.transition_criteria[0].threshold


def test_saas_initial_design_grows_with_the_dimension():
    """SAAS presets: one Sobol trial per 6 tunable parameters, at least 8."""
    from ax.core.parameter import FixedParameter, ParameterType, RangeParameter
    from ax.core.search_space import SearchSpace

    def space(d: int, fixed: int = 0) -> SearchSpace:
        params = [
            RangeParameter(f"x{i}", ParameterType.FLOAT, 0.0, 1.0) for i in range(d)
        ]
        fixed_params = [
            FixedParameter(f"f{i}", ParameterType.FLOAT, 0.5) for i in range(fixed)
        ]
        return SearchSpace(params + fixed_params)

    for d, fixed, expected in [(30, 0, 8), (53, 0, 8), (54, 0, 9), (100, 0, 16)]:
        exp = make_experiment(space(d, fixed))
        for preset in ("saasbo", "saasbo_fast"):
            gs = anp.generation_strategy(preset, experiment=exp, seed=0)
            assert _sobol_trials(gs) == expected, (preset, d)
        assert _sobol_trials(anp.generation_strategy("gp_moo", experiment=exp)) == 8
    # fixed parameters are not searched, so they do not count
    exp = make_experiment(space(60, fixed=60))
    assert _sobol_trials(anp.generation_strategy("saasbo_fast", experiment=exp)) == 10
    # given explicitly, or no search space known: as given / 8
    exp = make_experiment(space(100))
    gs = anp.generation_strategy("saasbo_fast", experiment=exp, num_initial_trials=5)
    assert _sobol_trials(gs) == 5
    opt = exp.optimization_config
    gs = anp.generation_strategy("saasbo_fast", optimization_config=opt)
    assert _sobol_trials(gs) == 8
    # auto passes the chosen preset's default on, and judges the budget by it
    gs = anp.generation_strategy("auto", experiment=exp, budget=40)
    assert gs.name == "auto:saasbo_fast" and _sobol_trials(gs) == 16
    gs = anp.generation_strategy("auto", experiment=exp, budget=16)
    assert gs.name == "auto:sobol"
    gs = anp.generation_strategy("auto", experiment=exp, budget=17)
    assert gs.name == "auto:saasbo_fast"
    with pytest.raises(PresetError, match="num_initial_trials must be a positive"):
        anp.generation_strategy("saasbo_fast", experiment=exp, num_initial_trials=0)


# ------------------------------------------------------------------ pieces
def test_categorical_one_hot_transform_scales_and_encodes():
    import torch

    from ax_nas_plugins.generation._onehot import CategoricalOneHot

    tf = CategoricalOneHot(
        d=2, bounds=torch.tensor([[0.0, 0.0], [4.0, 2.0]]), categorical_features={1: 3}
    )
    out = tf.transform(torch.tensor([[2.0, 1.0], [4.0, 2.0], [0.0, 0.0]]))
    expected = torch.tensor([[0.5, 0, 1, 0], [1.0, 0, 0, 1], [0.0, 1, 0, 0]])
    assert torch.equal(out, expected.to(out))
    assert tf.equals(CategoricalOneHot(2, torch.tensor([[0.0, 0], [4, 2]]), {1: 3}))
    with pytest.raises(ValueError, match="at least 2 values"):
        CategoricalOneHot(d=2, bounds=torch.zeros(2, 2), categorical_features={1: 1})


def test_progress_helper_is_silent_when_off_and_cleans_up_when_on():
    from rich.console import Console

    from ax_nas_plugins import progress

    with progress.progress_task("off", total=3, enabled=False) as advance:
        advance(1)
    assert progress._live is None
    with progress.progress_task("outer", total=2, enabled=True) as outer:
        with progress.progress_task("inner", total=None, enabled=True) as inner:
            inner(1)
            assert progress._open_tasks == 2
            assert isinstance(progress._live.console, Console)
        outer(2)
    assert progress._live is None and progress._open_tasks == 0


def test_progress_env_switch(monkeypatch):
    from ax_nas_plugins.progress import progress_enabled

    monkeypatch.setenv("AX_NAS_PROGRESS", "1")
    assert progress_enabled()
    monkeypatch.setenv("AX_NAS_PROGRESS", "0")
    assert not progress_enabled()


# ------------------------------------------------------------------ SAAS (slow)
@pytest.mark.slow
def test_saasbo_fast_runs_saas_on_a_mixed_space_and_warm_starts():
    from ax_nas_plugins.generation import _saas

    _saas._WARM.clear()
    exp = make_experiment(nas_space(), objectives=("acc", "size"))
    gs = anp.generation_strategy(
        "saasbo_fast",
        experiment=exp,
        num_initial_trials=4,
        seed=0,
        progress=False,
        **TINY_NUTS,
    )
    seen = set()
    for i in range(6):
        trial, gr = step(exp, gs)
        assert gr._generator_key == ("Sobol" if i < 4 else "anp:saasbo_fast")
        p = trial.arm.parameters
        assert p["depth"] + p["kernel"] <= 8 and p["optimizer"] == "adam"
        assert key(p) not in seen
        seen.add(key(p))
    models = gs.adapter.generator.surrogate.model.models
    assert all(type(m).__name__ == "NasSaasGP" for m in models)
    assert all(type(m.input_transform).__name__ == "CategoricalOneHot" for m in models)
    # "op" becomes 4 one-hot columns next to the 5 other tunable inputs
    assert models[0].pyro_model.train_X.shape[-1] == 9
    assert len(_saas._WARM) >= 2  # one memory per outcome, reused by the 2nd fit
    assert (
        models[0].num_mcmc_samples == TINY_NUTS["num_samples"] // TINY_NUTS["thinning"]
    )


@pytest.mark.slow
@pytest.mark.parametrize(
    "fit_options",
    [{**TINY_NUTS, "progress": False}, {}, {"fit": "map"}],
    ids=["nuts", "default-additive", "map"],
)
def test_saasbo_fast_is_stored_and_a_fresh_process_continues_with_it(
    tmp_path, py, fit_options
):
    from pathlib import Path

    from ax_nas_plugins import storage

    exp = make_experiment(discrete_space(), objectives=("acc", "size"), name="resume")
    gs = anp.generation_strategy(
        "saasbo_fast", experiment=exp, num_initial_trials=3, seed=4, **fit_options
    )
    for _ in range(4):
        step(exp, gs)
    path = str(tmp_path / "exp.db")
    storage.save_experiment(exp, path, gs)
    out = py(RESUME.format(tests=str(Path(__file__).parent), path=path))
    assert out.returncode == 0, out.stderr[-3000:]
    result = json.loads(out.stdout.strip().splitlines()[-1])
    assert result == {
        "name": "saasbo_fast",
        "before": 4,
        "gen": "anp:saasbo_fast",
        "unique": True,
        "fallback": 0,
    }


@pytest.mark.slow
def test_saas_fit_reports_through_the_progress_display(py):
    code = (
        "import torch, warnings; warnings.filterwarnings('ignore')\n"
        "from ax_nas_plugins.generation._saas import NasSaasGP, fit_nas_saas\n"
        "X = torch.rand(6, 3, dtype=torch.double); Y = X.sum(-1, keepdim=True)\n"
        "m = NasSaasGP(X, (Y - Y.mean()) / Y.std())\n"
        "fit_nas_saas(m, warmup_steps=8, num_samples=8, thinning=2)\n"
        "print('samples', m.num_mcmc_samples)\n"
    )
    # no JAX cache by default: each interpreter compiles NUTS (minutes under load)
    on = py(code, env={"AX_NAS_PROGRESS": "1", "COLUMNS": "120"}, timeout=900)
    assert on.returncode == 0, on.stderr[-2000:]
    assert "samples 4" in on.stdout
    assert "SAAS fit (6 points, 3 inputs): done 16/16" in on.stderr
    assert "SIGILL" not in on.stderr  # XLA's cache-load noise is silenced
    off = py(code, env={"AX_NAS_PROGRESS": "0"}, timeout=900)
    assert "SAAS fit" not in off.stderr and "sample:" not in off.stderr
