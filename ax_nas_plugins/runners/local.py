"""The ``torchx_local`` preset: TorchX ``local_cwd`` jobs that survive a restart.

The rule: each trial's job runs in the working directory of the process that
submits it (like TorchX's ``local_cwd``), under a detached supervisor
(scheduler ``ax_local_cwd``, :mod:`ax_nas_plugins.runners.schedulers.local_detached`),
with its app folder inside the trial's log folder. Killing the orchestrating
process, even with SIGKILL, leaves the job running; a new process that loads
the experiment finds it again from ``run_metadata`` (pid + start time,
``exit.json``) and neither re-runs nor fails it. ``stop`` ends the job's
whole process tree (SIGTERM, then SIGKILL after ``cfg["kill_grace_s"]``) and
confirms by pid.

Example::

    import ax_nas_plugins as anp

    runner = anp.runner(
        "torchx_local",
        component="my_pkg.components:train",   # returns a torchx AppDef
        component_const_params={"epochs": 3},
        log_root="runs",
        max_concurrent=4,
    )

Scheduler options (``cfg``) are the scheduler's ``run_opts()``
(:class:`~ax_nas_plugins.runners.schedulers.local_detached.LocalDetachedOpts`):
``prepend_cwd`` (bool), ``kill_grace_s`` (float >= 0, default 5). ``log_dir``
is set per trial by the runner from ``log_root``.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

from ax_nas_plugins.runners.base import SESSION, RunnerError, TorchXJobRunner

if TYPE_CHECKING:
    from torchx.schedulers.api import DescribeAppResponse

    from ax_nas_plugins.runners.schedulers.local_detached import LocalDetachedScheduler


class TorchXLocalRunner(TorchXJobRunner):
    """Local processes (TorchX ``local_cwd`` semantics) that can be saved and resumed.

    Options are those of :class:`~ax_nas_plugins.runners.base.TorchXJobRunner`;
    ``cfg`` takes what ``ax_local_cwd``'s ``run_opts()`` declares.
    """

    scheduler = "ax_local_cwd"
    plugin_name = "torchx_local"

    def _make_scheduler(self) -> LocalDetachedScheduler:
        from ax_nas_plugins.runners.schedulers.local_detached import (
            LocalDetachedScheduler,
        )

        return LocalDetachedScheduler(
            SESSION, index_dir=os.path.join(self.log_root, ".apps")
        )

    def _scheduler_cfg(self, log_dir: str) -> dict[str, Any]:
        return {**self.cfg, "log_dir": log_dir}

    def _app_dir(self, meta: dict[str, Any]) -> str:
        return os.path.join(meta["log_dir"], meta["app_id"])

    def _describe_many(
        self, app_ids: dict[int, dict[str, Any]]
    ) -> dict[int, DescribeAppResponse | Exception | None]:
        sched = self._get_scheduler()
        return {
            index: sched.describe_dir(meta["app_id"], self._app_dir(meta))
            for index, meta in app_ids.items()
        }

    def _log_tail(self, meta: dict[str, Any], lines: int) -> list[str]:
        out: list[str] = []
        app_dir = self._app_dir(meta)
        for role, k, folder in self._get_scheduler().replica_folders(app_dir):
            for stream in ("stderr.log", "stdout.log"):
                path = os.path.join(folder, stream)
                if not os.path.exists(path):
                    continue
                with open(path, errors="replace") as fh:
                    got = fh.read().splitlines()[-lines:]
                if got:
                    out.append(f"--- {role}/{k} {stream} ---")
                    out.extend(got)
        return out

    def _job_started(self, meta: dict[str, Any]) -> bool:
        """Adopt a ``starting`` job only if a supervisor claimed a replica; else
        claim them all, so that a supervisor still starting never runs it."""
        return self._get_scheduler().claim_or_adopt(self._app_dir(meta))

    def _cancel(self, meta: dict[str, Any]) -> dict[str, Any]:
        gone = self._get_scheduler().cancel_dir(
            self._app_dir(meta), timeout=self.stop_timeout_s
        )
        if not gone:
            raise RunnerError(
                f"torchx_local: the job of {meta['app_handle']} did not end within "
                f"{self.stop_timeout_s} s after SIGKILL."
            )
        return {"confirmed_gone": True}
