"""The base runner's rules (issue #9 items 1, 6, 8b, 8c, 9, 10 and the
lease of item 7; issue #10 item 7), with real processes where a job runs."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import typing

import pytest
from ax.core.arm import Arm
from ax.core.base_trial import TrialStatus
from ax.core.experiment import Experiment
from ax.core.parameter import ChoiceParameter, ParameterType
from ax.core.search_space import SearchSpace

import ax_nas_plugins as anp
from ax_nas_plugins import storage
from ax_nas_plugins.runners import _proc, _records
from ax_nas_plugins.runners.base import LeaseHeldError, RunnerError
from tests.runner_support import (
    COMPONENT,
    REPO,
    add_trial,
    experiment,
    kill_leftovers,
    read_pid,
    wait_for,
)


@pytest.fixture
def log_root(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    yield tmp_path / "runs"
    leftovers = kill_leftovers(str(tmp_path))
    assert not leftovers, f"processes left running: {leftovers}"


def make(log_root, sleep=120.0, **kw):
    return anp.runner(
        "torchx_local",
        component=COMPONENT,
        component_const_params={"sleep": sleep},
        cfg={"kill_grace_s": 1.0},
        log_root=str(log_root),
        **kw,
    )


# -- 8c: options checked once, at construction --------------------------------------


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"cfg": {"kill_grace_s": -5.0}}, r"cfg\['kill_grace_s'\].*>= ?0|within"),
        ({"cfg": {"kill_grace_s": "2"}}, r"cfg\['kill_grace_s'\]` must be of type"),
        ({"cfg": {"kill_grace_s": True}}, r"cfg\['kill_grace_s'\]` must be of type"),
        ({"cfg": {"no_such": 1}}, r"unknown `cfg` option.*Allowed: \["),
        ({"max_concurrent": "2"}, r"`max_concurrent` must be an integer >= 1.*'2'"),
        ({"max_concurrent": 0}, r"`max_concurrent` must be an integer >= 1"),
        ({"max_concurrent": True}, r"`max_concurrent` must be an integer"),
        ({"unknown_grace_s": -1}, r"`unknown_grace_s` must be a number >= 0"),
        ({"stop_timeout_s": 0}, r"`stop_timeout_s` must be a number > 0"),
        ({"max_runtime_s": 0}, r"`max_runtime_s` must be a number > 0 or None"),
        ({"max_runtime_s": float("nan")}, r"`max_runtime_s` must be a number"),
        ({"log_tail_lines": 2.5}, r"`log_tail_lines` must be an integer >= 0"),
    ],
)
@pytest.mark.parametrize("preset", ["torchx_local", "torchx_docker"])
def test_bad_options_are_refused_at_construction(preset, kwargs, message, tmp_path):
    with pytest.raises(RunnerError, match=message):
        anp.runner(preset, component=COMPONENT, log_root=str(tmp_path), **kwargs)


def test_an_int_kill_grace_is_a_float_and_deploys(log_root):
    runner = anp.runner(
        "torchx_local",
        component=COMPONENT,
        cfg={"kill_grace_s": 2},
        log_root=str(log_root),
    )
    assert runner.cfg == {"kill_grace_s": 2.0}
    assert isinstance(runner.cfg["kill_grace_s"], float)
    trial = add_trial(experiment(runner, name="intgrace"))
    trial.run()  # used to raise InvalidRunConfigException at every deploy
    wait_for(lambda: runner.poll_trial_status([trial]).get(TrialStatus.COMPLETED))


def test_scheduler_options_come_from_run_opts():
    """#10.7: one source of truth; the TypedDicts list the same names."""
    from ax_nas_plugins.runners.schedulers.docker_isolated import (
        IsolatedDockerOpts,
        IsolatedDockerScheduler,
    )
    from ax_nas_plugins.runners.schedulers.local_detached import (
        LocalDetachedOpts,
        LocalDetachedScheduler,
    )

    for typed, sched in [
        (LocalDetachedOpts, LocalDetachedScheduler("s")),
        (IsolatedDockerOpts, IsolatedDockerScheduler("s")),
    ]:
        names = {name for name, _ in sched.run_opts()}
        assert set(typing.get_type_hints(typed)) == names, typed
        assert sched.run_opts().get("kill_grace_s").default == 5.0
    local = anp.runner("torchx_local", component=COMPONENT)
    assert {n for n, _ in local.scheduler_run_opts()} - {"log_dir"} == {
        "prepend_cwd",
        "kill_grace_s",
    }


# -- 6: one folder per exact experiment name, records refused on mismatch ------------


def test_names_that_differ_only_in_odd_characters_get_their_own_folders(log_root):
    runner = make(log_root)
    alpha, beta = "nas \u03b1", "nas \u03b2"
    assert runner.experiment_dir(alpha) != runner.experiment_dir(beta)
    assert os.path.basename(runner.experiment_dir(alpha)).startswith("nas-")
    # a job record of experiment alpha in beta's trial folder is refused
    exp_a = experiment(make(log_root, sleep=0.1), name=alpha)
    trial_a = add_trial(exp_a)
    meta = exp_a.runner.run(trial_a)
    trial_a.update_run_metadata(meta)
    folder_b = runner.trial_log_dir(beta, 0)
    os.makedirs(folder_b)
    with open(os.path.join(meta["log_dir"], "job.json")) as fh:
        record = json.load(fh)
    with open(os.path.join(folder_b, "job.json"), "w") as fh:
        json.dump(record, fh)
    exp_b = experiment(runner, name=beta)
    with pytest.raises(RunnerError, match="experiment 'nas \u03b1'"):
        runner.run(add_trial(exp_b))
    assert record["experiment_name"] == alpha and record["trial_index"] == 0
    # end alpha's job before the fixture looks for leftovers (on a loaded
    # machine a 0.1 s job may not have ended yet)
    assert exp_a.runner.stop(trial_a)["confirmed_gone"] is True


def test_old_style_run_metadata_still_polls_and_stops(log_root, monkeypatch):
    """A trial stored by 0.1: folder without hash, record without names."""
    runner = make(log_root)
    with monkeypatch.context() as m:  # 0.1's folder names
        m.setattr(_records, "folder_name", lambda name: name)
        trial = add_trial(experiment(runner, name="old"))
        trial.run()
        meta = trial.run_metadata
    assert meta["log_dir"] == os.path.join(str(log_root), "old", "trial_0000")
    record = _records.read_json(os.path.join(meta["log_dir"], "job.json"))
    legacy = {k: record[k] for k in ("params_digest", "scheduler", "trial_index")}
    _records.write_json(
        os.path.join(meta["log_dir"], "job.json"), {**legacy, "run_metadata": meta}
    )
    other = make(log_root)  # a new process's runner
    assert other.poll_trial_status([trial]) == {TrialStatus.RUNNING: {0}}
    assert other.stop(trial)["confirmed_gone"] is True
    assert other.poll_trial_status([trial]) == {TrialStatus.EARLY_STOPPED: {0}}


# -- 10: loading needs no trainer code ------------------------------------------------


def test_a_stored_experiment_loads_without_its_component_module(tmp_path, py):
    runner = anp.runner(
        "torchx_local",
        component="no_such_trainer_pkg.components:train",
        log_root=str(tmp_path / "runs"),
    )
    exp = experiment(runner, name="analysis_only")
    add_trial(exp)
    db = tmp_path / "exp.db"
    storage.save_experiment(exp, db)
    code = f"""
from ax_nas_plugins import storage
exp, _ = storage.load_experiment({str(db)!r}, name="analysis_only")
print(type(exp.runner).__name__, exp.runner.component)
"""
    proc = py(code)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "TorchXLocalRunner no_such_trainer_pkg.components:train" in proc.stdout
    with pytest.raises(Exception, match="cannot import 'no_such_trainer_pkg"):
        runner.run(exp.trials[0])


# -- 8b: NUL bytes ---------------------------------------------------------------


def test_a_nul_byte_in_a_parameter_is_refused_at_run(log_root):
    runner = make(log_root, sleep=0.0)
    space = SearchSpace(
        [
            ChoiceParameter(
                "tag",
                ParameterType.STRING,
                ["ok", "bad\x00value"],
                is_ordered=False,
                sort_values=False,
            )
        ]
    )
    exp = Experiment(name="nul", search_space=space, runner=runner)
    trial = exp.new_trial().add_arm(Arm({"tag": "bad\x00value"}))
    with pytest.raises(RunnerError, match=r"parameter 'tag'.*NUL byte"):
        runner.run(trial)
    assert not os.path.exists(runner.trial_log_dir("nul", 0) + "/job.json")
    assert runner.count_active_jobs() == 0  # no slot held


# -- 1: capacity from the records every object and process sees -----------------------


def test_capacity_is_shared_by_two_runner_objects(log_root):
    """After a load, Ax stops trials through another runner object than the
    one it asks for capacity: the stop must free the slot for both."""
    runner = make(log_root, max_concurrent=2)
    other = storage.from_json(json.loads(json.dumps(storage.to_json(runner))))
    assert other is not runner
    exp = experiment(runner, name="cap")
    trials = [add_trial(exp, x=0.1 * i) for i in range(2)]
    for t in trials:
        t.run()
    assert runner.poll_available_capacity() == 0
    assert other.poll_available_capacity() == 0
    other.stop(trials[0], reason="early stop")
    assert runner.poll_available_capacity() == 1
    other.stop(trials[1])
    assert runner.poll_available_capacity() == 2


# -- 9: max_runtime_s -----------------------------------------------------------------


def test_max_runtime_stops_the_job_and_fails_the_trial(log_root):
    runner = make(log_root, max_runtime_s=1.0)
    exp = experiment(runner, name="hung")
    trial = add_trial(exp)
    trial.run()
    pid = read_pid(trial.run_metadata["log_dir"])
    started = _proc.start_time(pid)
    got = wait_for(
        lambda: runner.poll_trial_status([trial]).get(TrialStatus.FAILED), 60
    )
    assert got == {0}
    assert not _proc.is_alive(pid, started)
    reason = runner.poll_exception(trial)
    assert "ran longer than max_runtime_s=1" in reason
    # a new runner object (a resumed process) reads the same verdict
    assert make(log_root, max_runtime_s=1.0).poll_trial_status([trial]) == {
        TrialStatus.FAILED: {0}
    }


# -- 7: the lease ----------------------------------------------------------------------


def test_a_second_live_process_is_refused_until_the_holder_dies(log_root):
    runner = make(log_root, sleep=0.1)
    folder = runner.experiment_dir("leased")
    code = (
        "import sys, time\n"
        "from ax_nas_plugins.runners import _records\n"
        f"_records.take_lease({folder!r}); print('held', flush=True); time.sleep(300)\n"
    )
    holder = subprocess.Popen(
        [sys.executable, "-c", code],
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONPATH": str(REPO)},
    )
    try:
        assert holder.stdout.readline().strip() == "held"
        exp = experiment(runner, name="leased")
        trial = add_trial(exp)
        with pytest.raises(LeaseHeldError, match=rf"pid {holder.pid} on .*\.lease"):
            trial.run()
        assert not os.path.exists(runner.trial_log_dir("leased", 0))  # nothing ran
    finally:
        holder.send_signal(signal.SIGKILL)
        holder.wait()
    trial.run()  # the holder died: its lease is taken over
    holder_now = _records.read_json(os.path.join(folder, ".lease"))
    assert holder_now["pid"] == os.getpid()
    # end the job before the fixture looks for leftovers (on a loaded machine
    # a 0.1 s job may not have ended yet: seen once in a full run)
    assert runner.stop(trial)["confirmed_gone"] is True
    assert runner.release_lease("leased")
