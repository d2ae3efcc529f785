"""The SAAS presets: one module, two defaults, the masked likelihood, no side effects.

Real BoTorch/NumPyro objects throughout; the missing-extra tests hide jax or
numpyro in a fresh interpreter (``sys.modules[name] = None``), which is how
Python reports a package that is not installed; only the NUTS fit needs them.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

import ax_nas_plugins as anp

pytest.importorskip("numpyro", reason="the saasbo extra is not installed")

HIDE = "import sys; sys.modules[{name!r}] = None\n"


@pytest.mark.parametrize("hidden", ["jax", "numpyro"])
def test_missing_extra_breaks_only_the_nuts_preset_with_the_install_hint(py, hidden):
    code = HIDE.format(name=hidden) + (
        "import json\n"
        "from ax_nas_plugins import registry\n"
        "res = registry.check('generation_strategy')\n"
        "print(json.dumps({n: e for (k, n), e in res.items()}))\n"
    )
    out = py(code)
    assert out.returncode == 0, out.stderr[-2000:]
    result = json.loads(out.stdout.strip().splitlines()[-1])
    assert result["saasbo"] is not None, f"saasbo reported ok without {hidden}"
    assert f"needs {hidden}" in result["saasbo"]
    assert "pip install 'ax-nas-plugins[saasbo]'" in result["saasbo"]
    # the MAP fit is plain BoTorch: saasbo_fast loads without the extra
    assert result["saasbo_fast"] is None, result["saasbo_fast"]
    assert (
        result["gp_moo"] is None and result["sobol"] is None and result["auto"] is None
    )


TESTS_DIR = str(Path(__file__).parent)


def test_map_saas_and_auto_run_without_jax_and_numpyro(py):
    """saasbo_fast (a MAP fit) and auto's SAAS choice fit real models, extra hidden."""
    code = (
        HIDE.format(name="jax")
        + HIDE.format(name="numpyro")
        + f"sys.path.insert(0, {TESTS_DIR!r})\n"
        + "import ax_nas_plugins as anp\n"
        "from ax.core.parameter import ParameterType, RangeParameter\n"
        "from ax.core.search_space import SearchSpace\n"
        "from test_generation_presets import make_experiment, nas_space, step\n"
        "exp = make_experiment(nas_space(), objectives=('acc', 'size'))\n"
        "gs = anp.generation_strategy('saasbo_fast', experiment=exp,"
        " num_initial_trials=3, seed=0)\n"
        "keys = [step(exp, gs)[1]._generator_key for _ in range(4)]\n"
        "print('FAST', keys)\n"
        "space = SearchSpace([RangeParameter(f'x{i}', ParameterType.FLOAT, 0, 1)"
        " for i in range(25)])\n"
        "big = make_experiment(space, objectives=('acc', 'size'), name='big')\n"
        "gs = anp.generation_strategy('auto', experiment=big, budget=40,"
        " num_initial_trials=3, seed=0)\n"
        "keys = [step(big, gs)[1]._generator_key for _ in range(4)]\n"
        "print('AUTO', gs.name, keys)\n"
        "try:\n"
        "    anp.generation_strategy('saasbo_fast', experiment=exp, fit='nuts')\n"
        "except ImportError as e:\n"
        "    print('REFUSED', type(e).__name__, e)\n"
        "print('JAX', sys.modules.get('jax'), sys.modules.get('numpyro'))\n"
    )
    out = py(code)
    assert out.returncode == 0, out.stderr[-3000:]
    lines = {ln.split(" ", 1)[0]: ln for ln in out.stdout.splitlines()}
    assert lines["FAST"].endswith("'anp:saasbo_fast']"), out.stdout
    assert "auto:saasbo_fast" in lines["AUTO"], out.stdout
    assert lines["AUTO"].endswith("'anp:saasbo_fast']"), out.stdout
    assert (
        "REFUSED MissingExtraError saasbo_fast with fit='nuts' needs jax"
        in (lines["REFUSED"])
    ), out.stdout
    assert "pip install 'ax-nas-plugins[saasbo]'" in lines["REFUSED"]
    assert lines["JAX"] == "JAX None None", out.stdout  # still hidden, never used


def test_both_presets_are_one_factory_with_their_own_defaults():
    import inspect

    from ax_nas_plugins.generation import saasbo as module

    full = inspect.signature(anp.registry.load("generation_strategy", "saasbo"))
    fast = inspect.signature(anp.registry.load("generation_strategy", "saasbo_fast"))
    assert full.parameters["warmup_steps"].default == 512
    assert fast.parameters["warmup_steps"].default == 128
    assert list(full.parameters) == list(fast.parameters)
    assert "jit_compile" not in full.parameters  # never honoured: removed
    assert "torch_threads" not in full.parameters  # process-wide: removed
    for name, defaults in module.DEFAULTS.items():
        gs = anp.generation_strategy(name, seed=1)
        (spec,) = list(gs.nodes_by_name.values())[-1].generator_specs
        (config,) = spec.generator_kwargs["surrogate_spec"].model_configs
        assert gs.name == name and spec.generator_key == f"anp:{name}"
        if defaults["fit"] == "nuts":
            for key in ("warmup_steps", "num_samples", "thinning", "max_tree_depth"):
                assert config.mll_options[key] == defaults[key]
        cap = spec.generator_kwargs.get("acquisition_options")
        assert cap == (
            None if name == "saasbo" else {"acqf_maxiter": 100, "acqf_restarts": 10}
        )
    # saasbo_fast: the additive MAP fit and the acquisition's L-BFGS capped at
    # 100 iterations and 10 restarts (docs/generation_benchmarks.md); saasbo: full NUTS,
    # BoTorch's optimiser as is
    assert (module.DEFAULTS["saasbo_fast"]["fit"], fast.parameters["fit"].default) == (
        "additive",
        "additive",
    )
    assert fast.parameters["acqf_maxiter"].default == 100
    assert full.parameters["acqf_maxiter"].default is None
    assert fast.parameters["acqf_restarts"].default == 10
    assert full.parameters["acqf_restarts"].default is None
    with pytest.raises(anp.PluginOptionError, match="jit_compile"):
        anp.generation_strategy("saasbo", jit_compile=True)
    with pytest.raises(ValueError, match="fit must be one of 'nuts', 'map', 'add"):
        anp.generation_strategy("saasbo_fast", fit="laplace")
    with pytest.raises(ValueError, match="warmup_steps only apply to fit='nuts'"):
        anp.generation_strategy("saasbo_fast", warmup_steps=64)  # default: additive
    with pytest.raises(ValueError, match=r"thinning only apply.*fit='additive'"):
        anp.generation_strategy("saasbo", fit="additive", thinning=4)
    anp.generation_strategy("saasbo_fast", fit="nuts", warmup_steps=64)


def test_building_presets_leaves_torch_threads_alone():
    import torch

    before = torch.get_num_threads()
    for name in ("gp_moo", "saasbo", "saasbo_fast", "sobol"):
        anp.generation_strategy(name)
    assert torch.get_num_threads() == before


def _log_densities(n: int, known_noise: bool) -> tuple[float, float]:
    """Log density of BoTorch's SAAS model and of the padded one at one point."""
    import jax
    import jax.numpy as jnp
    import torch
    from botorch.models.fully_bayesian import SaasPyroModel
    from numpyro.infer.util import log_density

    from ax_nas_plugins.generation import _saas

    g = torch.Generator().manual_seed(n)
    X = torch.rand(n, 4, generator=g, dtype=torch.double)
    Y = torch.randn(n, 1, generator=g, dtype=torch.double)
    Yvar = torch.full_like(Y, 0.05) if known_noise else None
    pm = SaasPyroModel()
    pm.set_inputs(X, Y, Yvar)
    key = jax.random.PRNGKey(n)
    params = {
        "outputscale": jnp.asarray(1.7),
        "mean": jnp.asarray(0.3),
        "kernel_tausq": jnp.asarray(0.2),
        "_kernel_inv_length_sq": jax.random.uniform(key, (4,), minval=0.1, maxval=3),
    }
    if not known_noise:
        params["noise"] = jnp.asarray(0.07)
    reference, _ = log_density(pm.sample, (), {}, params)
    data = _saas._pad(pm)
    model = (
        _saas._saas_model_known_noise
        if known_noise
        else _saas._saas_model_inferred_noise
    )
    padded, _ = log_density(model, data.args, {}, params)
    rows = data.args[0].shape[0]
    # each padded row is a standard normal observed at 0
    return float(reference), float(padded) + (rows - n) * 0.5 * math.log(2 * math.pi)


@pytest.mark.parametrize("n,known_noise", [(5, False), (16, False), (21, True)])
def test_padded_likelihood_equals_botorchs_on_the_real_rows(n, known_noise):
    reference, padded = _log_densities(n, known_noise)
    assert padded == pytest.approx(reference, rel=1e-5)  # JAX runs in float32


@pytest.mark.parametrize(
    "fit,model", [(None, "NasAdditiveMapSaasGP"), ("map", "NasMapSaasGP")]
)
def test_map_fits_run_their_map_saas_model_on_a_nas_space(fit, model):
    from test_generation_presets import key, make_experiment, nas_space, step

    exp = make_experiment(nas_space(), objectives=("acc", "size"))
    options = {} if fit is None else {"fit": fit}  # None: the default, additive
    gs = anp.generation_strategy(
        "saasbo_fast", experiment=exp, num_initial_trials=4, seed=0, **options
    )
    seen = set()
    for i in range(5):
        trial, gr = step(exp, gs)
        assert gr._generator_key == ("Sobol" if i < 4 else "anp:saasbo_fast")
        assert key(trial.arm.parameters) not in seen
        seen.add(key(trial.arm.parameters))
    # the ensemble: a model list, one per outcome; the additive GP: one
    # multi-output GP (a batch over the outcomes)
    fitted = gs.adapter.generator.surrogate.model
    models = getattr(fitted, "models", [fitted])
    assert all(type(m).__name__ == model for m in models)
    assert all(type(m.input_transform).__name__ == "CategoricalOneHot" for m in models)
    if model == "NasAdditiveMapSaasGP":  # one GP per outcome: four SAAS kernels
        kernels = models[0].covar_module.kernels
        assert len(kernels) == 4
        for k in kernels:
            priors = [name for name, *_ in k.base_kernel.named_priors()]
            assert priors == ["inv_lengthscale_prior"]


def test_additive_fit_stops_lbfgs_at_its_cap_and_a_callers_maxiter_wins(monkeypatch):
    import botorch.optim.batched_lbfgs_b as lbfgs
    import torch
    from botorch.fit import fit_gpytorch_mll
    from botorch.test_functions.multi_objective import BraninCurrin
    from gpytorch.mlls import ExactMarginalLogLikelihood

    from ax_nas_plugins.generation._map_saas import NasAdditiveMapSaasGP

    runs = []  # (maxiter passed to L-BFGS, iterations of each outcome's run)
    real = lbfgs.fmin_l_bfgs_b_batched

    def spy(*args, **kwargs):
        xs, fs, results = real(*args, **kwargs)
        runs.append((kwargs.get("maxiter"), [r["nit"] for r in results]))
        return xs, fs, results

    monkeypatch.setattr(lbfgs, "fmin_l_bfgs_b_batched", spy)

    def fit(cap, **optimizer_kwargs):
        torch.manual_seed(0)
        X = torch.rand(20, 10, dtype=torch.double)  # 2 of 10 inputs active
        model = NasAdditiveMapSaasGP(X, BraninCurrin(negate=True)(X[:, :2]))
        model.fit_maxiter = cap
        mll = ExactMarginalLogLikelihood(model.likelihood, model)
        fit_gpytorch_mll(mll, optimizer_kwargs=optimizer_kwargs or None)
        assert not mll.training  # fitted: BoTorch leaves a failed fit in train mode
        return runs[-1]

    assert NasAdditiveMapSaasGP.fit_maxiter == 100
    maxiter, nits = fit(NasAdditiveMapSaasGP.fit_maxiter)
    assert maxiter == 100 and max(nits) <= 100
    # the same data uncapped take more iterations: the cap is what stopped them
    maxiter, nits = fit(None)
    assert maxiter is None and max(nits) > 100
    maxiter, nits = fit(100, options={"maxiter": 7})
    assert maxiter == 7 and max(nits) <= 7


def _continuous_experiment():
    """Six float inputs, two objectives of the first two (the rest inactive)."""
    from ax.core.parameter import ParameterType, RangeParameter
    from ax.core.search_space import SearchSpace
    from test_generation_presets import make_experiment

    space = SearchSpace(
        parameters=[
            RangeParameter(f"x{i}", ParameterType.FLOAT, lower=0.0, upper=1.0)
            for i in range(6)
        ]
    )
    return make_experiment(space, objectives=("acc", "size"))


def _complete_continuous(exp, trial):
    """Complete ``trial`` with two objectives of x0 and x1 only."""
    from test_generation_presets import complete

    p = trial.arm.parameters
    values = {"acc": 1.0 - (p["x0"] - 0.3) ** 2, "size": p["x0"] + p["x1"] ** 2}
    complete(exp, trial, values)


def _acquisition_lbfgs_runs(monkeypatch) -> list[tuple[int, int, int]]:
    """(maxiter, most iterations of a restart, restarts) of each acquisition run.

    BoTorch's ``gen_candidates_scipy`` calls the batched L-BFGS through its own
    module's name; the model fit calls it through ``batched_lbfgs_b``'s, so
    this spy sees the acquisition's runs only.
    """
    import botorch.generation.gen as gen

    runs: list[tuple[int, int]] = []
    real = gen.fmin_l_bfgs_b_batched

    def spy(*args, **kwargs):
        xs, fs, results = real(*args, **kwargs)
        runs.append(
            (kwargs.get("maxiter"), max(r["nit"] for r in results), len(results))
        )
        return xs, fs, results

    monkeypatch.setattr(gen, "fmin_l_bfgs_b_batched", spy)
    return runs


def test_acqf_maxiter_caps_the_acquisitions_lbfgs_and_is_stored(monkeypatch):
    import torch
    from test_generation_presets import nodes

    from ax_nas_plugins import storage
    from ax_nas_plugins.generation._acquisition import CappedLbfgsAcquisition

    runs = _acquisition_lbfgs_runs(monkeypatch)

    def model_step(gs, exp):
        for i in range(6):  # 5 Sobol points, then one model suggestion
            if i == 5:  # the acquisition's random starts: the same in both runs
                torch.manual_seed(0)
            gr = gs.gen_single_trial(experiment=exp, n=1)
            trial = exp.new_trial(generator_run=gr)
            trial.mark_running(no_runner_required=True)
            _complete_continuous(exp, trial)
        assert gr._generator_key == "anp:saasbo_fast"
        return runs[-1]

    options = {"fit": "additive", "num_initial_trials": 5, "seed": 0}
    exp = _continuous_experiment()
    uncapped = anp.generation_strategy(  # saasbo_fast's own cap and restarts off
        "saasbo_fast", experiment=exp, acqf_maxiter=None, acqf_restarts=None, **options
    )
    maxiter, nit, restarts = model_step(uncapped, exp)
    # BoTorch's default; the same suggestion runs past the cap when uncapped
    # (5 iterations here), from Ax's 20 restarts
    assert maxiter == 2000 and nit > 2 and restarts == 20
    spec = nodes(uncapped)[-1].generator_specs[0]
    assert "acquisition_class" not in spec.generator_kwargs  # Ax's own, untouched

    exp = _continuous_experiment()
    gs = anp.generation_strategy(
        "saasbo_fast", experiment=exp, acqf_maxiter=2, acqf_restarts=3, **options
    )
    maxiter, nit, restarts = model_step(gs, exp)
    assert maxiter == 2 and nit <= 2 and restarts == 3
    # a strategy saved and loaded keeps the cap (a resumed run is the same run)
    bundle = anp.registry_bundle()
    loaded = storage.from_json(storage.to_json(gs, bundle), bundle)
    kwargs = nodes(loaded)[-1].generator_specs[0].generator_kwargs
    assert kwargs["acquisition_class"] is CappedLbfgsAcquisition
    assert kwargs["acquisition_options"] == {"acqf_maxiter": 2, "acqf_restarts": 3}
    loaded.experiment = exp
    before = len(runs)
    gr = loaded.gen_single_trial(experiment=exp, n=1)
    assert gr._generator_key == "anp:saasbo_fast"
    assert len(runs) > before and runs[-1][0] == 2 and runs[-1][2] == 3


def test_acqf_maxiter_leaves_discrete_and_mixed_optimisers_alone(monkeypatch):
    import ax.generators.torch.botorch_modular.acquisition as ax_acquisition
    from test_generation_presets import make_experiment, nas_space, step

    calls = []  # (optimizer Ax picked, the options it was handed)
    real = ax_acquisition.optimizer_argparse

    def spy(acqf, optimizer_options=None, optimizer="optimize_acqf"):
        calls.append((optimizer, optimizer_options))
        return real(acqf, optimizer_options=optimizer_options, optimizer=optimizer)

    monkeypatch.setattr(ax_acquisition, "optimizer_argparse", spy)
    exp = make_experiment(nas_space(), objectives=("acc", "size"))
    gs = anp.generation_strategy(
        "saasbo_fast",
        experiment=exp,
        fit="additive",
        acqf_maxiter=3,
        acqf_restarts=2,
        num_initial_trials=4,
        seed=0,
    )
    for _ in range(5):
        _, gr = step(exp, gs)
    assert gr._generator_key == "anp:saasbo_fast"
    assert calls, "the acquisition was never optimised"
    for optimizer, options in calls:
        assert optimizer != "optimize_acqf"  # a mixed space
        assert "maxiter" not in ((options or {}).get("options") or {})
        assert "num_restarts" not in (options or {})


@pytest.mark.parametrize("option", ["acqf_maxiter", "acqf_restarts"])
@pytest.mark.parametrize("bad", [0, -5, 2.5, "50", True])
def test_acqf_maxiter_and_restarts_must_be_positive_integers_or_none(option, bad):
    from ax_nas_plugins.generation._common import PresetError

    with pytest.raises(PresetError) as err:
        anp.generation_strategy("saasbo_fast", **{option: bad})
    assert f"{option} must be a positive integer or None" in str(err.value)
    assert repr(bad) in str(err.value)


def test_a_callers_acquisition_maxiter_wins_over_the_cap():
    from ax_nas_plugins.generation._acquisition import _with_caps

    assert _with_caps("optimize_acqf", None, 50) == {"options": {"maxiter": 50}}
    given = {"num_restarts": 4, "options": {"maxiter": 7, "batch_limit": 2}}
    assert _with_caps("optimize_acqf", given, 50) == given
    assert given == {"num_restarts": 4, "options": {"maxiter": 7, "batch_limit": 2}}
    assert _with_caps("optimize_acqf", {"options": {"batch_limit": 2}}, 50) == {
        "options": {"maxiter": 50, "batch_limit": 2}
    }
    for other in ("optimize_acqf_mixed_alternating", "optimize_acqf_discrete"):
        assert _with_caps(other, given, 50) is given
        assert _with_caps(other, given, None, 10) is given


def test_acqf_restarts_sets_num_restarts_unless_the_caller_did():
    from ax_nas_plugins.generation._acquisition import _with_caps

    assert _with_caps("optimize_acqf", None, None, 10) == {"num_restarts": 10}
    assert _with_caps("optimize_acqf", None, 50, 10) == {
        "options": {"maxiter": 50},
        "num_restarts": 10,
    }
    given = {"num_restarts": 4, "raw_samples": 64}
    assert _with_caps("optimize_acqf", given, None, 10) == given
    assert given == {"num_restarts": 4, "raw_samples": 64}  # not changed in place


def test_one_hot_models_drop_the_categorical_list_and_saas_refuses_fidelity():
    import torch
    from botorch.utils.datasets import SupervisedDataset

    from ax_nas_plugins.generation._map_saas import NasMapSaasGP
    from ax_nas_plugins.generation._onehot import OneHotSingleTaskGP

    X = torch.rand(6, 3, dtype=torch.double)
    data = SupervisedDataset(
        X, X.sum(-1, keepdim=True), feature_names=["a", "b", "c"], outcome_names=["y"]
    )
    for cls in (OneHotSingleTaskGP, NasMapSaasGP):
        inputs = cls.construct_inputs(data, categorical_features=[0])
        assert "categorical_features" not in inputs
        assert torch.equal(inputs["train_X"], X)
        cls(**inputs)  # the base class accepts what is left
    # an empty fidelity list is no fidelity parameter
    assert "fidelity_features" not in NasMapSaasGP.construct_inputs(
        data, categorical_features=[0], fidelity_features=[]
    )
    with pytest.raises(ValueError, match="do not support fidelity parameters"):
        NasMapSaasGP.construct_inputs(data, fidelity_features=[2])


@pytest.mark.slow
def test_nuts_fit_changes_no_jax_setting_unless_asked_and_drops_retired_options(
    py, tmp_path
):
    code = (
        "import json, torch, warnings; warnings.filterwarnings('ignore')\n"
        "import jax\n"
        "from ax.generators.torch.botorch_modular.utils import fit_botorch_model\n"
        "from ax_nas_plugins.generation._saas import NasSaasGP\n"
        "X = torch.rand(6, 3, dtype=torch.double); Y = X.sum(-1, keepdim=True)\n"
        "m = NasSaasGP(X, (Y - Y.mean()) / Y.std())\n"
        "opts = dict(warmup_steps=8, num_samples=8, thinning=2, progress=False,\n"
        "            jit_compile=False, disable_progbar=True)  # as stored by 0.1\n"
        "fit_botorch_model(m, mll_class=None, mll_options=opts)\n"
        "before = jax.config.jax_compilation_cache_dir\n"
        "fit_botorch_model(m, mll_class=None, mll_options={**opts, "
        f"'jax_cache_dir': {str(tmp_path / 'cache')!r}}})\n"
        "print(json.dumps([m.num_mcmc_samples, before,"
        " jax.config.jax_compilation_cache_dir]))\n"
    )
    out = py(code, env={"AX_NAS_PROGRESS": "0"})
    assert out.returncode == 0, out.stderr[-3000:]
    samples, before, after = json.loads(out.stdout.strip().splitlines()[-1])
    assert samples == 4
    assert before is None  # a fit without jax_cache_dir leaves JAX's config alone
    assert after == str(tmp_path / "cache")
    assert "machine type" not in out.stderr  # cache loads are quiet during a fit


def _blas_threads() -> list[int]:
    from threadpoolctl import threadpool_info

    return [i["num_threads"] for i in threadpool_info() if i["user_api"] == "blas"]


def test_blas_cap_holds_only_inside_the_block_and_none_changes_nothing():
    from threadpoolctl import threadpool_limits

    from ax_nas_plugins.generation._saas import blas_threads_limited

    with threadpool_limits(limits=3, user_api="blas"):  # a known, non-default start
        assert set(_blas_threads()) == {3}
        with blas_threads_limited(1):
            assert set(_blas_threads()) == {1}
        assert set(_blas_threads()) == {3}
        with blas_threads_limited(None):
            assert set(_blas_threads()) == {3}


@pytest.mark.slow
def test_nuts_fit_runs_with_one_blas_thread_by_default_and_restores_the_count(py):
    code = (
        "import json, torch, warnings; warnings.filterwarnings('ignore')\n"
        "from threadpoolctl import threadpool_info, threadpool_limits\n"
        "from ax.generators.torch.botorch_modular.utils import fit_botorch_model\n"
        "from ax_nas_plugins.generation import _saas\n"
        "def blas():\n"
        "    return sorted({i['num_threads'] for i in threadpool_info()\n"
        "                   if i['user_api'] == 'blas'})\n"
        "seen = []\n"
        "inner = _saas._sample_posterior\n"
        "def spy(*a, **k):\n"
        "    seen.append(blas())\n"
        "    return inner(*a, **k)\n"
        "_saas._sample_posterior = spy\n"
        "X = torch.rand(6, 3, dtype=torch.double); Y = X.sum(-1, keepdim=True)\n"
        "m = _saas.NasSaasGP(X, (Y - Y.mean()) / Y.std())\n"
        "opts = dict(warmup_steps=8, num_samples=8, thinning=2, progress=False)\n"
        "threadpool_limits(limits=3, user_api='blas')\n"
        "fit_botorch_model(m, mll_class=None, mll_options=opts)\n"
        "after = blas()\n"
        "fit_botorch_model(m, mll_class=None, mll_options={**opts,"
        " 'blas_threads': None})\n"
        "print(json.dumps([seen, after, m.num_mcmc_samples]))\n"
    )
    out = py(code, env={"AX_NAS_PROGRESS": "0"})
    assert out.returncode == 0, out.stderr[-3000:]
    seen, after, samples = json.loads(out.stdout.strip().splitlines()[-1])
    assert seen == [[1], [3]]  # capped by default; blas_threads=None leaves it
    assert after == [3]  # the count the process had is back after the fit
    assert samples == 4


def _nuts_mll_options(**options):
    gs = anp.generation_strategy("saasbo", seed=1, **options)
    (spec,) = list(gs.nodes_by_name.values())[-1].generator_specs
    (config,) = spec.generator_kwargs["surrogate_spec"].model_configs
    return config.mll_options


def test_blas_threads_reaches_the_fit_none_included_and_bad_values_are_named():
    assert _nuts_mll_options()["blas_threads"] == 1
    assert _nuts_mll_options(blas_threads=2)["blas_threads"] == 2
    assert _nuts_mll_options(blas_threads=None)["blas_threads"] is None  # kept
    for bad in (0, "2", True):
        with pytest.raises(ValueError, match="blas_threads must be a positive"):
            anp.generation_strategy("saasbo", blas_threads=bad)
    with pytest.raises(ValueError, match="blas_threads only apply to fit='nuts'"):
        anp.generation_strategy("saasbo_fast", blas_threads=2)  # default: additive
