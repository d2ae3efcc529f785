"""``ax-nas``: list plugins; run, resume, inspect and report a NAS run from a config.

Each sub-command imports what it needs inside its body, so ``ax-nas plugins``
and ``ax-nas --version`` never import torch, TorchX, BoTorch or Ax.
"""

from __future__ import annotations

import json
from typing import Annotated, Any

import typer

from ax_nas_plugins import __version__, registry

app = typer.Typer(
    name="ax-nas",
    help="Multi-objective neural architecture search with Ax, by plugin name.",
    no_args_is_help=True,
    add_completion=False,
)


def _version_callback(value: bool) -> None:
    if value:
        typer.echo(f"ax-nas-plugins {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: Annotated[
        bool,
        typer.Option(
            "--version",
            callback=_version_callback,
            is_eager=True,
            help="Print the version and exit.",
        ),
    ] = False,
) -> None:
    """Multi-objective neural architecture search with Ax, by plugin name."""


@app.command("plugins")
def plugins(
    as_json: Annotated[
        bool, typer.Option("--json", help="Print JSON for machines.")
    ] = False,
    check: Annotated[
        bool,
        typer.Option(
            "--check",
            help="Import every plugin and report those that fail (slower).",
        ),
    ] = False,
    kind: Annotated[
        str | None,
        typer.Option(help=f"Only this kind: {', '.join(registry.KINDS)}."),
    ] = None,
) -> None:
    """List installed plugins: kind, name, distribution, version, description."""
    if kind is not None and kind not in registry.KINDS:
        typer.echo(
            f"Unknown --kind {kind!r}; allowed: {', '.join(registry.KINDS)}.", err=True
        )
        raise typer.Exit(2)
    kinds = [kind] if kind else list(registry.KINDS)
    rows = []
    for k in kinds:
        for info in registry.plugin_infos(k).values():
            row = {
                "kind": k,
                "name": info.name,
                "distribution": info.distribution,
                "version": info.version,
                "entry_point": info.value,
                "description": info.description(),
            }
            rows.append(row)
    if check:
        for row in rows:
            try:
                registry.load(row["kind"], row["name"])
                row["error"] = None
            except Exception as exc:
                row["error"] = str(exc)
    if as_json:
        typer.echo(json.dumps(rows, indent=2))
    else:
        from rich.console import Console
        from rich.markup import escape
        from rich.table import Table

        table = Table(title="ax-nas plugins")
        for col in ("kind", "name", "distribution", "version", "description"):
            table.add_column(col, overflow="fold")
        if check:
            table.add_column("status", overflow="fold")
        for row in rows:
            cells = [row[c] for c in ("kind", "name", "distribution", "version")]
            cells.append(row["description"])
            if check:
                cells.append(
                    "ok" if row["error"] is None else f"[red]{escape(row['error'])}[/]"
                )
            table.add_row(*cells)
        Console().print(table)
    if check and any(r["error"] for r in rows):
        raise typer.Exit(1)


class _CliState:
    """What one ``ax-nas`` process remembers between a command and ``main()``."""

    #: Set by commands with --verbose before they run.
    verbose: bool = False
    #: Set when Ctrl-C ended a run (main() then leaves without interpreter teardown).
    interrupted: bool = False


_STATE = _CliState()

#: The two options every search command takes.
NoReportOption = Annotated[
    bool, typer.Option("--no-report", metavar="", help="Skip the final report.")
]
VerboseOption = Annotated[
    bool, typer.Option("--verbose", metavar="", help="Show Ax's own logs.")
]


def _err_console() -> Any:
    from rich.console import Console

    return Console(stderr=True, soft_wrap=True, highlight=False)


def _fail(message: str, code: int = 2) -> typer.Exit:
    """Print ``error: message`` (markup escaped, never wrapped) and make the exit."""
    from rich.markup import escape

    console = _err_console()
    for line in str(message).splitlines() or [""]:
        console.print(f"[red]error:[/] {escape(line)}")
    return typer.Exit(code)


def _run_guarded(work: Any, translate: Any = None) -> Any:
    """Run ``work()``; user errors -> exit 2, Ctrl-C -> 130, failed search -> 1."""
    from ax_nas_plugins.cli._logs import scoped_logs
    from ax_nas_plugins.cli._session import Interrupted
    from ax_nas_plugins.config import ConfigError
    from ax_nas_plugins.errors import AxNasError

    try:
        with scoped_logs(None, verbose=_STATE.verbose):
            return work()
    except Interrupted as exc:
        _STATE.interrupted = True
        raise typer.Exit(130) from exc
    except ConfigError as exc:
        raise _fail(translate(exc) if translate else str(exc)) from exc
    except AxNasError as exc:
        raise _fail(str(exc)) from exc
    except KeyboardInterrupt as exc:  # before the run started: nothing to resume
        raise _fail("interrupted before the run started.", 130) from exc
    except Exception as exc:
        from ax.exceptions.core import AxError

        if isinstance(exc, AxError):  # e.g. too many failed trials
            raise _fail(f"the run stopped: {type(exc).__name__}: {exc}", 1) from exc
        raise


def _print_outcome(console: Any, outcome: Any) -> None:
    from rich.markup import escape
    from rich.table import Table

    counts = ", ".join(
        f"{k.lower().replace('_', '-')} {v}" for k, v in sorted(outcome.counts.items())
    )
    console.print(f"Trials: {counts}.")
    if outcome.pareto:
        table = Table(title="Pareto-optimal trials (observed final values)")
        table.add_column("trial")
        for name in outcome.objectives:
            table.add_column(name)
        table.add_column("parameters", overflow="fold")
        skip = {"trial_index", "status", "reason", *outcome.objectives}
        skip |= set(outcome.metrics)
        for row in outcome.pareto:
            cells = [str(row["trial_index"])]
            cells += [_short(row.get(name)) for name in outcome.objectives]
            params = ", ".join(
                f"{k}={_short(v)}" for k, v in row.items() if k not in skip
            )
            table.add_row(*cells, escape(params))
        console.print(table)
    else:
        console.print("No Pareto set yet (no completed trial with every objective).")
    if outcome.report is not None:
        console.print(f"Report: {escape(str(outcome.report))}")


def _short(value: Any) -> str:
    return f"{value:.4g}" if isinstance(value, float) else str(value)


def _console() -> Any:
    from rich.console import Console

    return Console(highlight=False, soft_wrap=True)


def _demo_option(option: str, text: str) -> Any:
    """A ``--<option>`` of ``ax-nas demo`` whose help names demo.yaml's default."""
    from ax_nas_plugins.demo import demo_defaults

    help_text = f"{text} (default {demo_defaults()[option]}, from demo.yaml)"
    return typer.Option(help=help_text, show_default=False)


@app.command("demo")
def demo(
    workdir: Annotated[
        str,
        typer.Option(help="Run folder: SQLite file, trial logs, events, report."),
    ] = "ax_nas_demo",
    trials: Annotated[
        int | None,
        _demo_option("trials", "Total trials of the search."),
    ] = None,
    parallel: Annotated[
        int | None,
        _demo_option("parallel", "Trials running at once."),
    ] = None,
    max_epochs: Annotated[
        int | None,
        _demo_option("max_epochs", "Upper bound of `epochs`."),
    ] = None,
    generation: Annotated[
        str | None,
        _demo_option("generation", "Generation-strategy plugin name."),
    ] = None,
    early_stopping: Annotated[
        str | None,
        _demo_option("early_stopping", "Early-stopping plugin name, or 'none'."),
    ] = None,
    seed: Annotated[
        int | None,
        _demo_option("seed", "Seed of the generation strategy."),
    ] = None,
    resume: Annotated[
        bool,
        typer.Option(
            "--resume",
            metavar="",
            help="Continue the run stored in --workdir (--trials sets a new total).",
        ),
    ] = False,
    print_config: Annotated[
        bool,
        typer.Option(
            "--print-config",
            metavar="",
            help="Print the demo's config (YAML, with these options) and exit.",
        ),
    ] = False,
    no_report: NoReportOption = False,
    verbose: VerboseOption = False,
) -> None:
    """Run the NAS demo (the bundled config demo.yaml) on local processes and SQLite."""
    from pathlib import Path

    from ax_nas_plugins import demo as demo_mod
    from ax_nas_plugins.cli import _session

    console = _console()
    folder = Path(workdir)
    _STATE.verbose = verbose

    def work() -> Any:
        if resume:
            if any(
                v is not None
                for v in (parallel, max_epochs, generation, early_stopping, seed)
            ):
                from ax_nas_plugins.errors import AxNasError

                raise AxNasError(
                    "--resume keeps the run's own settings; only --trials "
                    "(a new total) may be given with it."
                )
            _session.check_run_folder(folder)
            return _session.resume(
                folder,
                console,
                verbose=verbose,
                max_trials=trials,
                report=not no_report,
            )
        config = demo_mod.demo_config(
            trials=trials,
            parallel=parallel,
            max_epochs=max_epochs,
            generation=generation,
            early_stopping=early_stopping,
            seed=seed,
        )
        if print_config:
            import yaml

            typer.echo(
                yaml.safe_dump(
                    config.model_dump(mode="json", exclude_none=True), sort_keys=False
                )
            )
            return None
        es = config.early_stopping.plugin if config.early_stopping else "none"
        console.print(
            f"NAS demo: {config.budget.max_trials} trials, "
            f"{config.budget.parallelism} at a time, generation "
            f"{config.generation.plugin}, early stopping {es}."
        )
        return _session.start(
            config,
            folder,
            console,
            verbose=verbose,
            source="demo",
            report=not no_report,
        )

    outcome = _run_guarded(work, translate=demo_mod.options_error)
    if outcome is not None:
        _print_outcome(console, outcome)


@app.command("run")
def run(
    config: Annotated[str, typer.Argument(help="The run's YAML config file.")],
    folder: Annotated[
        str | None,
        typer.Option("--dir", help="Run folder (default ./<name in the config>)."),
    ] = None,
    no_report: NoReportOption = False,
    verbose: VerboseOption = False,
) -> None:
    """Run a search from a config file; everything is stored in the run folder."""
    from pathlib import Path

    from ax_nas_plugins.cli import _session
    from ax_nas_plugins.config import load_config

    console = _console()
    _STATE.verbose = verbose

    def work() -> Any:
        cfg = load_config(config)
        target = Path(folder) if folder else Path(cfg.name)
        return _session.start(
            cfg, target, console, verbose=verbose, source=config, report=not no_report
        )

    _print_outcome(console, _run_guarded(work))


@app.command("check")
def check_cmd(
    config: Annotated[str, typer.Argument(help="The run's YAML config file.")],
) -> None:
    """Check a config as `ax-nas run` would (plugins made in memory); write nothing."""
    from ax_nas_plugins.config import build, load_config

    def work() -> Any:
        cfg = load_config(config)
        built = build(cfg, run_dir=cfg.name, source=config)
        return cfg, built

    cfg, built = _run_guarded(work)
    es = cfg.early_stopping.plugin if cfg.early_stopping else "none"
    typer.echo(
        f"{config}: ok. {len(cfg.parameters)} parameters, "
        f"{len(cfg.objectives)} objective(s), runner {cfg.runner.plugin}, "
        f"generation {cfg.generation.plugin}, early stopping {es}, "
        f"{cfg.budget.max_trials} trials ({cfg.budget.parallelism} at once); "
        f"stored in {built.storage}."
    )


@app.command("resume")
def resume_cmd(
    name: Annotated[str, typer.Argument(help="Run folder (or the run's name in ./).")],
    trials: Annotated[
        int | None, typer.Option(help="New total of trials (default: the config's).")
    ] = None,
    no_report: NoReportOption = False,
    verbose: VerboseOption = False,
) -> None:
    """Continue a run after a stop or a crash: running trials are found, none re-run."""
    from pathlib import Path

    from ax_nas_plugins.cli import _session

    console = _console()
    _STATE.verbose = verbose
    if trials is not None and trials < 1:
        raise _fail(f"--trials: must be 1 or more, got {trials}.")
    outcome = _run_guarded(
        lambda: _session.resume(
            Path(name),
            console,
            verbose=verbose,
            max_trials=trials,
            report=not no_report,
        )
    )
    _print_outcome(console, outcome)


@app.command("status")
def status(
    name: Annotated[str, typer.Argument(help="Run folder (or the run's name in ./).")],
) -> None:
    """Trial counts and the Pareto set of a run, as stored (quick; changes nothing)."""
    from pathlib import Path

    from ax_nas_plugins.cli import _session
    from ax_nas_plugins.cli._logs import scoped_logs

    console = _console()

    def work() -> Any:
        with scoped_logs(None):
            return _session.stored_summary(Path(name))

    _print_outcome(console, _run_guarded(work))


@app.command("report")
def report(
    name: Annotated[str, typer.Argument(help="Run folder (or the run's name in ./).")],
    out: Annotated[
        str | None, typer.Option("--out", help="Folder (default <run folder>/report).")
    ] = None,
    no_cv: Annotated[
        bool,
        typer.Option(
            "--no-cv",
            metavar="",
            help="Skip cross-validation (no model fit).",
        ),
    ] = False,
) -> None:
    """Write the report: Pareto plot, learning curves, cross-validation, tables."""
    from pathlib import Path

    from rich.markup import escape

    from ax_nas_plugins.cli import _session
    from ax_nas_plugins.cli._logs import scoped_logs
    from ax_nas_plugins.errors import AxNasError

    console = _console()
    folder = Path(name)
    target = Path(out) if out else folder / _session.REPORT_DIR

    def work() -> Any:
        with scoped_logs(None):
            _config, experiment = _session.load_stored(folder)
            if target.exists() and not target.is_dir():
                raise AxNasError(f"--out: {target} is a file, not a folder.")
            from ax_nas_plugins.report import write_report

            try:
                return write_report(
                    experiment,
                    target,
                    events=folder / _session.EVENTS_FILE,
                    cross_validation=not no_cv,
                )
            except OSError as exc:
                raise AxNasError(f"--out: cannot write {target}: {exc}") from exc

    paths = _run_guarded(work)
    for kind, path in paths.items():
        console.print(f"{kind}: {escape(str(path))}")


@app.command("config-reference")
def config_reference(
    out: Annotated[
        str | None, typer.Option("--out", help="Write to this file instead of stdout.")
    ] = None,
) -> None:
    """Print the config file reference (Markdown), generated from the models."""
    from pathlib import Path

    from ax_nas_plugins.config.reference import reference_markdown

    text = reference_markdown()
    if out:
        Path(out).write_text(text, encoding="utf-8")
    else:
        typer.echo(text)


def main() -> None:
    """Console-script entry point.

    The trainers are detached processes that outlive this command on purpose
    (Ctrl-C, a crash): Python's "subprocess N is still running" warning at
    exit is noise here, so this process (only the command line's) ignores it.
    """
    import os
    import sys
    import warnings

    warnings.filterwarnings("ignore", category=ResourceWarning)
    try:
        app()
    except SystemExit as exc:
        if _STATE.interrupted:
            # Leave at once: every change is already stored, and the handles
            # of the still-running trainers would only warn at teardown.
            sys.stdout.flush()
            sys.stderr.flush()
            os._exit(exc.code if isinstance(exc.code, int) else 130)
        raise


if __name__ == "__main__":
    main()
