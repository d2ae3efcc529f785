"""TorchX's ``slurm`` scheduler, with logs in the trial's folder and a full state table.

The rule: jobs are submitted exactly as TorchX's
:class:`~torchx.schedulers.slurm_scheduler.SlurmScheduler` builds them (one
heterogeneous ``sbatch`` job per app, ``srun`` per replica), with these
changes so that any process on the shared filesystem can follow them:

- every output file goes to ``cfg["log_dir"]`` (absolute paths): the batch
  script ``torchx-sbatch.sh``, its own output ``slurm-<jobid>.out`` and each
  replica's ``slurm-<jobid>-<role>-<k>.out`` / ``.err``; nothing is written
  to the submitting process's working directory (TorchX's
  ``.torchxslurmjobdirs`` is not used);
- ``cfg["job_dir"]``, when set, is the job's working directory (``sbatch
  --chdir``); otherwise the job runs in the submitting process's working
  directory, as with TorchX;
- a job's state comes from ``squeue`` (live jobs, at once) and ``sacct``
  (finished jobs, the exit code), both asked about many jobs in one call,
  and every Slurm state is mapped (:data:`SLURM_STATES`; TorchX's own table
  fails on ``CANCELLED by <uid>``); the message says the state, the exit
  code or signal and Slurm's reason;
- :meth:`cancel_confirmed` runs ``scancel`` and waits until Slurm reports
  the job ended.
"""

from __future__ import annotations

import os
import subprocess
import time
from dataclasses import dataclass
from typing import Any

from torchx.schedulers.api import AppDryRunInfo, DescribeAppResponse
from torchx.schedulers.slurm_scheduler import SlurmBatchRequest, SlurmScheduler
from torchx.specs import AppDef, AppState, ReplicaStatus, Role, RoleStatus, macros

#: Every Slurm job state (``squeue``/``sacct``) -> TorchX ``AppState``.
SLURM_STATES: dict[str, AppState] = {
    "BOOT_FAIL": AppState.FAILED,
    "CANCELLED": AppState.CANCELLED,
    "COMPLETED": AppState.SUCCEEDED,
    "COMPLETING": AppState.RUNNING,  # ending; its final state follows
    "CONFIGURING": AppState.PENDING,
    "DEADLINE": AppState.FAILED,
    "FAILED": AppState.FAILED,
    "NODE_FAIL": AppState.FAILED,
    "OUT_OF_MEMORY": AppState.FAILED,
    "PENDING": AppState.PENDING,
    "PREEMPTED": AppState.FAILED,
    "REQUEUED": AppState.PENDING,
    "REQUEUE_FED": AppState.PENDING,
    "REQUEUE_HOLD": AppState.PENDING,
    "RESIZING": AppState.RUNNING,
    "RESV_DEL_HOLD": AppState.PENDING,
    "REVOKED": AppState.FAILED,
    "RUNNING": AppState.RUNNING,
    "SIGNALING": AppState.RUNNING,
    "SPECIAL_EXIT": AppState.FAILED,
    "STAGE_OUT": AppState.RUNNING,
    "STOPPED": AppState.RUNNING,  # SIGSTOPped, still holds its resources
    "SUSPENDED": AppState.PENDING,
    "TIMEOUT": AppState.FAILED,
}

#: What a person reads for a Slurm state that ended a job badly.
_EXPLAIN = {
    "TIMEOUT": "the job reached its time limit (cfg 'time' / partition MaxTime)",
    "OUT_OF_MEMORY": "the job ran out of memory",
    "NODE_FAIL": "the node running the job failed",
    "BOOT_FAIL": "the node could not boot",
    "PREEMPTED": "the job was preempted",
    "DEADLINE": "the job reached its deadline",
    "CANCELLED": "cancelled with scancel",
}

_LIVE = frozenset(
    s for s, a in SLURM_STATES.items() if a in (AppState.PENDING, AppState.RUNNING)
)


@dataclass
class SlurmJob:
    """One job as Slurm reports it."""

    job_id: str
    name: str
    state: str  # first word (``CANCELLED by 0`` -> ``CANCELLED``)
    exit_code: str = ""  # ``code:signal`` from sacct
    reason: str = ""
    source: str = ""  # "squeue" or "sacct"

    @property
    def app_state(self) -> AppState:
        return SLURM_STATES.get(self.state, AppState.UNKNOWN)

    def message(self) -> str:
        """State, exit code or signal, and Slurm's reason, in one line."""
        parts = [self.state]
        code, _, sig = self.exit_code.partition(":")
        if code and code != "0":
            parts.append(f"exit code {code}")
        if sig and sig != "0":
            parts.append(f"killed by signal {sig}")
        if self.state in _EXPLAIN:
            parts.append(_EXPLAIN[self.state])
        if self.reason and self.reason not in ("None", "NonZeroExitCode"):
            parts.append(f"Slurm reason: {self.reason}")
        if self.state not in SLURM_STATES:
            parts.append("(a Slurm state this runner does not know)")
        return ", ".join(parts)


def _run(args: list[str]) -> str:
    done = subprocess.run(args, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise RuntimeError(
            f"`{' '.join(args[:3])} ...` failed ({done.returncode}): "
            f"{done.stderr.strip()[-500:]}"
        )
    return done.stdout


def query_jobs(job_ids: list[str]) -> dict[str, SlurmJob | None]:
    """Slurm's view of several jobs: two client calls, whatever their number.

    ``sacct`` wins once it has a final state (it keeps the exit code);
    ``squeue`` wins before (``sacct`` lags behind a new job by seconds); a
    job that neither knows is ``None``. Raises when a client cannot reach
    the cluster (the caller treats that as *unknown*, not as failed).
    """
    ids = [str(i) for i in job_ids]
    if not ids:
        return {}
    wanted = set(ids)
    live: dict[str, SlurmJob] = {}
    args = ["squeue", "-h", "--states=all", "-j", ",".join(ids), "-o", "%i|%j|%T|%r"]
    done_q = subprocess.run(args, capture_output=True, text=True, check=False)
    if done_q.returncode != 0 and "Invalid job id" not in done_q.stderr:
        raise RuntimeError(
            f"`squeue` failed ({done_q.returncode}): {done_q.stderr.strip()[-500:]}"
        )
    out = done_q.stdout if done_q.returncode == 0 else ""
    for line in out.splitlines():
        fields = line.strip().split("|")
        if len(fields) == 4 and fields[0].split("+")[0] in wanted:
            job_id, name, state, reason = fields
            job_id = job_id.split("+")[0]
            live[job_id] = SlurmJob(job_id, name, state, "", reason, "squeue")
    done: dict[str, SlurmJob] = {}
    out = _run(
        [
            "sacct",
            "-n",
            "-X",
            "--parsable2",
            "-j",
            ",".join(ids),
            "--format=JobIDRaw,JobName,State,ExitCode,Reason",
        ]
    )
    for line in out.splitlines():
        fields = line.strip().split("|")
        if len(fields) < 5:
            continue
        job_id = fields[0].split("+")[0]
        if job_id in wanted and job_id not in done:
            state = fields[2].split(" ")[0]
            done[job_id] = SlurmJob(
                job_id, fields[1], state, fields[3], fields[4], "sacct"
            )
    result: dict[str, SlurmJob | None] = {}
    for job_id in ids:
        acct, queue = done.get(job_id), live.get(job_id)
        if acct is not None and acct.state not in _LIVE:
            if queue is not None and not acct.reason:
                acct.reason = queue.reason
            result[job_id] = acct
        else:
            result[job_id] = queue or acct
    return result


def jobs_with_script(script: str, since: float | None = None) -> list[str]:
    """Ids of the jobs whose batch script is ``script`` (an absolute path).

    The rule: ``squeue --states=all`` (jobs ``slurmctld`` still holds,
    command ``%o``) and ``sacct`` (jobs of the accounting database submitted
    since ``since``, a Unix time; by default since midnight, as ``sacct``
    does; its ``SubmitLine`` ends with the script) are both asked, because
    each forgets what the other keeps. Hetjob components give the leader's
    id (``12+1`` -> ``12``). Sorted, oldest first. Raises when a client
    cannot reach the cluster.
    """
    found: set[str] = set()
    out = _run(["squeue", "-h", "--states=all", "-o", "%i|%o"])
    for line in out.splitlines():
        job_id, _, command = line.strip().partition("|")
        if command == script:
            found.add(job_id.split("+")[0])
    args = ["sacct", "-n", "-X", "--parsable2", "--format=JobID,SubmitLine"]
    if since is not None:
        start = time.strftime("%Y-%m-%dT%H:%M:%S", time.localtime(since - 60))
        args.append(f"--starttime={start}")
    for line in _run(args).splitlines():
        job_id, _, submit_line = line.strip().partition("|")
        submit_line = submit_line.rstrip()
        if submit_line == script or submit_line.endswith(" " + script):
            found.add(job_id.split("+")[0])
    return sorted(found, key=lambda i: int(i) if i.isdigit() else 0)


def idle_cpus(partition: str | None) -> tuple[int, int]:
    """(idle CPUs, CPUs wanted by pending jobs) of ``partition`` (default: the
    cluster's default partition)."""
    out = _run(["sinfo", "-h", "-o", "%P|%C"])
    idle = 0
    chosen = None
    for line in out.splitlines():
        name, _, cpus = line.strip().partition("|")
        default = name.endswith("*")
        name = name.rstrip("*")
        if (partition is None and default) or name == partition:
            chosen = name
            idle += int(cpus.split("/")[1])
    if chosen is None:
        raise RuntimeError(f"Slurm has no partition {partition or '(default)'!r}")
    out = _run(["squeue", "-h", "-t", "PENDING", "-p", chosen, "-o", "%C"])
    pending = sum(int(x) for x in out.split() if x.isdigit())
    return idle, pending


class SharedFsSlurmScheduler(SlurmScheduler):
    """TorchX ``slurm`` with outputs in ``cfg["log_dir"]`` (see module doc)."""

    def _run_opts(self) -> Any:
        opts = super()._run_opts()
        opts.add(
            "log_dir",
            type_=str,
            help="folder (on a filesystem the nodes share) for the job's outputs",
        )
        return opts

    def _submit_dryrun(  # type: ignore[override]
        self, app: AppDef, cfg: Any
    ) -> AppDryRunInfo[SlurmBatchRequest]:
        cfg = dict(cfg)
        log_dir = cfg.pop("log_dir", None)
        job_dir = cfg.pop("job_dir", None)
        info = super()._submit_dryrun(app, cfg)  # type: ignore[arg-type]
        req = info.request
        if log_dir:
            log_dir = os.path.abspath(log_dir)
            for name, replica in req.replicas.items():
                base = os.path.join(log_dir, f"slurm-{macros.app_id}-{name}")
                replica.srun_opts["output"] = base + ".out"
                replica.srun_opts["error"] = base + ".err"
            req.cmd.append(f"--output={os.path.join(log_dir, 'slurm-%j.out')}")
        if job_dir:
            req.cmd.append(f"--chdir={os.path.abspath(job_dir)}")
        # `job_dir` on the request would make TorchX write .torchxslurmjobdirs
        req.job_dir = None
        info._log_dir = log_dir  # type: ignore[attr-defined]
        return info

    def schedule(self, dryrun_info: AppDryRunInfo[SlurmBatchRequest]) -> str:
        req = dryrun_info.request
        log_dir = getattr(dryrun_info, "_log_dir", None)
        if not log_dir:
            return super().schedule(dryrun_info)
        os.makedirs(log_dir, exist_ok=True)
        path = os.path.join(log_dir, "torchx-sbatch.sh")
        with open(path, "w") as fh:
            fh.write(req.materialize())
        out = _run([*req.cmd, path])
        return out.strip().split(";")[0]

    def describe(self, app_id: str) -> DescribeAppResponse | None:
        job = query_jobs([app_id])[app_id]
        return None if job is None else to_response(job)

    def cancel_confirmed(self, app_id: str, timeout: float) -> dict[str, Any]:
        """``scancel`` the job; wait until Slurm reports it ended (or ``timeout``)."""
        _run(["scancel", app_id])
        job = _wait_ended(app_id, timeout)
        if job is not None and job.state in _LIVE:
            _run(["scancel", "--signal=KILL", "--full", app_id])
            job = _wait_ended(app_id, timeout)
        return {
            "confirmed_gone": job is None or job.state not in _LIVE,
            "slurm_state": job.state if job else None,
        }


def _wait_ended(app_id: str, timeout: float) -> SlurmJob | None:
    deadline = time.monotonic() + timeout
    while True:
        job = query_jobs([app_id])[app_id]
        if job is None or job.state not in _LIVE or time.monotonic() > deadline:
            return job
        time.sleep(0.2)


def to_response(job: SlurmJob) -> DescribeAppResponse:
    """A TorchX ``DescribeAppResponse`` for one Slurm job (one role per app)."""
    state = job.app_state
    role, _, replica = job.name.rpartition("-")
    roles, statuses = [], []
    if role and replica.isdigit():
        roles = [Role(name=role, num_replicas=1, image="")]
        statuses = [
            RoleStatus(
                role,
                [ReplicaStatus(id=int(replica), state=state, role=role, hostname="")],
            )
        ]
    return DescribeAppResponse(
        app_id=job.job_id,
        state=state,
        msg=job.message(),
        roles=roles,
        roles_statuses=statuses,
    )
