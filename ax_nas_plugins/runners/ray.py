"""The ``torchx_ray`` preset: each trial a Ray job (TorchX ``ray``), followed by id.

The rule: each trial is one job submitted through Ray's job API (the
dashboard address) by TorchX's Ray scheduler
(:mod:`ax_nas_plugins.runners.schedulers.ray_staged`): TorchX's driver runs
the role's command in one Ray actor per replica. The job's working dir is a
staged copy of ``cfg["working_dir"]`` (default: the role's ``image``, i.e.
the folder the component names) without virtualenvs, caches and the log
root. Ray keeps every job's state, so a new process that loads the
experiment polls, explains and stops the same jobs from ``run_metadata``
(the app id holds the dashboard address). Trainers write TensorBoard events
to the trial's ``tensorboard_dir`` (an absolute path, so the nodes and the
orchestrator must share ``log_root``).

Example::

    runner = anp.runner(
        "torchx_ray",
        component="my_pkg.components:train",
        cfg={
            "dashboard_address": "127.0.0.1:8265",
            "working_dir": "/shared/proj/src",
            "runtime_env": {"env_vars": {"OMP_NUM_THREADS": "1"}},
        },
        log_root="/shared/runs",
    )

Scheduler options (``cfg``): ``dashboard_address`` (``host:port``; default
``127.0.0.1:8265``), ``working_dir``, ``runtime_env`` (dict merged into the
job's runtime env; ``working_dir`` in it is not allowed), ``requirements``
(path of a ``requirements.txt`` for ``pip``), ``cluster_name``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ax_nas_plugins.runners.base import SESSION, RunnerError, TorchXJobRunner

if TYPE_CHECKING:
    from ax_nas_plugins.runners.schedulers.ray_staged import StagedRayScheduler


class TorchXRayRunner(TorchXJobRunner):
    """Ray jobs (TorchX ``ray``); saved and resumed; capacity from free CPUs.

    Options are those of :class:`~ax_nas_plugins.runners.base.TorchXJobRunner`;
    ``cfg`` takes ``dashboard_address``, ``working_dir``, ``runtime_env``,
    ``requirements`` and ``cluster_name``. ``poll_available_capacity`` is
    the cluster's CPUs divided by the CPUs one trial asks for, less the
    jobs Ray has pending or running (and no more than ``max_concurrent``
    allows).
    """

    scheduler = "ray"
    plugin_name = "torchx_ray"
    #: Scheduler options the runner sets per trial (refused in ``cfg``).
    managed_cfg = frozenset({"log_dir", "exclude_dir"})

    def _check_options(self) -> None:
        super()._check_options()
        for key in ("dashboard_address", "working_dir", "requirements", "cluster_name"):
            value = self.cfg.get(key)
            if value is not None and not isinstance(value, str):
                raise RunnerError(
                    f"torchx_ray: `cfg[{key!r}]` must be a string, got {value!r}."
                )
        env = self.cfg.get("runtime_env")
        if env is not None:
            if not isinstance(env, dict):
                raise RunnerError(
                    f"torchx_ray: `cfg['runtime_env']` must be a dict (Ray runtime "
                    f"env), got {env!r}."
                )
            if "working_dir" in env:
                raise RunnerError(
                    "torchx_ray: set the working dir with `cfg['working_dir']`, not "
                    "inside `cfg['runtime_env']`."
                )
            clash = set(env.get("env_vars") or {}) & set(self.secret_env)
            if clash:
                raise RunnerError(
                    f"torchx_ray: `cfg['runtime_env']['env_vars']` sets {sorted(clash)}"
                    ", which are listed in `secret_env`: cfg is stored with the "
                    "experiment, so give secrets only through `secret_env`."
                )
        addr = self.cfg.get("dashboard_address")
        if addr is not None and (
            "/" in addr.removeprefix("http://") or ":" not in addr
        ):
            raise RunnerError(
                f"torchx_ray: `cfg['dashboard_address']` must be host:port, got "
                f"{addr!r}."
            )

    def _make_scheduler(self) -> StagedRayScheduler:
        from ax_nas_plugins.runners.schedulers.ray_staged import StagedRayScheduler

        return StagedRayScheduler(SESSION)

    def _scheduler_cfg(self, log_dir: str) -> dict[str, Any]:
        cfg = {"dashboard_address": "127.0.0.1:8265", **self.cfg}
        cfg["dashboard_address"] = cfg["dashboard_address"].removeprefix("http://")
        return {**cfg, "log_dir": log_dir, "exclude_dir": self.log_root}

    def _prepare_app(self, app: Any, log_dir: str) -> None:
        """Each replica's stdout/stderr go to ``<log_dir>/ray-<role>-<k>.out/.err``
        (through ``/bin/sh -c 'exec "$0" "$@" >>... 2>>...'``: the command and
        its arguments stay separate argv items); Ray forwards actor output to
        the job log only when it gets to it, so the files are what
        ``poll_exception`` reads."""
        import os

        from torchx.specs import macros

        cpus = 0.0
        for role in app.roles:
            role.env.setdefault("PYTHONUNBUFFERED", "1")
            base = os.path.join(log_dir, f"ray-{role.name}-{macros.replica_id}")
            role.env["AX_NAS_STDOUT"] = base + ".out"
            role.env["AX_NAS_STDERR"] = base + ".err"
            role.args = [
                "-c",
                'exec "$0" "$@" >>"$AX_NAS_STDOUT" 2>>"$AX_NAS_STDERR"',
                role.entrypoint,
                *role.args,
            ]
            role.entrypoint = "/bin/sh"
            cpus += max(1.0, float(role.resource.cpu)) * role.num_replicas
        self._live["cpus_per_trial"] = cpus

    def _log_tail(self, meta: dict[str, Any], lines: int) -> list[str]:
        import glob
        import os

        folder = meta["log_dir"]
        out: list[str] = []
        files = sorted(glob.glob(os.path.join(folder, "ray-*.err")))
        files += sorted(glob.glob(os.path.join(folder, "ray-*.out")))
        for path in files:
            with open(path, errors="replace") as fh:
                got = fh.read().splitlines()[-lines:]
            if got:
                out += [f"--- {os.path.basename(path)} ---", *got]
        try:
            out += self._get_scheduler().log_tail(meta["app_id"], lines)
        except Exception as exc:
            out.append(f"(Ray job log not readable: {type(exc).__name__}: {exc})")
        return out

    def _cancel(self, meta: dict[str, Any]) -> dict[str, Any]:
        facts = self._get_scheduler().cancel_confirmed(
            meta["app_id"], self.stop_timeout_s
        )
        if not facts["confirmed_gone"]:
            raise RunnerError(
                f"torchx_ray: job {meta['app_id']} is still {facts['ray_status']} "
                f"{self.stop_timeout_s} s after stop_job."
            )
        return facts

    def _planned_app_id(self, dryrun_info: Any) -> str | None:
        """``<dashboard host:port>-<submission id>``: known before submitting."""
        req = dryrun_info.request
        if not req.dashboard_address or not req.app_id:
            return None
        return f"{req.dashboard_address}-{req.app_id}"

    def _backend_capacity(self) -> int | None:
        """The cluster's CPUs divided by the CPUs one trial asks for, less the
        jobs Ray has pending or running (each counted as one trial); None while
        Ray does not report its CPUs or cannot be asked."""
        addr = self._scheduler_cfg("")["dashboard_address"]
        try:
            total, live = self._get_scheduler().capacity_facts(addr)
        except Exception:
            return None
        if total is None:
            return None
        per_trial = float(self._live.get("cpus_per_trial", 1.0))
        return max(0, int(total // per_trial) - live)
