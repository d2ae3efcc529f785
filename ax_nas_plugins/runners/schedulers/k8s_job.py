"""``k8s_job``: a TorchX scheduler that runs an app as one plain ``batch/v1`` Job.

The rule: one app = one Job with one pod (one role, one replica;
``backoffLimit: 0``, ``restartPolicy: Never``, ``ttlSecondsAfterFinished``),
created, read, listed and deleted through the official ``kubernetes`` client
(kubeconfig from ``KUBECONFIG``/``~/.kube/config``, else in-cluster). The
pod options shared with the Volcano runner (:func:`apply_pod_options`) are
applied to the pod spec as plain API objects (dicts). A Job's state comes
from the Job's conditions and its pod (:func:`job_state`): Kubernetes'
reasons (``ImagePullBackOff``, ``OOMKilled``, ``Evicted``,
``Unschedulable``, ``CreateContainerConfigError``...) become the message a
person reads. App ids are ``<namespace>:<job name>``, as in TorchX's
``kubernetes`` scheduler.

Registered as a TorchX scheduler (entry point group ``torchx.schedulers``,
name ``k8s_job``), so ``torchx run -s k8s_job ...`` works too. TorchX uses
only that group once anything is registered in it, so the pack lists
TorchX's own schedulers there again (``pyproject.toml``).
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from datetime import datetime
from typing import Any

from torchx.schedulers.api import (
    AppDryRunInfo,
    DescribeAppResponse,
    ListAppResponse,
    Scheduler,
    Stream,
    split_lines,
)
from torchx.schedulers.ids import make_unique
from torchx.specs import (
    AppDef,
    AppState,
    BindMount,
    ReplicaStatus,
    Role,
    RoleStatus,
    macros,
    runopts,
)

#: Label on every Job and pod made here: the pod of an app is found by it.
LABEL_APP_ID = "ax-nas-plugins/app-id"
LABEL_MANAGED_BY = "app.kubernetes.io/managed-by"
MANAGED_BY = "ax-nas-plugins"

#: Waiting reasons that never fix themselves: the job failed.
FATAL_WAITING = frozenset(
    {"InvalidImageName", "ErrImageNeverPull", "CreateContainerConfigError"}
)
#: Waiting reasons that may clear (a registry hiccup): state UNKNOWN, so the
#: runner's grace period decides.
STUCK_WAITING = frozenset({"ImagePullBackOff", "ErrImagePull", "CrashLoopBackOff"})

_TOLERATION = re.compile(
    r"^(?P<key>[A-Za-z0-9./_-]+)(?:=(?P<value>[A-Za-z0-9._-]*))?"
    r"(?::(?P<effect>NoSchedule|PreferNoSchedule|NoExecute))?$"
)


def dns_name(text: str, limit: int = 63) -> str:
    """``text`` as an RFC 1123 label (lower case, digits, ``-``; <= ``limit``)."""
    out = re.sub(r"[^a-z0-9-]+", "-", text.lower()).strip("-")
    return (out[:limit].rstrip("-")) or "app"


def label_value(text: str) -> str:
    """``text`` as a Kubernetes label value (<= 63 chars, alphanumeric ends)."""
    out = re.sub(r"[^A-Za-z0-9._-]+", "_", str(text))[:63]
    return re.sub(r"^[^A-Za-z0-9]+|[^A-Za-z0-9]+$", "", out)


def parse_toleration(spec: str) -> dict[str, Any]:
    """``key[=value][:Effect]`` (``kubectl taint`` syntax) -> a V1Toleration dict."""
    m = _TOLERATION.match(spec.strip())
    if not m:
        raise ValueError(
            f"toleration {spec!r}: expected 'key[=value][:Effect]' with Effect one "
            "of NoSchedule, PreferNoSchedule, NoExecute."
        )
    tol: dict[str, Any] = {"key": m["key"]}
    if m["value"] is not None:
        tol.update(operator="Equal", value=m["value"])
    else:
        tol["operator"] = "Exists"
    if m["effect"]:
        tol["effect"] = m["effect"]
    return tol


def parse_secret_ref(env: str, ref: str) -> dict[str, Any]:
    """``"secret-name/key"`` -> an env entry that reads the key of that Secret."""
    name, sep, key = str(ref).partition("/")
    if not sep or not name or not key:
        raise ValueError(
            f"secrets[{env!r}] = {ref!r}: expected 'secret-name/key' (the value is "
            "read by Kubernetes from that Secret; never give the value itself)."
        )
    return {"name": env, "valueFrom": {"secretKeyRef": {"name": name, "key": key}}}


def parse_log_volume(spec: str) -> dict[str, Any]:
    """``pvc:CLAIM`` or ``hostPath:/dir`` -> a V1Volume source dict."""
    kind, _, arg = str(spec).partition(":")
    if kind == "pvc" and arg:
        return {"persistentVolumeClaim": {"claimName": arg}}
    if kind == "hostPath" and arg.startswith("/"):
        return {"hostPath": {"path": arg, "type": "DirectoryOrCreate"}}
    raise ValueError(
        f"log_volume {spec!r}: expected 'pvc:CLAIM_NAME' or 'hostPath:/absolute/dir'."
    )


def add_pod_runopts(opts: runopts) -> runopts:
    """Add the pod options both Kubernetes runners take (those not there yet)."""
    new = [
        ("image", str, "image for every role (overrides the role's)"),
        ("service_account", str, "service account of the pod"),
        ("priority_class", str, "PriorityClass name of the pod"),
        ("node_selector", dict[str, str], "node labels the pod needs"),
        ("tolerations", list[str], "'key[=value][:Effect]' tolerations"),
        ("image_pull_secrets", list[str], "names of image pull Secrets"),
        ("env", dict[str, str], "plain environment variables (stored: no secrets)"),
        ("secrets", dict[str, str], "ENV -> 'secret-name/key' from Kubernetes Secrets"),
        ("log_volume", str, "'pvc:CLAIM' or 'hostPath:/dir', mounted at log_root"),
        ("log_root", str, "where log_volume is mounted (set by the runner)"),
        ("labels", dict[str, str], "labels of the job and pod (set by the runner)"),
    ]
    for name, type_, text in new:
        if opts.get(name) is None:
            opts.add(name, type_=type_, help=text)
    return opts


def apply_pod_options(pod: dict[str, Any], cfg: dict[str, Any]) -> None:
    """Apply the pod options of ``cfg`` to a pod (template) dict, in place."""
    spec = pod.setdefault("spec", {})
    meta = pod.setdefault("metadata", {})
    labels = meta.get("labels") or {}
    labels.update(cfg.get("labels") or {})
    meta["labels"] = labels
    if cfg.get("service_account"):
        spec["serviceAccountName"] = cfg["service_account"]
    if cfg.get("priority_class"):
        spec["priorityClassName"] = cfg["priority_class"]
    if cfg.get("node_selector"):
        spec["nodeSelector"] = {
            **(spec.get("nodeSelector") or {}),
            **cfg["node_selector"],
        }
    if cfg.get("tolerations"):
        spec["tolerations"] = [parse_toleration(t) for t in cfg["tolerations"]]
    if cfg.get("image_pull_secrets"):
        spec["imagePullSecrets"] = [{"name": n} for n in cfg["image_pull_secrets"]]
    extra_env = [
        {"name": k, "value": str(v)} for k, v in (cfg.get("env") or {}).items()
    ]
    secret_env = [parse_secret_ref(k, v) for k, v in (cfg.get("secrets") or {}).items()]
    if cfg.get("log_volume"):
        if not cfg.get("log_root"):
            raise ValueError("log_volume needs log_root (the runner sets it)")
        spec.setdefault("volumes", []).append(
            {"name": "ax-nas-logs", **parse_log_volume(cfg["log_volume"])}
        )
    for container in spec.get("containers") or []:
        if cfg.get("image"):
            container["image"] = cfg["image"]
        names = {e["name"] for e in extra_env + secret_env}
        env = [e for e in container.get("env") or [] if e["name"] not in names]
        container["env"] = env + extra_env + secret_env
        if cfg.get("log_volume"):
            container.setdefault("volumeMounts", []).append(
                {"name": "ax-nas-logs", "mountPath": cfg["log_root"]}
            )


def _resources(role: Role) -> dict[str, Any]:
    res = role.resource
    out: dict[str, str] = {}
    if res.cpu > 0:
        out["cpu"] = f"{int(res.cpu * 1000)}m"
    if res.memMB > 0:
        out["memory"] = f"{int(res.memMB)}Mi"
    if res.gpu > 0:
        out["nvidia.com/gpu"] = str(int(res.gpu))
    for name, count in res.devices.items():
        out[name] = str(count)
    return {"requests": dict(out), "limits": dict(out)}


def job_manifest(app: AppDef, cfg: dict[str, Any], name: str) -> dict[str, Any]:
    """The ``batch/v1`` Job for ``app`` (one role, one replica), as API JSON."""
    if len(app.roles) != 1 or app.roles[0].num_replicas != 1:
        raise ValueError(
            f"k8s_job runs apps of one role with one replica; {app.name!r} has "
            f"{[(r.name, r.num_replicas) for r in app.roles]} (use torchx_kubernetes "
            "with Volcano for distributed apps)."
        )
    role = macros.Values(
        img_root="", app_id=name, replica_id="0", rank0_env="TORCHX_RANK0_HOST"
    ).apply(app.roles[0])
    labels = {
        LABEL_MANAGED_BY: MANAGED_BY,
        LABEL_APP_ID: name,
        **{k: label_value(v) for k, v in (cfg.get("labels") or {}).items()},
    }
    volumes: list[dict[str, Any]] = []
    mounts: list[dict[str, Any]] = []
    for i, mount in enumerate(role.mounts):
        if isinstance(mount, BindMount):
            volumes.append({"name": f"mount-{i}", "hostPath": {"path": mount.src_path}})
            mounts.append(
                {
                    "name": f"mount-{i}",
                    "mountPath": mount.dst_path,
                    "readOnly": bool(mount.read_only),
                }
            )
    container: dict[str, Any] = {
        "name": dns_name(role.name),
        "image": role.image,
        "command": [role.entrypoint],
        "args": list(role.args),
        "env": [{"name": k, "value": str(v)} for k, v in role.env.items()],
        "resources": _resources(role),
    }
    if mounts:
        container["volumeMounts"] = mounts
    pod: dict[str, Any] = {
        "metadata": {"labels": dict(labels)},
        "spec": {"restartPolicy": "Never", "containers": [container]},
    }
    if volumes:
        pod["spec"]["volumes"] = volumes
    apply_pod_options(pod, {**cfg, "labels": labels})
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {
            "name": name,
            "namespace": cfg.get("namespace") or "default",
            "labels": dict(labels),
        },
        "spec": {
            "backoffLimit": 0,
            "ttlSecondsAfterFinished": int(
                cfg.get("ttl_seconds_after_finished") or 86400
            ),
            "template": pod,
        },
    }


def _get(obj: Any, *path: str) -> Any:
    for key in path:
        if obj is None:
            return None
        obj = obj.get(key) if isinstance(obj, dict) else getattr(obj, _snake(key), None)
    return obj


def _snake(name: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()


def pod_reason(pod: Any) -> tuple[AppState | None, str]:
    """What one pod says: (a state it forces, or None; a readable reason)."""
    phase = _get(pod, "status", "phase") or "Unknown"
    name = _get(pod, "metadata", "name")
    reason = _get(pod, "status", "reason")
    message = _get(pod, "status", "message")
    if reason:  # Evicted, DeadlineExceeded, NodeLost...
        return AppState.FAILED if phase == "Failed" else None, (
            f"pod {name}: {reason}: {message or ''}".rstrip(": ")
        )
    for cond in _get(pod, "status", "conditions") or []:
        if _get(cond, "type") == "PodScheduled" and _get(cond, "status") == "False":
            why = _get(cond, "reason") or "NotScheduled"
            return None, f"pod {name}: {why}: {_get(cond, 'message') or ''}".rstrip(
                ": "
            )
    for cs in _get(pod, "status", "containerStatuses") or []:
        waiting = _get(cs, "state", "waiting")
        if waiting and _get(waiting, "reason"):
            why = _get(waiting, "reason")
            text = f"pod {name}: container {_get(cs, 'name')}: {why}"
            if _get(waiting, "message"):
                text += f": {_get(waiting, 'message')}"
            if why in FATAL_WAITING:
                return AppState.FAILED, text
            if why in STUCK_WAITING:
                return AppState.UNKNOWN, text
            return None, text
        term = _get(cs, "state", "terminated") or _get(cs, "lastState", "terminated")
        if term:
            code = _get(term, "exitCode")
            why = _get(term, "reason") or "Terminated"
            text = f"pod {name}: container {_get(cs, 'name')}: {why}, exit code {code}"
            if _get(term, "message"):
                text += f": {_get(term, 'message')}"
            return None, text
    return None, f"pod {name}: {phase}"


_PHASE = {
    "Pending": AppState.PENDING,
    "Running": AppState.RUNNING,
    "Succeeded": AppState.SUCCEEDED,
    "Failed": AppState.FAILED,
    "Unknown": AppState.UNKNOWN,
}


def job_state(job: Any, pods: list[Any]) -> tuple[AppState, str]:
    """A Job's state and message from its conditions and its pods."""
    name = _get(job, "metadata", "name")
    parts: list[str] = []
    state = None
    if _get(job, "metadata", "deletionTimestamp"):
        state = AppState.CANCELLED
        parts.append(f"job {name} is being deleted")
    for cond in _get(job, "status", "conditions") or []:
        if _get(cond, "status") != "True":
            continue
        kind = _get(cond, "type")
        if kind in ("Complete", "SuccessCriteriaMet") and state is None:
            state = AppState.SUCCEEDED
            parts.append(f"job {name}: Complete")
        elif kind in ("Failed", "FailureTarget") and state in (
            None,
            AppState.SUCCEEDED,
        ):
            state = AppState.FAILED
            why = _get(cond, "reason") or "Failed"
            msg = _get(cond, "message")
            parts.append(f"job {name}: {why}" + (f": {msg}" if msg else ""))
    pod_state = None
    for pod in pods:
        forced, text = pod_reason(pod)
        parts.append(text)
        phase_state = _PHASE.get(_get(pod, "status", "phase") or "Unknown")
        pod_state = forced or phase_state
    if state is None:
        state = pod_state or AppState.PENDING
    return state, "; ".join(parts) if parts else f"job {name}: no pod yet"


def pod_log(core: Any, pod: str, ns: str, tail_lines: int | None = None) -> str:
    """The pod's log as text (UTF-8, undecodable bytes replaced).

    Read raw: ``kubernetes`` 36's ``read_namespaced_pod_log`` turns the
    ``text/plain`` body into ``str(bytes)`` (``"b'line 1\\nline 2'"``, one
    line) or, when the log happens to be valid JSON, into a number or a list.
    """
    kw: dict[str, Any] = {"_preload_content": False}
    if tail_lines is not None:
        kw["tail_lines"] = tail_lines
    resp = core.read_namespaced_pod_log(pod, ns, **kw)
    try:
        data = resp.data
    finally:
        resp.release_conn()
    return data.decode("utf-8", errors="replace")


def kube_client() -> Any:
    """An ``ApiClient`` from ``$KUBECONFIG`` (read now, not at import) or
    ``~/.kube/config``, else the in-cluster service account; the client
    library's global default configuration is left alone."""
    import os

    from kubernetes import client, config

    path = os.environ.get("KUBECONFIG") or os.path.expanduser("~/.kube/config")
    try:
        return config.new_client_from_config(config_file=path)
    except (config.ConfigException, FileNotFoundError) as exc:
        conf = client.Configuration()
        try:
            config.load_incluster_config(client_configuration=conf)
        except config.ConfigException:
            raise RuntimeError(
                f"no Kubernetes cluster configured: kubeconfig {path!r} ({exc}) "
                "and not running in a pod"
            ) from exc
        return client.ApiClient(conf)


class K8sJobScheduler(Scheduler[dict]):
    """TorchX scheduler ``k8s_job`` (see module doc)."""

    def __init__(self, session_name: str, api_client: Any | None = None) -> None:
        super().__init__("k8s_job", session_name)
        self._client = api_client

    # -- clients ---------------------------------------------------------------

    def _api_client(self) -> Any:
        if self._client is None:
            self._client = kube_client()
        return self._client

    def _batch(self) -> Any:
        from kubernetes import client

        return client.BatchV1Api(self._api_client())

    def _core(self) -> Any:
        from kubernetes import client

        return client.CoreV1Api(self._api_client())

    # -- TorchX API ------------------------------------------------------------

    def _run_opts(self) -> runopts:
        opts = runopts()
        opts.add("namespace", type_=str, default="default", help="namespace of jobs")
        opts.add(
            "ttl_seconds_after_finished",
            type_=int,
            default=86400,
            help="seconds a finished Job (and its pod log) is kept",
        )
        return add_pod_runopts(opts)

    def _submit_dryrun(self, app: AppDef, cfg: Any) -> AppDryRunInfo[dict]:
        name = dns_name(make_unique(dns_name(app.name, 40)))
        manifest = job_manifest(app, dict(cfg), name)
        return AppDryRunInfo(manifest, lambda m: __import__("json").dumps(m, indent=1))

    def _validate(self, app: AppDef, scheduler: str) -> None:
        pass

    def schedule(self, dryrun_info: AppDryRunInfo[dict]) -> str:
        manifest = dryrun_info.request
        ns = manifest["metadata"]["namespace"]
        created = self._batch().create_namespaced_job(ns, manifest)
        return f"{ns}:{created.metadata.name}"

    def _pods(self, ns: str, name: str) -> list[Any]:
        got = self._core().list_namespaced_pod(
            ns, label_selector=f"{LABEL_APP_ID}={name}"
        )
        return list(got.items or [])

    def describe(self, app_id: str) -> DescribeAppResponse | None:
        from kubernetes.client.rest import ApiException

        ns, name = app_id.split(":", 1)
        try:
            job = self._batch().read_namespaced_job(name, ns)
        except ApiException as exc:
            if exc.status == 404:
                return None
            raise
        state, msg = job_state(job, self._pods(ns, name))
        role = dns_name(
            (_get(job, "spec", "template", "spec", "containers") or [{}])[0].name
            if _get(job, "spec", "template", "spec", "containers")
            else "job"
        )
        return DescribeAppResponse(
            app_id=app_id,
            state=state,
            msg=msg,
            roles=[Role(name=role, num_replicas=1, image="")],
            roles_statuses=[
                RoleStatus(
                    role, [ReplicaStatus(id=0, state=state, role=role, hostname="")]
                )
            ],
        )

    def describe_many(
        self, app_ids: list[str]
    ) -> dict[str, DescribeAppResponse | None]:
        """Several apps with two list calls per namespace (Jobs, then pods)."""
        by_ns: dict[str, list[str]] = {}
        for app_id in app_ids:
            ns, name = app_id.split(":", 1)
            by_ns.setdefault(ns, []).append(name)
        out: dict[str, DescribeAppResponse | None] = {}
        for ns, names in by_ns.items():
            selector = f"{LABEL_MANAGED_BY}={MANAGED_BY}"
            jobs = {
                j.metadata.name: j
                for j in self._batch()
                .list_namespaced_job(ns, label_selector=selector)
                .items
            }
            pods: dict[str, list[Any]] = {}
            for pod in (
                self._core().list_namespaced_pod(ns, label_selector=selector).items
            ):
                key = (pod.metadata.labels or {}).get(LABEL_APP_ID)
                pods.setdefault(key, []).append(pod)
            for name in names:
                job = jobs.get(name)
                if job is None:
                    out[f"{ns}:{name}"] = None
                    continue
                state, msg = job_state(job, pods.get(name, []))
                out[f"{ns}:{name}"] = DescribeAppResponse(
                    app_id=f"{ns}:{name}", state=state, msg=msg
                )
        return out

    def log_tail(self, app_id: str, lines: int) -> list[str]:
        """The last ``lines`` lines of the app's pod log."""
        ns, name = app_id.split(":", 1)
        out: list[str] = []
        for pod in self._pods(ns, name):
            text = pod_log(self._core(), pod.metadata.name, ns, tail_lines=lines)
            out += [f"--- pod {pod.metadata.name} ---", *text.splitlines()[-lines:]]
        return out

    def log_iter(
        self,
        app_id: str,
        role_name: str,
        k: int = 0,
        regex: str | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        should_tail: bool = False,
        streams: Stream | None = None,
    ) -> Any:
        ns, name = app_id.split(":", 1)
        lines: list[str] = []
        for pod in self._pods(ns, name):
            lines += split_lines(pod_log(self._core(), pod.metadata.name, ns))
        if regex:
            pattern = re.compile(regex)
            lines = [ln for ln in lines if pattern.search(ln)]
        return iter(lines)

    def _cancel_existing(self, app_id: str) -> None:
        ns, name = app_id.split(":", 1)
        self._batch().delete_namespaced_job(name, ns, propagation_policy="Foreground")

    def cancel_confirmed(self, app_id: str, timeout: float) -> dict[str, Any]:
        """Delete the Job with ``Foreground`` propagation (its pod first); wait
        until the Job and its pods are gone."""
        from kubernetes.client.rest import ApiException

        ns, name = app_id.split(":", 1)
        try:
            self._batch().delete_namespaced_job(
                name, ns, propagation_policy="Foreground"
            )
        except ApiException as exc:
            if exc.status != 404:
                raise
        return wait_until_gone(
            lambda: self._batch().read_namespaced_job(name, ns),
            lambda: self._pods(ns, name),
            timeout,
        )

    def list(self) -> list[ListAppResponse]:
        ns = "default"
        jobs = self._batch().list_namespaced_job(
            ns, label_selector=f"{LABEL_MANAGED_BY}={MANAGED_BY}"
        )
        return [
            ListAppResponse(app_id=f"{ns}:{j.metadata.name}", state=job_state(j, [])[0])
            for j in jobs.items
        ]


def create_scheduler(session_name: str, **kwargs: Any) -> K8sJobScheduler:
    """TorchX entry point (``torchx.schedulers``: ``k8s_job``)."""
    return K8sJobScheduler(session_name)


def wait_until_gone(
    read: Callable[[], Any], pods: Callable[[], list[Any]], timeout: float
) -> dict[str, Any]:
    """Poll until ``read()`` answers 404 and ``pods()`` is empty, or ``timeout``.

    Returns the stop facts (``confirmed_gone``, the propagation used, and the
    pods left when not confirmed); any API error but 404 is raised.
    """
    from kubernetes.client.rest import ApiException

    deadline = time.monotonic() + timeout
    while True:
        try:
            read()
            gone = False
        except ApiException as exc:
            if exc.status != 404:
                raise
            gone = True
        left = pods()
        if gone and not left:
            return {"confirmed_gone": True, "propagation": "Foreground"}
        if time.monotonic() > deadline:
            return {
                "confirmed_gone": False,
                "propagation": "Foreground",
                "pods_left": [p.metadata.name for p in left],
            }
        time.sleep(0.2)
