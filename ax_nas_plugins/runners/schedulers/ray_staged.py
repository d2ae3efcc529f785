"""TorchX's ``ray`` scheduler, with a staged working dir, runtime env and batched polls.

The rule: the job is TorchX's Ray job (its ``ray_driver.py`` starts one
actor per replica in a placement group and runs the role's command), with
these changes:

- the working directory (``cfg["working_dir"]``, else the first role's
  ``image`` as in TorchX) is copied to a temporary staging folder before
  upload, leaving out virtualenvs (any folder with ``pyvenv.cfg``),
  ``.git``, ``__pycache__`` and the runner's log root; TorchX would write
  its driver files into the user's folder and upload a virtualenv with it.
  The staged copy is removed after submission; more than
  ``MAX_WORKING_DIR_MB`` is an error that names the folder;
- ``cfg["runtime_env"]`` (a dict: ``env_vars``, ``pip``, ``conda``, ...) is
  merged into the job's runtime env (``working_dir`` is the runner's);
- a job's state and message come from one ``list_jobs`` call per Ray
  cluster for any number of jobs; clients are made once per address;
- :meth:`cancel_confirmed` stops the job and waits until Ray reports it
  ended.
"""

from __future__ import annotations

import os
import re
import shutil
import tempfile
import time
from typing import Any

from torchx.schedulers.api import AppDryRunInfo, DescribeAppResponse
from torchx.schedulers.ray_scheduler import RayJob, RayScheduler, serialize
from torchx.specs import AppDef, AppState, ReplicaStatus, Role, RoleStatus

#: Largest staged working dir accepted (Ray's own upload limit is 500 MiB).
MAX_WORKING_DIR_MB = 100

_ANSI = re.compile(r"\x1b\[[0-9;]*m")
_SKIP_NAMES = {".git", "__pycache__", ".mypy_cache", ".pytest_cache", ".ruff_cache"}


def ray_state(status: Any) -> AppState:
    """Ray ``JobStatus`` (or its string) -> TorchX ``AppState``."""
    return {
        "PENDING": AppState.PENDING,
        "RUNNING": AppState.RUNNING,
        "SUCCEEDED": AppState.SUCCEEDED,
        "FAILED": AppState.FAILED,
        "STOPPED": AppState.CANCELLED,
    }.get(str(getattr(status, "value", status)), AppState.UNKNOWN)


def split_app_id(app_id: str) -> tuple[str, str]:
    """``"host:port-submission_id"`` -> (``host:port``, ``submission_id``)."""
    host, _, rest = app_id.partition(":")
    port, _, sub = rest.partition("-")
    return f"{host}:{port}", sub


def stage_working_dir(src: str, exclude: list[str]) -> str:
    """Copy ``src`` to a new temporary folder without virtualenvs, caches,
    ``.git`` and the folders in ``exclude``; the folder's path."""
    src = os.path.abspath(src)
    if not os.path.isdir(src):
        raise ValueError(
            f"torchx_ray: the working dir {src!r} (cfg 'working_dir', else the "
            "role's image) is not a folder."
        )
    excluded = {os.path.abspath(e) for e in exclude}

    def ignore(folder: str, names: list[str]) -> list[str]:
        out = []
        for name in names:
            path = os.path.join(folder, name)
            if (
                name in _SKIP_NAMES
                or path in excluded
                or (
                    os.path.isdir(path)
                    and os.path.exists(os.path.join(path, "pyvenv.cfg"))
                )
            ):
                out.append(name)
        return out

    dst = os.path.join(tempfile.mkdtemp(prefix="axnas-ray-wd-"), "wd")
    shutil.copytree(src, dst, ignore=ignore, symlinks=True)
    size = sum(
        os.path.getsize(os.path.join(d, f))
        for d, _, files in os.walk(dst)
        for f in files
        if not os.path.islink(os.path.join(d, f))
    )
    if size > MAX_WORKING_DIR_MB * 2**20:
        shutil.rmtree(os.path.dirname(dst), ignore_errors=True)
        raise ValueError(
            f"torchx_ray: the working dir {src!r} holds {size / 2**20:.0f} MiB to "
            f"upload (limit {MAX_WORKING_DIR_MB} MiB): set cfg 'working_dir' to a "
            "smaller folder with only the job's code."
        )
    return dst


class StagedRayScheduler(RayScheduler):
    """TorchX ``ray`` with the changes of the module doc."""

    def __init__(self, session_name: str) -> None:
        super().__init__(session_name)
        self._clients: dict[str, Any] = {}

    def _run_opts(self) -> Any:
        opts = super()._run_opts()
        opts.add("working_dir", type_=str, help="folder uploaded as the job's cwd")
        opts.add(
            "runtime_env",
            type_=dict,
            help="Ray runtime env merged into the job's (env_vars, pip, ...)",
        )
        opts.add("log_dir", type_=str, help="the trial's log folder (set by runner)")
        opts.add("exclude_dir", type_=str, help="folder never uploaded (log root)")
        return opts

    def _get_ray_client(self, job_submission_netloc: str | None = None) -> Any:
        from ray.job_submission import JobSubmissionClient

        netloc = job_submission_netloc or os.environ.get("RAY_ADDRESS", "")
        netloc = netloc.removeprefix("http://")
        if not netloc:
            raise ValueError(
                "torchx_ray: no Ray address: set cfg 'dashboard_address' "
                "(host:port of the dashboard) or RAY_ADDRESS."
            )
        if netloc not in self._clients:
            self._clients[netloc] = JobSubmissionClient(f"http://{netloc}")
        return self._clients[netloc]

    def _submit_dryrun(self, app: AppDef, cfg: Any) -> AppDryRunInfo[RayJob]:
        cfg = dict(cfg)
        working_dir = cfg.get("working_dir") or app.roles[0].image
        info = super()._submit_dryrun(app, cfg)
        job = info.request
        job.working_dir = os.path.abspath(working_dir)
        job.runtime_env = dict(cfg.get("runtime_env") or {})  # type: ignore[attr-defined]
        job.exclude = [e for e in [cfg.get("exclude_dir")] if e]  # type: ignore[attr-defined]
        return info

    def schedule(self, dryrun_info: AppDryRunInfo[RayJob]) -> str:
        job = dryrun_info.request
        addr = job.dashboard_address
        if not addr:
            raise ValueError("torchx_ray: cfg 'dashboard_address' is required")
        client = self._get_ray_client(addr)
        staged = stage_working_dir(job.working_dir, getattr(job, "exclude", []))
        try:
            serialize(job.actors, staged)
            import torchx.schedulers.ray as ray_pkg

            src = os.path.dirname(os.path.abspath(ray_pkg.__file__))
            for name in ("ray_driver.py", "ray_common.py"):
                shutil.copy2(os.path.join(src, name), staged)
            runtime_env = dict(getattr(job, "runtime_env", {}) or {})
            runtime_env["working_dir"] = staged
            if job.requirements:
                runtime_env["pip"] = job.requirements
            sub_id = client.submit_job(
                submission_id=job.app_id,
                entrypoint="python3 ray_driver.py",
                runtime_env=runtime_env,
            )
        finally:
            shutil.rmtree(os.path.dirname(staged), ignore_errors=True)
        return f"{addr}-{sub_id}"

    def describe_many(
        self, app_ids: list[str]
    ) -> dict[str, DescribeAppResponse | None]:
        """Each job's state and message; one ``list_jobs`` per Ray address."""
        by_addr: dict[str, list[str]] = {}
        for app_id in app_ids:
            addr, _ = split_app_id(app_id)
            by_addr.setdefault(addr, []).append(app_id)
        out: dict[str, DescribeAppResponse | None] = {}
        for addr, ids in by_addr.items():
            jobs = {j.submission_id: j for j in self._get_ray_client(addr).list_jobs()}
            for app_id in ids:
                details = jobs.get(split_app_id(app_id)[1])
                out[app_id] = None if details is None else _response(app_id, details)
        return out

    def describe(self, app_id: str) -> DescribeAppResponse | None:
        addr, sub = split_app_id(app_id)
        try:
            details = self._get_ray_client(addr).get_job_info(sub)
        except RuntimeError as exc:
            if "does not exist" in str(exc):
                return None
            raise
        return _response(app_id, details)

    def log_tail(self, app_id: str, lines: int) -> list[str]:
        addr, sub = split_app_id(app_id)
        logs = _ANSI.sub("", self._get_ray_client(addr).get_job_logs(sub))
        # the job's own output comes through its actors; the driver's after it
        actor = [ln for ln in logs.splitlines() if ln.startswith("(CommandActor")]
        driver = [ln for ln in logs.splitlines() if not ln.startswith("(CommandActor")]
        out = []
        if actor:
            out += ["--- job output (Ray actors) ---", *actor[-lines:]]
        if driver:
            out += ["--- Ray job driver ---", *driver[-lines:]]
        return out

    def cancel_confirmed(self, app_id: str, timeout: float) -> dict[str, Any]:
        """Stop the job; wait until Ray reports it ended (or ``timeout``)."""
        addr, sub = split_app_id(app_id)
        client = self._get_ray_client(addr)
        client.stop_job(sub)
        deadline = time.monotonic() + timeout
        status = client.get_job_status(sub)
        while ray_state(status) in (AppState.PENDING, AppState.RUNNING):
            if time.monotonic() > deadline:
                break
            time.sleep(0.2)
            status = client.get_job_status(sub)
        state = str(getattr(status, "value", status))
        return {
            "confirmed_gone": ray_state(status)
            not in (AppState.PENDING, AppState.RUNNING),
            "ray_status": state,
        }

    def capacity_facts(self, addr: str) -> tuple[float | None, int]:
        """(CPUs of the Ray cluster, jobs it has pending or running now).

        The total comes from the dashboard's cluster status (None until the
        autoscaler monitor first reports); the jobs from ``list_jobs``, which
        is current, unlike the reported CPU usage (it lags by seconds).
        """
        import json
        import urllib.request

        url = f"http://{addr.removeprefix('http://')}/api/cluster_status"
        with urllib.request.urlopen(url, timeout=10) as resp:
            data = json.load(resp)
        report = ((data.get("data") or {}).get("clusterStatus") or {}).get(
            "loadMetricsReport"
        ) or {}
        usage = (report.get("usage") or {}).get("CPU")
        total = float(usage[1]) if usage else None
        live = sum(
            ray_state(j.status) in (AppState.PENDING, AppState.RUNNING)
            for j in self._get_ray_client(addr).list_jobs()
        )
        return total, live


def _response(app_id: str, details: Any) -> DescribeAppResponse:
    state = ray_state(details.status)
    status = str(getattr(details.status, "value", details.status))
    parts = [status]
    code = getattr(details, "driver_exit_code", None)
    if code not in (None, 0):
        parts.append(f"driver exit code {code}")
    message = (getattr(details, "message", None) or "").strip()
    if message:
        first = message.splitlines()[0]
        parts.append(first[:300])
    return DescribeAppResponse(
        app_id=app_id,
        state=state,
        msg=", ".join(parts),
        roles=[Role(name="ray", num_replicas=1, image="")],
        roles_statuses=[
            RoleStatus(
                "ray", [ReplicaStatus(id=0, state=state, role="ray", hostname="")]
            )
        ],
    )
