"""torchx_ray on a real Ray head (ray[default]) in a loopback-only network namespace.

Ray binds some servers to the machine's other addresses, so the head and
the orchestrating code run together inside ``unshare -n``: the module
fixture runs ``tests/scripts/ray_scenarios.py`` there once (head start,
complete, fail, secret, cancel with capacity, SIGKILL-then-resume with a real
Ax Orchestrator, Ray stopped by pid) and the tests below check what it
recorded. The option checks and the working-dir staging need no Ray.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

import ax_nas_plugins as anp
from ax_nas_plugins.runners.base import RunnerError
from ax_nas_plugins.runners.schedulers import ray_staged

REPO = Path(__file__).resolve().parents[1]
SCRIPT = REPO / "tests" / "scripts" / "ray_scenarios.py"


@pytest.fixture(scope="module")
def ray_run(tmp_path_factory):
    if os.geteuid() != 0:
        pytest.skip("a loopback-only network namespace (unshare -n) needs root")
    pytest.importorskip("ray.job_submission")
    work = tmp_path_factory.mktemp("ray")
    out = work / "out.json"
    proc = subprocess.run(
        ["unshare", "-n", sys.executable, str(SCRIPT), str(work), str(out)],
        capture_output=True,
        text=True,
        timeout=900,
        env={**os.environ, "PYTHONPATH": str(REPO)},
        check=False,
    )
    if not out.exists():
        raise AssertionError(f"scenarios wrote nothing:\n{proc.stderr[-4000:]}")
    data = json.loads(out.read_text())
    data["_stderr"] = proc.stderr[-4000:]
    return data


def section(data, name):
    got = data.get(name)
    assert got is not None, f"scenario {name} did not run: {data['_stderr']}"
    assert "error" not in got, got["error"]
    return got


# -- without Ray -----------------------------------------------------------------


def make(**kw):
    return anp.runner("torchx_ray", component="tests._cluster_job:tb_job", **kw)


def test_options_are_checked_at_construction():
    with pytest.raises(RunnerError, match="unknown `cfg` option"):
        make(cfg={"dashbord_address": "x:1"})
    with pytest.raises(RunnerError, match="must be host:port"):
        make(cfg={"dashboard_address": "http://h:8265/api"})
    with pytest.raises(RunnerError, match=r"cfg\[.runtime_env.\].* must be"):
        make(cfg={"runtime_env": "pip"})
    with pytest.raises(RunnerError, match="not inside"):
        make(cfg={"runtime_env": {"working_dir": "/x"}})
    with pytest.raises(RunnerError, match="secret_env"):
        make(
            cfg={"runtime_env": {"env_vars": {"TOKEN": "x"}}},
            secret_env=["TOKEN"],
        )


def test_working_dir_is_staged_without_venv_caches_and_log_root(tmp_path):
    src = tmp_path / "proj"
    (src / "pkg").mkdir(parents=True)
    (src / "pkg" / "train.py").write_text("print(1)\n")
    (src / ".venv" / "lib").mkdir(parents=True)
    (src / ".venv" / "pyvenv.cfg").write_text("home = /usr\n")
    (src / "env2").mkdir()
    (src / "env2" / "pyvenv.cfg").write_text("home = /usr\n")
    (src / "pkg" / "__pycache__").mkdir()
    (src / "runs" / "exp").mkdir(parents=True)
    staged = ray_staged.stage_working_dir(str(src), [str(src / "runs")])
    try:
        found = sorted(
            os.path.relpath(os.path.join(d, f), staged)
            for d, _, files in os.walk(staged)
            for f in files
        )
        assert found == ["pkg/train.py"]
    finally:
        import shutil

        shutil.rmtree(os.path.dirname(staged))
    with pytest.raises(ValueError, match="is not a folder"):
        ray_staged.stage_working_dir(str(tmp_path / "missing"), [])


def test_app_id_holds_the_dashboard_address():
    assert ray_staged.split_app_id("127.0.0.1:8265-tbjob-0-abc") == (
        "127.0.0.1:8265",
        "tbjob-0-abc",
    )
    assert ray_staged.ray_state("STOPPED").name == "CANCELLED"
    assert ray_staged.ray_state("NEW").name == "UNKNOWN"


# -- on a real Ray head ---------------------------------------------------------------


@pytest.mark.ray
@pytest.mark.slow
def test_nothing_listens_beyond_loopback(ray_run):
    assert ray_run["interfaces"] == ["lo"]
    lines = [ln for ln in ray_run["ss"].splitlines() if ln.strip()]
    assert lines, "ss -tlnp listed no sockets"
    for line in lines:
        local = line.split()[3]
        host = local.rsplit(":", 1)[0]
        assert host in ("127.0.0.1", "[::ffff:127.0.0.1]", "[::1]"), line
    assert ray_run["left_after_stop"] == []


@pytest.mark.ray
@pytest.mark.slow
def test_submit_complete_and_tensorboard_curve(ray_run):
    got = section(ray_run, "complete")
    assert got["status"] == "COMPLETED"
    meta = got["run_metadata"]
    assert meta["runner"] == "torchx_ray" and meta["scheduler"] == "ray"
    assert meta["app_id"].startswith(ray_run["dashboard_address"] + "-tbjob-0-")
    assert got["steps"] == [1.0, 2.0, 3.0]
    assert got["last_loss"] == pytest.approx((0.5 - 0.3) ** 2 + 0.25 / 3, rel=1e-5)
    assert any("step 3 loss" in line for line in got["log_tail"])


@pytest.mark.ray
@pytest.mark.slow
def test_failure_reason_has_exit_code_and_trainer_stderr(ray_run):
    got = section(ray_run, "fail")
    assert got["status"] == "FAILED"
    assert "FAILED: FAILED, driver exit code 1" in got["reason"]
    assert "exec_module failed with return code 7" in got["reason"]
    assert "--- ray-trainer-0.err ---\nTraceback" in got["reason"]
    assert "RuntimeError: tbjob failed on request (7)" in got["reason"]
    assert "\x1b[" not in got["reason"]


@pytest.mark.ray
@pytest.mark.slow
def test_secret_reaches_job_but_not_metadata_or_files(ray_run):
    got = section(ray_run, "secret")
    assert got["status"] == "COMPLETED"
    assert got["env"] == {"AX_NAS_TEST_TOKEN": "s3cr3t-ray"}
    assert got["meta_has_secret"] is False and got["files_with_secret"] == []


@pytest.mark.ray
@pytest.mark.slow
def test_stop_cancels_and_capacity_follows_ray_jobs(ray_run):
    got = section(ray_run, "cancel_and_capacity")
    assert got["capacity_before"] == 2
    assert got["capacity_during"] == 0
    assert got["polled"] == {"RUNNING": [0, 1]}
    for facts in got["facts"]:
        assert facts["confirmed_gone"] is True and facts["ray_status"] == "STOPPED"
    assert got["facts"][0]["reason"] == "test stop"
    assert got["trainer_gone"] == [True, True]
    assert all(m.startswith("STOPPED") for m in got["messages"])
    assert got["capacity_after"] == 2


@pytest.mark.ray
@pytest.mark.slow
def test_sigkill_then_resume_loses_and_repeats_nothing(ray_run):
    got = section(ray_run, "resume")
    total = 4
    assert got["status"] == {str(i): "COMPLETED" for i in range(total)}
    assert len(got["loss"]) == total
    assert got["trial_dirs"] == [f"trial_{i:04d}" for i in range(total)]
    # one Ray job per trial: the jobs Ray knows are exactly the recorded ones
    subs = sorted(a.split("-", 1)[1] for a in got["app_ids"])
    assert got["ray_job_ids"] == subs
    assert got["running_at_kill"], "the kill should have caught a running trial"
    for name, pid in got["running_at_kill"].items():
        assert got["result_pids"][name] == pid
