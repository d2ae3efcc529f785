"""torchx_local with real processes: run, complete, fail, stop, metacharacters,
unknown-state grace, hooks and capacity."""

from __future__ import annotations

import json
import os
import signal

import pytest
from ax.core.base_trial import TrialStatus

import ax_nas_plugins as anp
from ax_nas_plugins import hooks
from ax_nas_plugins.hooks.jsonl import JsonlEventLog
from ax_nas_plugins.runners import _proc
from ax_nas_plugins.runners.base import RunnerError
from tests.runner_support import (
    COMPONENT,
    add_trial,
    exp_dir,
    experiment,
    kill_leftovers,
    poll_until_terminal,
    read_pid,
    result,
    wait_for,
)


@pytest.fixture
def log_root(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # jobs run in the cwd: a stray `pwned` would land here
    yield tmp_path / "runs"
    leftovers = kill_leftovers(str(tmp_path))
    assert not leftovers, f"processes left running: {leftovers}"


@pytest.fixture
def events(tmp_path):
    log = JsonlEventLog(tmp_path / "events.jsonl")
    hooks.register(log, name="test-events")
    yield (
        lambda: (
            [
                json.loads(line)
                for line in (tmp_path / "events.jsonl").read_text().splitlines()
            ]
            if (tmp_path / "events.jsonl").exists()
            else []
        )
    )
    hooks.unregister(name="test-events")


def make(log_root, **const):
    return anp.runner(
        "torchx_local",
        component=COMPONENT,
        component_const_params=const,
        cfg={"kill_grace_s": 2.0},
        log_root=str(log_root),
    )


def test_run_completes_with_json_run_metadata(log_root, events):
    runner = make(log_root, sleep=0.2)
    exp = experiment(runner)
    trial = add_trial(exp, x=0.25, tag="b")
    trial.run()
    meta = trial.run_metadata
    assert json.loads(json.dumps(meta)) == meta  # JSON values only
    assert meta["runner"] == "torchx_local"
    assert meta["scheduler"] == "ax_local_cwd"
    assert meta["app_handle"].startswith("ax_local_cwd://ax_nas/trainer-0-")
    assert meta["log_dir"] == str(exp_dir(log_root, "exp") / "trial_0000")
    assert meta["tensorboard_dir"] == os.path.join(meta["log_dir"], "tensorboard")
    statuses = poll_until_terminal(runner, [trial])
    assert statuses == {0: TrialStatus.COMPLETED}
    out = result(meta["log_dir"])
    assert out["params"] == {"tag": "b", "x": "0.25"}
    names = [e["event"] for e in events()]
    assert names == ["trial_deployed", "trial_completed"]


def test_failure_reason_has_exit_code_structured_error_and_log(log_root, events):
    runner = make(log_root, fail_trials="0")
    exp = experiment(runner)
    trial = add_trial(exp)
    trial.run()
    assert poll_until_terminal(runner, [trial]) == {0: TrialStatus.FAILED}
    reason = runner.poll_exception(trial)
    assert "exit code 3" in reason
    assert "torchx error: RuntimeError: trainer failed on request" in reason
    assert "last log lines" in reason and "Traceback" in reason
    assert trial.run_metadata["log_dir"] in reason
    failed = [e for e in events() if e["event"] == "trial_failed"]
    assert len(failed) == 1 and "exit code 3" in failed[0]["reason"]


def test_stop_ends_the_whole_process_tree(log_root, events):
    runner = make(log_root, sleep=120.0, spawn_child=True)
    exp = experiment(runner)
    trial = add_trial(exp)
    trial.run()
    folder = trial.run_metadata["log_dir"]
    pid = read_pid(folder)
    child = read_pid(folder, "child_pid")  # in its own session: escapes killpg
    started = {pid: _proc.start_time(pid), child: _proc.start_time(child)}
    assert all(_proc.is_alive(p, s) for p, s in started.items())
    facts = runner.stop(trial, reason="test stop")
    assert facts["confirmed_gone"] is True and facts["reason"] == "test stop"
    assert not any(_proc.is_alive(p, s) for p, s in started.items())
    stopped = [e for e in events() if e["event"] == "trial_early_stopped"]
    assert len(stopped) == 1 and stopped[0]["reason"] == "test stop"
    # stopping again is harmless and fires nothing new; a poll sees the job
    # cancelled by a stop: EARLY_STOPPED, and not reported as a failure
    runner.stop(trial)
    assert runner.poll_trial_status([trial]) == {TrialStatus.EARLY_STOPPED: {0}}
    names = [e["event"] for e in events()]
    assert names == ["trial_deployed", "trial_early_stopped"]


def test_shell_metacharacters_reach_the_trainer_literally(log_root, tmp_path):
    runner = make(log_root)
    exp = experiment(runner)
    trials = [
        add_trial(exp, tag="; touch pwned"),
        add_trial(exp, tag="$(touch pwned2)"),
    ]
    for t in trials:
        t.run()
    assert set(poll_until_terminal(runner, trials).values()) == {TrialStatus.COMPLETED}
    assert result(trials[0].run_metadata["log_dir"])["params"]["tag"] == "; touch pwned"
    assert (
        result(trials[1].run_metadata["log_dir"])["params"]["tag"] == "$(touch pwned2)"
    )
    assert not list(tmp_path.rglob("pwned*"))


def test_secret_env_reaches_the_job_but_is_never_stored(
    log_root, tmp_path, monkeypatch
):
    from ax_nas_plugins import storage

    secret = "s3cr3t-value-8c1f"
    monkeypatch.setenv("AX_NAS_TEST_TOKEN", secret)
    runner = anp.runner(
        "torchx_local",
        component=COMPONENT,
        component_const_params={"echo_env": "AX_NAS_TEST_TOKEN"},
        log_root=str(log_root),
        secret_env=["AX_NAS_TEST_TOKEN"],
    )
    exp = experiment(runner, name="secret")
    trial = add_trial(exp)
    trial.run()
    poll_until_terminal(runner, [trial])
    assert result(trial.run_metadata["log_dir"])["env"] == {"AX_NAS_TEST_TOKEN": secret}
    assert secret not in json.dumps(runner.dryrun(trial))
    storage.save_experiment(exp, tmp_path / "exp.json")
    storage.save_experiment(exp, tmp_path / "exp.db")
    for path in (tmp_path / "exp.json", tmp_path / "exp.db"):
        assert secret.encode() not in path.read_bytes(), path
    for path in (log_root / "secret").rglob("*"):
        if path.is_file() and path.name != "result.json":  # the job echoed it there
            assert secret.encode() not in path.read_bytes(), path


def test_secret_names_in_cfg_env_are_refused(log_root):
    with pytest.raises(RunnerError, match="secret_env"):
        anp.runner(
            "torchx_docker",
            component=COMPONENT,
            cfg={"env": {"TOKEN": "x"}},
            secret_env=["TOKEN"],
            log_root=str(log_root),
        )


def test_unknown_state_waits_for_the_grace_period(log_root):
    """A job whose supervisor, waiter and process were SIGKILLed (as in a
    machine restart) left no exit status."""
    runner = make(log_root, sleep=120.0)
    exp = experiment(runner)
    trial = add_trial(exp)
    trial.run()
    trial.mark_running(no_runner_required=True)
    pid = read_pid(trial.run_metadata["log_dir"])
    app_dir = os.path.join(trial.run_metadata["log_dir"], trial.run_metadata["app_id"])
    with open(os.path.join(app_dir, "trainer", "0", "state.json")) as fh:
        state = json.load(fh)
    os.kill(state["supervisor_pid"], signal.SIGKILL)
    os.kill(state["pid"], signal.SIGKILL)  # the waiter that records the exit
    os.kill(pid, signal.SIGKILL)
    wait_for(lambda: not _proc.is_alive(pid), 10, "the job to die")
    wait_for(lambda: not _proc.is_alive(state["supervisor_pid"]), 10, "supervisor")
    # within the grace period the trial keeps its status
    assert runner.poll_trial_status([trial]) == {TrialStatus.RUNNING: {0}}
    runner.unknown_grace_s = 0.0
    runner._live.pop("clock")
    runner.poll_trial_status([trial])  # starts the clock
    got = wait_for(lambda: runner.poll_trial_status([trial]).get(TrialStatus.FAILED))
    assert got == {0}
    assert "without recording an exit status" in runner.poll_exception(trial)


def test_capacity_counts_running_jobs(log_root):
    runner = anp.runner(
        "torchx_local",
        component=COMPONENT,
        component_const_params={"sleep": 120.0},
        log_root=str(log_root),
        max_concurrent=3,
    )
    assert runner.poll_available_capacity() == 3
    exp = experiment(runner)
    trials = [add_trial(exp, x=0.1 * i) for i in range(2)]
    for t in trials:
        t.run()
    assert runner.poll_available_capacity() == 1
    runner.stop(trials[0])
    assert runner.poll_available_capacity() == 2
    runner.stop(trials[1])
    assert (
        anp.runner("torchx_local", component=COMPONENT).poll_available_capacity() == -1
    )


def test_a_resubmitted_trial_adopts_its_job(log_root):
    """Orchestrator died after the job started but before it saved the trial."""
    runner = make(log_root, sleep=0.2)
    exp = experiment(runner)
    trial = add_trial(exp)
    first = runner.run(trial)
    again = make(log_root, sleep=0.2).run(trial)
    assert again["app_id"] == first["app_id"] and again["adopted"] is True
    apps = [p for p in os.listdir(first["log_dir"]) if p.startswith("trainer-")]
    assert apps == [first["app_id"]]
    trial.update_run_metadata(first)
    poll_until_terminal(runner, [trial])
    other = experiment(make(log_root), name="exp")
    clash = add_trial(other, x=0.9)  # same experiment name and index, new params
    with pytest.raises(RunnerError, match="already holds a job of another run"):
        clash.run()


def test_bad_options_name_the_field(log_root):
    with pytest.raises(RunnerError, match="log_root"):
        anp.runner("torchx_local", component=COMPONENT, cfg={"log_dir": "/tmp/x"})
    lazy = anp.runner("torchx_local", component="no_such_module:fn")  # not imported
    with pytest.raises(Exception, match="cannot import 'no_such_module:fn'"):
        lazy.run(add_trial(experiment(lazy, name="lazy")))
    runner = anp.runner("torchx_local", component=COMPONENT, component_const_params={})
    exp = experiment(
        anp.runner("torchx_local", component="ax_nas_plugins.testing.components:noop")
    )
    assert runner is not None and exp is not None
    with pytest.raises(Exception, match="does not accept 'unexpected'"):
        anp.runner(
            "torchx_local",
            component="tests.test_runners_local:strict_component",
            component_const_params={"unexpected": 1},
            log_root=str(log_root),
        ).run(add_trial(experiment(None)))


def strict_component(log_dir: str, x: float, tag: str):
    raise AssertionError("never called: the options are checked first")
