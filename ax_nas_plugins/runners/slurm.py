"""The ``torchx_slurm`` preset: TorchX ``slurm`` jobs, outputs in the trial's folder.

The rule: each trial is one ``sbatch`` job built by TorchX's Slurm
scheduler (:mod:`ax_nas_plugins.runners.schedulers.slurm_shared`), submitted
from the orchestrating machine with Slurm's clients (``sbatch``, ``squeue``,
``sacct``, ``sinfo``, ``scancel``; ``SLURM_CONF`` as usual). ``log_root``
must be on a filesystem that the compute nodes and the orchestrator share:
the job writes its Slurm output files and TensorBoard events into the
trial's log folder, where ``poll_exception`` and the ``tensorboard`` metric
read them. Slurm keeps every job's state (accounting, ``slurmdbd``), so a
new process that loads the experiment polls, explains and cancels the same
jobs from ``run_metadata`` alone.

Example::

    runner = anp.runner(
        "torchx_slurm",
        component="my_pkg.components:train",
        cfg={"partition": "gpu", "time": "02:00:00", "job_dir": "/shared/proj"},
        log_root="/shared/runs",
    )

Scheduler options (``cfg``): ``partition``, ``time`` (Slurm time limit),
``comment``, ``constraint``, ``mail-user``, ``mail-type`` (as in TorchX),
``job_dir`` (the job's working directory on the shared filesystem; default:
the submitting process's working directory).

Secrets named in ``secret_env`` reach the job through the environment of
the ``sbatch`` process (Slurm's default ``--export=ALL``), never through the
batch script, which is kept in the trial's folder.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ax_nas_plugins.runners.base import SESSION, RunnerError, TorchXJobRunner

if TYPE_CHECKING:
    from torchx.schedulers.api import DescribeAppResponse
    from torchx.specs import AppDef

    from ax_nas_plugins.runners.schedulers.slurm_shared import SharedFsSlurmScheduler


class TorchXSlurmRunner(TorchXJobRunner):
    """Slurm batch jobs (TorchX ``slurm``); saved and resumed; capacity from idle CPUs.

    Options are those of :class:`~ax_nas_plugins.runners.base.TorchXJobRunner`;
    ``cfg`` takes ``partition``, ``time``, ``comment``, ``constraint``,
    ``mail-user``, ``mail-type`` and ``job_dir``.
    ``poll_available_capacity`` is the partition's idle CPUs, less the CPUs
    of jobs pending there, divided by the CPUs one trial asks for (and no
    more than ``max_concurrent`` allows).
    """

    scheduler = "slurm"
    plugin_name = "torchx_slurm"
    #: Options that must be strings (TorchX declares them so).
    _str_keys = (
        "partition",
        "time",
        "comment",
        "constraint",
        "mail-user",
        "mail-type",
        "job_dir",
    )

    def _check_options(self) -> None:
        super()._check_options()
        for key in self._str_keys:
            value = self.cfg.get(key)
            if value is not None and not isinstance(value, str):
                raise RunnerError(
                    f"torchx_slurm: `cfg[{key!r}]` must be a string, got {value!r}."
                )
        job_dir = self.cfg.get("job_dir")
        if job_dir is not None and not job_dir.startswith("/"):
            raise RunnerError(
                f"torchx_slurm: `cfg['job_dir']` must be an absolute path on the "
                f"shared filesystem, got {job_dir!r}."
            )

    def _make_scheduler(self) -> SharedFsSlurmScheduler:
        from ax_nas_plugins.runners.schedulers.slurm_shared import (
            SharedFsSlurmScheduler,
        )

        return SharedFsSlurmScheduler(SESSION)

    def _scheduler_cfg(self, log_dir: str) -> dict[str, Any]:
        return {**self.cfg, "log_dir": log_dir}

    def _prepare_app(self, app: AppDef, log_dir: str) -> None:
        import os

        from torchx.specs import macros

        cpus = 0
        for role in app.roles:
            # secrets travel in sbatch's environment, not in the batch script
            for name in self.secret_env:
                role.env.pop(name, None)
            role.env.setdefault(
                "TORCHELASTIC_ERROR_FILE",
                os.path.join(
                    log_dir,
                    f"error-{macros.app_id}-{role.name}-{macros.replica_id}.json",
                ),
            )
            cpus += max(1, int(role.resource.cpu)) * role.num_replicas
        self._live["cpus_per_trial"] = cpus

    def _describe_many(
        self, app_ids: dict[int, dict[str, Any]]
    ) -> dict[int, DescribeAppResponse | Exception | None]:
        from ax_nas_plugins.runners.schedulers.slurm_shared import (
            query_jobs,
            to_response,
        )

        try:
            jobs = query_jobs([m["app_id"] for m in app_ids.values()])
        except Exception as exc:  # slurmctld/slurmdbd unreachable: unknown
            return dict.fromkeys(app_ids, exc)
        out: dict[int, DescribeAppResponse | Exception | None] = {}
        for index, meta in app_ids.items():
            job = jobs.get(str(meta["app_id"]))
            out[index] = None if job is None else to_response(job)
        return out

    def _find_submitted(self, record: dict[str, Any], log_dir: str) -> str | None:
        """The job ``sbatch`` made from this trial's batch script, if any.

        Slurm gives a job its id only when ``sbatch`` returns; an
        orchestrator killed right then leaves a ``starting`` record without
        an id. The batch script's path (``<log_dir>/torchx-sbatch.sh``) is
        unique to the trial, and Slurm keeps it (``squeue`` ``%o``,
        ``sacct`` ``SubmitLine``), so that job is adopted instead of
        submitting a second one. With several (a run of 0.1 submitted
        again), the newest is adopted.
        """
        import os

        from ax_nas_plugins.runners.schedulers.slurm_shared import jobs_with_script

        script = os.path.join(os.path.abspath(log_dir), "torchx-sbatch.sh")
        if not os.path.exists(script):
            return None  # killed before the script was written: nothing submitted
        try:
            ids = jobs_with_script(script, since=record.get("intent_at"))
        except Exception as exc:
            raise RunnerError(
                f"torchx_slurm: cannot tell whether trial {record.get('trial_index')}"
                f"'s job was submitted (squeue/sacct failed: {exc}); retry later."
            ) from exc
        return ids[-1] if ids else None

    def _log_tail(self, meta: dict[str, Any], lines: int) -> list[str]:
        import glob
        import os

        app_id = meta["app_id"]
        folder = meta["log_dir"]
        files = sorted(glob.glob(os.path.join(folder, f"slurm-{app_id}-*.err")))
        files += sorted(glob.glob(os.path.join(folder, f"slurm-{app_id}-*.out")))
        files.append(os.path.join(folder, f"slurm-{app_id}.out"))
        out: list[str] = []
        for path in files:
            if not os.path.exists(path):
                continue
            with open(path, errors="replace") as fh:
                got = fh.read().splitlines()[-lines:]
            if got:
                out.append(f"--- {os.path.basename(path)} ---")
                out.extend(got)
        return out

    def _cancel(self, meta: dict[str, Any]) -> dict[str, Any]:
        facts = self._get_scheduler().cancel_confirmed(
            str(meta["app_id"]), self.stop_timeout_s
        )
        if not facts["confirmed_gone"]:
            raise RunnerError(
                f"torchx_slurm: job {meta['app_id']} is still "
                f"{facts['slurm_state']} after scancel and scancel --signal=KILL."
            )
        return facts

    def _backend_capacity(self) -> int | None:
        """Idle CPUs of the partition less pending jobs' CPUs, in trials; None
        when Slurm cannot be asked."""
        from ax_nas_plugins.runners.schedulers.slurm_shared import idle_cpus

        try:
            idle, pending = idle_cpus(self.cfg.get("partition"))
        except Exception:
            return None
        per_trial = int(self._live.get("cpus_per_trial", 1))
        return max(0, (idle - pending) // per_trial)
