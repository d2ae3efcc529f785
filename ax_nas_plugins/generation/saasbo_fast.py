"""The ``saasbo_fast`` preset: the SAAS model with a NUTS budget a laptop affords."""

from __future__ import annotations

from typing import TYPE_CHECKING

from ax_nas_plugins.generation.saasbo import saas_strategy

if TYPE_CHECKING:
    from ax.core.experiment import Experiment
    from ax.core.optimization_config import OptimizationConfig
    from ax.generation_strategy.generation_strategy import GenerationStrategy


def saasbo_fast(
    *,
    experiment: Experiment | None = None,
    optimization_config: OptimizationConfig | None = None,
    num_initial_trials: int = 8,
    max_parallelism: int | None = None,
    seed: int | None = None,
    acquisition: str | None = None,
    warmup_steps: int = 128,
    num_samples: int = 64,
    thinning: int = 8,
    max_tree_depth: int = 5,
    warm_start: bool = True,
    jit_compile: bool = False,
    progress: bool | None = None,
    device: str | None = None,
    torch_threads: int | None = None,
) -> GenerationStrategy:
    """``saasbo`` with a short NUTS run that starts where the previous fit ended.

    The rule: the same model and acquisition as ``saasbo`` (SAAS GP per
    outcome, qLogNEI / qLogNEHVI / qLogNParEGO, exact deduplication in the
    discrete space) with about a tenth of BoTorch's NUTS work: 128 burn-in
    steps instead of 512, 64 draws instead of 256 thinned to 8 GPs, trees
    of depth 5 (32 leapfrog steps at most) instead of 6, and each fit
    warm-started at the posterior median of the previous fit of the same
    outcome in this process (the first fit after a start or a resume is
    cold). The measured cost and quality are in ``docs/generation.md``. Every
    NUTS option can still be raised.

    Example::

        gs = anp.generation_strategy("saasbo_fast", experiment=exp, seed=0)

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
        "saasbo_fast",
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
