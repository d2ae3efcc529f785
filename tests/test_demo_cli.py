"""The README's main job end to end, through the `ax-nas demo` command line.

A tiny budget (3 trials, then 4, epochs 2-3, Sobol): Ctrl-C mid-run ends
cleanly with a hint (no traceback, no ResourceWarning), the folder is refused
without --resume, --resume finishes the run and writes the report, and a
second --resume with nothing left to do only prints the summary.
"""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time

import pytest


def _demo_cmd(workdir, *args):
    return [
        sys.executable,
        "-m",
        "ax_nas_plugins.cli.main",
        "demo",
        "--workdir",
        str(workdir),
        *args,
    ]


def _env():
    return {**os.environ, "COLUMNS": "200", "PYTHONWARNINGS": "default"}


def _demo(workdir, *args, timeout=900):
    return subprocess.run(
        _demo_cmd(workdir, *args),
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
        env=_env(),
    )


def _deployed(workdir):
    path = workdir / "events.jsonl"
    if not path.exists():
        return []
    out = []
    for line in path.read_text().splitlines():
        try:
            event = json.loads(line)
        except json.JSONDecodeError:
            continue
        if event["event"] == "trial_deployed":
            out.append(event["trial_index"])
    return out


def _default_sigint() -> None:
    signal.signal(signal.SIGINT, signal.SIG_DFL)


@pytest.mark.slow
def test_demo_interrupt_resume_report(tmp_path):
    workdir = tmp_path / "demo"
    tiny = [
        "--max-epochs",
        "3",
        "--generation",
        "sobol",
        "--early-stopping",
        "percentile",
    ]
    first = subprocess.Popen(
        _demo_cmd(workdir, "--trials", "3", *tiny),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=_env(),
        # A shell's background job (`cmd &` without job control, as in some CI
        # runners) starts with SIGINT ignored, and Python then never raises
        # KeyboardInterrupt; a terminal's Ctrl-C is what this test is about.
        preexec_fn=_default_sigint,
    )
    deadline = time.monotonic() + 600
    while not _deployed(workdir) and first.poll() is None:
        assert time.monotonic() < deadline, "no trial started"
        time.sleep(0.5)
    first.send_signal(signal.SIGINT)  # what Ctrl-C sends
    out, err = first.communicate(timeout=300)
    assert first.returncode == 130, out + err
    assert "keep running on their own" in out and "ax-nas resume" in out, out
    assert "Traceback" not in out + err
    assert "ResourceWarning" not in out + err, out + err

    # Without --resume an existing run is never overwritten.
    again = _demo(workdir, "--trials", "3")
    assert again.returncode == 2
    assert "already holds a run" in again.stderr

    resumed = _demo(workdir, "--trials", "4", "--resume")
    assert resumed.returncode == 0, resumed.stdout + resumed.stderr
    assert sorted(_deployed(workdir)) == [0, 1, 2, 3]  # none run twice
    with sqlite3.connect(workdir / "nas.db") as con:
        assert len(con.execute("SELECT status FROM trial_v2").fetchall()) == 4
    assert "completed 4" in resumed.stdout
    assert "Data set: scikit-learn's 8x8 digits" in out + resumed.stdout
    report = workdir / "report" / "report.html"
    assert f"Report: {report}" in resumed.stdout
    assert report.stat().st_size > 100_000  # plotly.js is inlined
    assert "Traceback" not in resumed.stdout + resumed.stderr
    assert "[INFO" not in resumed.stdout + resumed.stderr  # Ax's logs: in the file
    assert "[INFO" in (workdir / "ax-nas.log").read_text()

    idle = _demo(workdir, "--resume")
    assert idle.returncode == 0, idle.stdout + idle.stderr
    assert "Nothing left to run" in idle.stdout
    assert "Writing the report" not in idle.stdout
    assert sorted(_deployed(workdir)) == [0, 1, 2, 3]
