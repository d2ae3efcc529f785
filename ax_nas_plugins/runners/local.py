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

Scheduler options (``cfg``): ``prepend_cwd`` (bool), ``kill_grace_s`` (float,
default 5). ``log_dir`` is set per trial by the runner from ``log_root``.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from ax_nas_plugins.runners.base import SESSION, RunnerError, TorchXJobRunner

if TYPE_CHECKING:
    from torchx.schedulers.api import DescribeAppResponse

    from ax_nas_plugins.runners.schedulers.local_detached import LocalDetachedScheduler


class TorchXLocalRunner(TorchXJobRunner):
    """Local processes (TorchX ``local_cwd`` semantics) that can be saved and resumed.

    Options are those of :class:`~ax_nas_plugins.runners.base.TorchXJobRunner`;
    ``cfg`` takes ``prepend_cwd`` and ``kill_grace_s``.
    """

    scheduler = "ax_local_cwd"
    plugin_name = "torchx_local"

    def __init__(
        self,
        component: Callable[..., Any] | str,
        component_const_params: dict[str, Any] | None = None,
        cfg: dict[str, Any] | None = None,
        log_root: str | None = None,
        secret_env: list[str] | None = None,
        unknown_grace_s: float = 300.0,
        stop_timeout_s: float = 15.0,
        max_concurrent: int | None = None,
        log_tail_lines: int = 20,
    ) -> None:
        super().__init__(
            component=component,
            component_const_params=component_const_params,
            cfg=cfg,
            log_root=log_root,
            secret_env=secret_env,
            unknown_grace_s=unknown_grace_s,
            stop_timeout_s=stop_timeout_s,
            max_concurrent=max_concurrent,
            log_tail_lines=log_tail_lines,
        )
        allowed = {"prepend_cwd", "kill_grace_s"}
        unknown = sorted(set(self.cfg) - allowed)
        if unknown:
            hint = (
                " (the log folder comes from `log_root`)"
                if "log_dir" in unknown
                else ""
            )
            raise RunnerError(
                f"torchx_local: unknown `cfg` option(s) {unknown}{hint}. "
                f"Allowed: {sorted(allowed)}."
            )

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
        for role, k, folder in self._get_scheduler()._replica_folders(app_dir):
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
