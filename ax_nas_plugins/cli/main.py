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
def demo() -> None:
    """Run the NAS demo (MNIST-style MLP, local processes, SQLite)."""
    typer.echo(
        "The NAS demo (local processes + SQLite) arrives with the end-to-end issue; "
        "this release ships the plugin registry. `ax-nas plugins` lists what is "
        "installed."
    )


def main() -> None:
    """Console-script entry point."""
    app()


if __name__ == "__main__":
    main()
