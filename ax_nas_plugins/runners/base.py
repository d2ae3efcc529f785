"""The runner over TorchX that every backend preset subclasses.

The rule: a trial becomes one TorchX app, built by calling the component (see
:mod:`ax_nas_plugins.runners.component`) and submitted to the preset's TorchX
scheduler with ``cfg``. Everything the runner needs later is in
``run_metadata`` as JSON (``app_handle``, ``app_id``, ``scheduler``,
``log_dir``, ``tensorboard_dir``, ``runner``, ``submitted_at``) and in the
trial's log folder, so a new process that loads the experiment polls, stops
and explains the same jobs: the runner holds no live handle that matters.

A backend is a small subclass: it names its TorchX ``scheduler`` and
``plugin_name``, makes its scheduler object (``_make_scheduler``), and may
add to the app (``_prepare_app``), to the scheduler options
(``_scheduler_cfg``), to polling several jobs at once (``_describe_many``),
to the log tail (``_log_tail``) and to cancelling (``_cancel``).

Lifecycle hooks fire once per event per trial, also across processes: a
marker file in ``<log_dir>/.events/`` is created atomically before each hook
fires, so a resumed orchestrator never reports a trial twice.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import time
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any, ClassVar

from ax.core.base_trial import BaseTrial, TrialStatus
from ax.core.runner import Runner

from ax_nas_plugins import hooks
from ax_nas_plugins.errors import AxNasError
from ax_nas_plugins.runners import component as comp
from ax_nas_plugins.runners.status import APP_STATE_TO_TRIAL_STATUS, UnknownClock

if TYPE_CHECKING:
    from torchx.schedulers.api import DescribeAppResponse, Scheduler
    from torchx.specs import AppDef

_TERMINAL = frozenset(
    {
        TrialStatus.COMPLETED,
        TrialStatus.FAILED,
        TrialStatus.ABANDONED,
        TrialStatus.EARLY_STOPPED,
        TrialStatus.STALE,
    }
)

#: The torchx session name in every app handle these runners make.
SESSION = "ax_nas"
JOB_FILE = "job.json"


class RunnerError(AxNasError, RuntimeError):
    """A trial that cannot be run or stopped as asked (the message says why)."""


def _safe(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", name).strip("._") or "experiment"


def _params_digest(parameters: dict[str, Any]) -> str:
    text = json.dumps(parameters, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


class TorchXJobRunner(Runner):
    """Runs each trial as a TorchX app; JSON-only run metadata; survives restarts.

    Subclasses are the presets (``torchx_local``, ``torchx_docker``, ...); see
    the module docstring for what a backend adds. Options common to all:

    Args:
        component: TorchX component (function returning an ``AppDef``) or a
            ``"module:function"`` string. Stored as that string.
        component_const_params: Keyword arguments given to every call of the
            component (trial parameters win on a clash).
        cfg: TorchX scheduler options (``runopts``) for the backend, JSON values.
        log_root: Folder under which each trial gets
            ``<experiment>/trial_<index>``; made absolute when the runner is made.
        secret_env: Names of environment variables passed to each job from the
            orchestrating process's environment at submit time; their values
            are never stored in the experiment or in ``run_metadata``.
        unknown_grace_s: Seconds a job may stay in an unknown state (backend
            unreachable, job record missing) before its trial is failed.
        stop_timeout_s: Seconds ``stop`` waits for a job to end before it
            kills it outright.
        max_concurrent: Jobs this backend runs at once (capacity reported to
            the Orchestrator); None means unlimited/unknown.
        log_tail_lines: Lines of the job's log put in a failed trial's reason.
    """

    #: TorchX scheduler name the preset submits to.
    scheduler: ClassVar[str] = ""
    #: Entry-point name of the preset (recorded in run_metadata).
    plugin_name: ClassVar[str] = ""

    def __init__(
        self,
        component: Callable[..., Any] | str,
        component_const_params: dict[str, Any] | None = None,
        cfg: dict[str, Any] | None = None,
        log_root: str | None = None,
        secret_env: list[str] | None = None,
        unknown_grace_s: float = 300.0,
        stop_timeout_s: float = 15.0,
        max_concurrent: int | None = None,
        log_tail_lines: int = 20,
    ) -> None:
        comp.resolve(component)  # fail early with a clear message
        self.component = component
        self.component_const_params = dict(component_const_params or {})
        self.cfg = dict(cfg or {})
        self.log_root = os.path.abspath(log_root or "runs")
        self.secret_env = list(secret_env or [])
        self.unknown_grace_s = float(unknown_grace_s)
        self.stop_timeout_s = float(stop_timeout_s)
        self.max_concurrent = max_concurrent
        self.log_tail_lines = int(log_tail_lines)
        self._check_options()
        self._live: dict[str, Any] = {}

    def _check_options(self) -> None:
        for key, value in self.cfg.items():
            try:
                json.dumps(value)
            except TypeError as exc:
                raise RunnerError(
                    f"runner option `cfg[{key!r}]` must be a JSON value "
                    f"(it is stored with the experiment), got {value!r}."
                ) from exc
        env = self.cfg.get("env")
        if isinstance(env, dict) and set(env) & set(self.secret_env):
            raise RunnerError(
                "runner option `cfg['env']` sets "
                f"{sorted(set(env) & set(self.secret_env))}, which are listed in "
                "`secret_env`: cfg is stored with the experiment, so give secrets "
                "only through `secret_env`."
            )
        if self.max_concurrent is not None and self.max_concurrent < 1:
            raise RunnerError(
                f"runner option `max_concurrent` must be a positive integer or "
                f"None, got {self.max_concurrent!r}."
            )
        if self.unknown_grace_s < 0 or self.stop_timeout_s <= 0:
            raise RunnerError(
                "runner options `unknown_grace_s` (>= 0) and `stop_timeout_s` (> 0) "
                f"got {self.unknown_grace_s!r} and {self.stop_timeout_s!r}."
            )

    # -- storage --------------------------------------------------------------

    @classmethod
    def serialize_init_args(cls, obj: Any) -> dict[str, Any]:
        """Init args as stored: the component as its ``"module:function"`` string."""
        args = super().serialize_init_args(obj)
        args["component"] = comp.reference(args["component"])
        return args

    def __getstate__(self) -> dict[str, Any]:
        state = dict(self.__dict__)
        state["_live"] = {}  # scheduler clients and clocks are rebuilt on demand
        return state

    # -- live objects (never stored) -------------------------------------------

    def _get_scheduler(self) -> Scheduler:
        if "scheduler" not in self._live:
            self._live["scheduler"] = self._make_scheduler()
        return self._live["scheduler"]

    def _torchx_runner(self) -> Any:
        if "torchx" not in self._live:
            from torchx.runner import Runner as TorchXRunner

            sched = self._get_scheduler()
            self._live["torchx"] = TorchXRunner(
                SESSION, {self.scheduler: lambda session_name, **kw: sched}
            )
        return self._live["torchx"]

    @property
    def _clock(self) -> UnknownClock:
        if "clock" not in self._live:
            self._live["clock"] = UnknownClock(self.unknown_grace_s)
        return self._live["clock"]

    @property
    def _active(self) -> set[int]:
        return self._live.setdefault("active", set())

    # -- backend hooks ----------------------------------------------------------

    def _make_scheduler(self) -> Scheduler:
        """The backend's TorchX scheduler object."""
        raise RunnerError(f"{type(self).__name__} does not name a TorchX scheduler.")

    def _scheduler_cfg(self, log_dir: str) -> dict[str, Any]:
        """TorchX scheduler options for one trial (the user's ``cfg`` by default)."""
        return dict(self.cfg)

    def _prepare_app(self, app: AppDef, log_dir: str) -> None:
        """Change the app before submission (mounts, environment). Default: none."""

    def _describe_many(
        self, app_ids: dict[int, dict[str, Any]]
    ) -> dict[int, DescribeAppResponse | Exception | None]:
        """Describe several jobs (trial index -> run_metadata); one call per job."""
        sched = self._get_scheduler()
        out: dict[int, DescribeAppResponse | Exception | None] = {}
        for index, meta in app_ids.items():
            try:
                out[index] = sched.describe(meta["app_id"])
            except Exception as exc:  # a transient backend error is not a verdict
                out[index] = exc
        return out

    def _log_tail(self, meta: dict[str, Any], lines: int) -> list[str]:
        """Last ``lines`` lines of the job's log (both streams)."""
        sched = self._get_scheduler()
        desc = sched.describe(meta["app_id"])
        out: list[str] = []
        for role in desc.roles_statuses if desc else []:
            for replica in role.replicas:
                try:
                    got = list(sched.log_iter(meta["app_id"], role.role, replica.id))
                except Exception:
                    continue
                out.extend(line.rstrip("\n") for line in got[-lines:])
        return out[-lines:]

    def _cancel(self, meta: dict[str, Any]) -> dict[str, Any]:
        """Cancel one job and confirm it ended; returns JSON facts for stop metadata."""
        self._get_scheduler().cancel(meta["app_id"])
        return {}

    # -- helpers ----------------------------------------------------------------

    def trial_log_dir(self, experiment_name: str, trial_index: int) -> str:
        """``<log_root>/<experiment>/trial_<index>`` (the name made path-safe)."""
        return os.path.join(
            self.log_root, _safe(experiment_name), f"trial_{trial_index:04d}"
        )

    def build_app(self, trial: BaseTrial) -> tuple[AppDef, dict[str, Any], str]:
        """The trial's AppDef, scheduler cfg and log folder (nothing submitted)."""
        from ax.core.trial import Trial

        if not isinstance(trial, Trial) or trial.arm is None:
            raise RunnerError(
                f"{type(self).__name__} runs one-arm trials (ax Trial); trial "
                f"{trial.index} is a {type(trial).__name__}."
            )
        experiment_name = trial.experiment.name or "experiment"
        log_dir = self.trial_log_dir(experiment_name, trial.index)
        fn = comp.resolve(self.component)
        kwargs = comp.component_kwargs(
            fn,
            dict(trial.arm.parameters),
            self.component_const_params,
            {
                "trial_index": trial.index,
                "trial_idx": trial.index,
                "experiment_name": experiment_name,
                "log_dir": log_dir,
                "tensorboard_dir": os.path.join(log_dir, "tensorboard"),
            },
        )
        app = fn(**kwargs)
        from torchx.specs import AppDef

        if not isinstance(app, AppDef):
            raise comp.ComponentError(
                f"The component {comp.reference(self.component)!r} returned "
                f"{type(app).__name__}, not a torchx.specs.AppDef."
            )
        missing = [n for n in self.secret_env if n not in os.environ]
        if missing:
            raise RunnerError(
                f"runner option `secret_env` names {missing}, which are not set in "
                "this process's environment."
            )
        for role in app.roles:
            for name in self.secret_env:
                role.env[name] = os.environ[name]
        self._prepare_app(app, log_dir)
        return app, self._scheduler_cfg(log_dir), log_dir

    def dryrun(self, trial: BaseTrial) -> dict[str, Any]:
        """What ``run`` would submit for ``trial``, as plain data (nothing is started).

        Secret environment values are replaced by ``"<secret>"``.
        """
        app, cfg, log_dir = self.build_app(trial)
        info = self._get_scheduler().submit_dryrun(app, cfg)
        return {
            "scheduler": self.scheduler,
            "cfg": cfg,
            "log_dir": log_dir,
            "request": self._redact(self._request_data(info.request)),
        }

    def _request_data(self, request: Any) -> Any:
        """Plain data of a scheduler request (dataclasses and dict subclasses
        become dicts, anything else that JSON cannot hold its ``str``)."""
        if hasattr(request, "to_dict"):
            return request.to_dict()
        return _plain(request)

    def _redact(self, data: Any) -> Any:
        secrets = {os.environ[n] for n in self.secret_env if os.environ.get(n)}
        if not secrets:
            return data
        text = json.dumps(data)
        for value in secrets:
            text = text.replace(json.dumps(value)[1:-1], "<secret>")
        return json.loads(text)

    def _fire_once(
        self, event: str, meta: dict[str, Any], trial: BaseTrial, **kw: Any
    ) -> None:
        folder = os.path.join(meta["log_dir"], ".events")
        try:
            os.makedirs(folder, exist_ok=True)
            fd = os.open(
                os.path.join(folder, event), os.O_CREAT | os.O_EXCL | os.O_WRONLY
            )
        except FileExistsError:
            return
        except OSError:
            fd = None  # log folder gone: fire anyway rather than never
        if fd is not None:
            os.write(fd, str(time.time()).encode())
            os.close(fd)
        hooks.fire(
            f"ax_nas_{event}",
            experiment_name=trial.experiment.name,
            trial_index=trial.index,
            run_metadata=dict(meta),
            trial=trial,
            **kw,
        )

    # -- Ax Runner API ------------------------------------------------------------

    def run(self, trial: BaseTrial) -> dict[str, Any]:
        """Submit the trial's job; returns JSON run metadata.

        If the trial's log folder already records a job for this experiment,
        trial and parameters (the orchestrator died after submitting but
        before saving), that job is adopted instead of starting a second one.
        A record for different parameters is an error.
        """
        app, cfg, log_dir = self.build_app(trial)
        digest = _params_digest(dict(trial.arm.parameters))  # type: ignore[attr-defined]
        record_path = os.path.join(log_dir, JOB_FILE)
        try:
            with open(record_path, encoding="utf-8") as fh:
                record = json.load(fh)
        except (FileNotFoundError, json.JSONDecodeError):
            record = None
        if record is not None:
            if (
                record.get("params_digest") == digest
                and record.get("scheduler") == self.scheduler
            ):
                meta = dict(record["run_metadata"], adopted=True)
                self._active.add(trial.index)
                return meta
            raise RunnerError(
                f"Trial {trial.index}'s log folder {log_dir} already holds a job of "
                "another run (different parameters or scheduler). Use a new "
                "`log_root` or experiment name, or remove that folder."
            )
        os.makedirs(log_dir, exist_ok=True)
        handle = self._torchx_runner().run(app, self.scheduler, cfg)
        app_id = handle.rsplit("/", 1)[-1]
        meta = {
            "runner": self.plugin_name,
            "scheduler": self.scheduler,
            "app_handle": handle,
            "app_id": app_id,
            "log_dir": log_dir,
            "tensorboard_dir": os.path.join(log_dir, "tensorboard"),
            "submitted_at": time.time(),
        }
        tmp = record_path + ".tmp"
        with open(tmp, "w", encoding="utf-8") as fh:
            json.dump(
                {
                    "params_digest": digest,
                    "scheduler": self.scheduler,
                    "trial_index": trial.index,
                    "run_metadata": meta,
                },
                fh,
            )
        os.replace(tmp, record_path)
        self._active.add(trial.index)
        self._fire_once("trial_deployed", meta, trial)
        return meta

    def poll_trial_status(
        self, trials: Iterable[BaseTrial]
    ) -> dict[TrialStatus, set[int]]:
        """One look at every trial's job, mapped through the status table.

        Unknown states keep the trial's status until ``unknown_grace_s`` has
        passed; then the trial is FAILED (``poll_exception`` says why).
        """
        trials = list(trials)
        metas = {
            t.index: t.run_metadata for t in trials if t.run_metadata.get("app_id")
        }
        described = self._describe_many(metas) if metas else {}
        result: dict[TrialStatus, set[int]] = {}
        by_index = {t.index: t for t in trials}
        for index, desc in described.items():
            trial = by_index[index]
            state = None if desc is None or isinstance(desc, Exception) else desc.state
            status = APP_STATE_TO_TRIAL_STATUS.get(state) if state is not None else None
            if status is None:
                if not self._clock.expired(index):
                    status = trial.status if trial.status not in _TERMINAL else None
                    if status is None:
                        continue
                else:
                    status = TrialStatus.FAILED
            else:
                self._clock.reset(index)
            result.setdefault(status, set()).add(index)
            if status in _TERMINAL:
                self._active.discard(index)
            else:
                self._active.add(index)
            meta = metas[index]
            if status == TrialStatus.COMPLETED:
                self._fire_once("trial_completed", meta, trial)
            elif status == TrialStatus.FAILED or (
                status == TrialStatus.ABANDONED
                # a job this pack stopped was reported as early-stopped already
                and not os.path.exists(
                    os.path.join(meta["log_dir"], ".events", "trial_early_stopped")
                )
            ):
                self._fire_once(
                    "trial_failed", meta, trial, reason=self._short_reason(desc, index)
                )
        return result

    def _short_reason(self, desc: Any, index: int) -> str:
        if desc is None:
            base = "the backend no longer knows this job"
        elif isinstance(desc, Exception):
            base = f"the backend could not be asked: {type(desc).__name__}: {desc}"
        else:
            base = f"{desc.state.name}: {desc.msg}"
        unknown = self._clock.unknown_for(index)
        if unknown > 0:
            base += (
                f" (unknown for {unknown:.0f} s, grace {self.unknown_grace_s:.0f} s)"
            )
        return base

    def poll_exception(self, trial: BaseTrial) -> str:
        """Why the trial's job failed: state and exit code, TorchX's structured
        error (TorchElastic error file) and the last lines of the job's log."""
        meta = trial.run_metadata
        if not meta.get("app_id"):
            return "the trial was never submitted (no app id in run_metadata)"
        parts: list[str] = []
        try:
            desc = self._get_scheduler().describe(meta["app_id"])
        except Exception as exc:
            desc = exc
        parts.append(self._short_reason(desc, trial.index))
        structured = getattr(desc, "structured_error_msg", None)
        if structured and structured != "<NONE>":
            parts.append(f"torchx error: {_error_message(structured)}")
        try:
            tail = self._log_tail(meta, self.log_tail_lines)
        except Exception as exc:
            tail = [f"(log not readable: {exc})"]
        if tail:
            parts.append("last log lines:\n" + "\n".join(tail))
        parts.append(f"log dir: {meta.get('log_dir')}")
        return "\n".join(parts)

    def stop(self, trial: BaseTrial, reason: str | None = None) -> dict[str, Any]:
        """Cancel the trial's job and wait (up to ``stop_timeout_s``) until it ended."""
        meta = trial.run_metadata
        if not meta.get("app_id"):
            return {"reason": reason} if reason else {}
        facts = self._cancel(meta)
        self._active.discard(trial.index)
        self._fire_once("trial_early_stopped", meta, trial, reason=reason)
        out: dict[str, Any] = {"stopped_at": time.time(), **facts}
        if reason:
            out["reason"] = reason
        return out

    def poll_available_capacity(self) -> int:
        """Free job slots: ``max_concurrent`` minus jobs this process knows to run;
        -1 (unlimited/unknown) without ``max_concurrent``."""
        if self.max_concurrent is None:
            return -1
        return max(0, self.max_concurrent - len(self._active))


def _error_message(structured: str) -> str:
    """The message of a TorchElastic error file's JSON, else the raw text."""
    try:
        data = json.loads(structured)
        msg = data.get("message", data)
        if isinstance(msg, dict):
            msg = msg.get("message", msg)
        return str(msg)
    except (json.JSONDecodeError, AttributeError):
        return structured


def _plain(value: Any) -> Any:
    import dataclasses

    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {
            f.name: _plain(getattr(value, f.name)) for f in dataclasses.fields(value)
        }
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set):
        return [_plain(v) for v in value]
    if value is None or isinstance(value, str | int | float | bool):
        return value
    return str(value)
