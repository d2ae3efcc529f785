"""Lifecycle hook specifications: the one page that says what a hook plugin can do.

A hook plugin is any object or module with functions marked ``@hookimpl``
named like the specs below, registered through the ``ax_nas_plugins.hooks``
entry-point group (or :func:`ax_nas_plugins.hooks.register` at run time).
An implementation may take any subset of a hook's arguments, by name.

Every hook is a notification: return values are ignored, and an exception
raised by an implementation is logged and swallowed, so that a broken hook
never stops an optimization. Arguments are plain data (str, int, dict of
JSON values) except the last, which is the live Ax object for implementations
that need more.
"""

from __future__ import annotations

from typing import Any

import pluggy

PROJECT = "ax_nas_plugins"
hookspec = pluggy.HookspecMarker(PROJECT)
hookimpl = pluggy.HookimplMarker(PROJECT)


@hookspec
def ax_nas_trial_deployed(
    experiment_name: str, trial_index: int, run_metadata: dict[str, Any], trial: Any
) -> None:
    """Called by the pack's runners right after a trial's job was submitted.

    ``run_metadata`` is what the runner returned to Ax (JSON values only: the
    job handle, scheduler and log folders).
    """


@hookspec
def ax_nas_trial_completed(
    experiment_name: str, trial_index: int, run_metadata: dict[str, Any], trial: Any
) -> None:
    """Called the first time a runner's poll sees a trial's job finish successfully."""


@hookspec
def ax_nas_trial_failed(
    experiment_name: str,
    trial_index: int,
    reason: str,
    run_metadata: dict[str, Any],
    trial: Any,
) -> None:
    """Called the first time a runner's poll sees a trial's job fail.

    ``reason`` is a one-line explanation (exit code, backend message).
    """


@hookspec
def ax_nas_trial_early_stopped(
    experiment_name: str,
    trial_index: int,
    reason: str | None,
    run_metadata: dict[str, Any],
    trial: Any,
) -> None:
    """Called when a runner stops a trial (early stopping or a user's stop).

    ``reason`` is the early-stopping strategy's explanation when Ax gave one.
    """


@hookspec
def ax_nas_experiment_saved(
    experiment_name: str, location: str, experiment: Any
) -> None:
    """Called after :func:`ax_nas_plugins.storage.save_experiment` wrote an experiment.

    ``location`` is the SQLAlchemy URL, SQLite path or JSON file written to.
    """
