"""k8s_job against a real Kubernetes cluster: runs only when ``KUBECONFIG`` is set.

Settings (environment): ``KUBECONFIG`` (required), ``AX_NAS_K8S_NAMESPACE``
(default ``default``), ``AX_NAS_K8S_IMAGE`` (an image with ``python3`` the
cluster can pull or already has; default ``python:3.11-slim``). Scenarios:
a job that completes, one that fails (exit code and pod log in the
reason), one OOM-killed, one whose image cannot be pulled (failed after
``unknown_grace_s``), one stopped while it runs (Job and pod confirmed gone), a fresh
runner object (a resumed process) that polls a finished job, a TensorBoard
curve written in the pod and read by the ``tensorboard`` metric through a
``hostPath`` log volume, and a real Orchestrator SIGKILLed mid-run and
resumed from SQLite (nothing run twice). Each trial's Job is deleted at the
end.

The ``hostPath`` scenarios need the orchestrator and the pod on the same
machine (a one-node cluster on this host); set ``AX_NAS_K8S_HOSTPATH=0`` to
skip them on a remote cluster. The job's Python is the image's ``python3``
(no torch, no tensorboardX, not this package): it writes the event file
with the small standard-library TFRecord writer in ``TB_SCRIPT``.

CI has no cluster (no registry reachable from CI ships an API server), so
there every test here is skipped with that reason; the stand-in of
``tests/test_runners_kubernetes.py`` covers the same paths.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import uuid
from pathlib import Path

import pytest
from ax.core.arm import Arm
from ax.core.base_trial import TrialStatus
from ax.core.experiment import Experiment
from ax.core.parameter import ParameterType, RangeParameter
from ax.core.search_space import SearchSpace
from torchx import specs

import ax_nas_plugins as anp
from tests.runner_support import cluster_orchestrate, poll_until_terminal, wait_for

REPO = Path(__file__).resolve().parents[1]
pytestmark = [
    pytest.mark.slow,
    # no registry reached from CI ships a Kubernetes API server (BACKENDS.md)
    pytest.mark.ci_may_skip("needs a real Kubernetes cluster (KUBECONFIG)"),
    pytest.mark.skipif(
        not os.environ.get("KUBECONFIG"),
        reason="no real Kubernetes cluster: KUBECONFIG is not set",
    ),
]
NS = os.environ.get("AX_NAS_K8S_NAMESPACE", "default")
IMAGE = os.environ.get("AX_NAS_K8S_IMAGE", "python:3.11-slim")
hostpath = pytest.mark.skipif(
    os.environ.get("AX_NAS_K8S_HOSTPATH", "1") == "0",
    reason="AX_NAS_K8S_HOSTPATH=0: the cluster's node is not this machine",
)
SCRIPT = (
    "import sys, time\n"
    "mode = sys.argv[1]\n"
    "print('job started', mode, flush=True)\n"
    "if mode == 'sleep':\n"
    "    time.sleep(300)\n"
    "if mode == 'oom':\n"
    "    chunks = [bytearray(16 * 2**20) for _ in range(16)]\n"
    "if mode == 'fail':\n"
    "    print('RuntimeError: failing on request', file=sys.stderr, flush=True)\n"
    "    sys.exit(3)\n"
    "print('job done', flush=True)\n"
)
#: The job of the TensorBoard scenarios: standard library only. It writes
#: <log_dir>/run_id (a token new per start), then a `loss` curve
#: ((x1 - 0.3)**2 + x2 / step) as TFRecord-framed Event protos, one record
#: per step, then <log_dir>/result.json with the token.
TB_SCRIPT = r"""
import json, os, socket, struct, sys, time, uuid
log_dir, tb_dir, x1, x2, steps, pause = sys.argv[1:7]
T = []
for i in range(256):
    c = i
    for _ in range(8):
        c = (c >> 1) ^ 0x82F63B78 if c & 1 else c >> 1
    T.append(c)
def mcrc(b):
    c = 0xFFFFFFFF
    for x in b:
        c = T[(c ^ x) & 0xFF] ^ (c >> 8)
    c ^= 0xFFFFFFFF
    return (((c >> 15) | (c << 17)) + 0xA282EAD8) & 0xFFFFFFFF
def varint(n):
    out = b""
    while True:
        b, n = n & 0x7F, n >> 7
        out += bytes([b | (0x80 if n else 0)])
        if not n:
            return out
def field(num, payload):
    return varint(num << 3 | 2) + varint(len(payload)) + payload
def event(step, body):
    return b"\x09" + struct.pack("<d", time.time()) + b"\x10" + varint(step) + body
def record(fh, data):
    head = struct.pack("<Q", len(data))
    crc = struct.pack("<I", mcrc(head))
    fh.write(head + crc + data + struct.pack("<I", mcrc(data)))
    fh.flush()
os.makedirs(log_dir, exist_ok=True)
os.makedirs(tb_dir, exist_ok=True)
token = uuid.uuid4().hex
with open(os.path.join(log_dir, "run_id"), "w") as fh:
    fh.write(token)
print("tbjob", token, flush=True)
host = socket.gethostname()
name = "events.out.tfevents.%d.%s.%d.0" % (time.time(), host, os.getpid())
with open(os.path.join(tb_dir, name), "wb") as fh:
    record(fh, event(0, field(3, b"brain.Event:2")))
    for step in range(1, int(steps) + 1):
        loss = (float(x1) - 0.3) ** 2 + float(x2) / step
        value = field(1, b"loss") + b"\x15" + struct.pack("<f", loss)
        record(fh, event(step, field(5, field(1, value))))
        print("step", step, "loss", loss, flush=True)
        time.sleep(float(pause))
tmp = os.path.join(log_dir, "result.json.tmp")
with open(tmp, "w") as fh:
    json.dump({"run_id": token, "loss": loss}, fh)
os.replace(tmp, os.path.join(log_dir, "result.json"))
"""


def inline_job(log_dir: str, trial_index: int = 0, mode: str = "ok", **_: object):
    """A job that prints, sleeps or fails (``mode``) with the image's python3."""
    return specs.AppDef(
        name=f"real-{trial_index}",
        roles=[
            specs.Role(
                name="job",
                image=IMAGE,
                entrypoint="python3",
                args=["-c", SCRIPT, mode],
                resource=specs.Resource(
                    cpu=0.1, gpu=0, memMB=32 if mode == "oom" else 128
                ),
            )
        ],
    )


def tb_job(
    log_dir: str,
    tensorboard_dir: str,
    x1: float,
    x2: float,
    trial_index: int = 0,
    steps: int = 3,
    pause: float = 0.2,
    **_: object,
):
    """TorchX component: ``TB_SCRIPT`` in the image's python3 (see its comment)."""
    return specs.AppDef(
        name=f"realtb-{trial_index}",
        roles=[
            specs.Role(
                name="trainer",
                image=IMAGE,
                entrypoint="python3",
                args=[
                    *("-u", "-c", TB_SCRIPT, log_dir, tensorboard_dir),
                    *(str(x1), str(x2), str(int(steps)), str(float(pause))),
                ],
                resource=specs.Resource(cpu=0.1, gpu=0, memMB=128),
            )
        ],
    )


def runner(mode: str, tmp_path, **kw):
    cfg = {"namespace": NS, "ttl_seconds_after_finished": 600, **kw.pop("cfg", {})}
    return anp.runner(
        "k8s_job",
        component="tests.test_runners_kubernetes_real:inline_job",
        component_const_params={"mode": mode},
        cfg=cfg,
        log_root=str(tmp_path / "runs"),
        stop_timeout_s=120.0,
        **kw,
    )


def trial_of(r, **params):
    space = SearchSpace(
        [
            RangeParameter("x1", ParameterType.FLOAT, 0.0, 1.0),
            RangeParameter("x2", ParameterType.FLOAT, 0.0, 1.0),
        ]
    )
    exp = Experiment(
        name=f"real-{uuid.uuid4().hex[:6]}",
        search_space=space,
        runner=r,
        metrics=params.pop("metrics", ()),
    )
    return exp.new_trial().add_arm(Arm(params or {"x1": 0.5, "x2": 0.25}))


def _batch():
    from kubernetes import client

    from ax_nas_plugins.runners.schedulers.k8s_job import kube_client

    return client.BatchV1Api(kube_client())


@pytest.fixture
def cleanup():
    made = []
    yield made
    from kubernetes.client.rest import ApiException

    batch = _batch()
    for app_id in made:
        ns, name = app_id.split(":")
        with contextlib.suppress(ApiException):
            batch.delete_namespaced_job(name, ns, propagation_policy="Background")


def test_real_job_completes_and_a_fresh_runner_sees_it(tmp_path, cleanup):
    r = runner("ok", tmp_path)
    trial = trial_of(r)
    trial.run()
    cleanup.append(trial.run_metadata["app_id"])
    assert poll_until_terminal(r, [trial], 600) == {0: TrialStatus.COMPLETED}
    fresh = runner("ok", tmp_path)
    assert fresh.poll_trial_status([trial]) == {TrialStatus.COMPLETED: {0}}
    tail = fresh._log_tail(trial.run_metadata, 5)
    assert tail[-2:] == ["job started ok", "job done"]  # decoded, line by line


def test_real_job_failure_has_exit_code_and_log(tmp_path, cleanup):
    r = runner("fail", tmp_path)
    trial = trial_of(r)
    trial.run()
    cleanup.append(trial.run_metadata["app_id"])
    assert poll_until_terminal(r, [trial], 600) == {0: TrialStatus.FAILED}
    reason = r.poll_exception(trial)
    assert "exit code 3" in reason
    assert "RuntimeError: failing on request" in reason


def test_real_oom_kill_is_a_failed_trial_with_reason(tmp_path, cleanup):
    """A 32 MiB limit and a job that allocates 256 MiB (cgroup memory limit)."""
    r = runner("oom", tmp_path)
    trial = trial_of(r)
    trial.run()
    cleanup.append(trial.run_metadata["app_id"])
    assert poll_until_terminal(r, [trial], 600) == {0: TrialStatus.FAILED}
    assert "OOMKilled, exit code 137" in r.poll_exception(trial)


def test_real_image_pull_backoff_fails_after_the_grace_period(tmp_path, cleanup):
    r = runner(
        "ok",
        tmp_path,
        cfg={"image": "registry.invalid/ax-nas/missing:1"},
        unknown_grace_s=5.0,
    )
    trial = trial_of(r)
    trial.run()
    cleanup.append(trial.run_metadata["app_id"])
    assert poll_until_terminal(r, [trial], 600) == {0: TrialStatus.FAILED}
    reason = r.poll_exception(trial)
    assert "ErrImagePull" in reason or "ImagePullBackOff" in reason
    assert "registry.invalid/ax-nas/missing:1" in reason


def test_real_job_stop_deletes_job_and_pod(tmp_path, cleanup):
    r = runner("sleep", tmp_path)
    trial = trial_of(r)
    trial.run()
    cleanup.append(trial.run_metadata["app_id"])
    sched = r._get_scheduler()
    wait_for(
        lambda: sched.describe(trial.run_metadata["app_id"]).state.name == "RUNNING",
        600,
        "the pod to run",
    )
    facts = r.stop(trial)
    assert facts["confirmed_gone"] is True
    assert sched.describe(trial.run_metadata["app_id"]) is None


@hostpath
def test_real_tensorboard_curve_through_the_hostpath_log_volume(tmp_path, cleanup):
    from ax_nas_plugins.metrics import _logdir

    _logdir.clear_cache()
    log_root = tmp_path / "runs"
    loss = anp.metric("tensorboard", name="loss", lower_is_better=True)
    r = anp.runner(
        "k8s_job",
        component="tests.test_runners_kubernetes_real:tb_job",
        component_const_params={"steps": 3, "pause": 0.1},
        cfg={"namespace": NS, "log_volume": f"hostPath:{log_root}"},
        log_root=str(log_root),
    )
    trial = trial_of(r, x1=0.5, x2=0.25, metrics=[loss])
    trial.run()
    cleanup.append(trial.run_metadata["app_id"])
    assert poll_until_terminal(r, [trial], 600) == {0: TrialStatus.COMPLETED}
    trial.mark_running(no_runner_required=True, unsafe=True)
    trial.mark_completed()
    rows = trial.experiment.fetch_data().full_df.sort_values("step")
    assert list(rows["step"]) == [1.0, 2.0, 3.0]
    assert rows["mean"].iloc[-1] == pytest.approx((0.5 - 0.3) ** 2 + 0.25 / 3)
    assert any("step 3 loss" in line for line in r._log_tail(trial.run_metadata, 5))


@hostpath
def test_real_sigkill_then_resume_reattaches(tmp_path):
    """A real Orchestrator is SIGKILLed while a Job runs; the resumed one
    re-attaches to that Job (same run token, not started again) and creates
    exactly one Job per trial."""
    total, name = 3, f"k8s-resume-{uuid.uuid4().hex[:6]}"
    spec = {
        "runner": "k8s_job",
        "component": "tests.test_runners_kubernetes_real:tb_job",
        "component_const_params": {"steps": 8, "pause": 1.0},
        "cfg": {"namespace": NS, "log_volume": f"hostPath:{tmp_path / 'runs'}"},
        "log_root": str(tmp_path / "runs"),
    }
    made = dict(spec)
    root = Path(anp.runner(made.pop("runner"), **made).trial_log_dir(name, 0)).parent

    def orchestrate(mode):
        return cluster_orchestrate(mode, tmp_path, name, total, spec)

    def running_tokens():
        dirs = sorted(root.glob("trial_*")) if root.exists() else []
        return {
            d.name: (d / "run_id").read_text()
            for d in dirs
            if (d / "run_id").exists() and not (d / "result.json").exists()
        }

    label = f"ax-nas-plugins/experiment={name}"
    first = orchestrate("start")
    try:
        running = wait_for(running_tokens, 600, "a trial's pod to be running")
        first.send_signal(signal.SIGKILL)
        first.communicate()
        second = orchestrate("resume")
        out, err = second.communicate(timeout=900)
        assert second.returncode == 0, err[-4000:]
        got = json.loads(out.strip().splitlines()[-1])
        assert got["status"] == {str(i): "COMPLETED" for i in range(total)}
        assert len(got["loss"]) == total
        jobs = _batch().list_namespaced_job(NS, label_selector=label).items
        assert len(jobs) == total  # one Job per trial, none twice
        for trial_dir, token in running.items():
            result = json.loads((root / trial_dir / "result.json").read_text())
            assert result["run_id"] == token  # the same pod ran to the end
    finally:
        first.kill()
        for job in _batch().list_namespaced_job(NS, label_selector=label).items:
            with contextlib.suppress(Exception):
                _batch().delete_namespaced_job(
                    job.metadata.name, NS, propagation_policy="Background"
                )
