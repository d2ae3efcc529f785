"""Storage round trips of the runners, and SIGKILL-then-resume with a real
Ax Orchestrator over SQLite (torchx_local)."""

from __future__ import annotations

import json
import signal

import pytest
from ax.core.base_trial import TrialStatus

import ax_nas_plugins as anp
from ax_nas_plugins import storage
from ax_nas_plugins.runners import _proc
from tests.runner_support import (
    COMPONENT,
    SCRIPTS,
    add_trial,
    exp_dir,
    experiment,
    kill_leftovers,
    poll_until_terminal,
    result,
    start_script,
    wait_for,
)


@pytest.fixture
def workdir(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    yield tmp_path
    leftovers = kill_leftovers(str(tmp_path))
    assert not leftovers, f"processes left running: {leftovers}"


@pytest.mark.parametrize("preset", ["torchx_local", "torchx_docker"])
def test_runner_round_trips_through_json(preset, workdir):
    from ax_nas_plugins.testing.components import trainer

    runner = anp.runner(
        preset,
        component=trainer,  # a function: stored as "module:function"
        component_const_params={"sleep": 1.5, "image": "img:1"},
        cfg={"kill_grace_s": 3.0},
        log_root=str(workdir / "runs"),
        secret_env=["HOME"],
        unknown_grace_s=12.0,
        max_concurrent=2,
    )
    data = storage.to_json(runner)
    assert data["component"] == COMPONENT
    back = storage.from_json(json.loads(json.dumps(data)))
    assert type(back) is type(runner) and back == runner
    assert back.component == COMPONENT and back.max_concurrent == 2
    assert back.clone() == runner


def test_runner_and_trials_round_trip_through_sqlite(workdir, py):
    runner = anp.runner(
        "torchx_local",
        component=COMPONENT,
        component_const_params={"sleep": 0.1},
        log_root=str(workdir / "runs"),
    )
    exp = experiment(runner, name="sqlite_rt")
    done, running = add_trial(exp, x=0.1), add_trial(exp, x=0.2)
    done.run()
    poll_until_terminal(runner, [done])
    done.mark_completed(unsafe=True)
    runner.component_const_params["sleep"] = 120.0
    running.run()
    running.mark_running(no_runner_required=True)
    storage.save_experiment(exp, workdir / "exp.db")
    assert runner.release_lease("sqlite_rt")  # hand the experiment to the child
    code = f"""
import json, os
from ax.core.base_trial import TrialStatus
from ax_nas_plugins import storage
exp, _ = storage.load_experiment({str(workdir / "exp.db")!r}, name="sqlite_rt")
runner = exp.runner
trials = [exp.trials[0], exp.trials[1]]
status = runner.poll_trial_status(trials)
stop = runner.stop(exp.trials[1], reason="from another process")
print(json.dumps({{
    "type": type(runner).__name__, "component": runner.component,
    "meta_equal": exp.trials[1].run_metadata["app_id"],
    "status": {{k.name: sorted(v) for k, v in status.items()}},
    "stop": stop,
}}))
"""
    proc = py(code)
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    assert out["type"] == "TorchXLocalRunner" and out["component"] == COMPONENT
    assert out["meta_equal"] == running.run_metadata["app_id"]
    assert out["status"] == {"COMPLETED": [0], "RUNNING": [1]}
    assert out["stop"]["confirmed_gone"] is True
    assert poll_until_terminal(runner, [running])[1] == TrialStatus.EARLY_STOPPED


def _orchestrate(mode, workdir, total, sleep, runner="torchx_local", image=""):
    args = [mode, workdir / "nas.db", workdir / "runs", "resume_exp"]
    args += [total, sleep, runner] + ([image] if image else [])
    return start_script(SCRIPTS / "orchestrate.py", args, workdir)


def trial_dirs(workdir):
    root = exp_dir(workdir / "runs", "resume_exp")
    return sorted(root.glob("trial_*")) if root.exists() else []


def sigkill_and_resume(workdir, total, sleep, runner="torchx_local", image=""):
    """Kill the orchestrator while some trials run and some are done; resume.

    Returns (statuses after resume, pids of the jobs running at the kill).
    """
    first = _orchestrate("start", workdir, total, sleep, runner, image)

    def mid_run():
        dirs = trial_dirs(workdir)
        finished = [d for d in dirs if (d / "result.json").exists()]
        running = [
            d for d in dirs if (d / "pid").exists() and not (d / "result.json").exists()
        ]
        return finished and running and (finished, running)

    try:
        wait_for(mid_run, 240, "one finished and one running trial")
    except AssertionError:
        first.kill()
        out, err = first.communicate()
        raise AssertionError(f"orchestrator output:\n{out}\n{err[-4000:]}") from None
    first.send_signal(signal.SIGKILL)
    first.communicate()
    running = {
        d.name: int((d / "pid").read_text())
        for d in trial_dirs(workdir)
        if (d / "pid").exists() and not (d / "result.json").exists()
    }
    second = _orchestrate("resume", workdir, total, sleep, runner, image)
    out, err = second.communicate(timeout=600)
    assert second.returncode == 0, err[-4000:]
    statuses = json.loads(out.strip().splitlines()[-1])
    return statuses, running


@pytest.mark.slow
def test_sigkill_then_resume_loses_and_repeats_nothing(workdir):
    total = 5
    statuses, running = sigkill_and_resume(workdir, total, sleep=4.0)
    assert statuses == {str(i): "COMPLETED" for i in range(total)}, statuses
    dirs = trial_dirs(workdir)
    assert [d.name for d in dirs] == [f"trial_{i:04d}" for i in range(total)]
    for d in dirs:  # each trial's job was started exactly once
        apps = [p for p in d.iterdir() if p.name.startswith("trainer-")]
        assert len(apps) == 1, (d, apps)
    assert running, "the kill should have caught a running trial"
    for name, pid in running.items():
        # re-attached: the very process that ran at the kill wrote the result
        assert result(str(exp_dir(workdir / "runs", "resume_exp") / name))["pid"] == pid
        assert not _proc.is_alive(pid)
    events = [p.name for d in dirs for p in (d / ".events").iterdir()]
    assert sorted(events) == sorted(["trial_deployed", "trial_completed"] * total)
