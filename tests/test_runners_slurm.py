"""torchx_slurm on a real one-node Slurm cluster (slurmctld, slurmd, slurmdbd on
MariaDB, munge; all on 127.0.0.1): submit, complete with TensorBoard curves,
fail with the reason, cancel, capacity, SIGKILL-then-resume with a real Ax
Orchestrator; and the state table and batch script without a cluster."""

from __future__ import annotations

import json
import os
import signal
from pathlib import Path

import pytest
from ax.core.arm import Arm
from ax.core.base_trial import TrialStatus
from ax.core.experiment import Experiment
from ax.core.parameter import ParameterType, RangeParameter
from ax.core.search_space import SearchSpace

import ax_nas_plugins as anp
from ax_nas_plugins.runners import _proc
from ax_nas_plugins.runners.base import RunnerError
from ax_nas_plugins.runners.schedulers import slurm_shared
from tests.cluster_fixtures import slurm_cluster_fixture  # noqa: F401
from tests.runner_support import cluster_orchestrate, poll_until_terminal, wait_for

REPO = Path(__file__).resolve().parents[1]
JOB = "tests._cluster_job:tb_job"
TRAINER = "ax_nas_plugins.testing.components:trainer"


def experiment(runner, name="slurm_exp", metrics=()):
    space = SearchSpace(
        [
            RangeParameter("x1", ParameterType.FLOAT, 0.0, 1.0),
            RangeParameter("x2", ParameterType.FLOAT, 0.0, 1.0),
        ]
    )
    return Experiment(name=name, search_space=space, runner=runner, metrics=metrics)


def add_trial(exp, x1=0.5, x2=0.25):
    return exp.new_trial().add_arm(Arm({"x1": x1, "x2": x2}))


@pytest.fixture
def workdir(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    return tmp_path


def make(workdir, component=JOB, **kw):
    const = kw.pop("const", {})
    return anp.runner(
        "torchx_slurm",
        component=component,
        component_const_params=const,
        log_root=str(workdir / "runs"),
        stop_timeout_s=30.0,
        **kw,
    )


def squeue_ids(cluster) -> set[str]:
    out = cluster.client("squeue", "-h", "-o", "%i|%T")
    return {line.split("|")[0] for line in out.split()}


def sacct_state(cluster, job_id: str) -> str:
    out = cluster.client("sacct", "-n", "-X", "-P", "-j", job_id, "-o", "State")
    return out.strip().split(" ")[0]


# -- without a cluster ---------------------------------------------------------


def test_every_slurm_state_is_mapped_and_explained():
    from torchx.specs import AppState

    job = slurm_shared.SlurmJob("5", "trainer-0", "CANCELLED", "0:15", "None")
    assert job.app_state == AppState.CANCELLED
    assert "killed by signal 15" in job.message()
    oom = slurm_shared.SlurmJob("6", "trainer-0", "OUT_OF_MEMORY", "0:125", "")
    assert oom.app_state == AppState.FAILED and "out of memory" in oom.message()
    timeout = slurm_shared.SlurmJob("7", "trainer-0", "TIMEOUT", "0:0", "")
    assert "time limit" in timeout.message()
    pending = slurm_shared.SlurmJob("8", "trainer-0", "PENDING", "", "Resources")
    assert pending.app_state == AppState.PENDING
    assert "Slurm reason: Resources" in pending.message()
    odd = slurm_shared.SlurmJob("9", "trainer-0", "NEW_STATE", "", "")
    assert odd.app_state == AppState.UNKNOWN and "does not know" in odd.message()
    # the states of squeue(1)/sacct(1) in Slurm 22.05
    states = (
        "BOOT_FAIL CANCELLED COMPLETED COMPLETING CONFIGURING DEADLINE FAILED "
        "NODE_FAIL OUT_OF_MEMORY PENDING PREEMPTED REQUEUED REQUEUE_FED "
        "REQUEUE_HOLD RESIZING RESV_DEL_HOLD REVOKED RUNNING SIGNALING "
        "SPECIAL_EXIT STAGE_OUT STOPPED SUSPENDED TIMEOUT"
    )
    for state in states.split(" "):
        assert state in slurm_shared.SLURM_STATES, state


def test_options_are_checked_at_construction(workdir):
    with pytest.raises(RunnerError, match="unknown `cfg` option"):
        make(workdir, cfg={"partiton": "debug"})
    with pytest.raises(RunnerError, match=r"cfg\['time'\].*must be"):
        make(workdir, cfg={"time": 10})
    with pytest.raises(RunnerError, match="absolute path"):
        make(workdir, cfg={"job_dir": "relative/dir"})


def test_batch_script_keeps_args_literal_and_no_secret(workdir, monkeypatch):
    monkeypatch.setenv("AX_NAS_TEST_TOKEN", "s3cr3t-value")
    runner = make(
        workdir,
        component=TRAINER,
        cfg={"partition": "debug", "time": "5", "job_dir": str(workdir)},
        secret_env=["AX_NAS_TEST_TOKEN"],
    )
    exp = experiment(runner)
    trial = exp.new_trial().add_arm(Arm({"x1": 0.5, "x2": 0.25}, name="0_0"))
    info = runner.dryrun(trial)
    text = json.dumps(info)
    assert "s3cr3t-value" not in text
    app, cfg, log_dir = runner.build_app(trial)
    req = runner._get_scheduler().submit_dryrun(app, cfg).request
    script = req.materialize()
    assert "s3cr3t-value" not in script
    assert "--partition=debug" in script and "--time=5" in script
    assert f'--output={log_dir}/slurm-"$SLURM_JOB_ID"-trainer-0.out' in script
    assert f"--output={log_dir}/slurm-%j.out" in req.cmd
    assert f"--chdir={workdir}" in req.cmd
    assert "--param x1 0.5" in script


# -- on the real cluster -------------------------------------------------------


@pytest.mark.slurm
@pytest.mark.slow
def test_submit_complete_and_tensorboard_curve(slurm_cluster, workdir, monkeypatch):
    from ax_nas_plugins.metrics import _logdir

    _logdir.clear_cache()
    loss = anp.metric("tensorboard", name="loss", lower_is_better=True)
    runner = make(workdir, const={"steps": 3, "pause": 0.1})
    exp = experiment(runner, metrics=[loss])
    trial = add_trial(exp, x1=0.5, x2=0.25)
    trial.run()
    meta = trial.run_metadata
    assert json.loads(json.dumps(meta)) == meta
    assert meta["runner"] == "torchx_slurm" and meta["scheduler"] == "slurm"
    assert meta["app_handle"] == f"slurm://ax_nas/{meta['app_id']}"
    assert poll_until_terminal(runner, [trial], 120) == {0: TrialStatus.COMPLETED}
    trial.mark_running(no_runner_required=True, unsafe=True)
    trial.mark_completed()
    assert sacct_state(slurm_cluster, meta["app_id"]) == "COMPLETED"
    log_dir = Path(meta["log_dir"])
    out = (log_dir / f"slurm-{meta['app_id']}-trainer-0.out").read_text()
    assert "step 3" in out
    df = exp.fetch_data().full_df
    rows = df[df["metric_name"] == "loss"].sort_values("step")
    assert list(rows["step"]) == [1.0, 2.0, 3.0]
    assert rows["mean"].iloc[-1] == pytest.approx((0.5 - 0.3) ** 2 + 0.25 / 3)
    assert not (workdir / ".torchxslurmjobdirs").exists()
    assert not list(workdir.glob("slurm-*"))  # nothing in the cwd


@pytest.mark.slurm
@pytest.mark.slow
def test_failure_reason_has_exit_code_and_log_tail(slurm_cluster, workdir):
    runner = make(workdir, const={"fail_trials": "0"})
    exp = experiment(runner)
    trial = add_trial(exp)
    trial.run()
    assert poll_until_terminal(runner, [trial], 120) == {0: TrialStatus.FAILED}
    reason = runner.poll_exception(trial)
    assert "FAILED: FAILED, exit code 7" in reason
    assert "RuntimeError: tbjob failed on request (7)" in reason
    assert f"log dir: {trial.run_metadata['log_dir']}" in reason


@pytest.mark.slurm
@pytest.mark.slow
def test_secret_reaches_job_but_no_file(slurm_cluster, workdir, monkeypatch):
    monkeypatch.setenv("AX_NAS_TEST_TOKEN", "s3cr3t-slurm")
    runner = make(
        workdir,
        component=TRAINER,
        const={"echo_env": "AX_NAS_TEST_TOKEN"},
        secret_env=["AX_NAS_TEST_TOKEN"],
    )
    exp = experiment(runner)
    trial = exp.new_trial().add_arm(Arm({"x1": 0.5, "x2": 0.25}))
    trial.run()
    assert poll_until_terminal(runner, [trial], 120) == {0: TrialStatus.COMPLETED}
    log_dir = Path(trial.run_metadata["log_dir"])
    result = json.loads((log_dir / "result.json").read_text())
    assert result["env"] == {"AX_NAS_TEST_TOKEN": "s3cr3t-slurm"}
    assert "s3cr3t-slurm" not in json.dumps(trial.run_metadata)
    for path in log_dir.rglob("*"):
        if path.is_file() and path.name != "result.json":
            assert "s3cr3t-slurm" not in path.read_text(errors="replace"), path


@pytest.mark.slurm
@pytest.mark.slow
def test_stop_cancels_and_capacity_follows_idle_cpus(slurm_cluster, workdir):
    runner = make(workdir, component=TRAINER, const={"sleep": 300})
    exp = experiment(runner)
    assert runner.poll_available_capacity() == slurm_cluster.cpus
    trials = [add_trial(exp, x1=0.1 * i) for i in range(2)]
    for t in trials:
        t.run()
    dirs = [t.run_metadata["log_dir"] for t in trials]
    wait_for(lambda: all(os.path.exists(os.path.join(d, "pid")) for d in dirs), 120)
    pids = [int(Path(d, "pid").read_text()) for d in dirs]
    assert runner.poll_available_capacity() == 0  # both CPUs taken
    status = runner.poll_trial_status(trials)
    assert status == {TrialStatus.RUNNING: {0, 1}}
    facts = runner.stop(trials[0], reason="test stop")
    job_id = trials[0].run_metadata["app_id"]
    assert facts["confirmed_gone"] is True and facts["slurm_state"] == "CANCELLED"
    assert facts["reason"] == "test stop"
    wait_for(lambda: not _proc.is_alive(pids[0]), 60, "the cancelled job's process")
    assert job_id not in squeue_ids(slurm_cluster) or (
        "RUNNING" not in slurm_cluster.client("squeue", "-h", "-j", job_id, "-o", "%T")
    )
    wait_for(lambda: sacct_state(slurm_cluster, job_id) == "CANCELLED", 60)
    # a fresh runner object (a resumed process) cancels the other one
    fresh = make(workdir, component=TRAINER, const={"sleep": 300})
    fresh.stop(trials[1])
    assert (
        not _proc.is_alive(pids[1])
        or wait_for(lambda: not _proc.is_alive(pids[1]), 60) is None
    )
    wait_for(lambda: runner.poll_available_capacity() == 2, 60, "CPUs to be idle")


def _orchestrate(mode, workdir, total, spec, fault=None, name="slurm_resume"):
    return cluster_orchestrate(mode, workdir, name, total, spec, fault)


@pytest.mark.slurm
@pytest.mark.slow
def test_sigkill_then_resume_loses_and_repeats_nothing(slurm_cluster, workdir):
    total = 4
    spec = {
        "runner": "torchx_slurm",
        "component": JOB,
        "component_const_params": {"steps": 6, "pause": 0.5},
        "cfg": {"partition": "debug", "time": "10"},
        "log_root": str(workdir / "runs"),
    }
    made = dict(spec)
    root = Path(
        anp.runner(made.pop("runner"), **made).trial_log_dir("slurm_resume", 0)
    ).parent
    first = _orchestrate("start", workdir, total, spec)

    def mid_run():
        dirs = sorted(root.glob("trial_*")) if root.exists() else []
        done = [d for d in dirs if (d / "result.json").exists()]
        running = [
            d
            for d in dirs
            if (d / "pid").exists()
            and (d / "pid").read_text().strip()
            and not (d / "result.json").exists()
        ]

        return (
            done and running and {d.name: int((d / "pid").read_text()) for d in running}
        )

    try:
        running = wait_for(mid_run, 300, "one finished and one running trial")
    except AssertionError:
        first.kill()
        out, err = first.communicate()
        raise AssertionError(f"orchestrator output:\n{out}\n{err[-4000:]}") from None
    first.send_signal(signal.SIGKILL)
    first.communicate()
    second = _orchestrate("resume", workdir, total, spec)
    out, err = second.communicate(timeout=600)
    assert second.returncode == 0, err[-4000:]
    got = json.loads(out.strip().splitlines()[-1])
    assert got["status"] == {str(i): "COMPLETED" for i in range(total)}, got
    dirs = sorted(root.glob("trial_*"))
    assert [d.name for d in dirs] == [f"trial_{i:04d}" for i in range(total)]
    job_ids = []
    for d in dirs:  # one sbatch job per trial
        outs = list(d.glob("slurm-*-trainer-0.out"))
        assert len(outs) == 1, (d, outs)
        job_ids.append(outs[0].name.split("-")[1])
        assert len(got["loss"]) == total
    acct = slurm_cluster.client("sacct", "-n", "-X", "-P", "-o", "JobIDRaw,JobName")
    trainer_jobs = [ln for ln in acct.split() if ln.endswith("|trainer-0")]
    assert sorted(set(job_ids)) == sorted(job_ids)
    assert all(any(ln.startswith(j + "|") for ln in trainer_jobs) for j in job_ids)
    assert running, "the kill should have caught a running trial"
    for name, pid in running.items():  # re-attached: the same job wrote the result
        assert json.loads((root / name / "result.json").read_text())["pid"] == pid


@pytest.mark.slurm
@pytest.mark.slow
def test_kill_between_sbatch_and_record_adopts_the_job(slurm_cluster, workdir):
    """The orchestrator dies right after ``sbatch`` returned, before the job
    id reached the record (fault ``after_submit``): the resumed run finds
    the job by its batch script's path and adopts it; no trial is submitted
    twice."""
    total = 3
    spec = {
        "runner": "torchx_slurm",
        "component": JOB,
        "component_const_params": {"steps": 2, "pause": 0.2},
        "cfg": {"partition": "debug", "time": "10"},
        "log_root": str(workdir / "runs"),
    }
    made = dict(spec)
    root = Path(
        anp.runner(made.pop("runner"), **made).trial_log_dir("slurm_window", 0)
    ).parent
    first = _orchestrate(
        "start", workdir, total, spec, "after_submit@1", "slurm_window"
    )
    _, err = first.communicate(timeout=300)
    assert first.returncode == -signal.SIGKILL, err[-3000:]
    record = json.loads((root / "trial_0001" / "job.json").read_text())
    assert record["state"] == "starting" and not record["app_id"], record
    second = _orchestrate("resume", workdir, total, spec, name="slurm_window")
    out, err = second.communicate(timeout=600)
    assert second.returncode == 0, err[-4000:]
    got = json.loads(out.strip().splitlines()[-1])
    assert got["status"] == {str(i): "COMPLETED" for i in range(total)}, got
    wanted = [str(root / f"trial_{i:04d}" / "torchx-sbatch.sh") for i in range(total)]

    def accounted() -> tuple[str, list[str]] | None:
        # slurmctld hands finished jobs to slurmdbd asynchronously: the last
        # job can be missing from sacct for a moment after it completed
        acct = slurm_cluster.client("sacct", "-n", "-X", "-P", "-o", "JobID,SubmitLine")
        scripts = [ln.rsplit(" ", 1)[-1] for ln in acct.split("\n") if ln.strip()]
        return (acct, scripts) if all(w in scripts for w in wanted) else None

    acct, scripts = wait_for(accounted, timeout=60, what="every trial's job in sacct")
    for i, script in enumerate(wanted):  # one sbatch per trial folder, killed one too
        assert scripts.count(script) == 1, (i, acct)
    record = json.loads((root / "trial_0001" / "job.json").read_text())
    assert record["app_id"] and record["state"] != "starting", record
