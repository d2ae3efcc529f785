"""The README's main job end to end, through the `ax-nas demo` command line."""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys

import pytest


def _demo(workdir, *args, timeout=600):
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "ax_nas_plugins.cli.main",
            "demo",
            "--workdir",
            str(workdir),
            "--parallel",
            "2",
            "--max-epochs",
            "3",
            *args,
        ],
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
        env={**__import__("os").environ, "COLUMNS": "200"},
    )


@pytest.mark.slow
def test_demo_runs_stores_and_resumes(tmp_path):
    workdir = tmp_path / "demo"
    first = _demo(
        workdir,
        "--trials",
        "3",
        "--generation",
        "sobol",
        "--early-stopping",
        "percentile",
    )
    assert first.returncode == 0, first.stdout + first.stderr
    assert "Pareto-optimal architectures" in first.stdout
    events = [
        json.loads(ln) for ln in (workdir / "events.jsonl").read_text().splitlines()
    ]
    deployed = sorted(
        e["trial_index"] for e in events if e["event"] == "trial_deployed"
    )
    assert deployed == [0, 1, 2]
    with sqlite3.connect(workdir / "nas.db") as con:
        statuses = con.execute("SELECT status FROM trial_v2").fetchall()
    assert len(statuses) == 3

    # Without --resume an existing run is never overwritten.
    again = _demo(workdir, "--trials", "3", "--generation", "sobol")
    assert again.returncode == 2
    assert "pass --resume" in again.stdout

    resumed = _demo(workdir, "--trials", "4", "--resume")
    assert resumed.returncode == 0, resumed.stdout + resumed.stderr
    events = [
        json.loads(ln) for ln in (workdir / "events.jsonl").read_text().splitlines()
    ]
    deployed = sorted(
        e["trial_index"] for e in events if e["event"] == "trial_deployed"
    )
    assert deployed == [0, 1, 2, 3]  # the old trials were not run again
    assert "completed 4" in resumed.stdout


def test_demo_names_bad_settings_and_plugins(tmp_path):
    bad = _demo(tmp_path / "a", "--trials", "0")
    assert bad.returncode == 2
    assert "trials: Input should be greater than or equal to 1 (got 0)" in bad.stdout
    unknown = _demo(
        tmp_path / "b", "--generation", "sobl", "--early-stopping", "percentile"
    )
    assert unknown.returncode == 2
    assert "Did you mean 'sobol'?" in unknown.stdout.replace("\n", " ")
    assert not (tmp_path / "b").exists()  # nothing written for a bad name
