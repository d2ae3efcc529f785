"""k8s_job against a real Kubernetes cluster: runs only when ``KUBECONFIG`` is set.

Settings (environment): ``KUBECONFIG`` (required), ``AX_NAS_K8S_NAMESPACE``
(default ``default``), ``AX_NAS_K8S_IMAGE`` (an image with ``python3`` the
cluster can pull or already has; default ``python:3.11-slim``). Scenarios:
a job that completes, one that fails (exit code and pod log in the
reason), one stopped while it runs (Job and pod confirmed gone), and a
fresh runner object (a resumed process) that polls a finished job. Each
trial's Job is deleted at the end.

CI has no cluster (no registry reachable from CI ships an API server), so
there every test here is skipped with that reason; the stand-in of
``tests/test_runners_kubernetes.py`` covers the same paths.
"""

from __future__ import annotations

import contextlib
import os
import uuid

import pytest
from ax.core.arm import Arm
from ax.core.base_trial import TrialStatus
from ax.core.experiment import Experiment
from ax.core.parameter import ParameterType, RangeParameter
from ax.core.search_space import SearchSpace
from torchx import specs

import ax_nas_plugins as anp
from tests.runner_support import poll_until_terminal, wait_for

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
SCRIPT = (
    "import sys, time\n"
    "mode = sys.argv[1]\n"
    "print('job started', mode, flush=True)\n"
    "if mode == 'sleep':\n"
    "    time.sleep(300)\n"
    "if mode == 'fail':\n"
    "    print('RuntimeError: failing on request', file=sys.stderr, flush=True)\n"
    "    sys.exit(3)\n"
    "print('job done', flush=True)\n"
)


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
                resource=specs.Resource(cpu=0.1, gpu=0, memMB=128),
            )
        ],
    )


def runner(mode: str, tmp_path):
    return anp.runner(
        "k8s_job",
        component="tests.test_runners_kubernetes_real:inline_job",
        component_const_params={"mode": mode},
        cfg={"namespace": NS, "ttl_seconds_after_finished": 600},
        log_root=str(tmp_path / "runs"),
        stop_timeout_s=120.0,
    )


def trial_of(r):
    space = SearchSpace([RangeParameter("x", ParameterType.FLOAT, 0.0, 1.0)])
    exp = Experiment(name=f"real-{uuid.uuid4().hex[:6]}", search_space=space, runner=r)
    return exp.new_trial().add_arm(Arm({"x": 0.5}))


@pytest.fixture
def cleanup():
    made = []
    yield made
    from kubernetes import client
    from kubernetes.client.rest import ApiException

    from ax_nas_plugins.runners.schedulers.k8s_job import kube_client

    batch = client.BatchV1Api(kube_client())
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
    assert any("job done" in line for line in fresh._log_tail(trial.run_metadata, 5))


def test_real_job_failure_has_exit_code_and_log(tmp_path, cleanup):
    r = runner("fail", tmp_path)
    trial = trial_of(r)
    trial.run()
    cleanup.append(trial.run_metadata["app_id"])
    assert poll_until_terminal(r, [trial], 600) == {0: TrialStatus.FAILED}
    reason = r.poll_exception(trial)
    assert "exit code 3" in reason
    assert "RuntimeError: failing on request" in reason


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
