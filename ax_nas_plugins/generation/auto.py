"""The ``auto`` preset: picks ``sobol``, ``gp_moo`` or ``saasbo_fast`` and says why."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from ax_nas_plugins.generation import _common as common

if TYPE_CHECKING:
    from ax.core.experiment import Experiment
    from ax.core.optimization_config import OptimizationConfig
    from ax.core.search_space import SearchSpace
    from ax.generation_strategy.generation_strategy import GenerationStrategy

#: Tunable parameters from which the SAAS model is chosen.
SAAS_MIN_DIMS = 20
#: Trials beyond which SAAS fits (cubic in the points, times NUTS) get too slow.
SAAS_MAX_BUDGET = 200


def choose(
    search_space: SearchSpace,
    budget: int | None,
    num_initial_trials: int | None,
    known_metrics: bool = False,
) -> tuple[str, str]:
    """The preset ``auto`` picks and the reason, in words.

    The rule, first match wins (``n0`` = ``num_initial_trials``, or when it is
    ``None`` the default of the model preset rules 3 to 5 would pick, see
    :func:`~ax_nas_plugins.generation._common.initial_trials`):

    1. ``budget`` at most ``n0``: ``sobol`` (no trial would be left for a
       model).
    2. A purely discrete space with no more cells than ``budget``: ``sobol``
       (it enumerates every cell without repeats; a model cannot save
       anything).
    3. ``known_metrics`` given: ``gp_moo`` (the preset that uses them;
       measured on NAS-Bench-201, ``docs/generation_benchmarks.md``).
    4. At least :data:`SAAS_MIN_DIMS` tunable (non-fixed) parameters and a
       budget of at most :data:`SAAS_MAX_BUDGET` (or unknown): ``saasbo_fast``
       (the SAAS prior finds the few parameters that matter; its MAP fit
       needs no extra, so the choice does not depend on JAX).
    5. Otherwise ``gp_moo``.
    """
    from ax.core.parameter import ChoiceParameter, ParameterType, RangeParameter

    tunable = common.tunable_parameters(search_space)
    model, why = _model(len(tunable), budget, known_metrics)
    n0 = (
        num_initial_trials
        if num_initial_trials is not None
        else common.initial_trials(model, search_space)
    )
    if budget is not None and budget <= n0:
        return "sobol", (
            f"budget {budget} <= num_initial_trials {n0}: no trial left for a model"
        )
    cells = 1
    for p in tunable:
        if isinstance(p, ChoiceParameter):
            cells *= len(p.values)
        elif isinstance(p, RangeParameter) and p.parameter_type == ParameterType.INT:
            cells *= int(p.upper - p.lower) + 1
        else:
            cells = None
            break
    if budget is not None and cells is not None and cells <= budget:
        return "sobol", f"only {cells} cells for a budget of {budget}: enumerate them"
    return model, why


def _model(d: int, budget: int | None, known: bool = False) -> tuple[str, str]:
    """Rules 3 to 5 of :func:`choose`: the model preset for ``d`` parameters."""
    if known:
        return "gp_moo", "known_metrics given (gp_moo is the preset that uses them)"
    if d >= SAAS_MIN_DIMS and (budget is None or budget <= SAAS_MAX_BUDGET):
        # saasbo_fast fits by MAP (additive; plain BoTorch): no extra is needed
        return "saasbo_fast", (
            f"{d} tunable parameters (>= {SAAS_MIN_DIMS}) and budget "
            f"{budget if budget is not None else 'unknown'} "
            f"(<= {SAAS_MAX_BUDGET}): SAAS prior"
        )
    return "gp_moo", f"{d} tunable parameters (< {SAAS_MIN_DIMS}) or a large budget"


def auto(
    *,
    experiment: Experiment | None = None,
    search_space: SearchSpace | None = None,
    optimization_config: OptimizationConfig | None = None,
    budget: int | None = None,
    num_initial_trials: int | None = None,
    max_parallelism: int | None = None,
    seed: int | None = None,
    device: str | None = None,
    known_metrics: Mapping[str, Any] | None = None,
) -> GenerationStrategy:
    """Choose a preset from the space's dimension and types and the trial budget.

    The rule is in :func:`choose`. The choice and its reason are logged
    (logger ``ax_nas_plugins.generation``, level INFO) and kept in the
    strategy's name, e.g. ``"auto:gp_moo"``. ``auto`` needs the search space
    (``experiment`` or ``search_space``) and raises
    :class:`~ax_nas_plugins.generation._common.PresetError` without it.

    Example::

        gs = anp.generation_strategy("auto", experiment=exp, budget=40)

    Args:
        experiment: Gives the search space and optimization config.
        search_space: Instead of ``experiment``.
        optimization_config: Instead of ``experiment``'s.
        budget: Total trials planned (``None``: unknown).
        num_initial_trials: Sobol trials before a model (``None``: the chosen
            preset's default, 8, or for ``saasbo_fast`` one per 6 tunable
            parameters when that is more).
        max_parallelism: Most trials generated while earlier ones run.
        seed: Seed of Sobol (and of NUTS if SAAS is chosen).
        device: Torch device of a model.
        known_metrics: Passed to ``gp_moo`` (see its docstring), which is then
            chosen unless Sobol is (rules 1 and 2); needs ``experiment``.
    """
    name = "auto"
    space = common.search_space_of(experiment, search_space)
    if space is None:
        raise common.PresetError(
            "auto: needs the search space to choose "
            "(pass experiment= or search_space=)."
        )
    common.check_positive_int(name, "budget", budget, allow_none=True)
    common.check_positive_int(
        name, "num_initial_trials", num_initial_trials, allow_none=True
    )
    chosen, reason = choose(space, budget, num_initial_trials, bool(known_metrics))
    if num_initial_trials is None:
        num_initial_trials = common.initial_trials(chosen, space)
    common.logger.info("auto: chose %s because %s", chosen, reason)
    opt = common.optimization_config_of(experiment, optimization_config)
    if chosen == "sobol":
        from ax_nas_plugins.generation.sobol import sobol

        common.check_seed(name, seed)
        common.resolve_device(name, device)
        strategy = sobol(seed=seed, max_parallelism=max_parallelism)
        if known_metrics:
            common.logger.info("auto: known_metrics are not used by sobol")
    elif chosen == "saasbo_fast":
        from ax_nas_plugins.generation.saasbo import saasbo_fast

        strategy = saasbo_fast(
            optimization_config=opt,
            num_initial_trials=num_initial_trials,
            max_parallelism=max_parallelism,
            seed=seed,
            device=device,
        )
    else:
        from ax_nas_plugins.generation.gp_moo import gp_moo

        strategy = gp_moo(
            experiment=experiment if known_metrics else None,
            optimization_config=opt,
            num_initial_trials=num_initial_trials,
            max_parallelism=max_parallelism,
            seed=seed,
            device=device,
            known_metrics=known_metrics,
        )
    return common.renamed(strategy, f"auto:{chosen}")
