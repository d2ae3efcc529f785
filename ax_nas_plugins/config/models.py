"""The run configuration file, as pydantic models: one YAML file names everything.

The rule: every piece of a run is named by plugin name with its options
(``runner``, ``metrics``, ``early_stopping``, ``generation``); the search
space, objectives and constraints use Ax's own vocabulary; the budget says how
many trials, how many at once, how many may fail and how long one may run.
Parsing checks types and shapes only (this module imports neither Ax nor
torch); :func:`ax_nas_plugins.config.validate` then checks names against the
registry and builds every plugin in memory, and nothing is written until both
passed.

Example (YAML)::

    name: my_search
    parameters:
      - {name: lr, type: range, bounds: [1.0e-4, 1.0e-2], log_scale: true}
      - {name: width, type: choice, values: [32, 64, 128], is_ordered: true}
    objectives:
      - {metric: val_acc, direction: maximize, threshold: 0.8}
      - {metric: num_params, direction: minimize, threshold: 20000}
    metrics:
      - {name: val_acc, plugin: tensorboard}
      - {name: num_params, plugin: num_params}
    runner: {plugin: torchx_local, options: {component: "my_pkg.components:train"}}
    budget: {max_trials: 24, parallelism: 2}
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

_STRICT = ConfigDict(extra="forbid")
Scalar = bool | int | float | str


#: Names usable in Ax's constraint and objective expressions.
NAME_PATTERN = r"^[A-Za-z_][A-Za-z0-9_]*$"


class RangeParameter(BaseModel):
    """A number between two bounds; ``value_type: int`` for whole numbers."""

    model_config = _STRICT
    name: str = Field(
        pattern=NAME_PATTERN, description="Parameter name (a trainer option)."
    )
    type: Literal["range"]
    bounds: tuple[int | float, int | float] = Field(
        description="Lower and upper bound."
    )
    value_type: Literal["float", "int"] = Field(
        "float", description="`float`, or `int` for integer values."
    )
    log_scale: bool = Field(False, description="Search the logarithm (bounds > 0).")

    @model_validator(mode="after")
    def _bounds_in_order(self) -> RangeParameter:
        low, high = self.bounds
        if not low < high:
            raise ValueError(f"bounds: lower {low} must be below upper {high}")
        if self.log_scale and low <= 0:
            raise ValueError(f"bounds: log_scale needs a lower bound > 0, got {low}")
        if self.value_type == "int" and (low != int(low) or high != int(high)):
            raise ValueError(
                f"bounds: value_type int needs whole bounds, got {low}, {high}"
            )
        return self


class ChoiceParameter(BaseModel):
    """One of a list of values; ``is_ordered``: the values are ordered."""

    model_config = _STRICT
    name: str = Field(
        pattern=NAME_PATTERN, description="Parameter name (a trainer option)."
    )
    type: Literal["choice"]
    values: list[Scalar] = Field(min_length=2, description="The allowed values.")
    is_ordered: bool | None = Field(
        None, description="Whether the values are ordered (default: numbers are)."
    )

    @model_validator(mode="after")
    def _one_type(self) -> ChoiceParameter:
        kinds = {_value_type(v) for v in self.values}
        if len(kinds) > 1:
            raise ValueError(f"values: mixes types {sorted(kinds)}; use one type")
        if len(set(self.values)) != len(self.values):
            raise ValueError(f"values: duplicates in {self.values}")
        return self


class FixedParameter(BaseModel):
    """A value given to every trial and not searched."""

    model_config = _STRICT
    name: str = Field(
        pattern=NAME_PATTERN, description="Parameter name (a trainer option)."
    )
    type: Literal["fixed"]
    value: Scalar = Field(description="The value every trial gets.")


Parameter = Annotated[
    RangeParameter | ChoiceParameter | FixedParameter, Field(discriminator="type")
]


def _value_type(value: Any) -> str:
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int):
        return "int"
    if isinstance(value, float):
        return "float"
    return "str"


class PluginChoice(BaseModel):
    """A plugin by entry-point name, with the keyword options of its constructor."""

    model_config = _STRICT
    plugin: str = Field(
        min_length=1, description="Entry-point name (`ax-nas plugins`)."
    )
    options: dict[str, Any] = Field(
        default_factory=dict, description="Keyword options of the plugin."
    )


class MetricChoice(PluginChoice):
    """A metric plugin; ``name`` is the Ax metric name used by objectives."""

    name: str = Field(pattern=NAME_PATTERN, description="Ax metric name.")


class Objective(BaseModel):
    """One objective: a metric, its direction and (several objectives) its threshold."""

    model_config = _STRICT
    metric: str = Field(min_length=1, description="A name from `metrics`.")
    direction: Literal["maximize", "minimize"] = Field(
        description="`maximize` or `minimize`."
    )
    threshold: float | None = Field(
        None,
        description="Worst value still of interest (the reference point); "
        "drawn in the report.",
    )


class OutcomeConstraint(BaseModel):
    """A bound on a metric that is not an objective, e.g. ``latency_ms <= 5``."""

    model_config = _STRICT
    metric: str = Field(min_length=1, description="A name from `metrics`.")
    op: Literal["<=", ">="] = Field(description="`<=` or `>=`.")
    bound: float = Field(description="The bound.")


class Budget(BaseModel):
    """How much to run: trials, trials at once, failures tolerated, time per trial."""

    model_config = _STRICT
    max_trials: int = Field(ge=1, description="Total trials of the search.")
    parallelism: int = Field(2, ge=1, description="Trials running at once.")
    tolerated_failure_rate: float = Field(
        0.5,
        ge=0.0,
        le=1.0,
        description="Share of failed trials (after 5 failures) that ends the run.",
    )
    trial_timeout_s: float | None = Field(
        None,
        gt=0,
        description="Longest a trial may run, seconds: the runner option "
        "`max_runtime_s` where the runner has it (the job is stopped), else "
        "Ax's `ttl_seconds_for_trials` (the trial is marked stale).",
    )


class RunConfig(BaseModel):
    """A whole run: search space, objectives, plugins, budget and storage."""

    model_config = _STRICT
    name: str = Field(
        pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$",
        description="Experiment name; also the run folder's default name.",
    )
    description: str = Field("", description="Free text, kept with the experiment.")
    parameters: list[Parameter] = Field(min_length=1, description="The search space.")
    parameter_constraints: list[str] = Field(
        default_factory=list,
        description='Linear constraints in Ax syntax, e.g. `"a + b <= 10"`.',
    )
    objectives: list[Objective] = Field(min_length=1, description="One or more.")
    outcome_constraints: list[OutcomeConstraint] = Field(
        default_factory=list, description="Bounds on other metrics."
    )
    metrics: list[MetricChoice] = Field(min_length=1, description="Metric plugins.")
    runner: PluginChoice = Field(description="Runner plugin that starts trials.")
    early_stopping: PluginChoice | None = Field(
        None, description="Early-stopping plugin, or none."
    )
    generation: PluginChoice = Field(
        default_factory=lambda: PluginChoice(plugin="auto"),
        description="Generation-strategy preset.",
    )
    budget: Budget = Field(description="Trials, parallelism, failures, time limit.")
    storage: str | None = Field(
        None,
        description="SQLAlchemy URL or SQLite path (default: run folder's `nas.db`).",
    )

    @model_validator(mode="after")
    def _names_agree(self) -> RunConfig:
        names = [p.name for p in self.parameters]
        dup = sorted({n for n in names if names.count(n) > 1})
        if dup:
            raise ValueError(f"parameters: duplicate names {dup}")
        metric_names = [m.name for m in self.metrics]
        dup = sorted({n for n in metric_names if metric_names.count(n) > 1})
        if dup:
            raise ValueError(f"metrics: duplicate names {dup}")
        return self
