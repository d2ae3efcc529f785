"""Start, resume and inspect a run folder (``ax-nas run/resume/status/report``).

The rule: a run lives in one folder: ``config.yaml`` (the checked config, the
one source of truth on resume), ``nas.db`` (SQLite, unless the config names
another storage), ``runs/`` (one folder per trial: ``stdout.log``,
``stderr.log``, ``tensorboard/``), ``events.jsonl`` (one line per trial
event), ``ax-nas.log`` (everything Ax logged) and ``report/``.

- Nothing is written until the whole config is valid and the folder is
  usable; a start that fails before its first trial leaves the folder as it
  was (a folder it made is removed), so the same command can be run again.
- ``resume`` loads the stored experiment (``Orchestrator.from_stored_experiment``):
  running trials are found again by the runner, never started twice, and only
  the trials still missing from the budget are made. With nothing left to
  run it only prints the summary (no waiting, no model fit).
- Ctrl-C stops the command, not the trainers; the message says so and how to
  resume.
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml
from rich.console import Console
from rich.markup import escape

from ax_nas_plugins.errors import AxNasError

if TYPE_CHECKING:
    from ax_nas_plugins.config import BuiltRun, RunConfig

CONFIG_FILE = "config.yaml"
LOG_FILE = "ax-nas.log"
EVENTS_FILE = "events.jsonl"
REPORT_DIR = "report"


class Interrupted(AxNasError):
    """The user pressed Ctrl-C; trainers go on."""


@dataclass
class Outcome:
    """What a finished (or interrupted) command reports."""

    folder: Path
    counts: dict[str, int]
    pareto: list[dict[str, Any]]
    objectives: list[str]
    metrics: list[str] = field(default_factory=list)
    report: Path | None = None


# --- the folder ----------------------------------------------------------------


def check_new_folder(folder: Path) -> None:
    """Refuse a path that is a file, holds a run, or cannot be made; write nothing."""
    if folder.exists() and not folder.is_dir():
        raise AxNasError(f"{folder} is a file, not a folder; choose another path.")
    if folder.is_dir() and (
        (folder / CONFIG_FILE).exists() or (folder / "nas.db").exists()
    ):
        raise AxNasError(
            f"{folder} already holds a run; continue it with `ax-nas resume "
            f"{folder}` (`ax-nas demo --resume`), or choose another folder."
        )
    ancestor = folder
    while not ancestor.exists() and ancestor != ancestor.parent:
        ancestor = ancestor.parent
    if not ancestor.is_dir():
        raise AxNasError(f"Cannot make {folder}: {ancestor} is a file, not a folder.")
    if not os.access(ancestor, os.W_OK | os.X_OK):
        raise AxNasError(f"Cannot make {folder}: {ancestor} is not writable.")


def check_run_folder(folder: Path) -> None:
    """Refuse a path that holds no run to resume or inspect."""
    if not folder.exists():
        raise AxNasError(
            f"{folder} does not exist: no run to resume there. Start one with "
            "`ax-nas run CONFIG` or `ax-nas demo`."
        )
    if not folder.is_dir():
        raise AxNasError(f"{folder} is a file, not a run folder.")
    if not (folder / CONFIG_FILE).is_file():
        raise AxNasError(
            f"{folder} holds no run (no {CONFIG_FILE}); start one with "
            "`ax-nas run CONFIG` or `ax-nas demo`."
        )


def check_storage(location: str, source: str = "config") -> None:
    """Connect to a storage URL once (writes nothing); refuse it with one line."""
    if "://" not in location:
        return
    from sqlalchemy import create_engine

    from ax_nas_plugins.storage import db_settings  # noqa: F401  (dialect setup)

    try:
        engine = create_engine(location)
        try:
            with engine.connect():
                pass
        finally:
            engine.dispose()
    except Exception as exc:
        first = (str(getattr(exc, "orig", None) or exc).strip().splitlines() or [""])[0]
        from ax_nas_plugins.config import ConfigError

        raise ConfigError(
            source, [("storage", f"cannot connect to {location}: {first}")]
        ) from exc


def _make_folder(folder: Path) -> tuple[Path | None, set[str]]:
    """Make ``folder``; return the topmost folder made (or None) and what was there."""
    top = None
    probe = folder
    while not probe.exists():
        top = probe
        probe = probe.parent
    before = set(os.listdir(folder)) if folder.is_dir() else set()
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise AxNasError(f"Cannot make {folder}: {exc.strerror or exc}.") from exc
    return top, before


def _undo(folder: Path, top: Path | None, before: set[str]) -> None:
    """Put the folder back as it was before a failed start."""
    if top is not None:
        shutil.rmtree(top, ignore_errors=True)
        return
    for entry in set(os.listdir(folder)) - before:
        path = folder / entry
        if path.is_dir():
            shutil.rmtree(path, ignore_errors=True)
        else:
            path.unlink(missing_ok=True)


def save_config(config: RunConfig, folder: Path) -> None:
    text = yaml.safe_dump(
        config.model_dump(mode="json", exclude_none=True), sort_keys=False
    )
    (folder / CONFIG_FILE).write_text(
        "# Written by ax-nas: the run's config (resume reads it).\n" + text,
        encoding="utf-8",
    )


def load_run(folder: Path) -> tuple[RunConfig, BuiltRun]:
    from ax_nas_plugins.config import build, load_config

    check_run_folder(folder)
    source = str(folder / CONFIG_FILE)
    config = load_config(source)
    return config, build(
        config, run_dir=folder, source=source, logging_level=logging.INFO
    )


def load_stored(folder: Path) -> tuple[RunConfig, Any]:
    """The run's config and its experiment as stored (no orchestrator)."""
    from ax_nas_plugins import storage
    from ax_nas_plugins.config import load_config, storage_location

    check_run_folder(folder)
    config = load_config(folder / CONFIG_FILE)
    location = storage_location(config, folder)
    if "://" not in location and not Path(location).is_file():
        raise AxNasError(f"{folder}: the run stored nothing yet ({location} missing).")
    try:
        experiment, _gs = storage.load_experiment(location, config.name)
    except Exception as exc:
        raise AxNasError(
            f"{folder}: cannot load experiment {config.name!r} from {location}: {exc}"
        ) from exc
    return config, experiment


# --- running -------------------------------------------------------------------


def start(
    config: RunConfig,
    folder: Path,
    console: Console,
    verbose: bool = False,
    source: str = "config",
    report: bool = True,
) -> Outcome:
    """Check everything, make the folder, run the search (see the module rule)."""
    from ax_nas_plugins.config import build

    built = build(
        config, run_dir=folder, source=source, logging_level=logging.INFO
    )  # writes nothing
    check_new_folder(folder)
    check_storage(built.storage, source)
    top, before = _make_folder(folder)
    try:
        save_config(config, folder)
        orchestrator = _new_orchestrator(built, folder, verbose)
    except BaseException:
        _undo(folder, top, before)
        raise
    return _drive(orchestrator, built, folder, console, verbose, report, resumed=False)


def resume(
    folder: Path,
    console: Console,
    verbose: bool = False,
    max_trials: int | None = None,
    report: bool = True,
) -> Outcome:
    """Continue the run stored in ``folder`` (optionally with a new trial total)."""
    config, built = load_run(folder)
    if max_trials is not None and max_trials != config.budget.max_trials:
        from ax_nas_plugins.config import build

        config = config.model_copy(
            update={
                "budget": config.budget.model_copy(update={"max_trials": max_trials})
            }
        )
        built = build(
            config,
            run_dir=folder,
            source=str(folder / CONFIG_FILE),
            logging_level=logging.INFO,
        )
        save_config(config, folder)
    from ax.orchestration.orchestrator import Orchestrator

    import ax_nas_plugins as anp
    from ax_nas_plugins.cli._logs import scoped_logs

    with scoped_logs(folder / LOG_FILE, verbose):
        try:
            orchestrator = Orchestrator.from_stored_experiment(
                config.name,
                options=built.orchestrator_options,
                db_settings=anp.db_settings(built.storage),
            )
        except Exception as exc:
            raise AxNasError(
                f"{folder}: cannot load experiment {config.name!r} from "
                f"{built.storage}: {type(exc).__name__}: {exc}"
            ) from exc
    return _drive(orchestrator, built, folder, console, verbose, report, resumed=True)


def _new_orchestrator(built: BuiltRun, folder: Path, verbose: bool) -> Any:
    from ax.orchestration.orchestrator import Orchestrator

    import ax_nas_plugins as anp
    from ax_nas_plugins.cli._logs import scoped_logs

    with scoped_logs(folder / LOG_FILE, verbose):
        return Orchestrator(
            experiment=built.experiment,
            generation_strategy=built.generation_strategy,
            options=built.orchestrator_options,
            db_settings=anp.db_settings(built.storage),
        )


def _counts(experiment: Any) -> dict[str, int]:
    from collections import Counter

    return dict(Counter(t.status.name for t in experiment.trials.values()))


def _pareto_rows(experiment: Any, events: Path | None) -> tuple[list[dict], list[str]]:
    from ax_nas_plugins.report import collect

    data = collect(experiment, events)
    rows = [r for r in data.rows if r["trial_index"] in data.pareto]
    return rows, [o.metric for o in data.objectives]


def _drive(
    orchestrator: Any,
    built: BuiltRun,
    folder: Path,
    console: Console,
    verbose: bool,
    report: bool,
    resumed: bool,
) -> Outcome:
    from ax.core.base_trial import TrialStatus

    from ax_nas_plugins import hooks, progress
    from ax_nas_plugins.cli._display import Display, RunState
    from ax_nas_plugins.cli._logs import scoped_logs
    from ax_nas_plugins.hooks.jsonl import JsonlEventLog

    experiment = orchestrator.experiment
    total = built.config.budget.max_trials
    events_path = folder / EVENTS_FILE
    log_root = getattr(experiment.runner, "log_root", None)
    console.print(
        f"Run folder: {escape(str(folder))} · log: {escape(str(folder / LOG_FILE))}"
    )
    if log_root:
        console.print(
            f"Trial logs: under {escape(str(log_root))}/, one trial_NNNN/ folder "
            "per trial (stdout.log, stderr.log, tensorboard/)"
        )
    if built.time_limit_by == "ttl":
        console.print(
            f"Time limit per trial: the runner {built.config.runner.plugin!r} has no "
            "`max_runtime_s`; Ax marks a trial stale after "
            f"{built.config.budget.trial_timeout_s:g} s (its job is not stopped)."
        )
    state = RunState(name=experiment.name, total=total)
    state.counts = _counts(experiment)
    state.finished_at_start = state.finished()
    made = len(experiment.trials) - sum(
        1 for t in experiment.trials.values() if t.status == TrialStatus.CANDIDATE
    )
    remaining = max(0, total - made)

    def refresh(orch: Any = None) -> None:
        counts = _counts(experiment)
        if counts != state.counts:
            state.counts = counts
            # Too early for data: the panel just has no table yet.
            with contextlib.suppress(Exception):
                state.pareto, state.objectives = _pareto_rows(experiment, events_path)
            _announce_dataset(display, log_root, experiment.name, said)
        state.phase = "waiting for running trials (polling every second)"

    said: list[bool] = [False]
    idle = False
    events = JsonlEventLog(events_path)
    with (
        scoped_logs(folder / LOG_FILE, verbose) as terminal,
        Display(console, state) as display,
    ):
        _wrap_phases(orchestrator, display)
        hooks.register(events)
        hooks.register(display)

        def on_progress(
            event: str, what: str, done: float, total_: float | None
        ) -> None:
            if event == "end":
                display.set_phase("fitting done")
            else:
                of = f" {done:g}/{total_:g}" if total_ else ""
                display.set_phase(f"{what}{of}")

        try:
            with progress.observe(on_progress):
                if resumed and remaining == 0:
                    orchestrator.poll_and_process_results()
                    refresh()
                    if not orchestrator.running_trials:
                        idle = True
                        display.line(
                            f"Nothing left to run: {made} of {total} trials made "
                            "and none running."
                        )
                if remaining > 0 or orchestrator.running_trials:
                    for _ in orchestrator.run_trials_and_yield_results(
                        max_trials=remaining, idle_callback=refresh
                    ):
                        refresh()
        except KeyboardInterrupt as exc:
            running = len(orchestrator.running_trials)
            display.line(
                f"[yellow]Interrupted.[/] {running} trial(s) keep running on their "
                f"own; `ax-nas resume {escape(str(folder))}` picks them up "
                "(nothing is lost or run twice)."
            )
            raise Interrupted("interrupted") from exc
        finally:
            hooks.unregister(display)
            hooks.unregister(events)
            state.hidden_logs = terminal.hidden
            refresh()
            try:
                state.pareto, state.objectives = _pareto_rows(experiment, events_path)
            except Exception:  # no data at all yet
                state.pareto = []
            state.phase = "done"
    outcome = Outcome(
        folder=folder,
        counts=_counts(experiment),
        pareto=state.pareto,
        objectives=state.objectives,
        metrics=sorted(experiment.metrics),
    )
    existing = folder / REPORT_DIR / "report.html"
    if idle and existing.exists():
        outcome.report = existing  # nothing changed since it was written
    elif report:
        console.print("Writing the report (Pareto plot, curves, cross-validation)...")
        with scoped_logs(folder / LOG_FILE, verbose):
            from ax_nas_plugins.report import write_report

            paths = write_report(experiment, folder / REPORT_DIR, events=events_path)
        outcome.report = paths["html"]
    return outcome


def _wrap_phases(orchestrator: Any, display: Any) -> None:
    """Say what the optimizer does while it generates trials or checks curves.

    Wraps two public methods on this run's own objects (instance attributes
    only; nothing shared is patched).
    """
    gs = orchestrator.generation_strategy
    gen = gs.gen

    def gen_with_phase(*args: Any, **kwargs: Any) -> Any:
        node = getattr(getattr(gs, "current_node", None), "name", "") or ""
        what = (
            "drawing Sobol points"
            if "sobol" in node.lower()
            else ("fitting the model and optimizing the acquisition function")
        )
        display.set_phase(f"{what} for the next trial(s)")
        started = time.monotonic()
        try:
            return gen(*args, **kwargs)
        finally:
            display.set_phase(f"generated in {time.monotonic() - started:.1f} s")

    gs.gen = gen_with_phase
    es = orchestrator.options.early_stopping_strategy
    if es is not None:
        check = es.should_stop_trials_early

        def check_with_phase(*args: Any, **kwargs: Any) -> Any:
            display.set_phase("checking learning curves for early stopping")
            return check(*args, **kwargs)

        es.should_stop_trials_early = check_with_phase


_DATASET = re.compile(r"\bdata ?set\b\W{0,3}(mnist|digits|\w+)", re.IGNORECASE)
_DATASET_WORDS = {
    "digits": "scikit-learn's 8x8 digits (MNIST is used when its files are in "
    "AX_NAS_DATA_DIR)",
    "mnist": "MNIST (torchvision files on disk)",
}


def _announce_dataset(
    display: Any, log_root: str | None, name: str, said: list[bool]
) -> None:
    """Print once which data set the trainer used (``dataset=...`` in its log)."""
    if said[0] or not log_root:
        return
    root = Path(log_root)
    # The trainer's own record (dataset.txt: name on the first line), else its
    # stdout ("dataset=digits").
    logs = sorted(root.rglob("dataset.txt")) + sorted(root.rglob("stdout.log"))
    for log in logs:
        try:
            text = log.read_text(encoding="utf-8", errors="replace")
        except OSError:
            continue
        if log.name == "dataset.txt":
            text = f"dataset={text.split()[0]}" if text.strip() else ""
        match = _DATASET.search(text)
        if match:
            word = match.group(1).lower()
            display.line(f"Data set: {escape(_DATASET_WORDS.get(word, word))}.")
            said[0] = True
            return


def stored_summary(folder: Path) -> Outcome:
    """Counts and Pareto set of a stored run (no orchestrator, no model fit)."""
    _config, experiment = load_stored(folder)
    rows, objectives = _pareto_rows(experiment, folder / EVENTS_FILE)
    return Outcome(
        folder=folder,
        counts=_counts(experiment),
        pareto=rows,
        objectives=objectives,
        metrics=sorted(experiment.metrics),
    )
