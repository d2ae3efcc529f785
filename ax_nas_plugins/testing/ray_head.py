"""A Ray head node on 127.0.0.1, for tests and benchmarks, stopped by its pid.

The rule: :func:`start` runs ``ray start --head --block`` (with this
interpreter) as a child process, on 127.0.0.1 with the dashboard (and its
job API) on a free port, a temporary folder of its own, and usage stats
off; it waits until the job API answers. Ray binds some of its servers to
the machine's non-loopback address whatever ``--node-ip-address`` says, so
:func:`start` refuses to run outside a network namespace that has only
``lo`` (``unshare -n``; call :func:`loopback_only_namespace` first), unless
``allow_other_interfaces=True``. :meth:`RayHead.stop` sends SIGTERM to that
``ray start`` process (which ends the processes it started), then SIGKILLs
any process still running from the head's temporary folder, by pid.

Example (inside ``unshare -n``)::

    loopback_only_namespace()
    head = start(cpus=2)
    try:
        ...  # RAY_ADDRESS=head.address
    finally:
        head.stop()
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from dataclasses import dataclass


def interfaces() -> list[str]:
    """Network interfaces of this process's network namespace (``/proc/net/dev``;
    ``/sys/class/net`` shows the namespace sysfs was mounted in)."""
    with open("/proc/self/net/dev") as fh:
        rows = fh.read().splitlines()[2:]
    return sorted(row.split(":")[0].strip() for row in rows if ":" in row)


def loopback_only_namespace() -> None:
    """Bring ``lo`` up; raise unless it is the only interface (``unshare -n``)."""
    if interfaces() != ["lo"]:
        raise RuntimeError(
            f"not in a loopback-only network namespace (interfaces: {interfaces()}); "
            "run under `unshare -n`"
        )
    subprocess.run(["ip", "link", "set", "lo", "up"], check=True)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class RayHead:
    """A running head: its ``ray start`` process, temp folder and addresses."""

    proc: subprocess.Popen
    temp_dir: str
    dashboard_port: int
    cpus: int

    @property
    def dashboard_address(self) -> str:
        """``host:port`` of the dashboard (TorchX's ``dashboard_address``)."""
        return f"127.0.0.1:{self.dashboard_port}"

    @property
    def address(self) -> str:
        """``http://host:port`` of the job API (``RAY_ADDRESS``)."""
        return f"http://{self.dashboard_address}"

    def pids(self) -> list[int]:
        """Live processes whose command line mentions the head's temp folder."""
        found = []
        for entry in os.listdir("/proc"):
            if not entry.isdigit() or int(entry) == os.getpid():
                continue
            try:
                with open(f"/proc/{entry}/cmdline", "rb") as fh:
                    cmd = fh.read().replace(b"\0", b" ").decode("utf-8", "replace")
            except OSError:
                continue
            if self.temp_dir in cmd:
                found.append(int(entry))
        return found

    def stop(self) -> None:
        """SIGTERM the ``ray start --block`` process; SIGKILL what remains."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)
        deadline = time.monotonic() + 10
        while self.pids() and time.monotonic() < deadline:
            time.sleep(0.2)
        for pid in self.pids():
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        shutil.rmtree(self.temp_dir, ignore_errors=True)


def start(
    cpus: int = 2, timeout: float = 180.0, allow_other_interfaces: bool = False
) -> RayHead:
    """Start the head (see module doc) and wait for its job API."""
    if not allow_other_interfaces and interfaces() != ["lo"]:
        raise RuntimeError(
            "Ray binds to non-loopback addresses when the machine has them: start "
            "the head inside `unshare -n` (see loopback_only_namespace)."
        )
    temp_dir = tempfile.mkdtemp(prefix="axray-", dir="/tmp")
    port = free_port()
    log = open(os.path.join(temp_dir, "ray-start.log"), "wb")  # noqa: SIM115
    argv = [
        sys.executable,
        "-c",
        "from ray.scripts.scripts import main; main()",
        "start",
        "--head",
        "--block",
        "--node-ip-address=127.0.0.1",
        "--dashboard-host=127.0.0.1",
        f"--dashboard-port={port}",
        f"--port={free_port()}",
        f"--num-cpus={cpus}",
        "--num-gpus=0",
        "--disable-usage-stats",
        f"--temp-dir={temp_dir}",
        "--include-dashboard=true",
    ]
    env = {**os.environ, "RAY_USAGE_STATS_ENABLED": "0"}
    env.pop("RAY_ADDRESS", None)
    proc = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, env=env)
    log.close()
    head = RayHead(proc=proc, temp_dir=temp_dir, dashboard_port=port, cpus=cpus)
    deadline = time.monotonic() + timeout
    while True:
        if proc.poll() is not None:
            text = _tail(os.path.join(temp_dir, "ray-start.log"))
            head.stop()
            raise RuntimeError(f"ray start exited with {proc.returncode}:\n{text}")
        try:
            with urllib.request.urlopen(f"{head.address}/api/version", timeout=2):
                break
        except OSError:
            pass
        if time.monotonic() > deadline:
            text = _tail(os.path.join(temp_dir, "ray-start.log"))
            head.stop()
            raise RuntimeError(f"Ray's job API did not answer in {timeout} s:\n{text}")
        time.sleep(0.5)
    return head


def _tail(path: str, lines: int = 30) -> str:
    try:
        with open(path, errors="replace") as fh:
            return "\n".join(fh.read().splitlines()[-lines:])
    except OSError:
        return ""
