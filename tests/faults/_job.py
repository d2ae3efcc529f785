"""The fault tests' job: a TorchX component and its stdlib-only trainer.

The trainer appends ``<trial> <pid>`` to a shared counter file the moment it
starts (so a test counts how often each trial's trainer started), then runs
``epochs`` epochs of ``pause`` seconds, writing ``<log_dir>/epochs``
atomically after each, and finally ``<log_dir>/done``. On request it prints
an environment variable's value to stderr and fails (to test that stored
reasons are redacted), or starts a daemon that double-forks into a session
of its own (to test that a stop finds it).
"""

from __future__ import annotations

import os
import sys
import time
from typing import Any


def fault_job(
    log_dir: str,
    counter: str,
    trial_index: int = 0,
    epochs: int = 4,
    pause: float = 0.25,
    exit_code: int = 0,
    print_env: str = "",
    spawn_daemon: bool = False,
    **params: Any,
):
    """TorchX component: one replica of this file's trainer."""
    from torchx import specs

    args = ["-u", os.path.abspath(__file__), log_dir, counter, str(trial_index)]
    args += [str(int(epochs)), str(float(pause)), str(int(exit_code))]
    args += [print_env or "-", "1" if spawn_daemon else "0"]
    return specs.AppDef(
        name=f"fault-{trial_index}",
        roles=[
            specs.Role(
                name="trainer",
                image=os.getcwd(),
                entrypoint=sys.executable,
                args=args,
                resource=specs.Resource(cpu=1, gpu=0, memMB=256),
            )
        ],
    )


def _write_atomic(path: str, text: str) -> None:
    tmp = f"{path}.tmp{os.getpid()}"
    with open(tmp, "w") as fh:
        fh.write(text)
    os.replace(tmp, path)


def _daemon(log_dir: str) -> None:
    """Double-fork a ``sleep`` into a new session; record its pid."""
    if os.fork() == 0:
        os.setsid()
        if os.fork() == 0:
            _write_atomic(os.path.join(log_dir, "daemon_pid"), str(os.getpid()))
            os.execvp("sleep", ["sleep", "300"])
        os._exit(0)
    os.wait()


def main(argv: list[str]) -> int:
    log_dir, counter, trial, epochs, pause, code, print_env, daemon = argv
    os.makedirs(log_dir, exist_ok=True)
    fd = os.open(counter, os.O_WRONLY | os.O_APPEND | os.O_CREAT)
    os.write(fd, f"{trial} {os.getpid()}\n".encode())
    os.close(fd)
    _write_atomic(os.path.join(log_dir, "pid"), str(os.getpid()))
    if daemon == "1":
        _daemon(log_dir)
    if print_env != "-":
        print(f"the token is {os.environ.get(print_env)}", file=sys.stderr, flush=True)
    for epoch in range(1, int(epochs) + 1):
        time.sleep(float(pause))
        _write_atomic(os.path.join(log_dir, "epochs"), str(epoch))
    if int(code):
        print(f"failing on request with {code}", file=sys.stderr, flush=True)
        return int(code)
    _write_atomic(os.path.join(log_dir, "done"), "1")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
