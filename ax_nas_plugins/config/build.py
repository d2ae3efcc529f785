"""From a config to Ax objects, in memory: Experiment, GenerationStrategy, options.

The rule: :func:`build` checks everything a config names before anything is
written: plugin names against the registry, plugin options by making each
plugin, metric names used by objectives and constraints, the search space and
its constraints by making Ax's own objects. Every problem found is reported
at once (:class:`ConfigError`, one ``path: message`` per problem). It writes
nothing: the SQLite file, the run folder and the trial logs are made later by
whoever runs the experiment (``ax-nas run``, or the user's own
``Orchestrator`` / ``Client``).

Defaults filled in from the rest of the config (each only where the plugin
accepts the option and the config does not set it): the runner's ``log_root``
(``<run_dir>/runs``), ``max_concurrent`` (``budget.parallelism``) and
``max_runtime_s`` (``budget.trial_timeout_s``); a metric's ``lower_is_better``
from its objective's direction; the generation preset's ``experiment`` and
``budget``; an early-stopping strategy's ``metric_signatures`` (the first
objective) when it takes one metric only (``percentile``, ``threshold``).

Example::

    from ax_nas_plugins.config import build, load_config

    built = build(load_config("nas.yaml"), run_dir="runs/nas")
    built.experiment, built.generation_strategy, built.orchestrator_options
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import ValidationError

from ax_nas_plugins import registry
from ax_nas_plugins.config.errors import ConfigError, problems_from_validation
from ax_nas_plugins.config.models import (
    ChoiceParameter,
    FixedParameter,
    RangeParameter,
    RunConfig,
)
from ax_nas_plugins.errors import AxNasError, PluginOptionError

if TYPE_CHECKING:
    from ax.core.experiment import Experiment
    from ax.core.search_space import SearchSpace
    from ax.early_stopping.strategies.base import BaseEarlyStoppingStrategy
    from ax.generation_strategy.generation_strategy import GenerationStrategy
    from ax.orchestration.orchestrator_options import OrchestratorOptions

#: Early-stopping plugins of Ax that accept one metric only.
_ONE_METRIC_STOPPING = ("percentile", "threshold")


def load_config(source: str | os.PathLike[str] | dict[str, Any]) -> RunConfig:
    """Parse a YAML file (path) or a dict into a :class:`RunConfig`.

    Raises :class:`ConfigError` naming the file, the path of each problem in
    it, the value and what is allowed.
    """
    import yaml

    if isinstance(source, dict):
        data, where = source, "config"
    else:
        path = Path(source)
        where = str(path)
        if not path.is_file():
            what = "is a folder" if path.is_dir() else "does not exist"
            raise ConfigError(where, [("", f"config file {what}")])
        try:
            data = yaml.safe_load(path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError) as exc:
            raise ConfigError(where, [("", f"cannot read: {exc}")]) from exc
        except yaml.YAMLError as exc:
            mark = getattr(exc, "problem_mark", None)
            at = f"line {mark.line + 1}, column {mark.column + 1}: " if mark else ""
            problem = getattr(exc, "problem", None) or str(exc)
            raise ConfigError(where, [("", f"not valid YAML: {at}{problem}")]) from exc
    if not isinstance(data, dict):
        raise ConfigError(
            where, [("", f"expected a mapping of fields, got {type(data).__name__}")]
        )
    try:
        return RunConfig.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(where, problems_from_validation(RunConfig, exc)) from exc


@dataclass
class BuiltRun:
    """Everything a config makes, in memory (nothing written yet)."""

    config: RunConfig
    run_dir: Path
    experiment: Experiment
    generation_strategy: GenerationStrategy
    early_stopping_strategy: BaseEarlyStoppingStrategy | None
    orchestrator_options: OrchestratorOptions
    storage: str
    #: How ``budget.trial_timeout_s`` is enforced: "runner" (``max_runtime_s``),
    #: "ttl" (Ax marks the trial stale) or None (no limit set).
    time_limit_by: str | None


def storage_location(config: RunConfig, run_dir: str | os.PathLike[str]) -> str:
    """Where the run is stored: a URL as given, a path relative to ``run_dir``."""
    target = config.storage or "nas.db"
    if "://" in target:
        return target
    return str((Path(run_dir) / target).resolve())


def build(
    config: RunConfig | dict[str, Any] | str | os.PathLike[str],
    run_dir: str | os.PathLike[str] = ".",
    source: str = "config",
    logging_level: int = logging.WARNING,
) -> BuiltRun:
    """Check the whole config and make the Ax objects (see the module rule)."""
    if not isinstance(config, RunConfig):
        if not isinstance(config, dict):
            source = str(config)
        config = load_config(config)
    run_dir = Path(run_dir).resolve()
    problems: list[tuple[str, str]] = []
    metrics = _metrics(config, problems)
    runner, time_limit_by = _runner(config, run_dir, problems)
    search_space = _search_space(config, problems)
    opt_config = _optimization_config(config, metrics, problems)
    early_stopping = _early_stopping(config, problems)
    experiment = None
    if not problems and search_space is not None and opt_config is not None:
        from ax.core.experiment import Experiment

        try:
            experiment = Experiment(
                name=config.name,
                description=config.description or None,
                search_space=search_space,
                optimization_config=opt_config,
                metrics=list(metrics.values()),
                runner=runner,
            )
        except Exception as exc:  # Ax's own consistency checks
            problems.append(("", f"Ax refused the experiment: {exc}"))
    gs = _generation_strategy(config, experiment, problems)
    if problems:
        raise ConfigError(source, problems)
    assert experiment is not None and gs is not None
    return BuiltRun(
        config=config,
        run_dir=run_dir,
        experiment=experiment,
        generation_strategy=gs,
        early_stopping_strategy=early_stopping,
        orchestrator_options=orchestrator_options(
            config,
            early_stopping,
            ttl=time_limit_by == "ttl",
            logging_level=logging_level,
        ),
        storage=storage_location(config, run_dir),
        time_limit_by=time_limit_by,
    )


def orchestrator_options(
    config: RunConfig,
    early_stopping: BaseEarlyStoppingStrategy | None = None,
    ttl: bool = False,
    logging_level: int = logging.WARNING,
) -> OrchestratorOptions:
    """``OrchestratorOptions`` from the budget (and the early-stopping strategy).

    ``logging_level`` is Ax's (WARNING: quiet; ``ax-nas run`` uses INFO and
    sends it to the run's log file).
    """
    from ax.orchestration.orchestrator_options import OrchestratorOptions

    budget = config.budget
    return OrchestratorOptions(
        max_pending_trials=budget.parallelism,
        total_trials=budget.max_trials,
        tolerated_trial_failure_rate=budget.tolerated_failure_rate,
        init_seconds_between_polls=1,
        seconds_between_polls_backoff_factor=1.0,
        early_stopping_strategy=early_stopping,
        ttl_seconds_for_trials=(
            int(budget.trial_timeout_s) if ttl and budget.trial_timeout_s else None
        ),
        logging_level=logging_level,
    )


def _make(
    kind: str,
    plugin: str,
    options: dict[str, Any],
    where: str,
    problems: list[tuple[str, str]],
) -> Any:
    """Make a plugin; a failure becomes a problem at ``where`` (None returned)."""
    try:
        return registry.create(kind, plugin, options)
    except PluginOptionError as exc:
        problems.append((f"{where}.options", str(exc)))
    except AxNasError as exc:  # unknown name, import failure, plugin's own check
        at = ".plugin" if isinstance(exc, LookupError | ImportError) else ".options"
        problems.append((f"{where}{at}", str(exc)))
    except Exception as exc:  # a plugin's constructor refusing a value
        problems.append((f"{where}.options", f"{type(exc).__name__}: {exc}"))
    return None


def _accepts(kind: str, plugin: str, option: str) -> bool:
    try:
        accepted, _ = registry.accepted_options(registry.load(kind, plugin))
    except Exception:  # reported when the plugin is made
        return False
    return option in accepted


def _metrics(config: RunConfig, problems: list[tuple[str, str]]) -> dict[str, Any]:
    directions = {o.metric: o.direction for o in config.objectives}
    made = {}
    for i, m in enumerate(config.metrics):
        options = {"name": m.name, **m.options}
        want = directions.get(m.name)
        if want and _accepts("metric", m.plugin, "lower_is_better"):
            lower = want == "minimize"
            given = options.setdefault("lower_is_better", lower)
            if given is not None and bool(given) != lower:
                problems.append(
                    (
                        f"metrics[{i}].options.lower_is_better",
                        f"{given!r} contradicts the objective's direction {want!r}",
                    )
                )
                continue
        metric = _make("metric", m.plugin, options, f"metrics[{i}]", problems)
        if metric is not None:
            made[m.name] = metric
    return made


def _runner(
    config: RunConfig, run_dir: Path, problems: list[tuple[str, str]]
) -> tuple[Any, str | None]:
    name = config.runner.plugin
    options = dict(config.runner.options)
    if _accepts("runner", name, "log_root"):
        root = Path(options.get("log_root") or "runs")
        options["log_root"] = str(root if root.is_absolute() else run_dir / root)
    if _accepts("runner", name, "max_concurrent"):
        options.setdefault("max_concurrent", config.budget.parallelism)
    limit_by = None
    if config.budget.trial_timeout_s is not None:
        if _accepts("runner", name, "max_runtime_s"):
            options.setdefault("max_runtime_s", config.budget.trial_timeout_s)
            limit_by = "runner"
        else:
            limit_by = "ttl"
    return _make("runner", name, options, "runner", problems), limit_by


def _search_space(
    config: RunConfig, problems: list[tuple[str, str]]
) -> SearchSpace | None:
    from ax.core import parameter as axp
    from ax.core.parameter_constraint import ParameterConstraint
    from ax.core.search_space import SearchSpace

    types = {
        "int": axp.ParameterType.INT,
        "float": axp.ParameterType.FLOAT,
        "bool": axp.ParameterType.BOOL,
        "str": axp.ParameterType.STRING,
    }
    from ax_nas_plugins.config.models import _value_type

    params = []
    for i, p in enumerate(config.parameters):
        try:
            if isinstance(p, RangeParameter):
                low, high = p.bounds
                if p.value_type == "int":
                    low, high = int(low), int(high)
                params.append(
                    axp.RangeParameter(
                        p.name, types[p.value_type], low, high, log_scale=p.log_scale
                    )
                )
            elif isinstance(p, ChoiceParameter):
                kind = _value_type(p.values[0])
                ordered = p.is_ordered
                if ordered is None:
                    ordered = kind in ("int", "float")
                params.append(
                    axp.ChoiceParameter(
                        p.name,
                        types[kind],
                        values=list(p.values),
                        is_ordered=ordered,
                        sort_values=ordered and kind in ("int", "float"),
                    )
                )
            elif isinstance(p, FixedParameter):
                params.append(
                    axp.FixedParameter(p.name, types[_value_type(p.value)], p.value)
                )
        except Exception as exc:
            problems.append((f"parameters[{i}]", str(exc)))
    constraints = []
    known = {p.name for p in config.parameters}
    for i, text in enumerate(config.parameter_constraints):
        try:
            constraint = ParameterConstraint(inequality=text)
            unknown = set(constraint.constraint_dict) - known
            if unknown:
                raise ValueError(
                    f"unknown parameter(s) {sorted(unknown)}; "
                    f"parameters: {', '.join(sorted(known))}"
                )
            constraints.append(constraint)
        except Exception as exc:
            problems.append((f"parameter_constraints[{i}]", f"{exc} (got {text!r})"))
    if len(params) != len(config.parameters) or problems:
        return None
    try:
        return SearchSpace(parameters=params, parameter_constraints=constraints)
    except Exception as exc:
        problems.append(("parameter_constraints", str(exc)))
        return None


def _optimization_config(
    config: RunConfig, metrics: dict[str, Any], problems: list[tuple[str, str]]
) -> Any:
    from ax.core.objective import Objective
    from ax.core.optimization_config import (
        MultiObjectiveOptimizationConfig,
        OptimizationConfig,
    )
    from ax.core.outcome_constraint import OutcomeConstraint

    declared = [m.name for m in config.metrics]
    seen: set[str] = set()
    for i, o in enumerate(config.objectives):
        if o.metric not in declared:
            problems.append(
                (
                    f"objectives[{i}].metric",
                    f"{o.metric!r} is not in metrics; declared: {', '.join(declared)}",
                )
            )
        elif o.metric in seen:
            problems.append((f"objectives[{i}].metric", f"{o.metric!r} twice"))
        seen.add(o.metric)
    for i, c in enumerate(config.outcome_constraints):
        if c.metric not in declared:
            problems.append(
                (
                    f"outcome_constraints[{i}].metric",
                    f"{c.metric!r} is not in metrics; declared: {', '.join(declared)}",
                )
            )
        elif c.metric in seen:
            problems.append(
                (
                    f"outcome_constraints[{i}].metric",
                    f"{c.metric!r} is an objective; give its bound as the "
                    "objective's threshold",
                )
            )
    if len(config.objectives) == 1 and config.objectives[0].threshold is not None:
        problems.append(
            (
                "objectives[0].threshold",
                "a threshold needs two or more objectives; use outcome_constraints",
            )
        )
    if problems or any(n not in metrics for n in seen):
        return None

    def sig(name: str) -> dict[str, str]:
        return {name: metrics[name].signature}

    sigs = {n: metrics[n].signature for n in seen}
    terms = [
        ("-" if o.direction == "minimize" else "") + o.metric for o in config.objectives
    ]
    constraints = [
        OutcomeConstraint(
            expression=f"{c.metric} {c.op} {c.bound}",
            metric_name_to_signature=sig(c.metric),
        )
        for c in config.outcome_constraints
    ]
    objective = Objective(expression=", ".join(terms), metric_name_to_signature=sigs)
    if len(config.objectives) == 1:
        return OptimizationConfig(objective=objective, outcome_constraints=constraints)
    thresholds = [
        OutcomeConstraint(
            expression=(
                f"{o.metric} {'>=' if o.direction == 'maximize' else '<='} "
                f"{o.threshold}"
            ),
            metric_name_to_signature=sig(o.metric),
        )
        for o in config.objectives
        if o.threshold is not None
    ]
    return MultiObjectiveOptimizationConfig(
        objective=objective,
        outcome_constraints=constraints,
        objective_thresholds=thresholds,
    )


def _early_stopping(config: RunConfig, problems: list[tuple[str, str]]) -> Any:
    choice = config.early_stopping
    if choice is None:
        return None
    options = dict(choice.options)
    if (
        choice.plugin in _ONE_METRIC_STOPPING
        and len(config.objectives) > 1
        and "metric_signatures" not in options
    ):
        options["metric_signatures"] = [config.objectives[0].metric]
    return _make("early_stopping", choice.plugin, options, "early_stopping", problems)


def _generation_strategy(
    config: RunConfig, experiment: Any, problems: list[tuple[str, str]]
) -> Any:
    name = config.generation.plugin
    options = dict(config.generation.options)
    if experiment is not None and _accepts("generation_strategy", name, "experiment"):
        options.setdefault("experiment", experiment)
    if _accepts("generation_strategy", name, "budget"):
        options.setdefault("budget", config.budget.max_trials)
    return _make("generation_strategy", name, options, "generation", problems)
