"""TorchX ``local_cwd`` semantics, with jobs that outlive the launching process.

The rule: each replica runs under a small detached supervisor
(``runners/_supervise.py``) in its own session, so killing the process that
launched it (even with SIGKILL) leaves the job running and its exit status is
still recorded. Everything the scheduler knows is in files, so ``describe``,
``cancel`` and ``log_iter`` work from any process:

``<log_dir>/<app_id>/app.json``                the request (roles, replicas)
``<log_dir>/<app_id>/<role>/<k>/spec.json``    argv and cwd of replica ``k``
``.../state.json``                             supervisor and job pid + start time
``.../exit.json``                              return code, signal, cancelled
``.../stdout.log``, ``stderr.log``             the job's output
``.../error.json``                             TorchElastic structured error, if any
``.../claim``                                  who decided the job's start (O_EXCL)
``<index_dir>/<app_id>``                       symlink to the app folder

A pid alone is never trusted: it is checked with the process start time, so
a reused pid reads as "gone". A replica whose supervisor and job are both
gone without an ``exit.json`` is ``UNKNOWN`` (the runner fails it only after
its grace period). The job's environment is the launching process's
environment plus the role's; it is passed to the supervisor in memory and
never written to disk.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, TypedDict

from torchx.schedulers.api import (
    AppDryRunInfo,
    DescribeAppResponse,
    ListAppResponse,
    Scheduler,
    Stream,
    filter_regex,
    split_lines,
)
from torchx.specs.api import (
    AppDef,
    AppState,
    ReplicaStatus,
    RoleStatus,
    is_terminal,
    macros,
    runopts,
)

from ax_nas_plugins.runners import _proc, _records
from ax_nas_plugins.runners.schedulers._opts import KILL_GRACE_S, add_kill_grace_s

SUPERVISOR = os.path.join(os.path.dirname(os.path.dirname(__file__)), "_supervise.py")
#: Seconds a replica may take to record its supervisor before it reads UNKNOWN.
START_GRACE_S = 60.0

# Popen handles of supervisors started by this process, kept so that they
# are reaped (no zombies) and so that Python does not warn about them.
_children: dict[int, subprocess.Popen] = {}


class LocalDetachedOpts(TypedDict, total=False):
    """``cfg`` of ``ax_local_cwd`` (declared with help and defaults in
    :meth:`LocalDetachedScheduler._run_opts`, the source of truth)."""

    log_dir: str
    prepend_cwd: bool
    kill_grace_s: float


@dataclass
class LocalReplicaRequest:
    """One process to start: plain data, shown by a dry run."""

    role: str
    replica_id: int
    args: list[str]
    env: dict[str, str]
    cwd: str
    folder: str


@dataclass
class LocalDetachedRequest:
    """What ``schedule`` will do: the app folder and every replica."""

    app_id: str
    app_dir: str
    replicas: list[LocalReplicaRequest] = field(default_factory=list)
    kill_grace_s: float = KILL_GRACE_S

    def to_dict(self) -> dict[str, Any]:
        """JSON form (environment values left out: they may hold secrets)."""
        return {
            "app_id": self.app_id,
            "app_dir": self.app_dir,
            "kill_grace_s": self.kill_grace_s,
            "replicas": [
                {
                    "role": r.role,
                    "replica_id": r.replica_id,
                    "args": r.args,
                    "env_names": sorted(r.env),
                    "cwd": r.cwd,
                    "folder": r.folder,
                }
                for r in self.replicas
            ],
        }


# one atomic JSON writer and one tolerant reader for every runner file
_write_json = _records.write_json
_read_json = _records.read_json


def default_index_dir() -> str:
    """Where app ids are indexed: ``$AX_NAS_LOCAL_INDEX`` or ``~/.cache/...``."""
    return os.environ.get("AX_NAS_LOCAL_INDEX") or os.path.join(
        os.path.expanduser("~"), ".cache", "ax-nas-plugins", "local_apps"
    )


class LocalDetachedScheduler(Scheduler[LocalDetachedOpts]):
    """TorchX scheduler ``ax_local_cwd``: ``local_cwd`` whose jobs survive a restart.

    Runs each replica in the current working directory (the role's image is
    ignored, as with TorchX's ``local_cwd``) under a detached supervisor, and
    keeps all state in files. See the module docstring for the layout.

    Options (``cfg``): ``log_dir`` (required: the app folder is made inside
    it), ``prepend_cwd`` (put the working directory first on ``PATH``),
    ``kill_grace_s`` (seconds between SIGTERM and SIGKILL on cancel).
    """

    def __init__(self, session_name: str, index_dir: str | None = None) -> None:
        super().__init__("ax_local_cwd", session_name)
        self.index_dir = index_dir or default_index_dir()
        self._app_cache: dict[str, tuple[float, list[tuple[str, int, str]]]] = {}
        self._state_cache: dict[str, dict[str, Any]] = {}
        self._watcher = _proc.Watcher()

    def _run_opts(self) -> runopts:
        opts = runopts()
        opts.add(
            "log_dir",
            type_=str,
            required=True,
            help="folder in which the app's folder (logs, pid and exit files) is made",
        )
        opts.add(
            "prepend_cwd",
            type_=bool,
            default=False,
            help="put the working directory first on PATH (else last)",
        )
        add_kill_grace_s(opts)
        return opts

    def _validate(self, app: AppDef, scheduler: str) -> None:
        pass  # local processes ignore resources, like TorchX's local_cwd

    def _submit_dryrun(
        self, app: AppDef, cfg: LocalDetachedOpts
    ) -> AppDryRunInfo[LocalDetachedRequest]:
        app_id = f"{app.name}-{secrets.token_hex(6)}"
        app_dir = os.path.join(os.path.abspath(str(cfg["log_dir"])), app_id)
        cwd = os.getcwd()
        request = LocalDetachedRequest(
            app_id=app_id,
            app_dir=app_dir,
            kill_grace_s=float(cfg.get("kill_grace_s", KILL_GRACE_S)),
        )
        for role in app.roles:
            for replica_id in range(role.num_replicas):
                values = macros.Values(
                    img_root=cwd,
                    app_id=app_id,
                    replica_id=str(replica_id),
                    rank0_env="TORCHX_RANK0_HOST",
                )
                replica = values.apply(role)
                folder = os.path.join(app_dir, role.name, str(replica_id))
                env = dict(replica.env)
                env["TORCHX_RANK0_HOST"] = "localhost"
                env.setdefault(
                    "TORCHELASTIC_ERROR_FILE", os.path.join(folder, "error.json")
                )
                env.setdefault("PYTHONUNBUFFERED", "1")
                path = env.get("PATH") or os.environ.get("PATH", "")
                env["PATH"] = (
                    f"{cwd}:{path}" if cfg.get("prepend_cwd") else f"{path}:{cwd}"
                )
                request.replicas.append(
                    LocalReplicaRequest(
                        role=role.name,
                        replica_id=replica_id,
                        args=[replica.entrypoint, *map(str, replica.args)],
                        env=env,
                        cwd=cwd,
                        folder=folder,
                    )
                )
        return AppDryRunInfo(request, lambda r: json.dumps(r.to_dict(), indent=2))

    def schedule(self, dryrun_info: AppDryRunInfo[LocalDetachedRequest]) -> str:
        request: LocalDetachedRequest = dryrun_info.request
        os.makedirs(request.app_dir)
        roles: dict[str, int] = {}
        for r in request.replicas:
            roles[r.role] = roles.get(r.role, 0) + 1
        _write_json(
            os.path.join(request.app_dir, "app.json"),
            {"app_id": request.app_id, "roles": roles, "submitted_at": time.time()},
        )
        self._app_cache[request.app_dir] = (
            time.time(),
            [(r.role, r.replica_id, r.folder) for r in request.replicas],
        )
        os.makedirs(self.index_dir, exist_ok=True)
        link = os.path.join(self.index_dir, request.app_id)
        os.symlink(request.app_dir, link)
        for r in request.replicas:
            os.makedirs(r.folder)
            _write_json(
                os.path.join(r.folder, "spec.json"),
                {"args": r.args, "cwd": r.cwd, "kill_grace_s": request.kill_grace_s},
            )
            with open(os.path.join(r.folder, "supervisor.log"), "ab") as log:
                proc = subprocess.Popen(
                    [sys.executable, "-I", "-S", SUPERVISOR, r.folder],
                    env={**os.environ, **r.env},
                    stdin=subprocess.DEVNULL,
                    stdout=log,
                    stderr=log,
                    start_new_session=True,
                )
            _children[proc.pid] = proc
        self._reap()
        return request.app_id

    @staticmethod
    def _reap() -> None:
        for pid, proc in list(_children.items()):
            if proc.poll() is not None:
                del _children[pid]

    # -- reading state --------------------------------------------------------

    def app_dir(self, app_id: str) -> str | None:
        """The app's folder, from the index; None for an unknown app id."""
        link = os.path.join(self.index_dir, app_id)
        try:
            return os.readlink(link)
        except OSError:
            return None

    def _app_info(
        self, app_dir: str
    ) -> tuple[float, list[tuple[str, int, str]]] | None:
        """Submission time and replica folders of an app (cached: never change)."""
        cached = self._app_cache.get(app_dir)
        if cached is None:
            app = _read_json(os.path.join(app_dir, "app.json"))
            if app is None:
                return None
            folders = [
                (role, k, os.path.join(app_dir, role, str(k)))
                for role, n in app.get("roles", {}).items()
                for k in range(int(n))
            ]
            cached = (float(app.get("submitted_at", 0.0)), folders)
            self._app_cache[app_dir] = cached
        return cached

    def replica_folders(self, app_dir: str) -> list[tuple[str, int, str]]:
        """``(role, replica id, folder)`` of every replica of the app in ``app_dir``."""
        info = self._app_info(app_dir)
        return info[1] if info else []

    def _state(self, folder: str) -> dict[str, Any] | None:
        """The supervisor's ``state.json`` (cached once it names the job's pid)."""
        state = self._state_cache.get(folder)
        if state is None:
            state = _read_json(folder + "/state.json")
            if state is not None and state.get("pid"):
                self._state_cache[folder] = state
        return state

    def replica_state(self, folder: str, submitted_at: float) -> tuple[AppState, str]:
        """State of one replica from its files, with a one-line explanation."""
        exit_path = folder + "/exit.json"
        done = _read_json(exit_path) if os.path.exists(exit_path) else None
        if done is not None:
            self._state_cache.pop(folder, None)
            return _exit_state(done, bool(done.get("cancelled")))
        state = self._state(folder)
        if state is None:
            if time.time() - submitted_at < START_GRACE_S:
                return AppState.PENDING, "supervisor starting"
            return AppState.UNKNOWN, "the supervisor never started"
        if self._watcher.alive(state["supervisor_pid"], state.get("supervisor_start")):
            return AppState.RUNNING, f"pid {state.get('pid')}"
        # The supervisor ended; it may have just written exit.json.
        if os.path.exists(exit_path):
            return self.replica_state(folder, submitted_at)
        job = _read_json(os.path.join(folder, "job_exit.json"))
        if job is not None:  # the supervisor was lost; the job's waiter was not
            cancelled = os.path.exists(os.path.join(folder, "cancel_requested"))
            state_, msg = _exit_state(job, cancelled)
            return state_, f"{msg} (recorded by the job; its supervisor was lost)"
        if _proc.is_alive(state.get("pid"), state.get("pid_start")):
            return AppState.RUNNING, f"pid {state['pid']} (supervisor lost)"
        return AppState.UNKNOWN, (
            "supervisor and job ended without recording an exit status "
            "(killed with SIGKILL, or the machine restarted)"
        )

    def describe(self, app_id: str) -> DescribeAppResponse | None:
        app_dir = self.app_dir(app_id)
        if app_dir is None:
            return None
        return self.describe_dir(app_id, app_dir)

    def describe_dir(self, app_id: str, app_dir: str) -> DescribeAppResponse | None:
        """``describe`` for a known app folder (no index lookup)."""
        info = self._app_info(app_dir)
        if info is None:
            return None
        submitted = info[0]
        roles_statuses: dict[str, RoleStatus] = {}
        states: list[AppState] = []
        messages: list[str] = []
        errors: list[tuple[float, str]] = []
        for role, k, folder in info[1]:
            state, msg = self.replica_state(folder, submitted)
            states.append(state)
            messages.append(f"{role}/{k}: {msg}")
            roles_statuses.setdefault(role, RoleStatus(role, [])).replicas.append(
                ReplicaStatus(id=k, role=role, state=state, hostname="localhost")
            )
            if state == AppState.FAILED:
                err = os.path.join(folder, "error.json")
                if os.path.exists(err):
                    errors.append((os.path.getmtime(err), err))
        resp = describe_response(
            app_id,
            states,
            messages,
            list(roles_statuses.values()),
            errors,
            ui_url=f"file://{app_dir}",
        )
        if is_terminal(resp.state):
            self._reap()
        return resp

    def close(self) -> None:
        self._watcher.close()

    def list(self) -> list[ListAppResponse]:
        found = []
        try:
            names = os.listdir(self.index_dir)
        except FileNotFoundError:
            return []
        for app_id in names:
            desc = self.describe(app_id)
            if desc is not None:
                found.append(ListAppResponse(app_id=app_id, state=desc.state))
        return found

    # -- acting ---------------------------------------------------------------

    def claim_or_adopt(self, app_dir: str) -> bool:
        """After a deploy was cut short: True if a supervisor started (or will
        start) a replica of the app, so the job is to be adopted; else every
        replica is claimed here and marked cancelled (a supervisor that starts
        late sees the claim and runs nothing) and False is returned.

        The ``claim`` file is created with ``O_EXCL`` by whichever comes first:
        the supervisor, just before it starts the job, or this method.
        """
        info = self._app_info(app_dir)
        if info is None:
            return False
        started = False
        for _role, _k, folder in info[1]:
            os.makedirs(folder, exist_ok=True)
            try:
                fd = os.open(
                    os.path.join(folder, "claim"), os.O_CREAT | os.O_EXCL | os.O_WRONLY
                )
            except FileExistsError:
                started = True
                continue
            os.write(fd, b"recovery")
            os.close(fd)
            if not os.path.exists(os.path.join(folder, "exit.json")):
                _write_json(
                    os.path.join(folder, "exit.json"),
                    {
                        "returncode": None,
                        "signal": None,
                        "cancelled": True,
                        "finished_at": time.time(),
                        "error": "never started: the deploy was interrupted",
                    },
                )
        return started

    def _cancel_existing(self, app_id: str) -> None:
        app_dir = self.app_dir(app_id)
        if app_dir is not None:
            self.cancel_dir(app_dir)

    def cancel_dir(self, app_dir: str, timeout: float = 10.0) -> bool:
        """Cancel every replica of the app in ``app_dir``; True when all are gone.

        The supervisor gets SIGTERM and ends the job's tree (SIGKILL after the
        grace period); if it is not gone in ``timeout`` seconds, or was already
        lost, the tree is killed from here and the exit file written for it.
        """
        pending: dict[str, dict[str, Any]] = {}
        deadline = time.monotonic() + timeout
        for _role, _k, folder in self.replica_folders(app_dir):
            open(os.path.join(folder, "cancel_requested"), "a").close()
            if os.path.exists(os.path.join(folder, "exit.json")):
                continue
            state = _read_json(os.path.join(folder, "state.json"))
            while state is None and time.monotonic() < deadline:
                time.sleep(0.01)  # the supervisor is starting; it reads the marker
                state = _read_json(os.path.join(folder, "state.json"))
            if state is None:
                continue
            pending[folder] = state
            # Everything of the job now: below the supervisor, in the job's
            # session, or carrying its token (a daemon that left both).
            state["tree"] = {
                p: _proc.start_time(p)
                for p in _proc.descendants(state["supervisor_pid"])
            }
            state["tree"].update(
                _proc.job_processes(state.get("sid"), state.get("token"))
            )
            if _proc.is_alive(state["supervisor_pid"], state.get("supervisor_start")):
                with contextlib.suppress(ProcessLookupError):
                    os.kill(state["supervisor_pid"], signal.SIGTERM)
            else:  # supervisor lost: nobody else will end the job
                for pid, started in state["tree"].items():
                    if _proc.is_alive(pid, started):
                        with contextlib.suppress(ProcessLookupError):
                            os.kill(pid, signal.SIGTERM)
        all_gone = True
        for folder, state in pending.items():
            pids = {state["supervisor_pid"]: state.get("supervisor_start")}
            if state.get("pid"):
                pids[state["pid"]] = state.get("pid_start")
            pids.update(state["tree"])
            self._watcher.forget(state["supervisor_pid"], state.get("supervisor_start"))
            self._state_cache.pop(folder, None)
            how = signal.SIGTERM
            if not _proc.wait_gone(pids, max(0.0, deadline - time.monotonic())):
                how = signal.SIGKILL
                for pid, started in pids.items():
                    all_gone &= _proc.kill_tree(pid, started, grace=1.0)
            if not os.path.exists(os.path.join(folder, "exit.json")):
                # the supervisor was lost or killed: record the cancel for it
                _write_json(
                    os.path.join(folder, "exit.json"),
                    {
                        "returncode": -how,
                        "signal": how.name,
                        "cancelled": True,
                        "finished_at": time.time(),
                        "error": None,
                    },
                )
        self._reap()
        return all_gone

    def log_iter(
        self,
        app_id: str,
        role_name: str,
        k: int = 0,
        regex: str | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        should_tail: bool = False,
        streams: Stream | None = None,
    ) -> list[str]:
        app_dir = self.app_dir(app_id)
        if app_dir is None:
            raise ValueError(f"unknown app id {app_id!r}")
        names = {Stream.STDOUT: ["stdout.log"], Stream.STDERR: ["stderr.log"]}.get(
            streams,
            ["stdout.log", "stderr.log"],  # type: ignore[arg-type]
        )
        lines: list[str] = []
        for name in names:
            try:
                with open(
                    os.path.join(app_dir, role_name, str(k), name), errors="replace"
                ) as fh:
                    lines.extend(split_lines(fh.read()))
            except FileNotFoundError:
                continue
        return list(filter_regex(regex, lines)) if regex else lines


def _exit_state(done: dict[str, Any], cancelled: bool) -> tuple[AppState, str]:
    """State and explanation from an exit record (``exit.json``/``job_exit.json``)."""
    rc = done.get("returncode")
    if cancelled:
        return AppState.CANCELLED, f"cancelled (exit code {rc})"
    if rc == 0:
        return AppState.SUCCEEDED, "exit code 0"
    how = f" (signal {done['signal']})" if done.get("signal") else ""
    extra = f": {done['error']}" if done.get("error") else ""
    return AppState.FAILED, f"exit code {rc}{how}{extra}"


_ORDER = [
    AppState.FAILED,
    AppState.UNKNOWN,
    AppState.CANCELLED,
    AppState.RUNNING,
    AppState.PENDING,
    AppState.SUBMITTED,
    AppState.SUCCEEDED,
]


def _combine(states: list[AppState]) -> AppState:
    """The app's state from its replicas': any failure fails it, then the first of
    unknown, cancelled, running, pending; it succeeded only if all replicas did."""
    if not states:
        return AppState.UNKNOWN
    if any(s == AppState.FAILED for s in states):
        return AppState.FAILED
    if all(is_terminal(s) for s in states) and AppState.CANCELLED in states:
        return AppState.CANCELLED
    for s in _ORDER[1:]:
        if s in states and s != AppState.CANCELLED:
            return s
    return AppState.SUCCEEDED


def describe_response(
    app_id: str,
    states: list[AppState],
    messages: list[str],
    roles_statuses: list[RoleStatus],
    errors: list[tuple[float, str]],
    ui_url: str | None = None,
) -> DescribeAppResponse:
    """TorchX's answer for an app from its replicas' states, messages and error files.

    ``errors`` holds ``(mtime, path)`` of TorchElastic error files of failed
    replicas: the first replica to fail explains the failure best, so the
    oldest file becomes the structured error message.
    """
    resp = DescribeAppResponse(
        app_id=app_id,
        state=_combine(states),
        num_restarts=0,
        msg="; ".join(messages),
        roles_statuses=roles_statuses,
        ui_url=ui_url,
    )
    if errors:
        try:
            with open(min(errors)[1], encoding="utf-8") as fh:
                resp.structured_error_msg = json.dumps(json.load(fh))
        except (OSError, json.JSONDecodeError):
            pass
    return resp
