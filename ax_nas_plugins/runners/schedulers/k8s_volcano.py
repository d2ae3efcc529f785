"""TorchX's ``kubernetes`` scheduler (Volcano ``vcjob``) with the pack's pod options.

The rule: the vcjob is TorchX's own (one task per replica), with the pod
options of :func:`~ax_nas_plugins.runners.schedulers.k8s_job.apply_pod_options`
applied to every task's pod template, and the labels that let the runner
find the pods (``ax-nas-plugins/app-id``). The state is TorchX's (the vcjob
phase, written by the Volcano controller); the message adds what the pods
say (``ImagePullBackOff``, ``OOMKilled``, ``Evicted``, ``Unschedulable``).
Stopping deletes the vcjob (``Foreground``) and waits until it and its pods
are gone.
"""

from __future__ import annotations

from typing import Any

from torchx.schedulers.api import AppDryRunInfo, DescribeAppResponse
from torchx.schedulers.kubernetes_scheduler import KubernetesJob, KubernetesScheduler
from torchx.specs import AppDef, AppState

from ax_nas_plugins.runners.schedulers.k8s_job import (
    LABEL_APP_ID,
    LABEL_MANAGED_BY,
    MANAGED_BY,
    add_pod_runopts,
    apply_pod_options,
    kube_client,
    label_value,
    pod_log,
    pod_reason,
    wait_until_gone,
)

_VC = {"group": "batch.volcano.sh", "version": "v1alpha1", "plural": "jobs"}


class VolcanoScheduler(KubernetesScheduler):
    """TorchX ``kubernetes`` with the changes of the module doc."""

    def __init__(self, session_name: str, api_client: Any | None = None) -> None:
        super().__init__(session_name, client=api_client)

    def _api_client(self) -> Any:
        if self._client is None:
            self._client = kube_client()
        return self._client

    def _run_opts(self) -> Any:
        return add_pod_runopts(super()._run_opts())

    def _submit_dryrun(self, app: AppDef, cfg: Any) -> AppDryRunInfo[KubernetesJob]:
        from kubernetes.client import ApiClient

        cfg = dict(cfg)
        info = super()._submit_dryrun(app, cfg)  # type: ignore[arg-type]
        resource: dict[str, Any] = info.request.resource  # type: ignore[assignment]
        name = resource["metadata"]["name"]
        labels = {
            LABEL_MANAGED_BY: MANAGED_BY,
            LABEL_APP_ID: name,
            **{k: label_value(v) for k, v in (cfg.get("labels") or {}).items()},
        }
        resource["metadata"]["labels"] = dict(labels)
        serialize = ApiClient().sanitize_for_serialization
        for task in resource["spec"]["tasks"]:  # type: ignore[index]
            pod = serialize(task["template"])
            apply_pod_options(pod, {**cfg, "labels": labels})
            task["template"] = pod
        return info

    def _pods(self, ns: str, name: str) -> list[Any]:
        from kubernetes import client

        core = client.CoreV1Api(self._api_client())
        return list(
            core.list_namespaced_pod(ns, label_selector=f"{LABEL_APP_ID}={name}").items
            or []
        )

    def describe(self, app_id: str) -> DescribeAppResponse | None:
        from kubernetes.client.rest import ApiException

        try:
            desc = super().describe(app_id)
        except ApiException as exc:
            if exc.status == 404:
                return None
            raise
        if desc is None:
            return None
        ns, name = app_id.split(":", 1)
        parts = [f"vcjob {name}: {desc.state.name}"]
        forced = None
        for pod in self._pods(ns, name):
            state, text = pod_reason(pod)
            parts.append(text)
            forced = forced or state
        if forced is not None and desc.state in (AppState.PENDING, AppState.UNKNOWN):
            desc.state = forced
        desc.msg = "; ".join(parts)
        return desc

    def log_tail(self, app_id: str, lines: int) -> list[str]:
        from kubernetes import client

        ns, name = app_id.split(":", 1)
        core = client.CoreV1Api(self._api_client())
        out: list[str] = []
        for pod in self._pods(ns, name):
            text = pod_log(core, pod.metadata.name, ns, tail_lines=lines)
            out += [f"--- pod {pod.metadata.name} ---", *text.splitlines()[-lines:]]
        return out

    def cancel_confirmed(self, app_id: str, timeout: float) -> dict[str, Any]:
        """Delete the vcjob (``Foreground``); wait until it and its pods are gone."""
        from kubernetes.client.rest import ApiException

        ns, name = app_id.split(":", 1)
        api = self._custom_objects_api()
        try:
            api.delete_namespaced_custom_object(
                namespace=ns, name=name, propagation_policy="Foreground", **_VC
            )
        except ApiException as exc:
            if exc.status != 404:
                raise
        return wait_until_gone(
            lambda: api.get_namespaced_custom_object(namespace=ns, name=name, **_VC),
            lambda: self._pods(ns, name),
            timeout,
        )
