"""Record real Job and Pod objects for the stand-in tests (needs a cluster).

Usage: KUBECONFIG=... record_k8s_status.py IMAGE OUT_DIR [NAMESPACE]

The rule: each scenario submits one Job made by ``k8s_job.job_manifest``
(the manifest the runner submits), waits until the Job and its pod reach
the scenario's state, and writes ``OUT_DIR/<scenario>.json`` with the raw
API JSON (``job``, ``pods``: exactly as the API server answered GET/list),
the pod ``log`` (or null when there is none) and the client ``version``
of the server; then deletes the Job. Scenarios: ``succeeded``,
``failed_exit_3``, ``stopped`` (read right after a Foreground delete:
``deletionTimestamp`` set), ``image_pull_backoff`` (an image no registry
has), ``unschedulable`` (a cpu request no node has), ``oom_killed`` (a 32
MiB limit and a job that allocates 256 MiB), ``missing_secret`` and
``invalid_image_name``. Nothing here is used by the tests at run time; it
is how their fixtures were made.
"""

from __future__ import annotations

import contextlib
import json
import sys
import time
from typing import Any

from torchx import specs

from ax_nas_plugins.runners.schedulers import k8s_job


def app(image: str, code: str, cpu: float = 0.1, mem: int = 128) -> specs.AppDef:
    return specs.AppDef(
        name="rec",
        roles=[
            specs.Role(
                name="job",
                image=image,
                entrypoint="python3",
                args=["-u", "-c", code],
                resource=specs.Resource(cpu=cpu, gpu=0, memMB=mem),
            )
        ],
    )


OK = "print('job started', flush=True); print('job done', flush=True)"
FAIL = (
    "import sys; print('job started', flush=True); "
    "print('RuntimeError: failing on request', file=sys.stderr, flush=True); "
    "sys.exit(3)"
)
SLEEP = "import time; print('job started', flush=True); time.sleep(600)"
OOM = (
    "print('allocating', flush=True); "
    "chunks = [bytearray(16 * 2**20) for _ in range(16)]; "
    "print('survived', flush=True)"
)


def raw(call: Any, *args: Any, **kw: Any) -> Any:
    resp = call(*args, _preload_content=False, **kw)
    return json.loads(resp.data)


class Recorder:
    def __init__(self, image: str, out: str, ns: str) -> None:
        from kubernetes import client

        api = k8s_job.kube_client()
        self.batch = client.BatchV1Api(api)
        self.core = client.CoreV1Api(api)
        self.version = client.VersionApi(api).get_code().git_version
        self.image, self.out, self.ns = image, out, ns

    def submit(self, name: str, app_def: specs.AppDef, **cfg: Any) -> str:
        manifest = k8s_job.job_manifest(
            app_def,
            {"namespace": self.ns, "ttl_seconds_after_finished": 600, **cfg},
            f"rec-{name.replace('_', '-')}-{int(time.time()) % 100000}",
        )
        self.batch.create_namespaced_job(self.ns, manifest)
        return manifest["metadata"]["name"]

    def snapshot(self, job: str) -> dict[str, Any]:
        got = raw(self.batch.read_namespaced_job, job, self.ns)
        pods = raw(
            self.core.list_namespaced_pod,
            self.ns,
            label_selector=f"{k8s_job.LABEL_APP_ID}={job}",
        )["items"]
        return {"job": got, "pods": pods}

    def wait(self, job: str, done: Any, timeout: float = 300) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            snap = self.snapshot(job)
            if done(snap):
                return snap
            time.sleep(0.5)
        raise SystemExit(f"{job}: timed out; last: {json.dumps(snap)[:3000]}")

    def save(self, scenario: str, snap: dict[str, Any]) -> None:
        from kubernetes.client.rest import ApiException

        log = None
        for pod in snap["pods"]:
            try:
                log = k8s_job.pod_log(self.core, pod["metadata"]["name"], self.ns)
            except ApiException as exc:
                log = None if exc.status in (400, 404) else log
        record = {"server_version": self.version, **snap, "log": log}
        path = f"{self.out}/{scenario}.json"
        with open(path, "w") as fh:
            json.dump(record, fh, indent=1, sort_keys=True)
            fh.write("\n")
        print("recorded", path, flush=True)

    def delete(self, job: str) -> None:
        from kubernetes.client.rest import ApiException

        with contextlib.suppress(ApiException):
            self.batch.delete_namespaced_job(
                job, self.ns, propagation_policy="Background"
            )


def cond(snap: dict[str, Any], kind: str) -> bool:
    return any(
        c["type"] == kind and c["status"] == "True"
        for c in snap["job"].get("status", {}).get("conditions") or []
    )


def waiting(snap: dict[str, Any], reason: str) -> bool:
    for pod in snap["pods"]:
        for cs in pod.get("status", {}).get("containerStatuses") or []:
            if (cs.get("state", {}).get("waiting") or {}).get("reason") == reason:
                return True
    return False


def pod_phase(snap: dict[str, Any], phase: str) -> bool:
    return any(p.get("status", {}).get("phase") == phase for p in snap["pods"])


def main() -> None:
    image, out = sys.argv[1], sys.argv[2]
    ns = sys.argv[3] if len(sys.argv) > 3 else "default"
    rec = Recorder(image, out, ns)
    only = set(sys.argv[4].split(",")) if len(sys.argv) > 4 else None
    plans = {
        "succeeded": (app(image, OK), {}, lambda s: cond(s, "Complete")),
        "failed_exit_3": (app(image, FAIL), {}, lambda s: cond(s, "Failed")),
        "oom_killed": (app(image, OOM, mem=32), {}, lambda s: cond(s, "Failed")),
        "image_pull_backoff": (
            app("registry.invalid/ax-nas/missing:1", OK),
            {},
            lambda s: waiting(s, "ImagePullBackOff"),
        ),
        "unschedulable": (
            app(image, OK, cpu=64),
            {},
            lambda s: any(
                c.get("reason") == "Unschedulable"
                for p in s["pods"]
                for c in p.get("status", {}).get("conditions") or []
            ),
        ),
        "missing_secret": (
            app(image, OK),
            {"secrets": {"TOKEN": "ax-nas-absent/key"}},
            lambda s: waiting(s, "CreateContainerConfigError"),
        ),
        "invalid_image_name": (
            app("Not/A Valid:Image", OK),
            {},
            lambda s: waiting(s, "InvalidImageName"),
        ),
    }
    for scenario, (app_def, cfg, done) in plans.items():
        if only and scenario not in only:
            continue
        job = rec.submit(scenario, app_def, **cfg)
        try:
            rec.save(scenario, rec.wait(job, done))
        finally:
            rec.delete(job)
    if only is None or "stopped" in only:
        job = rec.submit("stopped", app(image, SLEEP))
        rec.wait(job, lambda s: pod_phase(s, "Running"))
        rec.batch.delete_namespaced_job(job, ns, propagation_policy="Foreground")
        rec.save("stopped", rec.snapshot(job))


if __name__ == "__main__":
    main()
