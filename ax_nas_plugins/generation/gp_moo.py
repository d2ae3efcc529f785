"""The ``gp_moo`` preset: GP Bayesian optimisation for one or many objectives."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from ax_nas_plugins.generation import _common as common

if TYPE_CHECKING:
    from ax.core.experiment import Experiment
    from ax.core.optimization_config import OptimizationConfig
    from ax.generation_strategy.generation_strategy import GenerationStrategy

CATEGORICAL_ENCODINGS = ("kernel", "onehot")


def gp_moo(
    *,
    experiment: Experiment | None = None,
    optimization_config: OptimizationConfig | None = None,
    num_initial_trials: int = common.DEFAULT_INITIAL_TRIALS,
    max_parallelism: int | None = None,
    seed: int | None = None,
    acquisition: str | None = None,
    categorical_encoding: str = "kernel",
    device: str | None = None,
    log_objectives: str | Sequence[str] | None = None,
    known_metrics: Mapping[str, Any] | None = None,
) -> GenerationStrategy:
    """Sobol, then a GP per outcome (MAP-fitted) with qLogNEI / qLogNEHVI / qLogNParEGO.

    The rule: ``num_initial_trials`` Sobol arms, then Ax's modular BoTorch
    model, one GP per outcome with hyperparameters fitted by maximum marginal
    likelihood, and the acquisition chosen by objective count (one: qLogNEI,
    2-4: qLogNEHVI, 5+: qLogNParEGO) honouring objective thresholds and
    outcome constraints. Choices stay discrete and already evaluated or
    pending architectures are never proposed again (see
    :mod:`ax_nas_plugins.generation._common`). Cheap: about a second or two
    per suggestion on a laptop for tens of points. Use it for spaces of up to
    roughly 20 effective dimensions.

    Unordered choices are modelled with a categorical kernel
    (``categorical_encoding="kernel"``, BoTorch's ``MixedSingleTaskGP``) or as
    one-hot blocks inside an ordinary Matern GP (``"onehot"``).

    Costs can be modelled on a log scale (``log_objectives="auto"``): in a
    multi-objective search, each minimised objective whose values are all
    positive (a latency, a parameter count) is then modelled as
    ``log(value)`` (:mod:`ax_nas_plugins.generation._log_costs`). Off by
    default: on NAS-Bench-201 cifar10 it did not raise the hypervolume reached
    over 6 seeds (``docs/generation_benchmarks.md``).

    Metrics known before training (a parameter count computed from the
    widths, a latency measured on the untrained network) can be handed to the
    model (``known_metrics={"latency": "my_pkg.costs:latency"}``): that
    metric's GP then has the estimate as its prior mean and models only its
    error (:mod:`ax_nas_plugins.generation._known`). Measured on NAS-Bench-201
    (``docs/generation_benchmarks.md``), knowing the latency raised the hypervolume
    reached after 40 evaluations on all three data sets.

    Example::

        gs = anp.generation_strategy("gp_moo", experiment=exp, seed=0)

    Args:
        experiment: Used to read the optimization config (acquisition choice).
        optimization_config: Instead of ``experiment``.
        num_initial_trials: Sobol trials before the model (at least 1).
        max_parallelism: Most trials generated while earlier ones run (None: no cap).
        seed: Seed of the Sobol sequence.
        acquisition: Force ``"qLogNEI"``, ``"qLogNEHVI"`` or ``"qLogNParEGO"``;
            it must fit the objective count.
        categorical_encoding: ``"kernel"`` or ``"onehot"`` (see above).
        device: Torch device of the model (``"cpu"``, ``"cuda"``, ...).
        log_objectives: ``None`` (default: no log transform), ``"auto"`` (the
            rule above) or a list of metric names to model as ``log(value)``
            (they must stay positive).
        known_metrics: Metric name -> estimator, a function of the parameter
            dict (or its import path ``"package.module:function"``) that
            returns the metric without training; needs ``experiment``; not
            combined with ``log_objectives``.
    """
    from ax.generators.torch.botorch_modular.utils import ModelConfig

    name = "gp_moo"
    common.check_positive_int(name, "num_initial_trials", num_initial_trials)
    common.check_positive_int(name, "max_parallelism", max_parallelism, allow_none=True)
    common.check_seed(name, seed)
    if categorical_encoding not in CATEGORICAL_ENCODINGS:
        raise common.PresetError(
            f"{name}: categorical_encoding must be one of "
            f"{', '.join(CATEGORICAL_ENCODINGS)}, got {categorical_encoding!r}."
        )
    dev = common.resolve_device(name, device)
    opt = common.optimization_config_of(experiment, optimization_config)
    acqf = common.acquisition_class(name, opt, acquisition)
    log_config = common.log_objectives_config(name, log_objectives, opt)
    if known_metrics and log_config is not None:
        raise common.PresetError(
            f"{name}: known_metrics and log_objectives cannot be combined (the "
            "estimate is the metric's prior mean on its own scale); drop one."
        )
    from ax_nas_plugins.generation import _known  # torch and BoTorch: lazily

    known = _known.model_configs(
        name,
        known_metrics,
        experiment,
        None if opt is None else dict(opt.metric_name_to_signature),
    )
    if categorical_encoding == "kernel":
        # No class given: Ax picks MixedSingleTaskGP when a categorical exists,
        # SingleTaskGP otherwise.
        model_config = ModelConfig(name="GP (categorical kernel)")
    else:
        from ax_nas_plugins.generation._onehot import (
            CategoricalOneHot,
            OneHotSingleTaskGP,
        )

        model_config = ModelConfig(
            botorch_model_class=OneHotSingleTaskGP,
            input_transform_classes=[CategoricalOneHot],
            name="GP (one-hot)",
        )
    nodes = [
        common.sobol_step(num_initial_trials, seed, max_parallelism),
        common.bo_step(
            name, model_config, acqf, max_parallelism, dev, log_config, known
        ),
    ]
    return common.make_strategy(name, nodes)
