"""The ``saasbo`` preset: SAAS fully Bayesian GP, for many dimensions and few trials."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ax_nas_plugins.generation import _common as common

if TYPE_CHECKING:
    from ax.core.experiment import Experiment
    from ax.core.optimization_config import OptimizationConfig
    from ax.generation_strategy.generation_strategy import GenerationStrategy


def saasbo(
    *,
    experiment: Experiment | None = None,
    optimization_config: OptimizationConfig | None = None,
    num_initial_trials: int = 8,
    max_parallelism: int | None = None,
    seed: int | None = None,
    acquisition: str | None = None,
    warmup_steps: int = 512,
    num_samples: int = 256,
    thinning: int = 16,
    max_tree_depth: int = 6,
    warm_start: bool = False,
    jit_compile: bool = False,
    progress: bool | None = None,
    device: str | None = None,
    torch_threads: int | None = None,
) -> GenerationStrategy:
    """Sobol, then a SAAS fully Bayesian GP per outcome (NUTS), same acquisition rule.

    The rule: ``num_initial_trials`` Sobol arms, then one
    ``SaasFullyBayesianSingleTaskGP`` per outcome whose sparsity prior lets
    only a few inputs matter; hyperparameters are sampled by NUTS
    (``warmup_steps`` burn-in, ``num_samples`` draws, every ``thinning``-th
    kept, so 16 GPs by default) and the acquisition (qLogNEI / qLogNEHVI /
    qLogNParEGO by objective count) is averaged over them. Unordered choices
    are one-hot blocks inside the model (one relevance per value) while the
    optimiser searches the discrete space and never re-proposes evaluated or
    pending architectures. The defaults are BoTorch's; they cost minutes per
    suggestion on a laptop: see ``saasbo_fast``. Progress of each fit goes to
    the pack's progress display.

    If JAX/NumPyro (``pip install 'ax-nas-plugins[saasbo]'``) are missing, this
    raises :class:`~ax_nas_plugins.generation._common.PresetError`; it never
    degrades to Sobol or to another model.

    Example::

        gs = anp.generation_strategy("saasbo", experiment=exp, num_samples=128)

    Args:
        experiment: Used to read the optimization config (acquisition choice).
        optimization_config: Instead of ``experiment``.
        num_initial_trials: Sobol trials before the model (at least 1).
        max_parallelism: Most trials generated while earlier ones run (None: no cap).
        seed: Seed of the Sobol sequence and of the NUTS chains.
        acquisition: Force ``"qLogNEI"``, ``"qLogNEHVI"`` or ``"qLogNParEGO"``.
        warmup_steps: NUTS burn-in steps per fit.
        num_samples: NUTS draws per fit after burn-in.
        thinning: Keep every ``thinning``-th draw.
        max_tree_depth: Largest NUTS tree depth.
        warm_start: Start each fit at the previous fit's posterior median.
        jit_compile: JIT-compile the NUTS potential.
        progress: Force the progress display on/off (default: when stderr is a TTY).
        device: Torch device of the model and acquisition.
        torch_threads: ``torch.set_num_threads`` for this process.
    """
    return saas_strategy(
        "saasbo",
        experiment=experiment,
        optimization_config=optimization_config,
        num_initial_trials=num_initial_trials,
        max_parallelism=max_parallelism,
        seed=seed,
        acquisition=acquisition,
        nuts={
            "warmup_steps": warmup_steps,
            "num_samples": num_samples,
            "thinning": thinning,
            "max_tree_depth": max_tree_depth,
            "warm_start": warm_start,
            "jit_compile": jit_compile,
            "progress": progress,
        },
        device=device,
        torch_threads=torch_threads,
    )


def saas_strategy(
    name: str,
    *,
    experiment: Experiment | None,
    optimization_config: OptimizationConfig | None,
    num_initial_trials: int,
    max_parallelism: int | None,
    seed: int | None,
    acquisition: str | None,
    nuts: dict[str, Any],
    device: str | None,
    torch_threads: int | None,
) -> GenerationStrategy:
    """The SAAS strategy behind ``saasbo`` and ``saasbo_fast`` (checks the options)."""
    common.check_positive_int(name, "num_initial_trials", num_initial_trials)
    common.check_positive_int(name, "max_parallelism", max_parallelism, allow_none=True)
    common.check_seed(name, seed)
    for field in ("warmup_steps", "num_samples", "thinning", "max_tree_depth"):
        common.check_positive_int(name, field, nuts[field])
    if nuts["thinning"] > nuts["num_samples"]:
        raise common.PresetError(
            f"{name}: thinning ({nuts['thinning']}) is larger than num_samples "
            f"({nuts['num_samples']}); no posterior sample would be kept."
        )
    missing = common.missing_modules("jax", "numpyro")
    if missing:
        raise common.PresetError(
            f"{name}: the SAAS model needs {' and '.join(missing)}, which are not "
            "installed. Install them with `pip install 'ax-nas-plugins[saasbo]'` "
            "(BoTorch's fully_bayesian extra), or choose the 'gp_moo' preset."
        )
    dev = common.resolve_device(name, device)
    common.apply_torch_threads(name, torch_threads)
    opt = common.optimization_config_of(experiment, optimization_config)
    acqf = common.acquisition_class(name, opt, acquisition)

    from ax.generators.torch.botorch_modular.utils import ModelConfig

    from ax_nas_plugins.generation._onehot import CategoricalOneHot
    from ax_nas_plugins.generation._saas import NasSaasGP

    mll_options = dict(nuts)
    mll_options["seed"] = seed if seed is not None else 0
    mll_options["warm_start_key"] = f"{name}:{seed}"
    model_config = ModelConfig(
        botorch_model_class=NasSaasGP,
        input_transform_classes=[CategoricalOneHot],
        mll_options=mll_options,
        name=f"SAAS ({name})",
    )
    nodes = [
        common.sobol_step(num_initial_trials, seed, max_parallelism),
        common.bo_step(name, model_config, acqf, max_parallelism, dev),
    ]
    return common.make_strategy(name, nodes)
