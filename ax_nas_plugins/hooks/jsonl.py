"""A hook plugin that appends every lifecycle event to a JSON Lines file."""

from __future__ import annotations

import json
import os
import threading
import time
from typing import Any

from ax_nas_plugins.hooks.specs import hookimpl

#: Environment variable naming the event file for the entry-point instance.
ENV_VAR = "AX_NAS_EVENT_LOG"


class JsonlEventLog:
    """Append one JSON object a line per lifecycle event to a file.

    Registered by entry point, it writes to the file named by the environment
    variable ``AX_NAS_EVENT_LOG`` and does nothing when that is unset; created
    by hand (``JsonlEventLog("events.jsonl")``) and passed to
    :func:`ax_nas_plugins.hooks.register`, it writes to the given path.

    Each line holds ``time`` (Unix seconds), ``event`` (``trial_deployed``,
    ``trial_completed``, ``trial_failed``, ``trial_early_stopped``,
    ``experiment_saved``), ``experiment`` and the event's plain-data fields.
    Lines are written with one ``write`` call under a lock and flushed, so a
    reader never sees half a line from this process.
    """

    def __init__(self, path: str | os.PathLike[str] | None = None) -> None:
        self.path = os.fspath(path) if path is not None else None
        self._lock = threading.Lock()

    def _target(self) -> str | None:
        return self.path or os.environ.get(ENV_VAR) or None

    def _write(self, event: str, **fields: Any) -> None:
        target = self._target()
        if not target:
            return
        record = {"time": time.time(), "event": event, **fields}
        line = json.dumps(record, default=str, sort_keys=True) + "\n"
        os.makedirs(os.path.dirname(os.path.abspath(target)), exist_ok=True)
        with self._lock, open(target, "a", encoding="utf-8") as fh:
            fh.write(line)

    @hookimpl
    def ax_nas_trial_deployed(
        self, experiment_name: str, trial_index: int, run_metadata: dict[str, Any]
    ) -> None:
        self._write(
            "trial_deployed",
            experiment=experiment_name,
            trial_index=trial_index,
            run_metadata=run_metadata,
        )

    @hookimpl
    def ax_nas_trial_completed(self, experiment_name: str, trial_index: int) -> None:
        self._write(
            "trial_completed", experiment=experiment_name, trial_index=trial_index
        )

    @hookimpl
    def ax_nas_trial_failed(
        self, experiment_name: str, trial_index: int, reason: str
    ) -> None:
        self._write(
            "trial_failed",
            experiment=experiment_name,
            trial_index=trial_index,
            reason=reason,
        )

    @hookimpl
    def ax_nas_trial_early_stopped(
        self, experiment_name: str, trial_index: int, reason: str | None
    ) -> None:
        self._write(
            "trial_early_stopped",
            experiment=experiment_name,
            trial_index=trial_index,
            reason=reason,
        )

    @hookimpl
    def ax_nas_experiment_saved(self, experiment_name: str, location: str) -> None:
        self._write("experiment_saved", experiment=experiment_name, location=location)
