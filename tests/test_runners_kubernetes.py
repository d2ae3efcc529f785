"""k8s_job and torchx_kubernetes: manifests checked field by field (TorchX's real
dry-run), then the runners driven through the official ``kubernetes`` client
against the API-server stand-in of ``tests/k8s_standin.py``.

No Kubernetes API server can run in CI here (no registry ships one). The
Job and Pod status objects used here were recorded from a real cluster
(Kubernetes v1.36.2, ``tests/fixtures/k8s_recorded/``): read directly by
``job_state`` through the client's model classes, and replayed by the
stand-in (its "kubelet" and :func:`~tests.k8s_standin.replayed`); only the
Evicted pod and the Volcano job status are written by hand.
``tests/test_runners_kubernetes_real.py`` runs the same scenarios against a
real cluster when ``KUBECONFIG`` is set.
"""

from __future__ import annotations

import base64
import json
import signal
from pathlib import Path

import pytest
from ax.core.arm import Arm
from ax.core.base_trial import TrialStatus
from ax.core.experiment import Experiment
from ax.core.parameter import ChoiceParameter, ParameterType, RangeParameter
from ax.core.search_space import SearchSpace
from torchx import specs
from torchx.specs import AppState

import ax_nas_plugins as anp
from ax_nas_plugins.runners import _proc
from ax_nas_plugins.runners.base import RunnerError
from ax_nas_plugins.runners.schedulers import k8s_job
from tests.k8s_standin import RECORDED, StandIn, recorded, replayed
from tests.runner_support import cluster_orchestrate, poll_until_terminal, wait_for

REPO = Path(__file__).resolve().parents[1]
JOB = "tests._cluster_job:tb_job"
TRAINER = "ax_nas_plugins.testing.components:trainer"
NS = "nas"


def gpu_job(
    log_dir: str, trial_index: int = 0, tag: str = "", x1: float = 0.0, **_: object
) -> specs.AppDef:
    """A component asking for 2 CPUs, 3000 MB and one GPU; args hold ``tag``."""
    return specs.AppDef(
        name=f"gpu-{trial_index}",
        roles=[
            specs.Role(
                name="train",
                image="registry.example.com/trainer:1",
                entrypoint="python3",
                args=["-m", "train", "--tag", tag, "--x1", str(x1)],
                env={"PLAIN": "yes"},
                resource=specs.Resource(cpu=2, gpu=1, memMB=3000),
            )
        ],
    )


def experiment(runner, name="k8s exp/1", metrics=()):
    space = SearchSpace(
        [
            RangeParameter("x1", ParameterType.FLOAT, 0.0, 1.0),
            RangeParameter("x2", ParameterType.FLOAT, 0.0, 1.0),
        ]
    )
    return Experiment(name=name, search_space=space, runner=runner, metrics=metrics)


def tag_experiment(runner):
    space = SearchSpace(
        [
            RangeParameter("x1", ParameterType.FLOAT, 0.0, 1.0),
            ChoiceParameter(
                "tag",
                ParameterType.STRING,
                ["a", "; touch pwned", "$(touch pwned2)"],
                is_ordered=False,
                sort_values=False,
            ),
        ]
    )
    return Experiment(name="k8s exp/1", search_space=space, runner=runner)


def add_trial(exp, **params):
    return exp.new_trial().add_arm(Arm(params or {"x1": 0.5, "x2": 0.25}))


POD_CFG = {
    "namespace": NS,
    "image": "registry.example.com/trainer:2",
    "service_account": "nas-runner",
    "priority_class": "low",
    "node_selector": {"gpu": "a100"},
    "tolerations": ["nvidia.com/gpu:NoSchedule", "dedicated=nas:NoExecute"],
    "image_pull_secrets": ["regcred"],
    "env": {"OMP_NUM_THREADS": "1"},
    "secrets": {"WANDB_API_KEY": "wandb/api-key"},
    "log_volume": "pvc:nas-runs",
}


def _check_pod(pod: dict, log_root: str) -> dict:
    spec = pod["spec"]
    assert spec["serviceAccountName"] == "nas-runner"
    assert spec["priorityClassName"] == "low"
    assert spec["nodeSelector"] == {"gpu": "a100"}
    assert spec["tolerations"] == [
        {"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"},
        {
            "key": "dedicated",
            "operator": "Equal",
            "value": "nas",
            "effect": "NoExecute",
        },
    ]
    assert spec["imagePullSecrets"] == [{"name": "regcred"}]
    assert {
        "name": "ax-nas-logs",
        "persistentVolumeClaim": {"claimName": "nas-runs"},
    } in (spec["volumes"])
    (container,) = spec["containers"]
    assert container["image"] == "registry.example.com/trainer:2"
    assert {"name": "ax-nas-logs", "mountPath": log_root} in container["volumeMounts"]
    env = {e["name"]: e for e in container["env"]}
    assert env["OMP_NUM_THREADS"] == {"name": "OMP_NUM_THREADS", "value": "1"}
    assert env["PLAIN"] == {"name": "PLAIN", "value": "yes"}
    assert env["WANDB_API_KEY"] == {
        "name": "WANDB_API_KEY",
        "valueFrom": {"secretKeyRef": {"name": "wandb", "key": "api-key"}},
    }
    labels = pod["metadata"]["labels"]
    assert labels["ax-nas-plugins/experiment"] == "k8s_exp_1"
    assert labels["ax-nas-plugins/trial"] == "0"
    assert labels["app.kubernetes.io/managed-by"] == "ax-nas-plugins"
    return container


# -- (a) manifests, no server ---------------------------------------------------------


def test_k8s_job_manifest_field_by_field(tmp_path):
    runner = anp.runner(
        "k8s_job",
        component=gpu_job,
        cfg={**POD_CFG, "ttl_seconds_after_finished": 600},
        log_root=str(tmp_path / "runs"),
    )
    exp = tag_experiment(runner)
    trial = exp.new_trial().add_arm(Arm({"x1": 0.5, "tag": "; touch pwned"}))
    info = runner.dryrun(trial)
    job = info["request"]
    assert job["apiVersion"] == "batch/v1" and job["kind"] == "Job"
    name = job["metadata"]["name"]
    assert name.startswith("gpu-0-") and len(name) <= 63
    assert job["metadata"]["namespace"] == NS
    assert job["metadata"]["labels"]["ax-nas-plugins/app-id"] == name
    assert job["spec"]["backoffLimit"] == 0
    assert job["spec"]["ttlSecondsAfterFinished"] == 600
    pod = job["spec"]["template"]
    assert pod["spec"]["restartPolicy"] == "Never"
    container = _check_pod(pod, str(tmp_path / "runs"))
    assert container["command"] == ["python3"]
    assert container["args"] == ["-m", "train", "--tag", "; touch pwned", "--x1", "0.5"]
    res = {"cpu": "2000m", "memory": "3000Mi", "nvidia.com/gpu": "1"}
    assert container["resources"] == {"requests": res, "limits": res}


def test_volcano_manifest_field_by_field(tmp_path):
    runner = anp.runner(
        "torchx_kubernetes",
        component=gpu_job,
        cfg={**POD_CFG, "queue": "nas-queue"},
        log_root=str(tmp_path / "runs"),
    )
    exp = tag_experiment(runner)
    trial = exp.new_trial().add_arm(Arm({"x1": 0.5, "tag": "$(touch pwned2)"}))
    info = runner.dryrun(trial)
    vcjob = info["request"]["resource"]
    assert vcjob["apiVersion"] == "batch.volcano.sh/v1alpha1"
    assert vcjob["spec"]["queue"] == "nas-queue"
    assert vcjob["spec"]["schedulerName"] == "volcano"
    assert vcjob["metadata"]["labels"]["ax-nas-plugins/trial"] == "0"
    (task,) = vcjob["spec"]["tasks"]
    container = _check_pod(task["template"], str(tmp_path / "runs"))
    assert container["command"] == [
        "python3",
        "-m",
        "train",
        "--tag",
        "$(touch pwned2)",
        "--x1",
        "0.5",
    ]
    assert container["resources"]["limits"]["nvidia.com/gpu"] == "1"


def test_options_are_checked_at_construction(tmp_path, monkeypatch):
    monkeypatch.setenv("AX_NAS_TEST_TOKEN", "x")
    with pytest.raises(RunnerError, match="cfg\\['secrets'\\]"):
        anp.runner("k8s_job", component=JOB, secret_env=["AX_NAS_TEST_TOKEN"])
    with pytest.raises(RunnerError, match="Effect one of"):
        anp.runner("k8s_job", component=JOB, cfg={"tolerations": ["a:Never"]})
    with pytest.raises(RunnerError, match="secret-name/key"):
        anp.runner("k8s_job", component=JOB, cfg={"secrets": {"A": "only-name"}})
    with pytest.raises(RunnerError, match="pvc:CLAIM_NAME"):
        anp.runner("k8s_job", component=JOB, cfg={"log_volume": "nfs:/x"})
    with pytest.raises(RunnerError, match="unknown `cfg` option"):
        anp.runner("k8s_job", component=JOB, cfg={"queue": "q"})
    with pytest.raises(RunnerError, match="map strings to strings"):
        anp.runner("torchx_kubernetes", component=JOB, cfg={"node_selector": ["a"]})
    with pytest.raises(RunnerError, match=r"cfg\['ttl_seconds_after_finished'\]"):
        anp.runner("k8s_job", component=JOB, cfg={"ttl_seconds_after_finished": "1"})
    with pytest.raises(RunnerError, match="integer >= 0"):
        anp.runner("k8s_job", component=JOB, cfg={"ttl_seconds_after_finished": -1})


def test_k8s_job_is_a_torchx_scheduler():
    from torchx.schedulers import get_scheduler_factories

    factory = get_scheduler_factories()["k8s_job"]
    assert isinstance(factory("s"), k8s_job.K8sJobScheduler)


# -- reasons from status objects recorded on a real cluster -----------------------

#: Recorded scenario -> (state of ``job_state``, texts its message must hold).
RECORDED_REASONS = {
    "succeeded": (AppState.SUCCEEDED, ["Complete", "Completed, exit code 0"]),
    "failed_exit_3": (
        AppState.FAILED,
        [
            "BackoffLimitExceeded: Job has reached the specified backoff limit",
            "container job: Error, exit code 3",
        ],
    ),
    "oom_killed": (
        AppState.FAILED,
        ["BackoffLimitExceeded", "container job: OOMKilled, exit code 137"],
    ),
    "image_pull_backoff": (
        AppState.UNKNOWN,
        ['ImagePullBackOff: Back-off pulling image "registry.invalid/ax-nas/missing'],
    ),
    "unschedulable": (
        AppState.PENDING,
        ["Unschedulable: 0/1 nodes are available: 1 Insufficient cpu."],
    ),
    "missing_secret": (
        AppState.FAILED,
        ['CreateContainerConfigError: secret "ax-nas-absent" not found'],
    ),
    "invalid_image_name": (
        AppState.FAILED,
        ['InvalidImageName: Failed to apply default image tag "Not/A Valid:Image"'],
    ),
    "stopped": (AppState.CANCELLED, ["is being deleted", ": Running"]),
}


def test_every_recorded_scenario_has_an_expected_reason():
    names = {p.stem for p in RECORDED.glob("*.json")}
    assert names == set(RECORDED_REASONS)
    assert {recorded(n)["server_version"] for n in names} == {"v1.36.2"}


@pytest.mark.parametrize("scenario", sorted(RECORDED_REASONS))
def test_recorded_objects_give_state_and_reason(scenario):
    """The Job and Pod exactly as a real API server returned them, through the
    client's own model classes (as the runner reads them)."""
    from kubernetes import client

    rec = recorded(scenario)
    api = client.ApiClient()

    class _Resp:  # what ApiClient.deserialize reads
        def __init__(self, obj):
            self.data = json.dumps(obj)

    job = api.deserialize(_Resp(rec["job"]), "V1Job")
    pods = [api.deserialize(_Resp(p), "V1Pod") for p in rec["pods"]]
    state, msg = k8s_job.job_state(job, pods)
    want_state, texts = RECORDED_REASONS[scenario]
    assert state == want_state, msg
    for text in texts:
        assert text in msg
    assert k8s_job.job_state(rec["job"], rec["pods"]) == (state, msg)  # dicts too


#: Not recorded (an eviction needs node memory pressure): written by hand.
_EVICTED = {
    "phase": "Failed",
    "reason": "Evicted",
    "message": "The node was low on resource: memory. ",
}


@pytest.fixture
def standin(tmp_path, monkeypatch):
    with StandIn(run_pods=False) as server:
        monkeypatch.setenv(
            "KUBECONFIG", server.kubeconfig(str(tmp_path / "kubeconfig"))
        )
        yield server


@pytest.fixture
def kubelet(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with StandIn(run_pods=True) as server:
        monkeypatch.setenv(
            "KUBECONFIG", server.kubeconfig(str(tmp_path / "kubeconfig"))
        )
        yield server


def _pod_name(server, ns, job):
    return wait_for(lambda: server.pods_of(ns, job), 10, "the job's pod")[0]


@pytest.mark.parametrize(
    ("scenario", "state", "text"),
    [
        ("oom_killed", TrialStatus.FAILED, "OOMKilled, exit code 137"),
        (
            None,
            TrialStatus.FAILED,
            "Evicted: The node was low on resource: memory.",
        ),
        (
            "unschedulable",
            TrialStatus.RUNNING,
            "Unschedulable: 0/1 nodes are available: 1 Insufficient cpu.",
        ),
        ("image_pull_backoff", None, "ImagePullBackOff: Back-off pulling image"),
        ("invalid_image_name", TrialStatus.FAILED, "InvalidImageName"),
    ],
)
def test_pod_reasons_become_readable(standin, tmp_path, scenario, state, text):
    """Recorded pod (and Job) statuses replayed on the stand-in, read by a runner."""
    runner = anp.runner(
        "k8s_job",
        component=JOB,
        cfg={"namespace": NS},
        log_root=str(tmp_path),
        unknown_grace_s=0.0,
    )
    exp = experiment(runner)
    trial = add_trial(exp)
    trial.run()
    name = trial.run_metadata["app_id"].split(":")[1]
    pod = _pod_name(standin, NS, name)
    if scenario is None:
        standin.set_status("pods", NS, pod, _EVICTED)
    else:
        standin.set_status("pods", NS, pod, replayed(scenario))
        standin.set_status("jobs", NS, name, replayed(scenario, kind="job"))
    got = runner.poll_trial_status([trial])
    if state is None:  # an image pull that may clear: unknown, failed after grace
        got = runner.poll_trial_status([trial])
        state = TrialStatus.FAILED
    assert got == {state: {0}}
    desc = runner._get_scheduler().describe(trial.run_metadata["app_id"])
    assert text in desc.msg
    if state == TrialStatus.FAILED:
        assert text in runner.poll_exception(trial)


@pytest.mark.slow
def test_missing_secret_is_a_failed_trial_with_reason(kubelet, tmp_path):
    runner = anp.runner(
        "k8s_job",
        component=JOB,
        cfg={"namespace": NS, "secrets": {"TOKEN": "absent/key"}},
        log_root=str(tmp_path / "runs"),
    )
    trial = add_trial(experiment(runner))
    trial.run()
    assert poll_until_terminal(runner, [trial], 30) == {0: TrialStatus.FAILED}
    assert 'CreateContainerConfigError: secret "absent" not found' in (
        runner.poll_exception(trial)
    )


# -- (b) end to end through the stand-in -------------------------------------


@pytest.mark.slow
def test_k8s_job_completes_with_tensorboard_in_the_log_volume(kubelet, tmp_path):
    from ax_nas_plugins.metrics import _logdir

    _logdir.clear_cache()
    log_root = tmp_path / "runs"
    loss = anp.metric("tensorboard", name="loss", lower_is_better=True)
    runner = anp.runner(
        "k8s_job",
        component=JOB,
        component_const_params={"steps": 3, "pause": 0.05},
        cfg={"namespace": NS, "log_volume": f"hostPath:{log_root}"},
        log_root=str(log_root),
    )
    exp = experiment(runner, metrics=[loss])
    trial = add_trial(exp)
    trial.run()
    meta = trial.run_metadata
    assert json.loads(json.dumps(meta)) == meta
    assert meta["app_id"].startswith(f"{NS}:tbjob-0-")
    assert poll_until_terminal(runner, [trial], 60) == {0: TrialStatus.COMPLETED}
    trial.mark_running(no_runner_required=True, unsafe=True)
    trial.mark_completed()
    rows = exp.fetch_data().full_df.sort_values("step")
    assert list(rows["step"]) == [1.0, 2.0, 3.0]
    assert rows["mean"].iloc[-1] == pytest.approx((0.5 - 0.3) ** 2 + 0.25 / 3)
    # the Job as the API server holds it: labels, volume, one pod
    name = meta["app_id"].split(":")[1]
    job = kubelet.get("jobs", NS, name)
    assert job["metadata"]["labels"]["ax-nas-plugins/trial"] == "0"
    vols = job["spec"]["template"]["spec"]["volumes"]
    assert {
        "name": "ax-nas-logs",
        "hostPath": {"path": str(log_root), "type": "DirectoryOrCreate"},
    } in vols
    tail = runner._log_tail(meta, 5)
    # one list item per log line, decoded (kubernetes 36 would give "b'...'")
    assert tail[0].startswith("--- pod tbjob-0-")
    assert [line.split(" loss")[0] for line in tail[-3:]] == [
        "step 1",
        "step 2",
        "step 3",
    ]
    assert any(
        m == "GET" and "labelSelector=app.kubernetes.io%2Fmanaged-by" in p
        for m, p, _ in kubelet.requests
    )


@pytest.mark.slow
def test_k8s_job_failure_has_reason_and_pod_log(kubelet, tmp_path):
    runner = anp.runner(
        "k8s_job",
        component=JOB,
        component_const_params={"fail_trials": "0"},
        cfg={"namespace": NS},
        log_root=str(tmp_path / "runs"),
    )
    trial = add_trial(experiment(runner))
    trial.run()
    assert poll_until_terminal(runner, [trial], 60) == {0: TrialStatus.FAILED}
    reason = runner.poll_exception(trial)
    assert "BackoffLimitExceeded: Job has reached the specified backoff limit" in reason
    assert "Error, exit code 7" in reason
    assert "RuntimeError: tbjob failed on request (7)" in reason


@pytest.mark.slow
def test_secret_comes_from_a_kubernetes_secret_by_name(kubelet, tmp_path):
    from kubernetes import client

    from ax_nas_plugins.runners.schedulers.k8s_job import kube_client

    core = client.CoreV1Api(kube_client())
    core.create_namespaced_secret(
        NS,
        {
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": {"name": "wandb"},
            "data": {"api-key": base64.b64encode(b"s3cr3t-k8s").decode()},
        },
    )
    runner = anp.runner(
        "k8s_job",
        component=TRAINER,
        component_const_params={"echo_env": "WANDB_API_KEY"},
        cfg={"namespace": NS, "secrets": {"WANDB_API_KEY": "wandb/api-key"}},
        log_root=str(tmp_path / "runs"),
    )
    exp = experiment(runner)
    trial = exp.new_trial().add_arm(Arm({"x1": 0.5, "x2": 0.25}))
    trial.run()
    assert poll_until_terminal(runner, [trial], 60) == {0: TrialStatus.COMPLETED}
    log_dir = Path(trial.run_metadata["log_dir"])
    assert json.loads((log_dir / "result.json").read_text())["env"] == {
        "WANDB_API_KEY": "s3cr3t-k8s"
    }
    job_posts = [b for m, p, b in kubelet.requests if m == "POST" and "/jobs" in p]
    assert job_posts and "s3cr3t-k8s" not in json.dumps(job_posts)
    assert "s3cr3t-k8s" not in json.dumps(trial.run_metadata)


@pytest.mark.slow
def test_stop_deletes_job_and_pod_in_the_foreground(kubelet, tmp_path):
    runner = anp.runner(
        "k8s_job",
        component=TRAINER,
        component_const_params={"sleep": 300},
        cfg={"namespace": NS},
        log_root=str(tmp_path / "runs"),
    )
    exp = experiment(runner)
    trial = add_trial(exp)
    trial.run()
    pid_file = Path(trial.run_metadata["log_dir"]) / "pid"
    wait_for(pid_file.exists, 60, "the job's process")
    pid = int(pid_file.read_text())
    assert runner.poll_trial_status([trial]) == {TrialStatus.RUNNING: {0}}
    fresh = anp.runner(  # as in a resumed process: no live state
        "k8s_job",
        component=TRAINER,
        cfg={"namespace": NS},
        log_root=str(tmp_path / "runs"),
    )
    facts = fresh.stop(trial, reason="test stop")
    assert facts["confirmed_gone"] is True and facts["propagation"] == "Foreground"
    name = trial.run_metadata["app_id"].split(":")[1]
    assert ("jobs", NS, name, "Foreground") in kubelet.deletes
    assert kubelet.get("jobs", NS, name) is None and kubelet.pods_of(NS, name) == []
    assert not _proc.is_alive(pid)


@pytest.mark.slow
def test_volcano_job_through_the_standin(kubelet, tmp_path):
    runner = anp.runner(
        "torchx_kubernetes",
        component=JOB,
        component_const_params={"steps": 2, "pause": 0.05},
        cfg={"namespace": NS, "queue": "default"},
        log_root=str(tmp_path / "runs"),
    )
    exp = experiment(runner)
    trial = add_trial(exp)
    trial.run()
    name = trial.run_metadata["app_id"].split(":")[1]
    assert kubelet.get("vcjobs", NS, name)["spec"]["queue"] == "default"
    assert poll_until_terminal(runner, [trial], 60) == {0: TrialStatus.COMPLETED}
    failing = anp.runner(
        "torchx_kubernetes",
        component=TRAINER,
        component_const_params={"sleep": 300},
        cfg={"namespace": NS},
        log_root=str(tmp_path / "runs2"),
    )
    t2 = add_trial(experiment(failing, name="vc2"))
    t2.run()
    name2 = t2.run_metadata["app_id"].split(":")[1]
    wait_for(lambda: (Path(t2.run_metadata["log_dir"]) / "pid").exists(), 60, "pid")
    kubelet.start_vcjob(NS, name2)
    assert failing.poll_trial_status([t2]) == {TrialStatus.RUNNING: {0}}
    facts = failing.stop(t2)
    assert facts["confirmed_gone"] is True
    assert ("vcjobs", NS, name2, "Foreground") in kubelet.deletes


@pytest.mark.slow
def test_sigkill_then_resume_against_the_standin(kubelet, tmp_path):
    total = 4
    spec = {
        "runner": "k8s_job",
        "component": JOB,
        "component_const_params": {"steps": 6, "pause": 0.4},
        "cfg": {"namespace": NS},
        "log_root": str(tmp_path / "runs"),
    }
    made = dict(spec)
    root = Path(
        anp.runner(made.pop("runner"), **made).trial_log_dir("k8s_resume", 0)
    ).parent

    def orchestrate(mode):
        return cluster_orchestrate(mode, tmp_path, "k8s_resume", total, spec)

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

    first = orchestrate("start")
    try:
        running = wait_for(mid_run, 240, "one finished and one running trial")
    except AssertionError:
        first.kill()
        out, err = first.communicate()
        raise AssertionError(f"orchestrator:\n{out}\n{err[-4000:]}") from None
    first.send_signal(signal.SIGKILL)
    first.communicate()
    second = orchestrate("resume")
    out, err = second.communicate(timeout=600)
    assert second.returncode == 0, err[-4000:]
    got = json.loads(out.strip().splitlines()[-1])
    assert got["status"] == {str(i): "COMPLETED" for i in range(total)}
    assert len(got["loss"]) == total
    posts = [p for m, p, _ in kubelet.requests if m == "POST" and "/jobs" in p]
    assert len(posts) == total  # one Job per trial, none twice
    assert running
    for name, pid in running.items():
        assert json.loads((root / name / "result.json").read_text())["pid"] == pid
