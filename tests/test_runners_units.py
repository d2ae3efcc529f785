"""Fast checks without jobs: the status table, the grace clock, dry runs."""

from __future__ import annotations

import json

import pytest
from ax.core.base_trial import TrialStatus
from torchx.specs import AppState

import ax_nas_plugins as anp
from ax_nas_plugins.runners.status import APP_STATE_TO_TRIAL_STATUS, UnknownClock
from tests.runner_support import COMPONENT, add_trial, exp_dir, experiment


def test_every_torchx_state_has_a_row():
    assert set(APP_STATE_TO_TRIAL_STATUS) == set(AppState)
    assert APP_STATE_TO_TRIAL_STATUS[AppState.UNKNOWN] is None  # grace decides
    assert APP_STATE_TO_TRIAL_STATUS[AppState.SUCCEEDED] == TrialStatus.COMPLETED
    assert APP_STATE_TO_TRIAL_STATUS[AppState.CANCELLED] == TrialStatus.ABANDONED


def test_unknown_clock_expires_after_the_grace_and_resets():
    clock = UnknownClock(grace_s=60)
    assert not clock.expired(3, now=0.0)
    assert not clock.expired(3, now=60.0)
    assert clock.expired(3, now=60.5)
    clock.reset(3)
    assert not clock.expired(3, now=100.0)  # the clock starts again


@pytest.mark.parametrize("preset", ["torchx_local", "torchx_docker"])
def test_dryrun_is_plain_data_and_hides_secrets(preset, tmp_path, monkeypatch):
    monkeypatch.setenv("AX_NAS_DRY_SECRET", "hunter2-xyz")
    runner = anp.runner(
        preset,
        component=COMPONENT,
        component_const_params={"image": "img:1", "python": "python3"},
        log_root=str(tmp_path),
        secret_env=["AX_NAS_DRY_SECRET"],
    )
    trial = add_trial(experiment(runner, name="dry"), tag="; touch pwned")
    plan = runner.dryrun(trial)
    text = json.dumps(plan)  # plain data all the way down
    assert "hunter2-xyz" not in text
    assert "; touch pwned" in text
    assert plan["log_dir"] == str(exp_dir(tmp_path, "dry") / "trial_0000")
    if preset == "torchx_docker":
        (container,) = plan["request"]["containers"]
        assert container["kwargs"]["network_mode"] == "none"
        assert "network" not in container["kwargs"]
        assert container["command"][-5:] == [
            "tag",
            "; touch pwned",
            "--param",
            "x",
            "0.5",
        ]
        # the secret goes through a read-only file, not the container's env
        assert "AX_NAS_DRY_SECRET" not in container["kwargs"]["environment"]
        assert container["command"][:2] == ["/bin/sh", "-c"]
        assert any(
            "/run/ax-nas/secrets.env" in str(m) for m in container["kwargs"]["mounts"]
        )
    else:
        (replica,) = plan["request"]["replicas"]
        assert "AX_NAS_DRY_SECRET" in replica["env_names"]
        assert replica["args"][-5:] == ["tag", "; touch pwned", "--param", "x", "0.5"]
    assert not list(tmp_path.rglob("trainer-*"))  # nothing was started


def test_a_local_function_component_cannot_be_stored(tmp_path):
    from ax_nas_plugins import storage
    from ax_nas_plugins.testing.components import trainer

    def inner(**kw):
        return trainer(**kw)

    runner = anp.runner("torchx_local", component=inner, log_root=str(tmp_path))
    with pytest.raises(Exception, match="cannot be stored"):
        storage.to_json(runner)


class _OneCallScheduler:
    """A scheduler with ``describe_many``: answers from a table, counts calls."""

    def __init__(self, table, error=None):
        self.table, self.error, self.calls = table, error, []

    def describe_many(self, app_ids):
        self.calls.append(list(app_ids))
        if self.error is not None:
            raise self.error
        return {a: self.table[a] for a in app_ids if a in self.table}


class _PerJobScheduler:
    """A scheduler without ``describe_many``: ``describe`` per job, one fails."""

    def __init__(self, table):
        self.table, self.calls = table, []

    def describe(self, app_id):
        self.calls.append(app_id)
        if app_id == "flaky":
            raise ConnectionError("backend hiccup")
        return self.table.get(app_id)


def test_describe_many_uses_one_backend_call_when_the_scheduler_has_one(tmp_path):
    runner = anp.runner("torchx_docker", component=COMPONENT, log_root=str(tmp_path))
    metas = {0: {"app_id": "a"}, 1: {"app_id": "b"}, 2: {"app_id": "gone"}}
    sched = _OneCallScheduler({"a": "desc-a", "b": "desc-b"})
    runner._get_scheduler = lambda: sched
    assert runner._describe_many(metas) == {0: "desc-a", 1: "desc-b", 2: None}
    assert sched.calls == [["a", "b", "gone"]]  # one call for all three
    # a backend that cannot be asked: every job unknown (the exception), none failed
    down = _OneCallScheduler({}, error=ConnectionError("dockerd unreachable"))
    runner._get_scheduler = lambda: down
    got = runner._describe_many(metas)
    assert set(got) == {0, 1, 2}
    assert all(isinstance(v, ConnectionError) for v in got.values())
    # without describe_many: one call per job, an error stays that job's alone
    per_job = _PerJobScheduler({"a": "desc-a"})
    runner._get_scheduler = lambda: per_job
    got = runner._describe_many({0: {"app_id": "a"}, 1: {"app_id": "flaky"}})
    assert got[0] == "desc-a" and isinstance(got[1], ConnectionError)
    assert per_job.calls == ["a", "flaky"]
