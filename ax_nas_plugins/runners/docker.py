"""The ``torchx_docker`` preset: TorchX ``local_docker`` containers, no network.

The rule: each trial's job runs in containers made by TorchX's Docker
scheduler (``local_docker``), with these changes
(:mod:`ax_nas_plugins.runners.schedulers.docker_isolated`): no network unless
``cfg["network"]`` says otherwise, no pull of an image the local dockerd
already has, and the trial's log folder bind-mounted at the same path, so the
job writes its logs, TensorBoard events and TorchElastic error file where
the metrics and ``poll_exception`` read them. Containers are kept after they
exit (for their logs); dockerd keeps their state, so a new process that
loads the experiment finds every job again by its app id label. Values of
``secret_env`` never enter a container's configuration: they reach the job
through a read-only file that is deleted once the job has read it (the image
needs ``/bin/sh``), so ``docker inspect`` and dockerd's files never hold them.

Example::

    runner = anp.runner(
        "torchx_docker",
        component="my_pkg.components:train",
        component_const_params={"image": "my-trainer:1"},
        cfg={"network": "none"},
    )

Scheduler options (``cfg``) are the scheduler's ``run_opts()``
(:class:`~ax_nas_plugins.runners.schedulers.docker_isolated.IsolatedDockerOpts`):
``network`` (default ``"none"``), ``copy_env`` (glob patterns of variables
to copy), ``env`` (plain variables: stored with the experiment, so never
secrets; use ``secret_env``), ``privileged``, ``kill_grace_s`` (seconds
between SIGTERM and SIGKILL on stop, default 5), and TorchX's
``image_repo``/``quiet``.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

from ax_nas_plugins.runners.base import SESSION, RunnerError, TorchXJobRunner
from ax_nas_plugins.runners.schedulers._opts import KILL_GRACE_S

if TYPE_CHECKING:
    from torchx.specs import AppDef

    from ax_nas_plugins.runners.schedulers.docker_isolated import (
        IsolatedDockerScheduler,
    )


class TorchXDockerRunner(TorchXJobRunner):
    """Docker containers (TorchX ``local_docker``) on no network; saved and resumed.

    Options are those of :class:`~ax_nas_plugins.runners.base.TorchXJobRunner`;
    ``cfg`` takes what the scheduler's ``run_opts()`` declares.
    """

    scheduler = "local_docker"
    plugin_name = "torchx_docker"

    def _make_scheduler(self) -> IsolatedDockerScheduler:
        from ax_nas_plugins.runners.schedulers.docker_isolated import (
            IsolatedDockerScheduler,
        )

        return IsolatedDockerScheduler(SESSION)

    managed_cfg = frozenset({"log_dir", "secret_env"})

    def _scheduler_cfg(self, log_dir: str) -> dict[str, Any]:
        cfg = {"network": "none", **self.cfg, "log_dir": log_dir}
        if self.secret_env:  # through a read-only file, not the container's env
            cfg["secret_env"] = list(self.secret_env)
        return cfg

    def _prepare_app(self, app: AppDef, log_dir: str) -> None:
        from torchx.specs import BindMount, macros

        os.makedirs(log_dir, exist_ok=True)
        for role in app.roles:
            role.mounts = [
                m for m in role.mounts if getattr(m, "dst_path", None) != log_dir
            ]
            role.mounts.append(BindMount(src_path=log_dir, dst_path=log_dir))
            role.env.setdefault(
                "TORCHELASTIC_ERROR_FILE",
                os.path.join(
                    log_dir,
                    macros.app_id,
                    f"{role.name}-{macros.replica_id}-error.json",
                ),
            )
            role.env.setdefault("PYTHONUNBUFFERED", "1")

    def _log_tail(self, meta: dict[str, Any], lines: int) -> list[str]:
        return self._get_scheduler().log_tail(meta["app_id"], lines)

    def _cancel(self, meta: dict[str, Any]) -> dict[str, Any]:
        grace = float(self.cfg.get("kill_grace_s", KILL_GRACE_S))
        facts = self._get_scheduler().cancel_confirmed(meta["app_id"], grace)
        if not facts["confirmed_gone"]:
            raise RunnerError(
                f"torchx_docker: the containers of {meta['app_handle']} still run "
                f"(pids {facts['pids']}) after docker stop."
            )
        return facts
