"""Detached supervisor of one local job replica (standard library only).

The rule: the scheduler starts this script in a new session, detached from
the orchestrating process, with the replica folder as its only argument. It
records itself in ``state.json``, forks a *waiter* that starts a session of
its own and runs the job from ``spec.json`` (an argv list, never a shell)
with stdout/stderr to ``stdout.log``/``stderr.log`` and ``AX_NAS_JOB_TOKEN``
in its environment; the waiter writes the job's exit status to
``job_exit.json``, so it is known even when this supervisor was SIGKILLed.
``state.json`` then names the waiter (``pid``, its session ``sid``, the
``token``). The supervisor waits and writes ``exit.json`` (return code,
signal, whether a cancel was requested). Just before starting the job it
creates ``claim`` with ``O_EXCL``; if a resumed orchestrator claimed the
replica first, the job is never started. It is a child subreaper, so
processes the job leaves behind stay below it and are ended with it: when
the job exits, or when this supervisor gets SIGTERM/SIGINT/SIGHUP (then the
job gets SIGTERM and, after ``kill_grace_s``, SIGKILL). Files are written to
a temporary name and renamed, so a reader never sees half a file.

It runs as a script (``python -I -S _supervise.py DIR``) and imports nothing
from Ax or this package except the sibling ``_proc`` and ``_faults`` helpers,
loaded by path.
"""

from __future__ import annotations

import contextlib
import ctypes
import importlib.util
import json
import os
import secrets
import signal
import subprocess
import sys
import time
from typing import NoReturn

_here = os.path.dirname(os.path.abspath(__file__))
_spec = importlib.util.spec_from_file_location(
    "_ax_nas_proc", os.path.join(_here, "_proc.py")
)
_proc = importlib.util.module_from_spec(_spec)  # type: ignore[arg-type]
_spec.loader.exec_module(_proc)  # type: ignore[union-attr]
_fspec = importlib.util.spec_from_file_location(
    "_ax_nas_faults", os.path.join(_here, "_faults.py")
)
_faults = importlib.util.module_from_spec(_fspec)  # type: ignore[arg-type]
_fspec.loader.exec_module(_faults)  # type: ignore[union-attr]

PR_SET_CHILD_SUBREAPER = 36
#: The job's own exit record, written by the waiter (see ``_waiter``).
JOB_EXIT = "job_exit.json"
#: Variable marking every process of the job (and processes it starts, which
#: inherit it), so that a stop finds even a daemon that left the session.
TOKEN_ENV = "AX_NAS_JOB_TOKEN"


def _read_json(path: str) -> dict | None:
    try:
        with open(path, encoding="utf-8") as fh:
            return json.load(fh)
    except (OSError, json.JSONDecodeError):
        return None


def _write_json(path: str, data: dict) -> None:
    tmp = f"{path}.tmp{os.getpid()}"
    with open(tmp, "w", encoding="utf-8") as fh:
        json.dump(data, fh)
    os.replace(tmp, path)


class _Supervisor:
    def __init__(self, folder: str) -> None:
        self.folder = folder
        with open(os.path.join(folder, "spec.json"), encoding="utf-8") as fh:
            self.spec = json.load(fh)
        self.child_pid: int | None = None
        self.cancelled = False
        self.me = os.getpid()
        self.state = {
            "supervisor_pid": self.me,
            "supervisor_start": _proc.start_time(self.me),
            "pid": None,
            "pid_start": None,
            "started_at": time.time(),
        }

    def _on_signal(self, signum: int, frame: object) -> None:
        self.cancelled = True
        self._end_job(signal.SIGTERM)
        signal.signal(signal.SIGALRM, self._on_alarm)
        signal.setitimer(signal.ITIMER_REAL, float(self.spec.get("kill_grace_s", 5.0)))

    def _on_alarm(self, signum: int, frame: object) -> None:
        self._end_job(signal.SIGKILL)

    def _end_job(self, sig: int) -> None:
        if self.child_pid is not None:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(self.child_pid, sig)
        _proc.signal_tree(self.me, sig, include_root=False)

    def run(self) -> int:
        try:
            libc = ctypes.CDLL(None, use_errno=True)
            libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)
        except (OSError, AttributeError):
            pass  # not Linux: orphans then go to init, as with a plain Popen
        for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
            signal.signal(sig, self._on_signal)
        state_path = os.path.join(self.folder, "state.json")
        _write_json(state_path, self.state)
        if os.path.exists(os.path.join(self.folder, "cancel_requested")):
            self.cancelled = True
        if not self.cancelled and not self._claim():
            self.cancelled = True  # a resumed orchestrator decided: never start
        returncode: int
        error: str | None = None
        if self.cancelled:
            returncode = -signal.SIGTERM
        else:
            returncode, error = self._run_job(state_path)
        # Whatever the job left behind ends with it: no orphans.
        if _proc.descendants(self.me):
            _proc.signal_tree(self.me, signal.SIGTERM, include_root=False)
            deadline = time.monotonic() + float(self.spec.get("kill_grace_s", 5.0))
            while _proc.descendants(self.me) and time.monotonic() < deadline:
                self._reap_all()
                time.sleep(0.02)
            _proc.signal_tree(self.me, signal.SIGKILL, include_root=False)
        self._reap_all()
        signal.setitimer(signal.ITIMER_REAL, 0)
        result = {
            "returncode": returncode,
            "signal": signal.Signals(-returncode).name if returncode < 0 else None,
            "cancelled": self.cancelled,
            "finished_at": time.time(),
            "error": error,
        }
        _write_json(os.path.join(self.folder, "exit.json"), result)
        return 0

    def _run_job(self, state_path: str) -> tuple[int, str | None]:
        """Start the job under a waiter, record both, wait; the job's exit."""
        token = secrets.token_hex(8)
        pid = os.fork()
        if pid == 0:
            self._waiter(token)
        self.child_pid = pid
        self.state.update(
            pid=pid, pid_start=_proc.start_time(pid), sid=pid, token=token
        )
        _write_json(state_path, self.state)
        _faults.point("supervisor_after_start")
        if self.cancelled:  # a signal came while the job was starting
            self._end_job(signal.SIGTERM)
        _, status = os.waitpid(pid, 0)
        returncode = os.waitstatus_to_exitcode(status)
        done = _read_json(os.path.join(self.folder, JOB_EXIT))
        if isinstance(done, dict):
            return int(done.get("returncode", returncode)), done.get("error")
        return returncode, None

    def _waiter(self, token: str) -> NoReturn:
        """The forked waiter: a new session, the job as its child, and the job's
        exit status in ``job_exit.json``, so it is known even if the
        supervisor was SIGKILLed meanwhile. Never returns."""
        code = 1
        try:
            for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP, signal.SIGALRM):
                signal.signal(sig, signal.SIG_DFL)
            signal.setitimer(signal.ITIMER_REAL, 0)
            os.setsid()
            error: str | None = None
            with (
                open(os.path.join(self.folder, "stdout.log"), "ab", buffering=0) as out,
                open(os.path.join(self.folder, "stderr.log"), "ab", buffering=0) as err,
            ):
                try:
                    child = subprocess.Popen(
                        self.spec["args"],
                        cwd=self.spec.get("cwd") or None,
                        stdin=subprocess.DEVNULL,
                        stdout=out,
                        stderr=err,
                        env={**os.environ, TOKEN_ENV: token},
                    )
                except OSError as exc:
                    error = f"cannot start {self.spec['args'][0]!r}: {exc}"
                    err.write((error + "\n").encode())
                    returncode = 127
                else:
                    returncode = child.wait()
            _write_json(
                os.path.join(self.folder, JOB_EXIT),
                {
                    "returncode": returncode,
                    "signal": (
                        signal.Signals(-returncode).name if returncode < 0 else None
                    ),
                    "finished_at": time.time(),
                    "error": error,
                },
            )
            code = 0
        finally:
            os._exit(code)

    def _claim(self) -> bool:
        """Create ``claim`` (O_EXCL): True if this supervisor may start the job."""
        try:
            fd = os.open(
                os.path.join(self.folder, "claim"), os.O_CREAT | os.O_EXCL | os.O_WRONLY
            )
        except FileExistsError:
            return False
        os.write(fd, b"supervisor")
        os.close(fd)
        return True

    @staticmethod
    def _reap_all() -> None:
        while True:
            try:
                pid, _ = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                return
            if pid == 0:
                return


if __name__ == "__main__":
    sys.exit(_Supervisor(sys.argv[1]).run())
