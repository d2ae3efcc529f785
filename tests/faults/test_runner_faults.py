"""Faults of one job, with real processes: a SIGKILLed supervisor, a daemon
that escaped, a secret printed by a failing trainer (issue #9 items 5, 8a, 8d).
"""

from __future__ import annotations

import os

import pytest
from ax.core.base_trial import TrialStatus

import ax_nas_plugins as anp
from ax_nas_plugins import storage
from ax_nas_plugins.runners import _proc
from tests.runner_support import (
    add_trial,
    experiment,
    kill_leftovers,
    read_pid,
    wait_for,
)

JOB = "tests.faults._job:fault_job"


@pytest.fixture
def workdir(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    yield tmp_path
    leftovers = kill_leftovers(str(tmp_path))
    assert not leftovers, f"processes left running: {leftovers}"


def make(workdir, **const):
    return anp.runner(
        "torchx_local",
        component=JOB,
        component_const_params={"counter": str(workdir / "starts.log"), **const},
        cfg={"kill_grace_s": 1.0},
        log_root=str(workdir / "runs"),
        stop_timeout_s=10.0,
    )


def _supervisor_gone(trial):
    folder = os.path.join(
        trial.run_metadata["log_dir"], trial.run_metadata["app_id"], "trainer", "0"
    )
    state = wait_for(lambda: _read_state(folder), 30, "the supervisor's state")
    wait_for(lambda: not _proc.is_alive(state["supervisor_pid"]), 30, "supervisor gone")
    return state


def _read_state(folder):
    from ax_nas_plugins.runners._records import read_json

    state = read_json(os.path.join(folder, "state.json"))
    return state if state and state.get("pid") else None


@pytest.mark.parametrize(("code", "status"), [(0, "COMPLETED"), (3, "FAILED")])
def test_a_lost_supervisor_does_not_lose_the_exit_status(
    workdir, monkeypatch, code, status
):
    """#9.8a: the supervisor is SIGKILLed right after starting the job; the job
    finishes normally: its own exit record decides, not 'killed'."""
    monkeypatch.setenv("AX_NAS_FAULT", "supervisor_after_start")
    runner = make(workdir, epochs=2, pause=0.2, exit_code=code)
    trial = add_trial(experiment(runner, name="lost"))
    trial.run()
    _supervisor_gone(trial)
    got = wait_for(
        lambda: (
            {s.name for s, idx in runner.poll_trial_status([trial]).items() if idx}
            & {"COMPLETED", "FAILED"}
        ),
        60,
        "the job's end",
    )
    assert got == {status}
    reason = runner.poll_exception(trial)
    assert f"exit code {code}" in reason and "recorded by the job" in reason
    assert "SIGKILL" not in reason


def test_stop_after_a_lost_supervisor_ends_an_escaped_daemon(workdir, monkeypatch):
    """#9.8d: the job double-forked a daemon into its own session (now a child
    of pid 1); a stop after the supervisor was lost must end it too."""
    monkeypatch.setenv("AX_NAS_FAULT", "supervisor_after_start")
    runner = make(workdir, epochs=200, pause=0.5, spawn_daemon=True)
    trial = add_trial(experiment(runner, name="daemon"))
    trial.run()
    _supervisor_gone(trial)
    folder = trial.run_metadata["log_dir"]
    pids = [read_pid(folder), read_pid(folder, "daemon_pid")]
    started = {p: _proc.start_time(p) for p in pids}
    assert all(_proc.is_alive(p, s) for p, s in started.items())
    assert _proc.stat_fields(pids[1])[1] != str(pids[0])  # not below the trainer
    facts = runner.stop(trial, reason="enough")
    assert facts["confirmed_gone"] is True
    assert not any(_proc.is_alive(p, s) for p, s in started.items()), started
    assert runner.poll_trial_status([trial]) == {TrialStatus.EARLY_STOPPED: {0}}


def test_a_secret_printed_by_a_failing_job_is_not_stored(workdir, monkeypatch):
    """#9.5 (local): the log tail in the failure reason is redacted before Ax
    stores it; the SQLite file holds no byte of the secret."""
    secret = "s3cr3t-token-42-xyz"
    monkeypatch.setenv("AX_NAS_FAULT_SECRET", secret)
    runner = anp.runner(
        "torchx_local",
        component=JOB,
        component_const_params={
            "counter": str(workdir / "starts.log"),
            "epochs": 1,
            "pause": 0.05,
            "exit_code": 3,
            "print_env": "AX_NAS_FAULT_SECRET",
        },
        log_root=str(workdir / "runs"),
        secret_env=["AX_NAS_FAULT_SECRET"],
    )
    exp = experiment(runner, name="secret")
    trial = add_trial(exp)
    trial.run()
    wait_for(lambda: runner.poll_trial_status([trial]).get(TrialStatus.FAILED), 60)
    reason = runner.poll_exception(trial)
    assert "the token is <secret>" in reason and secret not in reason
    trial.mark_failed(reason=reason, unsafe=True)
    db = workdir / "exp.db"
    storage.save_experiment(exp, db)
    assert secret.encode() not in db.read_bytes()
    assert b"the token is <secret>" in db.read_bytes()
