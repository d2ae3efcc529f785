"""The ``saasbo`` and ``saasbo_fast`` presets: one SAAS strategy, two sets of defaults.

The rule: ``num_initial_trials`` Sobol arms, then one GP per outcome under the
SAAS prior (sparse axis-aligned subspaces: a half-Cauchy prior on every
inverse squared lengthscale under a global shrinkage, so that only a few
inputs can matter), with the acquisition chosen by objective count (qLogNEI /
qLogNEHVI / qLogNParEGO) as in every preset of the pack. Unordered choices are
one-hot blocks inside the model (one relevance per value) while the optimiser
searches the discrete space and never re-proposes evaluated or pending
architectures. The SAAS model is fitted in one of two ways:

- ``fit="nuts"``: fully Bayesian, hyperparameters sampled by NUTS
  (``warmup_steps`` burn-in, ``num_samples`` draws, every ``thinning``-th kept)
  and the acquisition averaged over the kept GPs (:mod:`._saas`);
- ``fit="map"``: BoTorch's MAP-SAAS ensemble, four sparse GPs fitted by L-BFGS
  (:mod:`._map_saas`); seconds per fit, no MCMC;
- ``fit="additive"``: BoTorch's additive MAP-SAAS GP, one GP whose kernel is a
  sum of four sparse kernels fitted together by L-BFGS, capped at 100
  iterations (:mod:`._map_saas`); no MCMC.

``acqf_maxiter`` stops each restart of the acquisition's L-BFGS after that
many iterations on continuous spaces, and ``acqf_restarts`` sets how many
restarts there are (:mod:`._acquisition`; discrete and mixed spaces are left
as Ax sets them): with the additive fit at 100 inputs that optimisation, not
the fit, was most of a suggestion's time (measured at 35 and 50 points,
``docs/generation_benchmarks.md``).

``saasbo`` defaults to NUTS at BoTorch's settings (512 / 256 / 16, depth 6)
and BoTorch's acquisition optimiser as is. ``saasbo_fast`` defaults to the
additive fit with ``acqf_maxiter=100`` and ``acqf_restarts=10``: on
BraninCurrin in 100 inputs the additive fit with the cap found more of the
front than the MAP ensemble (``fit="map"``, its default before) after 30 and
50 evaluations at about the same cost per suggestion, and was level with it
at 30 inputs and on NAS-Bench-201; 10 restarts instead of Ax's 20 found as
much at about 40% less CPU per suggestion (measured in
``docs/generation_benchmarks.md``). With ``fit="nuts"`` it runs a short NUTS (128 / 64 /
8, depth 5, warm starts). NUTS options given with another fit are refused.
Both names are entry points and the names stored strategies carry; a stored
strategy keeps the model and options it was stored with.

Only the NUTS fit needs JAX and NumPyro (``pip install
'ax-nas-plugins[saasbo]'``); the MAP fits are plain BoTorch. So ``saasbo_fast``
(a MAP fit by default) works on a plain install, while building a strategy with
``fit="nuts"`` without the extra raises :class:`MissingExtraError` with the
hint, never degrading to Sobol or to another model. The ``saasbo`` entry point
(NUTS by default) is :mod:`.saasbo_nuts`, which needs the extra to import, so
``ax-nas plugins --check`` reports it broken with the hint.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from ax_nas_plugins.generation import _common as common

if TYPE_CHECKING:
    from ax.core.experiment import Experiment
    from ax.core.optimization_config import OptimizationConfig
    from ax.generation_strategy.generation_strategy import GenerationStrategy

EXTRA_HINT = "pip install 'ax-nas-plugins[saasbo]'"
FITS = ("nuts", "map", "additive")
NUTS_OPTIONS = (
    "warmup_steps",
    "num_samples",
    "thinning",
    "max_tree_depth",
    "warm_start",
    "jax_cache_dir",
    "blas_threads",
)


class MissingExtraError(ImportError):
    """An optional dependency group of the pack is not installed."""


def require_extra(preset: str = "saasbo") -> None:
    """Raise :class:`MissingExtraError` unless JAX and NumPyro (the NUTS fit) import."""
    missing = common.missing_modules("jax", "numpyro")
    if missing:
        raise MissingExtraError(
            f"{preset} with fit='nuts' needs {' and '.join(missing)}, "
            f"which {'is' if len(missing) == 1 else 'are'} not installed: "
            f"`{EXTRA_HINT}` (or fit='additive', the 'saasbo_fast' default, or "
            "fit='map', which need neither; or the 'gp_moo' preset).",
            name=missing[0],
        )


#: The two presets' defaults; every other option has the same default in both.
DEFAULTS: dict[str, dict[str, Any]] = {
    "saasbo": {
        "fit": "nuts",
        "warmup_steps": 512,
        "num_samples": 256,
        "thinning": 16,
        "max_tree_depth": 6,
        "warm_start": False,
        "acqf_maxiter": None,
        "acqf_restarts": None,
    },
    "saasbo_fast": {
        "fit": "additive",
        "warmup_steps": 128,
        "num_samples": 64,
        "thinning": 8,
        "max_tree_depth": 5,
        "warm_start": True,
        "acqf_maxiter": 100,
        "acqf_restarts": 10,
    },
}


def _saas(
    preset: str,
    *,
    experiment: Experiment | None = None,
    optimization_config: OptimizationConfig | None = None,
    num_initial_trials: int | None = None,
    max_parallelism: int | None = None,
    seed: int | None = None,
    acquisition: str | None = None,
    fit: str,
    warmup_steps: int,
    num_samples: int,
    thinning: int,
    max_tree_depth: int,
    warm_start: bool,
    progress: bool | None = None,
    jax_cache_dir: str | None = None,
    blas_threads: int | None = 1,
    device: str | None = None,
    log_objectives: str | Sequence[str] | None = None,
    acqf_maxiter: int | None = None,
    acqf_restarts: int | None = None,
) -> GenerationStrategy:
    """Sobol, then a SAAS GP per outcome, fitted by NUTS or MAP (module rule).

    Args:
        experiment: Used to read the optimization config (acquisition choice).
        optimization_config: Instead of ``experiment``.
        num_initial_trials: Sobol trials before the model (at least 1).
            ``None``: one per 6 tunable parameters of ``experiment``'s
            search space, at least 8 (8 without ``experiment``); see
            :func:`ax_nas_plugins.generation._common.initial_trials`.
        max_parallelism: Most trials generated while earlier ones run (None: no cap).
        seed: Seed of the Sobol sequence and of the NUTS chains.
        acquisition: Force ``"qLogNEI"``, ``"qLogNEHVI"`` or ``"qLogNParEGO"``.
        fit: ``"nuts"`` (fully Bayesian), ``"map"`` (MAP-SAAS ensemble) or
            ``"additive"`` (additive MAP-SAAS GP).
        warmup_steps: NUTS burn-in steps per fit (``fit="nuts"``).
        num_samples: NUTS draws per fit after burn-in.
        thinning: Keep every ``thinning``-th draw.
        max_tree_depth: Largest NUTS tree depth.
        warm_start: Start each NUTS fit at the previous fit's posterior median.
        progress: Force the progress display on/off (default: when stderr is a TTY).
        jax_cache_dir: Turn on JAX's persistent compilation cache in this folder
            (process-wide, for the rest of the process; see
            :func:`ax_nas_plugins.generation._saas.fit_nas_saas`). ``None``:
            JAX's configuration is left alone and each fit compiles NUTS.
        blas_threads: Most BLAS threads while a NUTS fit runs (``fit="nuts"``;
            restored after each fit). ``None``: BLAS is left alone. One
            thread keeps fits fast when other processes share the cores; see
            :func:`ax_nas_plugins.generation._saas.blas_threads_limited`.
        device: Torch device of the model and acquisition.
        log_objectives: ``None`` (default: no log transform), ``"auto"`` (model
            each minimised, all-positive objective of a multi-objective search
            as ``log(value)``; see ``gp_moo``) or a list of metric names.
        acqf_maxiter: Stop each restart of the acquisition's L-BFGS after
            this many iterations when the search space is continuous
            (``None``: BoTorch's 2000; discrete and mixed spaces are never
            changed; see :mod:`ax_nas_plugins.generation._acquisition`). With
            the additive fit at 100 inputs it was most of a suggestion's time.
            Defaults: ``saasbo_fast`` 100, ``saasbo`` ``None``.
        acqf_restarts: Number of L-BFGS restarts of that optimisation on
            continuous spaces (``None``: Ax's 20; picked from Ax's 1024 raw
            samples either way; discrete and mixed spaces are never changed).
            Defaults: ``saasbo_fast`` 10, ``saasbo`` ``None``.
    """
    if fit not in FITS:
        raise common.PresetError(
            f"{preset}: fit must be one of {', '.join(map(repr, FITS))}, got {fit!r}."
        )
    if fit == "nuts":
        require_extra(preset)
    common.check_positive_int(
        preset, "num_initial_trials", num_initial_trials, allow_none=True
    )
    if num_initial_trials is None:
        num_initial_trials = common.initial_trials(
            preset, common.search_space_of(experiment, None)
        )
    common.check_positive_int(
        preset, "max_parallelism", max_parallelism, allow_none=True
    )
    common.check_seed(preset, seed)
    nuts = {
        "warmup_steps": warmup_steps,
        "num_samples": num_samples,
        "thinning": thinning,
        "max_tree_depth": max_tree_depth,
    }
    for field, value in nuts.items():
        common.check_positive_int(preset, field, value)
    if thinning > num_samples:
        raise common.PresetError(
            f"{preset}: thinning ({thinning}) is larger than num_samples "
            f"({num_samples}); no posterior sample would be kept."
        )
    common.check_positive_int(preset, "blas_threads", blas_threads, allow_none=True)
    common.check_positive_int(preset, "acqf_maxiter", acqf_maxiter, allow_none=True)
    common.check_positive_int(preset, "acqf_restarts", acqf_restarts, allow_none=True)
    if jax_cache_dir is not None and not isinstance(jax_cache_dir, str):
        raise common.PresetError(
            f"{preset}: jax_cache_dir must be a folder path or None, "
            f"got {jax_cache_dir!r}."
        )
    dev = common.resolve_device(preset, device)
    opt = common.optimization_config_of(experiment, optimization_config)
    acqf = common.acquisition_class(preset, opt, acquisition)
    log_config = common.log_objectives_config(preset, log_objectives, opt)
    model_config = _model_config(
        preset,
        fit,
        {
            **nuts,
            "warm_start": warm_start,
            "progress": progress,
            "jax_cache_dir": jax_cache_dir,
            "blas_threads": blas_threads,
            "seed": seed if seed is not None else 0,
            "warm_start_key": f"{preset}:{seed}",
        },
    )
    nodes = [
        common.sobol_step(num_initial_trials, seed, max_parallelism),
        common.bo_step(
            preset,
            model_config,
            acqf,
            max_parallelism,
            dev,
            log_config,
            acqf_maxiter=acqf_maxiter,
            acqf_restarts=acqf_restarts,
        ),
    ]
    return common.make_strategy(preset, nodes)


def _model_config(preset: str, fit: str, nuts_options: dict[str, Any]) -> Any:
    from ax.generators.torch.botorch_modular.utils import ModelConfig

    from ax_nas_plugins.generation._onehot import CategoricalOneHot

    if fit in ("map", "additive"):
        from ax_nas_plugins.generation._map_saas import (
            NasAdditiveMapSaasGP,
            NasMapSaasGP,
        )

        additive = fit == "additive"
        return ModelConfig(
            botorch_model_class=NasAdditiveMapSaasGP if additive else NasMapSaasGP,
            input_transform_classes=[CategoricalOneHot],
            name=f"{'additive ' if additive else ''}MAP-SAAS ({preset})",
        )
    from ax_nas_plugins.generation._saas import NasSaasGP

    # None means "the fit's default" except for blas_threads, where it means
    # "leave BLAS alone" and so is passed on
    options = {
        k: v for k, v in nuts_options.items() if v is not None or k == "blas_threads"
    }
    options.setdefault("progress", None)
    return ModelConfig(
        botorch_model_class=NasSaasGP,
        input_transform_classes=[CategoricalOneHot],
        mll_options=options,
        name=f"SAAS ({preset})",
    )


def _preset(name: str, summary: str) -> Callable[..., GenerationStrategy]:
    """A public factory: :func:`_saas` with ``name``'s defaults, its own signature."""
    defaults = DEFAULTS[name]

    def factory(**options: Any) -> GenerationStrategy:
        fit = options.get("fit", defaults["fit"])
        given = [k for k in NUTS_OPTIONS if k in options]
        if fit != "nuts" and given:
            raise common.PresetError(
                f"{name}: {', '.join(given)} only apply to fit='nuts' "
                f"(this strategy fits the SAAS prior by MAP, fit={fit!r}); "
                "pass fit='nuts'."
            )
        return _saas(name, **{**defaults, **options})

    params = [
        p.replace(default=defaults.get(p.name, p.default))
        for p in inspect.signature(_saas).parameters.values()
        if p.name != "preset"
    ]
    factory.__signature__ = inspect.Signature(  # type: ignore[attr-defined]
        params, return_annotation="GenerationStrategy"
    )
    factory.__name__ = factory.__qualname__ = name
    factory.__module__ = __name__
    shown = ", ".join(f"{k}={v!r}" for k, v in defaults.items())
    factory.__doc__ = (
        f"{summary}\n\n    The rule is in :mod:`{__name__}`; defaults: {shown}.\n\n"
        f"    Example::\n\n        gs = anp.generation_strategy({name!r}, "
        "experiment=exp, seed=0)\n\n" + (_saas.__doc__ or "").split("\n\n", 1)[1]
    )
    return factory


saasbo = _preset(
    "saasbo",
    "Sobol, then a SAAS fully Bayesian GP per outcome at BoTorch's NUTS settings.",
)
saasbo_fast = _preset(
    "saasbo_fast",
    "Sobol, then a SAAS GP per outcome with the cheap fit measured on this pack.",
)
