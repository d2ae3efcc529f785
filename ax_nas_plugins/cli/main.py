"""``ax-nas``: list plugins, and (in later releases) run, resume and report NAS.

Each sub-command imports what it needs inside its body, so ``ax-nas plugins``
and ``ax-nas --version`` never import torch, TorchX, BoTorch or Ax.
"""

from __future__ import annotations

import json
from typing import Annotated

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
                cells.append("ok" if row["error"] is None else f"[red]{row['error']}")
            table.add_row(*cells)
        Console().print(table)
    if check and any(r["error"] for r in rows):
        raise typer.Exit(1)


@app.command("demo")
def demo(
    workdir: Annotated[
        str, typer.Option(help="Folder for the SQLite file, trial logs and events.")
    ] = "ax_nas_demo",
    trials: Annotated[int, typer.Option(help="Total trials of the search.")] = 12,
    parallel: Annotated[int, typer.Option(help="Trials running at once.")] = 2,
    max_epochs: Annotated[int, typer.Option(help="Upper bound of `epochs`.")] = 12,
    generation: Annotated[
        str, typer.Option(help="Generation-strategy plugin name.")
    ] = "gp_moo",
    early_stopping: Annotated[
        str, typer.Option(help="Early-stopping plugin name, or 'none'.")
    ] = "learning_curve",
    seed: Annotated[int, typer.Option(help="Seed of the generation strategy.")] = 0,
    resume: Annotated[
        bool, typer.Option("--resume", help="Continue the run stored in --workdir.")
    ] = False,
) -> None:
    """Run the NAS demo: the blog post's MLP on local processes, stored in SQLite."""
    from pathlib import Path

    from rich.console import Console
    from rich.table import Table

    from ax_nas_plugins import demo as demo_mod
    from ax_nas_plugins.errors import AxNasError

    console = Console()
    try:
        settings = demo_mod.DemoSettings(
            workdir=Path(workdir),
            trials=trials,
            parallel=parallel,
            max_epochs=max_epochs,
            generation=generation,
            early_stopping=None if early_stopping.lower() == "none" else early_stopping,
            seed=seed,
            resume=resume,
        )
        console.print(
            f"NAS demo: {trials} trials, {parallel} at a time, generation "
            f"[bold]{generation}[/], early stopping [bold]{early_stopping}[/]; "
            f"stored in {settings.db_path} (resume with --resume)."
        )
        summary = demo_mod.run(settings, console=console)
    except AxNasError as exc:
        console.print(f"[red]error:[/] {exc}")
        raise typer.Exit(2) from exc
    counts = ", ".join(f"{k.lower()} {v}" for k, v in sorted(summary["trials"].items()))
    console.print(f"Trials: {counts}.")
    table = Table(title="Pareto-optimal architectures (observed values)")
    for col in (
        "trial",
        "val_acc",
        "num_params",
        "hidden",
        "lr",
        "dropout",
        "batch",
        "epochs",
    ):
        table.add_column(col)
    for row in summary["pareto"]:
        p = row["parameters"]
        table.add_row(
            str(row["trial_index"]),
            f"{row['val_acc']:.4f}",
            f"{row['num_params']:.0f}",
            f"{p['hidden_size_1']}-{p['hidden_size_2']}",
            f"{p['learning_rate']:.2g}",
            f"{p['dropout']:.2f}",
            str(p["batch_size"]),
            str(p["epochs"]),
        )
    console.print(table)
    if summary["pareto_error"]:
        console.print(f"[yellow]No Pareto set yet:[/] {summary['pareto_error']}")


def main() -> None:
    """Console-script entry point."""
    app()


if __name__ == "__main__":
    main()
