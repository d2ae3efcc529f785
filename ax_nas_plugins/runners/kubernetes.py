"""The Kubernetes presets: ``k8s_job`` (plain ``batch/v1`` Jobs) and
``torchx_kubernetes`` (TorchX's Volcano ``vcjob``).

The rule: each trial is one Job (``k8s_job``: one pod, ``backoffLimit: 0``,
``ttlSecondsAfterFinished``; any cluster) or one Volcano job
(``torchx_kubernetes``: TorchX's ``kubernetes`` scheduler; needs Volcano),
made through the official ``kubernetes`` client with the kubeconfig of the
orchestrating process. Jobs and pods carry the labels
``ax-nas-plugins/experiment``, ``ax-nas-plugins/trial`` and
``ax-nas-plugins/app-id``; the app id (``<namespace>:<name>``) is in
``run_metadata``, so a new process that loads the experiment polls,
explains and deletes the same jobs. Status comes from the Job (or vcjob)
and its pod, with Kubernetes' reasons in the message; the log tail is the
pod's log.

TensorBoard files: ``log_volume`` (``"pvc:CLAIM"``, a PersistentVolumeClaim
that the orchestrator also mounts at ``log_root``; or ``"hostPath:/dir"``
on a one-node cluster) is mounted in the pod at ``log_root``, the same
absolute path the orchestrator reads, so the trainer writes
``tensorboard_dir`` where the ``tensorboard`` metric reads it.

Secrets: ``cfg["secrets"]`` maps variable names to ``"secret-name/key"``;
the pod reads them from Kubernetes Secrets, and no value is ever in the
spec, the experiment or ``run_metadata``. The runner option ``secret_env``
(values from the orchestrator's environment) is refused here, because its
values would be written into the Job spec.

Example::

    runner = anp.runner(
        "k8s_job",
        component="my_pkg.components:train",
        cfg={
            "namespace": "nas",
            "image": "registry.example.com/trainer:1",
            "log_volume": "pvc:nas-runs",
            "secrets": {"WANDB_API_KEY": "wandb/api-key"},
            "node_selector": {"gpu": "a100"},
            "tolerations": ["nvidia.com/gpu:NoSchedule"],
        },
        log_root="/mnt/nas-runs",
    )
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ax_nas_plugins.runners.base import SESSION, RunnerError, TorchXJobRunner

if TYPE_CHECKING:
    from ax.core.base_trial import BaseTrial
    from torchx.specs import AppDef

_STR = (
    "namespace",
    "image",
    "service_account",
    "priority_class",
    "log_volume",
    "queue",
)
_MAP = ("node_selector", "env", "secrets")
_LIST = ("tolerations", "image_pull_secrets")


class _KubernetesRunner(TorchXJobRunner):
    """What both Kubernetes presets share (options, labels, status, stop)."""

    #: Scheduler options the runner sets per trial (refused in ``cfg``).
    managed_cfg = frozenset({"log_dir", "log_root", "labels"})

    def _check_options(self) -> None:
        from ax_nas_plugins.runners.schedulers import k8s_job

        super()._check_options()
        name = self.plugin_name
        if self.secret_env:
            raise RunnerError(
                f"{name}: runner option `secret_env` would write secret values into "
                "the Job spec; use `cfg['secrets']` ({'ENV': 'secret-name/key'}) to "
                "read them from Kubernetes Secrets."
            )
        for key in _STR:
            value = self.cfg.get(key)
            if value is not None and not isinstance(value, str):
                raise RunnerError(
                    f"{name}: `cfg[{key!r}]` must be a string, got {value!r}."
                )
        for key in _MAP:
            value = self.cfg.get(key)
            if value is not None and not (
                isinstance(value, dict)
                and all(
                    isinstance(k, str) and isinstance(v, str) for k, v in value.items()
                )
            ):
                raise RunnerError(
                    f"{name}: `cfg[{key!r}]` must map strings to strings, "
                    f"got {value!r}."
                )
        for key in _LIST:
            value = self.cfg.get(key)
            if value is not None and not (
                isinstance(value, list) and all(isinstance(v, str) for v in value)
            ):
                raise RunnerError(
                    f"{name}: `cfg[{key!r}]` must be a list of strings, got {value!r}."
                )
        try:
            for tol in self.cfg.get("tolerations") or []:
                k8s_job.parse_toleration(tol)
            for env, ref in (self.cfg.get("secrets") or {}).items():
                k8s_job.parse_secret_ref(env, ref)
            if self.cfg.get("log_volume"):
                k8s_job.parse_log_volume(self.cfg["log_volume"])
        except ValueError as exc:
            raise RunnerError(f"{name}: `cfg`: {exc}") from exc
        clash = set(self.cfg.get("env") or {}) & set(self.cfg.get("secrets") or {})
        if clash:
            raise RunnerError(
                f"{name}: {sorted(clash)} set both in `cfg['env']` and "
                "`cfg['secrets']`."
            )

    def build_app(self, trial: BaseTrial) -> tuple[AppDef, dict[str, Any], str]:
        """As the base, plus the experiment and trial labels in the scheduler cfg."""
        from ax_nas_plugins.runners.schedulers.k8s_job import label_value

        app, cfg, log_dir = super().build_app(trial)
        cfg["labels"] = {
            "ax-nas-plugins/experiment": label_value(
                trial.experiment.name or "experiment"
            ),
            "ax-nas-plugins/trial": str(trial.index),
        }
        return app, cfg, log_dir

    def _scheduler_cfg(self, log_dir: str) -> dict[str, Any]:
        return {**self.cfg, "log_root": self.log_root}

    def _prepare_app(self, app: AppDef, log_dir: str) -> None:
        for role in app.roles:
            role.env.setdefault("PYTHONUNBUFFERED", "1")

    def _log_tail(self, meta: dict[str, Any], lines: int) -> list[str]:
        return self._get_scheduler().log_tail(meta["app_id"], lines)

    def _cancel(self, meta: dict[str, Any]) -> dict[str, Any]:
        facts = self._get_scheduler().cancel_confirmed(
            meta["app_id"], self.stop_timeout_s
        )
        if not facts["confirmed_gone"]:
            raise RunnerError(
                f"{self.plugin_name}: {meta['app_id']} still has pods "
                f"{facts.get('pods_left')} {self.stop_timeout_s} s after deletion."
            )
        return facts


class K8sJobRunner(_KubernetesRunner):
    """One plain ``batch/v1`` Job per trial (scheduler ``k8s_job``); any cluster.

    ``cfg``: ``namespace``, ``image``, ``service_account``, ``priority_class``,
    ``node_selector``, ``tolerations``, ``image_pull_secrets``, ``env``,
    ``secrets``, ``log_volume``, ``ttl_seconds_after_finished`` (default one
    day: a Job deleted before the orchestrator sees it end is unknown, then
    failed after ``unknown_grace_s``). Resources (cpu, memory,
    ``nvidia.com/gpu``) come from the role's ``resource``.
    """

    scheduler = "k8s_job"
    plugin_name = "k8s_job"

    def _check_options(self) -> None:
        super()._check_options()
        ttl = self.cfg.get("ttl_seconds_after_finished")
        if ttl is not None and (
            not isinstance(ttl, int) or isinstance(ttl, bool) or ttl < 0
        ):
            raise RunnerError(
                "k8s_job: `cfg['ttl_seconds_after_finished']` must be an integer >= 0, "
                f"got {ttl!r}."
            )

    def _planned_app_id(self, dryrun_info: Any) -> str | None:
        """``<namespace>:<job name>``: named before submitting."""
        meta = dryrun_info.request["metadata"]
        return f"{meta['namespace']}:{meta['name']}"

    def _make_scheduler(self) -> Any:
        from ax_nas_plugins.runners.schedulers.k8s_job import K8sJobScheduler

        return K8sJobScheduler(SESSION)


class TorchXKubernetesRunner(_KubernetesRunner):
    """TorchX ``kubernetes`` (a Volcano ``vcjob`` per trial); needs Volcano.

    ``cfg``: ``queue`` (Volcano queue, default ``"default"``) and the pod
    options of :class:`K8sJobRunner` (no TTL: Volcano keeps jobs).
    """

    scheduler = "kubernetes"
    plugin_name = "torchx_kubernetes"

    def _scheduler_cfg(self, log_dir: str) -> dict[str, Any]:
        return {"queue": "default", **super()._scheduler_cfg(log_dir)}

    def _planned_app_id(self, dryrun_info: Any) -> str | None:
        """``<namespace>:<vcjob name>``: named before submitting."""
        cfg = getattr(dryrun_info, "_cfg", None) or {}
        name = dryrun_info.request.resource["metadata"]["name"]
        return f"{cfg.get('namespace') or 'default'}:{name}"

    def _make_scheduler(self) -> Any:
        from ax_nas_plugins.runners.schedulers.k8s_volcano import VolcanoScheduler

        return VolcanoScheduler(SESSION)
