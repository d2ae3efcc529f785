"""Secrets with torchx_docker and a real dockerd (issue #9 item 5): never in
the container's configuration (``docker inspect``), deleted once read, and
redacted from a stored failure reason (the bytes of the SQLite file)."""

from __future__ import annotations

import json

import pytest
from ax.core.base_trial import TrialStatus

import ax_nas_plugins as anp
from ax_nas_plugins import storage
from tests.runner_support import (
    COMPONENT,
    add_trial,
    experiment,
    poll_until_terminal,
    result,
)
from tests.test_runners_docker import image, workdir  # noqa: F401  (fixtures)

pytestmark = [pytest.mark.docker, pytest.mark.slow]

SECRET = "d0cker-s3cret-'quoted' $HOME value"


def test_a_secret_never_enters_the_container_config(workdir, image, monkeypatch):  # noqa: F811
    import docker
    from torchx.schedulers.docker_scheduler import LABEL_APP_ID

    monkeypatch.setenv("AX_NAS_DOCKER_SECRET", SECRET)
    runner = anp.runner(
        "torchx_docker",
        component=COMPONENT,
        component_const_params={
            "image": image,
            "python": "python3",
            "echo_env": "AX_NAS_DOCKER_SECRET",
            "fail_trials": "1",
        },
        log_root=str(workdir / "runs"),
        secret_env=["AX_NAS_DOCKER_SECRET"],
    )
    exp = experiment(runner, name="docker_secret")
    ok, bad = add_trial(exp, x=0.1), add_trial(exp, x=0.2)
    for t in (ok, bad):
        t.run()
    found = poll_until_terminal(runner, [ok, bad], timeout=180)
    assert found == {0: TrialStatus.COMPLETED, 1: TrialStatus.FAILED}
    # the job got the value, exactly
    assert result(ok.run_metadata["log_dir"])["env"] == {"AX_NAS_DOCKER_SECRET": SECRET}
    client = docker.from_env()
    for t in (ok, bad):
        (container,) = client.containers.list(
            all=True,
            filters={"label": f"{LABEL_APP_ID}={t.run_metadata['app_id']}"},
        )
        inspect = json.dumps(client.api.inspect_container(container.id))
        assert SECRET not in inspect and "d0cker-s3cret" not in inspect
    leftover = list((workdir / "runs").rglob("*.env"))
    assert leftover == [], leftover  # the secrets files were deleted
    bad.mark_failed(reason=runner.poll_exception(bad), unsafe=True)
    db = workdir / "exp.db"
    storage.save_experiment(exp, db)
    assert b"d0cker-s3cret" not in db.read_bytes()
