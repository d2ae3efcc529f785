"""Shared pieces of the generation presets: option checks, acquisition choice, nodes.

The rules every BO preset follows:

- **Initialisation.** ``num_initial_trials`` Sobol arms first (counting trials
  already on the experiment), then the model step, which starts once at
  least half of them have data. The default is 8; the SAAS presets take one
  per :data:`SAAS_PARAMETERS_PER_INITIAL_TRIAL` tunable parameters when that
  is more (:func:`initial_trials`).
- **Acquisition.** One objective: qLogNEI; 2 to 4 objectives: qLogNEHVI;
  5 or more: qLogNParEGO. Objective thresholds and outcome constraints of
  the optimization config are passed to the acquisition by Ax. When neither
  an experiment nor an optimization config is given at build time, the class
  is left to Ax, whose rule is the same (plus qLogProbabilityOfFeasibility
  while no observed arm is feasible).
- **Discrete space, exact deduplication.** Unordered choices stay one
  integer-coded dimension (Ax's ``ChoiceToNumericChoice``; no one-hot
  relaxation), log-scaled integers become numeric choices, fixed parameters are
  removed. A space made only of choices and integers is therefore searched
  among real architectures, and the already evaluated and pending ones are
  excluded by the optimiser itself (``X_avoid``) rather than by luck after
  rounding. Ax's node-level deduplication stays on as a second guard.
- **Never silently something else.** Ax's default fallback (a repeated point
  switches the node to Sobol) is removed: the error is raised instead. A
  request that cannot be honoured (unknown device, missing SAAS dependencies,
  an acquisition that does not fit the objective count) raises
  :class:`PresetError` with the reason.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from ax_nas_plugins.errors import AxNasError

if TYPE_CHECKING:
    from ax.core.experiment import Experiment
    from ax.core.optimization_config import OptimizationConfig
    from ax.core.search_space import SearchSpace
    from ax.generation_strategy.generation_node import GenerationNode
    from ax.generation_strategy.generation_strategy import GenerationStrategy

logger = logging.getLogger("ax_nas_plugins.generation")

#: Prefix of the BO node names of this pack (used to re-apply the rules on load).
NODE_PREFIX = "anp:"

ACQUISITIONS = ("qLogNEI", "qLogNEHVI", "qLogNParEGO")

#: Sobol trials before a model when ``num_initial_trials`` is not given.
DEFAULT_INITIAL_TRIALS = 8
#: The SAAS presets' default: one Sobol trial per this many tunable parameters
#: (at least :data:`DEFAULT_INITIAL_TRIALS`). On BraninCurrin in 100 inputs
#: (2 active, 5 seeds) 8 Sobol points left the MAP-SAAS fit stuck until ~20
#: evaluations on 4 of 5 seeds; 16 did better on the mean and the worst seed,
#: while 30 inputs did worse with 16 than with 8. With the additive fit 16 was
#: ahead of 8, 12 and 20 at 100 inputs (4 seeds; docs/generation_benchmarks.md).
SAAS_PARAMETERS_PER_INITIAL_TRIAL = 6


class PresetError(AxNasError, ValueError):
    """A generation preset asked for something it cannot honour."""


def check_positive_int(preset: str, field: str, value: Any, allow_none: bool = False):
    """Raise :class:`PresetError` unless ``value`` is a positive int (or None)."""
    if value is None and allow_none:
        return
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        allowed = "a positive integer or None" if allow_none else "a positive integer"
        raise PresetError(f"{preset}: {field} must be {allowed}, got {value!r}.")


def check_seed(preset: str, seed: Any) -> None:
    if seed is not None and (isinstance(seed, bool) or not isinstance(seed, int)):
        raise PresetError(f"{preset}: seed must be an integer or None, got {seed!r}.")


def missing_modules(*names: str) -> list[str]:
    """Which of the named top-level modules cannot be imported here."""
    import importlib.util
    import sys

    missing = []
    for name in names:
        if name in sys.modules and sys.modules[name] is None:
            missing.append(name)  # import explicitly blocked
            continue
        try:
            if importlib.util.find_spec(name) is None:
                missing.append(name)
        except (ImportError, ValueError):
            missing.append(name)
    return missing


def resolve_device(preset: str, device: str | None) -> Any:
    """``None``/"cpu"/"cuda[:i]"/"mps" -> torch.device; unavailable ones raise."""
    if device is None:
        return None
    import torch

    try:
        dev = torch.device(device)
    except (RuntimeError, TypeError) as exc:
        raise PresetError(
            f"{preset}: device {device!r} is not a torch device "
            "(allowed: 'cpu', 'cuda', 'cuda:N', 'mps')."
        ) from exc
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise PresetError(
            f"{preset}: device {device!r} asked for, but torch sees no CUDA device "
            f"(torch {torch.__version__}). Use device='cpu' or install a CUDA build."
        )
    if (
        dev.type == "cuda"
        and dev.index is not None
        and dev.index >= torch.cuda.device_count()
    ):
        raise PresetError(
            f"{preset}: device {device!r} does not exist; "
            f"{torch.cuda.device_count()} CUDA device(s) visible."
        )
    if dev.type == "mps" and not torch.backends.mps.is_available():
        raise PresetError(f"{preset}: device 'mps' asked for, but MPS is unavailable.")
    if dev.type not in ("cpu", "cuda", "mps"):
        raise PresetError(
            f"{preset}: device type {dev.type!r} is not supported "
            "(allowed: 'cpu', 'cuda', 'cuda:N', 'mps')."
        )
    return dev


def optimization_config_of(
    experiment: Experiment | None, optimization_config: OptimizationConfig | None
) -> OptimizationConfig | None:
    if optimization_config is not None:
        return optimization_config
    if experiment is not None:
        return experiment.optimization_config
    return None


def search_space_of(
    experiment: Experiment | None, search_space: SearchSpace | None
) -> SearchSpace | None:
    if search_space is not None:
        return search_space
    if experiment is not None:
        return experiment.search_space
    return None


def tunable_parameters(space: SearchSpace) -> list[Any]:
    """The parameters of ``space`` a strategy searches (all but fixed ones)."""
    from ax.core.parameter import FixedParameter

    return [p for p in space.parameters.values() if not isinstance(p, FixedParameter)]


def initial_trials(preset: str, space: SearchSpace | None) -> int:
    """Default Sobol trials before ``preset``'s model (``num_initial_trials=None``).

    The rule: :data:`DEFAULT_INITIAL_TRIALS` (8), except for the SAAS presets
    (``saasbo``, ``saasbo_fast``) on a known search space, which take one per
    :data:`SAAS_PARAMETERS_PER_INITIAL_TRIAL` (6) tunable parameters when that
    is more: 8 up to 53 parameters, 16 at 100. A sparse prior fitted on fewer
    points than that could not tell the active inputs from the rest.
    """
    if not preset.startswith("saasbo") or space is None:
        return DEFAULT_INITIAL_TRIALS
    d = len(tunable_parameters(space))
    return max(DEFAULT_INITIAL_TRIALS, d // SAAS_PARAMETERS_PER_INITIAL_TRIAL)


def num_objectives(optimization_config: OptimizationConfig) -> int:
    from ax.core.optimization_config import MultiObjectiveOptimizationConfig

    if isinstance(optimization_config, MultiObjectiveOptimizationConfig):
        return len(optimization_config.objective.metric_names)
    return 1


def acquisition_class(
    preset: str,
    optimization_config: OptimizationConfig | None,
    acquisition: str | None = None,
) -> type | None:
    """The BoTorch acquisition class by the objective-count rule (see module doc).

    ``acquisition`` (one of :data:`ACQUISITIONS`) overrides the rule, but only
    with a class that fits the objective count; ``None`` is returned when no
    optimization config is known and nothing was asked for.
    """
    from botorch.acquisition.logei import qLogNoisyExpectedImprovement
    from botorch.acquisition.multi_objective.logei import (
        qLogNoisyExpectedHypervolumeImprovement,
    )
    from botorch.acquisition.multi_objective.parego import qLogNParEGO

    classes = {
        "qLogNEI": qLogNoisyExpectedImprovement,
        "qLogNEHVI": qLogNoisyExpectedHypervolumeImprovement,
        "qLogNParEGO": qLogNParEGO,
    }
    if acquisition is not None and acquisition not in classes:
        raise PresetError(
            f"{preset}: acquisition {acquisition!r} is unknown; allowed: "
            f"{', '.join(ACQUISITIONS)} or None (chosen by objective count)."
        )
    if optimization_config is None:
        if acquisition is not None:
            raise PresetError(
                f"{preset}: acquisition={acquisition!r} needs the experiment or "
                "optimization_config, to check it fits the number of objectives."
            )
        return None
    k = num_objectives(optimization_config)
    if acquisition is None:
        acquisition = "qLogNEI" if k == 1 else "qLogNEHVI" if k <= 4 else "qLogNParEGO"
        logger.info("%s: %d objective(s) -> %s", preset, k, acquisition)
    elif k == 1 and acquisition != "qLogNEI":
        raise PresetError(
            f"{preset}: acquisition {acquisition!r} is multi-objective but the "
            "optimization config has one objective; use 'qLogNEI'."
        )
    elif k > 1 and acquisition == "qLogNEI":
        raise PresetError(
            f"{preset}: acquisition 'qLogNEI' optimises one objective but the "
            f"optimization config has {k}; use 'qLogNEHVI' or 'qLogNParEGO'."
        )
    return classes[acquisition]


def sobol_step(
    num_trials: int, seed: int | None, max_parallelism: int | None
) -> GenerationNode:
    """Sobol for the first ``num_trials`` trials (existing trials count)."""
    from ax.adapter.registry import Generators
    from ax.generation_strategy.generation_node import GenerationStep

    return GenerationStep(
        generator=Generators.SOBOL,
        num_trials=num_trials,
        min_trials_observed=math.ceil(num_trials / 2),
        max_parallelism=max_parallelism,
        generator_kwargs={"seed": seed, "deduplicate": True},
        should_deduplicate=True,
        use_all_trials_in_exp=True,
    )


def discrete_transforms(log_costs: bool = False) -> list[type]:
    """Ax transforms that keep choices discrete (see the module rule).

    With ``log_costs``, :class:`~ax_nas_plugins.generation._log_costs.LogCostY`
    comes first among the outcome transforms (before Winsorize and
    standardisation, which then see the logged values).
    """
    from ax.adapter.registry import Mixed_transforms, Y_trans

    if not log_costs:
        return [*Mixed_transforms, *Y_trans]
    from ax_nas_plugins.generation._log_costs import LogCostY

    return [*Mixed_transforms, LogCostY, *Y_trans]


LOG_OBJECTIVES_AUTO = "auto"


def log_objectives_config(
    preset: str, value: Any, optimization_config: OptimizationConfig | None
) -> dict[str, Any] | None:
    """Check a preset's ``log_objectives`` option; the ``LogCostY`` config or None.

    ``"auto"``: ``{}`` (the transform picks the cost objectives at each fit);
    ``None`` or an empty list: None (no log transform); a list of metric
    names: ``{"metrics": [...]}``, each name a metric of the optimization
    config when one is known.
    """
    if value is None:
        return None
    if value == LOG_OBJECTIVES_AUTO:
        return {}
    if not isinstance(value, (list, tuple)) or not all(
        isinstance(v, str) for v in value
    ):
        raise PresetError(
            f"{preset}: log_objectives must be 'auto', None or a list of metric "
            f"names, got {value!r}."
        )
    if not value:
        return None
    if optimization_config is not None:
        known = dict(optimization_config.metric_name_to_signature)
        check_metric_names(preset, "log_objectives", value, known)
        return {"metrics": [known[v] for v in value]}
    return {"metrics": list(value)}


def check_metric_names(
    preset: str, option: str, names: Iterable[str], known: Iterable[str]
) -> None:
    """Refuse names that are not metrics of the optimization config, listing those."""
    allowed = set(known)
    unknown = [n for n in names if n not in allowed]
    if unknown:
        raise PresetError(
            f"{preset}: {option} names {', '.join(map(repr, unknown))}, "
            f"not a metric of the optimization config; allowed: "
            f"{', '.join(sorted(allowed))}."
        )


def bo_step(
    name: str,
    model_config: Any,
    acqf_class: type | None,
    max_parallelism: int | None,
    device: Any,
    log_config: dict[str, Any] | None = None,
    metric_model_configs: dict[str, list[Any]] | None = None,
    acqf_maxiter: int | None = None,
    acqf_restarts: int | None = None,
) -> GenerationNode:
    """The modular-BoTorch step that runs until the experiment ends.

    ``log_config``: the ``LogCostY`` config from :func:`log_objectives_config`
    (None: no log transform). ``metric_model_configs``: Ax's
    ``metric_to_model_configs`` (a model of its own for some metrics, e.g.
    :func:`ax_nas_plugins.generation._known.model_configs`). ``acqf_maxiter``:
    cap on the acquisition's L-BFGS iterations per restart over continuous
    spaces (:mod:`._acquisition`); ``acqf_restarts``: its number of restarts
    there (Ax: 20). Both None leave Ax's ``Acquisition`` as it is.
    """
    from ax.adapter.registry import Generators
    from ax.generation_strategy.generation_node import GenerationStep
    from ax.generators.torch.botorch_modular.surrogate import SurrogateSpec

    kwargs: dict[str, Any] = {
        "surrogate_spec": SurrogateSpec(
            model_configs=[model_config],
            metric_to_model_configs=dict(metric_model_configs or {}),
        ),
        "transforms": discrete_transforms(log_costs=log_config is not None),
        "torch_device": device,
    }
    if log_config is not None:
        kwargs["transform_configs"] = {"LogCostY": log_config}
    if acqf_class is not None:
        kwargs["botorch_acqf_class"] = acqf_class
    if acqf_maxiter is not None or acqf_restarts is not None:
        from ax_nas_plugins.generation._acquisition import (
            MAXITER_OPTION,
            RESTARTS_OPTION,
            CappedLbfgsAcquisition,
        )

        kwargs["acquisition_class"] = CappedLbfgsAcquisition
        options = {MAXITER_OPTION: acqf_maxiter, RESTARTS_OPTION: acqf_restarts}
        kwargs["acquisition_options"] = {
            k: v for k, v in options.items() if v is not None
        }
    return GenerationStep(
        generator=Generators.BOTORCH_MODULAR,
        num_trials=-1,
        max_parallelism=max_parallelism,
        generator_kwargs=kwargs,
        should_deduplicate=True,
        generator_name=f"{NODE_PREFIX}{name}",
    )


def enforce_rules(strategy: GenerationStrategy) -> GenerationStrategy:
    """Remove Ax's silent Sobol fallback from this pack's BO nodes (idempotent).

    Ax does not store a node's fallback table, so a strategy loaded from
    storage gets Ax's default back; :func:`ax_nas_plugins.storage.load_experiment`
    calls this again after loading. It also keeps the first suggestion from
    hanging on a stale build lock of BoTorch's fused qLogEHVI kernel
    (:func:`ax_nas_plugins._compat.skip_fused_logei_if_locked`).
    """
    from ax_nas_plugins import _compat

    _compat.skip_fused_logei_if_locked()
    for node in strategy.nodes_by_name.values():
        if any(
            spec.generator_key.startswith(NODE_PREFIX) for spec in node.generator_specs
        ):
            node.fallback_specs = {}
    return strategy


def make_strategy(name: str, nodes: list[GenerationNode]) -> GenerationStrategy:
    """A strategy named ``name`` over ``nodes``, with the rules applied."""
    from ax.generation_strategy.generation_strategy import GenerationStrategy

    return enforce_rules(GenerationStrategy(nodes=nodes, name=name))


def renamed(strategy: GenerationStrategy, name: str) -> GenerationStrategy:
    """The same unused nodes under a new strategy name (Ax 1.3 has no name setter).

    The nodes are re-attached to the new strategy, so ``strategy`` must not
    be used afterwards.
    """
    return make_strategy(name, list(strategy.nodes_by_name.values()))
