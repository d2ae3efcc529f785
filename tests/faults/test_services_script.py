"""``scripts/services.sh stop`` ends only a dockerd that its own ``start``
launched (issue #9: it used to kill whatever pid the shared pid file named).

A stand-in "dockerd" (a copy of ``sleep`` under that name, a real process)
plays the daemon, so the machine's real dockerd is never at risk.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

from ax_nas_plugins.runners import _proc
from tests.runner_support import wait_for

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "services.sh"


def _fake_dockerd(tmp_path: Path) -> subprocess.Popen:
    binary = tmp_path / "dockerd"
    shutil.copy(shutil.which("sleep"), binary)
    return subprocess.Popen([str(binary), "300"])


def _stop(state: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "AX_NAS_SERVICES_DIR": str(state)}
    return subprocess.run(
        ["bash", str(SCRIPT), "stop"], env=env, capture_output=True, text=True
    )


def test_stop_leaves_a_dockerd_it_did_not_start(tmp_path):
    state = tmp_path / "state"
    state.mkdir()
    proc = _fake_dockerd(tmp_path)
    try:
        (state / "dockerd.pid").write_text(str(proc.pid))  # someone else's daemon
        out = _stop(state)
        assert out.returncode == 0, out.stderr
        assert "nothing stopped" in out.stdout
        assert proc.poll() is None and _proc.is_alive(proc.pid)
        # a pid recorded by a start of this script, but reused by another process
        (state / "dockerd.owner").write_text(f"{proc.pid} 1\n")
        assert _stop(state).returncode == 0
        assert proc.poll() is None
        # the daemon this script started (pid and start time match) is stopped
        started = _proc.start_time(proc.pid)
        (state / "dockerd.owner").write_text(f"{proc.pid} {started}\n")
        assert _stop(state).returncode == 0
        wait_for(lambda: proc.poll() is not None, 30, "the owned daemon to end")
        assert not (state / "dockerd.owner").exists()
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait()
