"""torchx_docker against a real dockerd: run, fail, stop (by pid), no network,
SIGKILL-then-resume. The trainer image is made with debootstrap + docker import.

dockerd is started by ``scripts/services.sh start`` (``scripts/test.sh`` does
it). Without one these tests are skipped, except under CI (``CI=true``),
where that is a failure."""

from __future__ import annotations

import os

import pytest
from ax.core.base_trial import TrialStatus

import ax_nas_plugins as anp
from ax_nas_plugins.runners import _proc
from tests.runner_support import (
    COMPONENT,
    add_trial,
    experiment,
    poll_until_terminal,
    read_pid,
    result,
)
from tests.test_runners_resume import sigkill_and_resume, trial_dirs

pytestmark = [pytest.mark.docker, pytest.mark.slow]


@pytest.fixture(scope="module")
def image():
    try:
        import docker

        client = docker.from_env()
        client.ping()
    except Exception as exc:
        message = (
            f"dockerd is unreachable ({type(exc).__name__}: {exc}); "
            "start it with `scripts/services.sh start`"
        )
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(message + " (CI=true: docker tests must run)")
        pytest.skip(message)
    from ax_nas_plugins.testing.docker_image import ensure_trainer_image

    return ensure_trainer_image()


@pytest.fixture
def workdir(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    yield tmp_path
    import docker

    from ax_nas_plugins.runners.schedulers.docker_isolated import LABEL_LOG_DIR

    client = docker.from_env()
    for c in client.containers.list(all=True, filters={"label": LABEL_LOG_DIR}):
        if c.labels.get(LABEL_LOG_DIR, "").startswith(str(tmp_path)):
            c.remove(force=True)


def make(workdir, image, **const):
    return anp.runner(
        "torchx_docker",
        component=COMPONENT,
        component_const_params={"image": image, "python": "python3", **const},
        cfg={"kill_grace_s": 2.0},
        log_root=str(workdir / "runs"),
    )


def _container(meta):
    import docker

    client = docker.from_env()
    found = client.containers.list(
        all=True, filters={"label": f"torchx.pytorch.org/app-id={meta['app_id']}"}
    )
    assert len(found) == 1
    return found[0]


def test_docker_run_completes_without_network(workdir, image):
    runner = make(workdir, image, sleep=0.2)
    exp = experiment(runner)
    trial = add_trial(exp, tag="; touch pwned")
    trial.run()
    assert poll_until_terminal(runner, [trial]) == {0: TrialStatus.COMPLETED}
    out = result(trial.run_metadata["log_dir"])
    assert out["params"]["tag"] == "; touch pwned"
    assert not list(workdir.rglob("pwned*"))
    attrs = _container(trial.run_metadata).attrs
    assert attrs["HostConfig"]["NetworkMode"] == "none"
    assert set(attrs["NetworkSettings"]["Networks"]) <= {"none"}
    assert not attrs["HostConfig"].get("PortBindings")
    assert trial.run_metadata["scheduler"] == "local_docker"


def test_docker_failure_reason(workdir, image):
    runner = make(workdir, image, fail_trials="0")
    exp = experiment(runner)
    trial = add_trial(exp)
    trial.run()
    assert poll_until_terminal(runner, [trial]) == {0: TrialStatus.FAILED}
    reason = runner.poll_exception(trial)
    assert "exit code 3" in reason
    assert "torchx error: RuntimeError: trainer failed on request" in reason
    assert "Traceback" in reason


def test_docker_stop_ends_the_container_process(workdir, image):
    runner = make(workdir, image, sleep=120.0)
    exp = experiment(runner)
    trial = add_trial(exp)
    trial.run()
    read_pid(trial.run_metadata["log_dir"])  # the trainer runs
    host_pid = _container(trial.run_metadata).attrs["State"]["Pid"]
    started = _proc.start_time(host_pid)
    assert _proc.is_alive(host_pid, started)
    facts = runner.stop(trial, reason="enough")
    assert facts["confirmed_gone"] is True and facts["pids"] == [host_pid]
    assert not _proc.is_alive(host_pid, started)
    assert poll_until_terminal(runner, [trial]) == {0: TrialStatus.EARLY_STOPPED}


def test_docker_sigkill_then_resume(workdir, image):
    total = 4
    statuses, running = sigkill_and_resume(
        workdir, total, sleep=4.0, runner="torchx_docker", image=image
    )
    assert statuses == {str(i): "COMPLETED" for i in range(total)}, statuses
    assert running
    for d in trial_dirs(workdir):  # one container per trial: nothing re-run
        apps = [p for p in d.iterdir() if p.name.startswith("trainer-")]
        assert len(apps) == 1, (d, apps)
        assert (d / "result.json").exists()
