"""The NAS demo: the blog post's MLP search, on local processes and SQLite.

The rule: every piece is taken by plugin name, exactly as a user's own script
would: the ``torchx_local`` runner starts one trainer process per trial
(``ax_nas_plugins.examples``), the ``tensorboard`` metric reads ``val_acc``
curves, ``num_params`` reads the model size, an early-stopping plugin stops
hopeless trials, a generation preset proposes architectures, and the
experiment is stored in SQLite after every change, so ``--resume`` continues
a run that was interrupted (even by SIGKILL) without losing a trial.

Objectives: maximize ``val_acc`` (threshold ``acc_threshold``), minimize
``num_params`` (threshold ``params_threshold``). The search space is the
tutorial's: two hidden widths (log scale), learning rate (log), dropout,
batch size (ordered choice) and epochs.
"""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

import ax_nas_plugins as anp
from ax_nas_plugins.errors import AxNasError
from ax_nas_plugins.hooks import hookimpl

if TYPE_CHECKING:
    from ax.core.experiment import Experiment
    from ax.generation_strategy.generation_strategy import GenerationStrategy

EXPERIMENT_NAME = "nas_demo"


class DemoSettings(BaseModel):
    """What the demo runs; every field has a command-line option of the same name.

    Validated by pydantic when made (or by :meth:`check`, after fields were
    changed): a bad value raises :class:`AxNasError` naming each field, the
    value given and what is allowed.
    """

    model_config = ConfigDict(validate_assignment=False, extra="forbid")

    workdir: Path = Path("ax_nas_demo")
    trials: int = Field(12, ge=1)
    parallel: int = Field(2, ge=1)
    max_epochs: int = Field(12, ge=2)
    generation: str = "gp_moo"
    generation_options: dict[str, Any] = Field(default_factory=dict)
    early_stopping: str | None = "learning_curve"
    early_stopping_options: dict[str, Any] = Field(default_factory=dict)
    acc_threshold: float = Field(0.80, gt=0.0, lt=1.0)
    params_threshold: float = Field(20_000.0, gt=0.0)
    seed: int = 0
    resume: bool = False

    def __init__(self, **data: Any) -> None:
        try:
            super().__init__(**data)
        except ValidationError as exc:
            raise AxNasError(_settings_problems(exc)) from exc

    def check(self) -> None:
        """Check the fields again (after they were changed in place)."""
        DemoSettings(**self.model_dump())

    @property
    def db_path(self) -> Path:
        return self.workdir / "nas.db"


def _settings_problems(exc: ValidationError) -> str:
    parts = []
    for err in exc.errors():
        where = ".".join(str(x) for x in err["loc"]) or "settings"
        parts.append(f"{where}: {err['msg']} (got {err.get('input')!r})")
    return "Demo settings: " + "; ".join(parts) + "."


def search_space(max_epochs: int):
    """The tutorial's search space (widths 16-128 log, lr 1e-4-1e-2 log, ...)."""
    from ax.core.parameter import ChoiceParameter, ParameterType, RangeParameter
    from ax.core.search_space import SearchSpace

    return SearchSpace(
        parameters=[
            RangeParameter("hidden_size_1", ParameterType.INT, 16, 128, log_scale=True),
            RangeParameter("hidden_size_2", ParameterType.INT, 16, 128, log_scale=True),
            RangeParameter(
                "learning_rate", ParameterType.FLOAT, 1e-4, 1e-2, log_scale=True
            ),
            RangeParameter("dropout", ParameterType.FLOAT, 0.0, 0.5),
            ChoiceParameter(
                "batch_size",
                ParameterType.INT,
                values=[32, 64, 128, 256],
                is_ordered=True,
                sort_values=True,
            ),
            RangeParameter("epochs", ParameterType.INT, 2, max_epochs),
        ]
    )


def build_experiment(settings: DemoSettings) -> Experiment:
    """The demo experiment: runner, metrics and objectives all taken by name."""
    from ax.core.experiment import Experiment
    from ax.core.objective import Objective
    from ax.core.optimization_config import MultiObjectiveOptimizationConfig
    from ax.core.outcome_constraint import OutcomeConstraint

    val_acc = anp.metric("tensorboard", name="val_acc", lower_is_better=False)
    num_params = anp.metric("num_params")
    sigs = {m.name: m.signature for m in (val_acc, num_params)}
    opt = MultiObjectiveOptimizationConfig(
        objective=Objective(
            expression="val_acc, -num_params", metric_name_to_signature=sigs
        ),
        objective_thresholds=[
            OutcomeConstraint(
                expression=f"val_acc >= {settings.acc_threshold}",
                metric_name_to_signature={"val_acc": val_acc.signature},
            ),
            OutcomeConstraint(
                expression=f"num_params <= {settings.params_threshold}",
                metric_name_to_signature={"num_params": num_params.signature},
            ),
        ],
    )
    runner = anp.runner(
        "torchx_local",
        component="ax_nas_plugins.examples.components:mlp",
        log_root=str((settings.workdir / "runs").resolve()),
        max_concurrent=settings.parallel,
    )
    return Experiment(
        name=EXPERIMENT_NAME,
        search_space=search_space(settings.max_epochs),
        optimization_config=opt,
        metrics=[val_acc, num_params],
        runner=runner,
    )


def _early_stopping(settings: DemoSettings):
    if not settings.early_stopping:
        return None
    options = dict(settings.early_stopping_options)
    if settings.early_stopping == "percentile":  # one metric only in Ax
        options.setdefault("metric_signatures", ["val_acc"])
    return anp.early_stopping(settings.early_stopping, **options)


def _generation_strategy(settings: DemoSettings) -> GenerationStrategy:
    options = {"seed": settings.seed, **settings.generation_options}
    return anp.generation_strategy(settings.generation, **options)


class ConsoleProgress:
    """Hook plugin that prints one line per trial event on a rich console."""

    def __init__(self, console: Any) -> None:
        self.console = console

    @hookimpl
    def ax_nas_trial_deployed(self, trial_index: int, trial: Any) -> None:
        params = getattr(getattr(trial, "arm", None), "parameters", {}) or {}
        brief = ", ".join(
            f"{k}={v:.3g}" if isinstance(v, float) else f"{k}={v}"
            for k, v in params.items()
        )
        self.console.print(f"trial {trial_index} started: {brief}")

    @hookimpl
    def ax_nas_trial_completed(self, trial_index: int) -> None:
        self.console.print(f"trial {trial_index} [green]completed[/]")

    @hookimpl
    def ax_nas_trial_failed(self, trial_index: int, reason: str) -> None:
        self.console.print(f"trial {trial_index} [red]failed[/]: {reason}")

    @hookimpl
    def ax_nas_trial_early_stopped(self, trial_index: int, reason: str | None) -> None:
        why = f": {reason}" if reason else ""
        self.console.print(f"trial {trial_index} [yellow]stopped early[/]{why}")


def run(settings: DemoSettings, console: Any = None) -> dict[str, Any]:
    """Run (or resume) the demo; return a summary with the Pareto-optimal trials."""
    from ax.orchestration.orchestrator import Orchestrator, OrchestratorOptions

    from ax_nas_plugins import hooks
    from ax_nas_plugins.hooks.jsonl import JsonlEventLog

    settings.check()
    existed = settings.db_path.exists()
    if existed and not settings.resume:
        raise AxNasError(
            f"{settings.db_path} already holds a demo run; pass --resume to "
            "continue it, or choose another --workdir."
        )
    saved_choice = settings.workdir / "early_stopping.json"
    if existed and saved_choice.exists():
        # Ax stores no early-stopping strategy with the experiment: keep the
        # run's own choice on resume.
        choice = json.loads(saved_choice.read_text())
        settings.early_stopping = choice["plugin"]
        settings.early_stopping_options = choice["options"]
    # Unknown plugin names fail here, before anything is written.
    if not existed:
        anp.info("generation_strategy", settings.generation)
    if settings.early_stopping:
        anp.info("early_stopping", settings.early_stopping)
    settings.workdir.mkdir(parents=True, exist_ok=True)
    saved_choice.write_text(
        json.dumps(
            {
                "plugin": settings.early_stopping,
                "options": settings.early_stopping_options,
            }
        )
    )
    events = JsonlEventLog(settings.workdir / "events.jsonl")
    hooks.register(events)
    progress = ConsoleProgress(console) if console is not None else None
    if progress is not None:
        hooks.register(progress)
    try:
        options = OrchestratorOptions(
            max_pending_trials=settings.parallel,
            total_trials=settings.trials,
            init_seconds_between_polls=1,
            seconds_between_polls_backoff_factor=1.0,
            early_stopping_strategy=_early_stopping(settings),
            tolerated_trial_failure_rate=0.5,
            # Ax logs every "not written yet" fetch with a traceback at INFO;
            # the console hook above reports progress instead.
            logging_level=logging.INFO if console is None else logging.WARNING,
        )
        db = anp.db_settings(str(settings.db_path))
        if existed:
            orchestrator = Orchestrator.from_stored_experiment(
                EXPERIMENT_NAME, options=options, db_settings=db
            )
        else:
            orchestrator = Orchestrator(
                experiment=build_experiment(settings),
                generation_strategy=_generation_strategy(settings),
                options=options,
                db_settings=db,
            )
        done = len(orchestrator.experiment.trials)
        remaining = max(0, settings.trials - done)
        if remaining:
            orchestrator.run_n_trials(max_trials=remaining)
        else:
            orchestrator.wait_for_completed_trials_and_report_results()
        return summarize(orchestrator.experiment, orchestrator.generation_strategy)
    finally:
        hooks.unregister(events)
        if progress is not None:
            hooks.unregister(progress)


def summarize(experiment: Experiment, gs: GenerationStrategy) -> dict[str, Any]:
    """Trial counts by status and the observed Pareto-optimal trials."""
    from collections import Counter

    from ax.service.utils.best_point import get_pareto_optimal_parameters

    counts = Counter(t.status.name for t in experiment.trials.values())
    try:
        front = get_pareto_optimal_parameters(
            experiment, gs, use_model_predictions=False
        )
    except Exception as exc:  # too few trials with data: report, don't crash
        front, error = {}, str(exc)
    else:
        error = None
    pareto = [
        {
            "trial_index": idx,
            "parameters": params,
            "val_acc": means.get("val_acc"),
            "num_params": means.get("num_params"),
        }
        for idx, (params, (means, _cov)) in sorted(front.items())
    ]
    return {
        "experiment": experiment.name,
        "trials": dict(counts),
        "pareto": pareto,
        "pareto_error": error,
    }


def default_workdir() -> Path:
    return Path(os.environ.get("AX_NAS_DEMO_DIR", "ax_nas_demo"))
