"""TorchX ``local_docker``, with no network by default and state read in one call.

The rule: the same containers TorchX's ``DockerScheduler`` makes (labels,
names, mounts, resources), except:

- ``cfg["network"]`` (default ``"none"``): containers get Docker's ``none``
  network (loopback only), so a job can send no traffic anywhere. ``"torchx"``
  restores TorchX's bridge network; any other value names an existing network.
- An image already in the local dockerd is not pulled (with no registry the
  pull would only fail, slowly).
- An app with no containers is unknown (``None``), where TorchX reports
  SUCCEEDED.
- ``cfg["log_dir"]`` is recorded in a label; a ``cancel_requested`` marker in
  ``<log_dir>/<app_id>/`` makes a stopped container read CANCELLED rather than
  FAILED, and TorchElastic error files are read from
  ``<log_dir>/<app_id>/<role>-<replica>-error.json`` (the runner bind-mounts
  the log folder at the same path).
- :meth:`describe_many` answers for many apps with one list call.
- ``cfg["secret_env"]`` (set by the runner from its ``secret_env``) names
  role variables that never enter the container's configuration (which
  ``docker inspect`` and dockerd's files keep): their values go to a file
  ``<log_dir>/../.secrets/<app_id>-<k>.env`` (mode 0600, folder 0700),
  bind-mounted read-only at :data:`SECRETS_MOUNT`, sourced by ``/bin/sh``
  before the command is ``exec``-ed, and deleted as soon as the job has read
  it (or has ended). The image needs ``/bin/sh``.
"""

from __future__ import annotations

import contextlib
import os
import re
from typing import Any

from torchx.schedulers.api import AppDryRunInfo, DescribeAppResponse
from torchx.schedulers.docker_scheduler import (
    CONTAINER_STATE,
    LABEL_APP_ID,
    LABEL_REPLICA_ID,
    LABEL_ROLE_NAME,
    DockerJob,
    DockerOpts,
    DockerScheduler,
    ensure_network,
)
from torchx.specs.api import AppDef, AppState, ReplicaStatus, RoleStatus, runopts

from ax_nas_plugins.runners import _proc
from ax_nas_plugins.runners.schedulers._opts import add_kill_grace_s
from ax_nas_plugins.runners.schedulers.local_detached import describe_response

LABEL_LOG_DIR = "ax-nas-plugins/log-dir"
SECRETS_MOUNT = "/run/ax-nas/secrets.env"
#: Sources the secrets file, marks it read, then becomes the job's command.
_WRAP = f'set -a; . {SECRETS_MOUNT}; set +a; : > "$AX_NAS_SECRETS_READ"; exec "$@"'
_EXITED = re.compile(r"Exited \((-?\d+)\)")


def error_file(log_dir: str, app_id: str, role: str, replica: int | str) -> str:
    """Where a replica's TorchElastic error file is expected on the host."""
    return os.path.join(log_dir, app_id, f"{role}-{replica}-error.json")


class IsolatedDockerOpts(DockerOpts, total=False):
    """``cfg`` of the isolated ``local_docker`` (TorchX's options plus these;
    declared with help and defaults in ``_run_opts``, the source of truth)."""

    network: str
    log_dir: str | None
    kill_grace_s: float
    image_repo: str | None  # TorchX's workspace options, not in its DockerOpts
    quiet: bool
    secret_env: list[str] | None


def secrets_dir(log_dir: str) -> str:
    """Host folder of an app's secrets files: beside the trial folders, so
    that it is never inside the bind-mounted log folder."""
    return os.path.join(os.path.dirname(os.path.abspath(log_dir)), ".secrets")


def _shell_quote(value: str) -> str:
    return "'" + value.replace("'", "'\"'\"'") + "'"


class IsolatedDockerScheduler(DockerScheduler):
    """TorchX ``local_docker`` with containers on no network (see module doc)."""

    def _run_opts(self) -> runopts:
        opts = super()._run_opts()
        opts.add(
            "network",
            type_=str,
            default="none",
            help="docker network of the containers: 'none' (loopback only), "
            "'torchx' (TorchX's bridge) or an existing network's name",
        )
        opts.add(
            "log_dir",
            type_=str,
            default=None,
            help="the trial's log folder (set by the runner; bind-mounted)",
        )
        add_kill_grace_s(opts)
        opts.add(
            "secret_env",
            type_=list[str],
            default=None,
            help="role variables passed through a read-only file, never through "
            "the container's environment (set by the runner from `secret_env`)",
        )
        return opts

    def _submit_dryrun(self, app: AppDef, cfg: Any) -> AppDryRunInfo[DockerJob]:
        info = super()._submit_dryrun(app, cfg)
        network = cfg.get("network") or "none"
        for container in info.request.containers:
            kwargs = container.kwargs
            if network == "none":
                kwargs.pop("network", None)
                kwargs["network_mode"] = "none"
            else:
                kwargs["network"] = network
            if cfg.get("log_dir"):
                kwargs["labels"][LABEL_LOG_DIR] = str(cfg["log_dir"])  # type: ignore[index]
        self._move_secrets(info.request, cfg)
        return info

    def _move_secrets(self, req: DockerJob, cfg: Any) -> None:
        """Take ``cfg["secret_env"]`` out of each container's environment; keep
        the values on the request (``req.secret_files``: path -> text, never a
        dataclass field, so a dry run does not show them)."""
        from docker.types import Mount

        names = list(cfg.get("secret_env") or [])
        files: dict[str, str] = {}
        log_dir = cfg.get("log_dir")
        for k, container in enumerate(req.containers):
            env = container.kwargs.get("environment") or {}
            values = {n: env.pop(n) for n in names if n in env}
            if not values or not log_dir:
                continue
            path = os.path.join(secrets_dir(log_dir), f"{req.app_id}-{k}.env")
            files[path] = "".join(
                f"{n}={_shell_quote(v)}\n" for n, v in sorted(values.items())
            )
            env["AX_NAS_SECRETS_READ"] = os.path.join(
                str(log_dir), req.app_id, f"secrets-read-{k}"
            )
            container.kwargs.setdefault("mounts", []).append(  # type: ignore[union-attr]
                Mount(target=SECRETS_MOUNT, source=path, read_only=True, type="bind")
            )
            container.command = ["/bin/sh", "-c", _WRAP, "ax-nas", *container.command]
        req.secret_files = files  # type: ignore[attr-defined]

    def schedule(self, dryrun_info: AppDryRunInfo[DockerJob]) -> str:
        from docker.errors import ImageNotFound

        client = self._docker_client
        req = dryrun_info.request
        for image in {c.image for c in req.containers}:
            try:
                client.images.get(image)
            except ImageNotFound:
                client.images.pull(image)
        if any(c.kwargs.get("network") == "torchx" for c in req.containers):
            ensure_network(client)
        for path, text in getattr(req, "secret_files", {}).items():
            os.makedirs(os.path.dirname(path), mode=0o700, exist_ok=True)
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(fd, "w") as fh:
                fh.write(text)
        for container in req.containers:
            log_dir = container.kwargs["labels"].get(LABEL_LOG_DIR)  # type: ignore[union-attr]
            if log_dir:  # the error files' folder, before the job may need it
                os.makedirs(os.path.join(log_dir, req.app_id), exist_ok=True)
            client.containers.run(
                container.image, container.command, detach=True, **container.kwargs
            )
        return req.app_id

    # -- reading state in one call ------------------------------------------------

    def _list(self, app_id: str | None = None) -> list[dict[str, Any]]:
        label = f"{LABEL_APP_ID}={app_id}" if app_id else LABEL_APP_ID
        return self._docker_client.api.containers(all=True, filters={"label": label})

    def describe(self, app_id: str) -> DescribeAppResponse | None:
        return self._describe_rows(app_id, self._list(app_id))

    def describe_many(
        self, app_ids: list[str]
    ) -> dict[str, DescribeAppResponse | None]:
        """``describe`` for every app id, from one container listing."""
        rows: dict[str, list[dict[str, Any]]] = {}
        for row in self._list():
            rows.setdefault(row["Labels"].get(LABEL_APP_ID, ""), []).append(row)
        return {a: self._describe_rows(a, rows.get(a, [])) for a in app_ids}

    def _describe_rows(
        self, app_id: str, rows: list[dict[str, Any]]
    ) -> DescribeAppResponse | None:
        if not rows:
            return None
        labels = rows[0]["Labels"]
        log_dir = labels.get(LABEL_LOG_DIR)
        cancelled = bool(log_dir) and os.path.exists(
            os.path.join(log_dir, app_id, "cancel_requested")
        )
        statuses: dict[str, RoleStatus] = {}
        states, messages, errors = [], [], []
        for row in rows:
            role = row["Labels"].get(LABEL_ROLE_NAME, "?")
            replica = row["Labels"].get(LABEL_REPLICA_ID, "0")
            state, msg = self._row_state(row, cancelled)
            states.append(state)
            messages.append(f"{role}/{replica}: {msg}")
            statuses.setdefault(role, RoleStatus(role, [])).replicas.append(
                ReplicaStatus(
                    id=int(replica), role=role, state=state, hostname=row["Names"][0]
                )
            )
            if state == AppState.FAILED and log_dir:
                path = error_file(log_dir, app_id, role, replica)
                if os.path.exists(path):
                    errors.append((os.path.getmtime(path), path))
        if log_dir:
            self._drop_secrets(log_dir, app_id, len(rows), states)
        return describe_response(
            app_id, states, messages, list(statuses.values()), errors
        )

    @staticmethod
    def _drop_secrets(
        log_dir: str, app_id: str, n: int, states: list[AppState]
    ) -> None:
        """Delete the app's secrets files once read by the job, or once it ended."""
        from torchx.specs.api import is_terminal

        ended = all(is_terminal(s) for s in states)
        for k in range(n):
            path = os.path.join(secrets_dir(log_dir), f"{app_id}-{k}.env")
            read = os.path.join(log_dir, app_id, f"secrets-read-{k}")
            if (ended or os.path.exists(read)) and os.path.exists(path):
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(path)

    @staticmethod
    def _row_state(row: dict[str, Any], cancelled: bool) -> tuple[AppState, str]:
        state = row.get("State", "")
        status = row.get("Status", "")
        if state == "exited":
            match = _EXITED.search(status)
            code = int(match.group(1)) if match else None
            if cancelled:
                return AppState.CANCELLED, f"cancelled (exit code {code})"
            if code == 0:
                return AppState.SUCCEEDED, "exit code 0"
            return AppState.FAILED, f"exit code {code}"
        if cancelled and state == "dead":
            return AppState.CANCELLED, "cancelled"
        return CONTAINER_STATE.get(state, AppState.UNKNOWN), f"container {state}"

    # -- acting -----------------------------------------------------------------------

    def cancel_confirmed(self, app_id: str, grace_s: float) -> dict[str, Any]:
        """Stop every container of the app and confirm their processes ended.

        Returns ``{"confirmed_gone": bool, "pids": [...]}`` (host pids of the
        containers' first processes before the stop).
        """
        client = self._docker_client
        rows = self._list(app_id)
        log_dir = rows[0]["Labels"].get(LABEL_LOG_DIR) if rows else None
        if log_dir:
            os.makedirs(os.path.join(log_dir, app_id), exist_ok=True)
            open(os.path.join(log_dir, app_id, "cancel_requested"), "a").close()
        pids: dict[int, int | None] = {}
        for row in rows:
            info = client.api.inspect_container(row["Id"])
            pid = int(info["State"].get("Pid") or 0)
            if pid > 0:
                pids[pid] = _proc.start_time(pid)
            if info["State"].get("Running"):
                client.api.stop(row["Id"], timeout=max(1, round(grace_s)))
        gone = _proc.wait_gone(pids, 10.0)
        return {"confirmed_gone": gone, "pids": sorted(pids)}

    def log_tail(self, app_id: str, lines: int) -> list[str]:
        """The last ``lines`` lines of every container of the app."""
        out: list[str] = []
        for row in self._list(app_id):
            text = self._docker_client.api.logs(row["Id"], tail=lines)
            if isinstance(text, bytes):
                text = text.decode("utf-8", "replace")
            out.append(f"--- {row['Names'][0]} ---")
            out.extend(text.splitlines())
        return out
