"""The runner over TorchX that every backend preset subclasses.

The rule: a trial becomes one TorchX app, built by calling the component (see
:mod:`ax_nas_plugins.runners.component`) and submitted to the preset's TorchX
scheduler with ``cfg``. Everything the runner needs later is in
``run_metadata`` as JSON (``app_handle``, ``app_id``, ``scheduler``,
``log_dir``, ``tensorboard_dir``, ``runner``, ``submitted_at``) and in files
(:mod:`ax_nas_plugins.runners._records`): the trial's job record, the index
of jobs that may hold a slot, and the experiment's lease. So every runner
object in every process sees the same state: a new process that loads the
experiment polls, stops and explains the same jobs, and capacity is counted
from the records, never from one object's memory.

**Deploy** writes the job record first (``starting``, with the app id when
the backend knows it before submitting), then submits, then confirms
(``submitted``). A resumed ``run`` of a trial whose record says ``starting``
asks the backend whether that job started (``_job_started``): adopt it, or
submit afresh. A record of another experiment, trial or parameters is refused.

**Stop** writes ``<log_dir>/.events/stop_requested`` before cancelling, so a
job found cancelled later (also by a new process after a kill) is reported
EARLY_STOPPED, not ABANDONED. ``max_runtime_s`` stops a job past its limit
the same way, with ``.events/max_runtime_exceeded``; the trial is FAILED
with that reason.

**Lease**: ``run``, ``poll_trial_status`` and ``stop`` take the experiment's
lease (``<log_root>/<folder>/.lease``: pid, start time, host). Another live
process is refused with :class:`LeaseHeldError`; a lease whose holder died is
taken over, so resume after SIGKILL works. ``release_lease`` hands it over.

Extension points, for a new backend (Slurm, Ray, Kubernetes over TorchX's
schedulers) as a small subclass:

- ``scheduler`` and ``plugin_name`` (class attributes), ``_make_scheduler()``
  (the TorchX scheduler object; its ``run_opts()`` is the one source of truth
  for ``cfg``: names, types, defaults), ``managed_cfg`` (options the runner
  sets itself, e.g. ``log_dir``).
- ``_scheduler_cfg(log_dir)`` and ``_prepare_app(app, log_dir)``: per-trial
  scheduler options and changes to the app (mounts, environment).
- ``_planned_app_id(dryrun_info)``: the app id the backend will use, if it
  is known before submitting (default: ``dryrun_info.request.app_id``);
  ``_job_started(meta)``: for a ``starting`` record, whether that job exists
  (default: the backend describes it). A backend whose ids come only from
  the submission (Slurm) finds a job submitted for a ``starting`` record
  without an id in ``_find_submitted(record, log_dir)`` (Slurm: by the
  batch script's path in the trial's folder).
- ``_describe_many(metas)`` (default: one ``describe_many`` call when the
  scheduler has it, else one ``describe`` per job),
  ``_log_tail(meta, lines)``, ``_cancel(meta)`` (end the job and confirm).
- ``_backend_capacity()``: free slots as the backend reports them (idle CPUs
  divided by what one job asks, free GPUs...), or None; capacity is the
  smaller of that and ``max_concurrent`` minus the jobs in the index.

Nothing here needs a local process supervisor: that is the ``torchx_local``
scheduler's business. Lifecycle hooks fire once per event per trial, also
across processes: a marker file in ``<log_dir>/.events/`` is created
atomically before each hook fires.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import time
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any, ClassVar

from ax.core.base_trial import BaseTrial, TrialStatus
from ax.core.runner import Runner
from ax.exceptions.core import UnsupportedError

from ax_nas_plugins import hooks
from ax_nas_plugins.errors import AxNasError
from ax_nas_plugins.runners import _faults, _records
from ax_nas_plugins.runners import component as comp
from ax_nas_plugins.runners._options import OptionError, check_cfg, number
from ax_nas_plugins.runners.status import APP_STATE_TO_TRIAL_STATUS, UnknownClock

if TYPE_CHECKING:
    from torchx.schedulers.api import DescribeAppResponse, Scheduler
    from torchx.specs import AppDef, runopts

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
JOB_FILE = _records.JOB_FILE
#: Marker files in ``<log_dir>/.events/`` that decide how a cancelled job reads.
STOP_REQUESTED = "stop_requested"
RUNTIME_EXCEEDED = "max_runtime_exceeded"


class RunnerError(AxNasError, RuntimeError):
    """A trial that cannot be run or stopped as asked (the message says why)."""


class LeaseHeldError(RunnerError, UnsupportedError):
    """Another live process orchestrates this experiment (the message says which).

    It is an Ax ``UnsupportedError`` too, which Ax's Orchestrator never retries
    or works around: a poll refused by the lease stops the second orchestrator
    before it writes anything (any other poll error makes Ax poll trial by
    trial and mark each failing trial ABANDONED)."""

    def __init__(self, message: str) -> None:
        RunnerError.__init__(self, message)
        self.message, self.hint = message, ""

    def __str__(self) -> str:
        return self.message


def _params_digest(parameters: dict[str, Any]) -> str:
    text = json.dumps(parameters, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


class TorchXJobRunner(Runner):
    """Runs each trial as a TorchX app; JSON-only run metadata; survives restarts.

    Subclasses are the presets (``torchx_local``, ``torchx_docker``, ...); see
    the module docstring for what a backend adds. Options common to all
    (checked once, here: a wrong one raises :class:`RunnerError` naming it):

    Args:
        component: TorchX component (function returning an ``AppDef``) or a
            ``"module:function"`` string. Stored as that string, and imported
            only when a trial is deployed (loading an experiment does not
            need the trainer's code).
        component_const_params: Keyword arguments given to every call of the
            component (trial parameters win on a clash).
        cfg: TorchX scheduler options (``runopts``) for the backend, JSON values.
        log_root: Folder under which each trial gets
            ``<experiment folder>/trial_<index>``; made absolute.
        secret_env: Names of environment variables passed to each job from the
            orchestrating process's environment at submit time; their values
            are never stored in the experiment or in ``run_metadata``.
        unknown_grace_s: Seconds a job may stay in an unknown state (backend
            unreachable, job record missing) before its trial is failed.
        stop_timeout_s: Seconds ``stop`` waits for a job to end before it
            kills it outright.
        max_concurrent: Jobs under ``log_root`` that run at once (capacity
            reported to the Orchestrator); None means unlimited/unknown.
        log_tail_lines: Lines of the job's log put in a failed trial's reason.
        max_runtime_s: Seconds a trial's job may run (from submission); a job
            past it is stopped and its trial FAILED with that reason. None: no
            limit.
    """

    #: TorchX scheduler name the preset submits to.
    scheduler: ClassVar[str] = ""
    #: Entry-point name of the preset (recorded in run_metadata).
    plugin_name: ClassVar[str] = ""
    #: Scheduler options the runner sets per trial (refused in ``cfg``).
    managed_cfg: ClassVar[frozenset[str]] = frozenset({"log_dir"})

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
        max_runtime_s: float | None = None,
    ) -> None:
        self.component = component
        self.component_const_params = dict(component_const_params or {})
        self.cfg = dict(cfg or {})
        self.log_root = os.path.abspath(log_root or "runs")
        self.secret_env = list(secret_env or [])
        self.unknown_grace_s = unknown_grace_s
        self.stop_timeout_s = stop_timeout_s
        self.max_concurrent = max_concurrent
        self.log_tail_lines = log_tail_lines
        self.max_runtime_s = max_runtime_s
        self._live: dict[str, Any] = {}
        self._check_options()

    def _check_options(self) -> None:
        if not callable(self.component) and (
            not isinstance(self.component, str) or ":" not in self.component
        ):
            raise comp.ComponentError(
                "runner option `component` must be a TorchX component function or "
                f"a 'module:function' string, got {self.component!r}."
            )
        try:
            self.unknown_grace_s = number(
                "unknown_grace_s", self.unknown_grace_s, low=0
            )
            self.stop_timeout_s = number(
                "stop_timeout_s", self.stop_timeout_s, low=0, low_open=True
            )
            self.max_concurrent = number(
                "max_concurrent",
                self.max_concurrent,
                low=1,
                integer=True,
                optional=True,
            )
            self.log_tail_lines = number(
                "log_tail_lines", self.log_tail_lines, low=0, integer=True
            )
            self.max_runtime_s = number(
                "max_runtime_s", self.max_runtime_s, low=0, low_open=True, optional=True
            )
            self.cfg = check_cfg(
                self.plugin_name or type(self).__name__,
                self.cfg,
                self.scheduler_run_opts(),
                self.managed_cfg,
            )
        except OptionError as exc:
            raise RunnerError(str(exc)) from None
        if not all(isinstance(n, str) and n for n in self.secret_env):
            raise RunnerError(
                f"runner option `secret_env` must be a list of variable names, got "
                f"{self.secret_env!r}."
            )
        env = self.cfg.get("env")
        if isinstance(env, dict) and set(env) & set(self.secret_env):
            raise RunnerError(
                "runner option `cfg['env']` sets "
                f"{sorted(set(env) & set(self.secret_env))}, which are listed in "
                "`secret_env`: cfg is stored with the experiment, so give secrets "
                "only through `secret_env`."
            )

    def scheduler_run_opts(self) -> runopts:
        """The backend scheduler's ``run_opts()``: what ``cfg`` accepts."""
        return self._get_scheduler().run_opts()

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

    # -- backend hooks ----------------------------------------------------------

    def _make_scheduler(self) -> Scheduler:
        """The backend's TorchX scheduler object."""
        raise RunnerError(f"{type(self).__name__} does not name a TorchX scheduler.")

    def _scheduler_cfg(self, log_dir: str) -> dict[str, Any]:
        """TorchX scheduler options for one trial (the user's ``cfg`` by default)."""
        return dict(self.cfg)

    def _prepare_app(self, app: AppDef, log_dir: str) -> None:
        """Change the app before submission (mounts, environment). Default: none."""

    def _planned_app_id(self, dryrun_info: Any) -> str | None:
        """The app id the backend will give the job, if known before submitting."""
        app_id = getattr(dryrun_info.request, "app_id", None)
        return app_id if isinstance(app_id, str) else None

    def _job_started(self, meta: dict[str, Any]) -> bool:
        """For a ``starting`` record: did the job of ``meta`` reach the backend?

        Default: the backend describes it. A backend that cannot be asked is
        an error (starting the job again could run it twice).
        """
        desc = self._describe_many({0: meta}).get(0)
        if isinstance(desc, Exception):
            raise RunnerError(
                f"{self.plugin_name}: cannot tell whether job {meta['app_id']} "
                f"started (the backend could not be asked: {desc}); retry later."
            )
        return desc is not None

    def _find_submitted(self, record: dict[str, Any], log_dir: str) -> str | None:
        """For a ``starting`` record without an app id: the id of a job that
        was submitted for it anyway (the orchestrator died between the
        backend's answer and the record), found by what the job carries.

        Default: None (backends whose ids are chosen before submitting never
        need it). A backend that cannot be asked raises :class:`RunnerError`.
        """
        return None

    def _backend_capacity(self) -> int | None:
        """Free slots as the backend reports them, or None (unknown). Default: None."""
        return None

    def _describe_many(
        self, app_ids: dict[int, dict[str, Any]]
    ) -> dict[int, DescribeAppResponse | Exception | None]:
        """Describe several jobs (key -> run_metadata): one backend call when the
        scheduler has ``describe_many(app_ids)``, else one call per job.

        A backend that cannot be asked gives the exception, not a verdict
        (the job's state is unknown, not failed); a job it does not know gives
        None.
        """
        sched = self._get_scheduler()
        many = getattr(sched, "describe_many", None)
        if many is not None:
            try:
                found = many([m["app_id"] for m in app_ids.values()])
            except Exception as exc:  # backend unreachable: unknown, not failed
                return dict.fromkeys(app_ids, exc)
            return {index: found.get(meta["app_id"]) for index, meta in app_ids.items()}
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

    def experiment_dir(self, experiment_name: str) -> str:
        """``<log_root>/<slug>-<hash>``: one folder per exact experiment name."""
        return os.path.join(self.log_root, _records.folder_name(experiment_name))

    def trial_log_dir(self, experiment_name: str, trial_index: int) -> str:
        """``<log_root>/<slug>-<hash>/trial_<index>`` (see :meth:`experiment_dir`)."""
        return os.path.join(
            self.experiment_dir(experiment_name), f"trial_{trial_index:04d}"
        )

    def _hold_lease(self, experiment_name: str) -> None:
        folder = self.experiment_dir(experiment_name)
        try:
            _records.take_lease(folder)
        except _records.LeaseHeld as exc:
            h = exc.holder
            since = time.strftime(
                "%Y-%m-%d %H:%M:%S", time.localtime(float(h.get("taken_at", 0)))
            )
            raise LeaseHeldError(
                f"Experiment {experiment_name!r} is orchestrated by another live "
                f"process (pid {h.get('pid')} on {h.get('host')}, since {since}; "
                f"lease file {os.path.join(folder, _records.LEASE_FILE)}). Two "
                "orchestrators on one experiment would each decide its trials' "
                "statuses: stop that process first (its lease ends when it exits), "
                "or, if it ran on a machine that is gone, delete the lease file."
            ) from None

    def release_lease(self, experiment_name: str) -> bool:
        """Give up this process's lease of the experiment (True if it held it),
        so that another process may run, poll or stop its trials."""
        return _records.release_lease(self.experiment_dir(experiment_name))

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
        _check_no_nul(trial.index, dict(trial.arm.parameters), "parameter")
        _check_no_nul(
            trial.index, self.component_const_params, "component_const_params"
        )
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
            _check_no_nul(
                trial.index,
                {"entrypoint": role.entrypoint, "args": role.args, "env": role.env},
                f"role {role.name!r}",
            )
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

    def _secret_values(self) -> list[str]:
        values = {os.environ[n] for n in self.secret_env if os.environ.get(n)}
        return sorted(values, key=len, reverse=True)

    def _redact(self, data: Any) -> Any:
        secrets = self._secret_values()
        if not secrets:
            return data
        text = json.dumps(data)
        for value in secrets:
            text = text.replace(json.dumps(value)[1:-1], "<secret>")
        return json.loads(text)

    def redact_text(self, text: str) -> str:
        """``text`` with every value of a ``secret_env`` variable replaced by
        ``<secret>`` (for reasons and log tails that get stored)."""
        for value in self._secret_values():
            text = text.replace(value, "<secret>")
        return text

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

    def _metadata(
        self, app_id: str, log_dir: str, submitted_at: float
    ) -> dict[str, Any]:
        from torchx.specs import make_app_handle

        return {
            "runner": self.plugin_name,
            "scheduler": self.scheduler,
            "app_handle": make_app_handle(self.scheduler, SESSION, app_id),
            "app_id": app_id,
            "log_dir": log_dir,
            "tensorboard_dir": os.path.join(log_dir, "tensorboard"),
            "submitted_at": submitted_at,
        }

    def _check_record(
        self, record: dict[str, Any], name: str, index: int, digest: str, log_dir: str
    ) -> None:
        mismatch = []
        if record.get("experiment_name", name) != name:
            mismatch.append(f"experiment {record.get('experiment_name')!r}")
        if record.get("trial_index", index) != index:
            mismatch.append(f"trial {record.get('trial_index')}")
        if record.get("params_digest") != digest:
            mismatch.append("other parameters")
        if record.get("scheduler") != self.scheduler:
            mismatch.append(f"scheduler {record.get('scheduler')!r}")
        if mismatch:
            raise RunnerError(
                f"Trial {index} of experiment {name!r}: its log folder {log_dir} "
                f"already holds a job of another run ({', '.join(mismatch)}). Use a "
                "new `log_root` or experiment name, or remove that folder."
            )

    # -- Ax Runner API ------------------------------------------------------------

    def run(self, trial: BaseTrial) -> dict[str, Any]:
        """Submit the trial's job; returns JSON run metadata.

        The job record is written first (``starting``), then the job is
        submitted, then the record is confirmed. If the trial's folder
        already records a job of this experiment, trial and parameters (the
        orchestrator died before Ax saved the trial), that job is adopted
        (``adopted: true``) instead of starting a second one; a ``starting``
        record is adopted only if the backend has the job, else the job is
        submitted afresh. A record of another run is an error.
        """
        name = trial.experiment.name or "experiment"
        self._hold_lease(name)
        log_dir = self.trial_log_dir(name, trial.index)
        params = (
            dict(getattr(trial, "arm", None).parameters)
            if getattr(trial, "arm", None)
            else {}
        )
        digest = _params_digest(params)
        record = _records.read_record(log_dir)
        if record is not None:
            self._check_record(record, name, trial.index, digest, log_dir)
            adopted = self._adopt(record, log_dir)
            if adopted is not None:
                return adopted
        app, cfg, log_dir = self.build_app(trial)
        tx = self._torchx_runner()
        info = tx.dryrun(app, self.scheduler, cfg)
        record = {
            "version": 2,
            "experiment_name": name,
            "trial_index": trial.index,
            "params_digest": digest,
            "scheduler": self.scheduler,
            "runner": self.plugin_name,
            "state": _records.STARTING,
            "app_id": self._planned_app_id(info),
            "intent_at": time.time(),
        }
        _records.write_record(log_dir, record)
        _records.index_add(self.log_root, log_dir)
        _faults.point("after_intent", trial.index)
        try:
            handle = tx.schedule(info)
        except BaseException:  # nothing was submitted: no record, no slot
            _records.index_remove(self.log_root, log_dir)
            with contextlib.suppress(FileNotFoundError):
                os.unlink(os.path.join(log_dir, JOB_FILE))
            raise
        _faults.point("after_submit", trial.index)
        meta = self._metadata(handle.rsplit("/", 1)[-1], log_dir, time.time())
        record.update(
            state=_records.SUBMITTED, app_id=meta["app_id"], run_metadata=meta
        )
        _records.write_record(log_dir, record)
        _faults.point("after_confirm", trial.index)
        self._fire_once("trial_deployed", meta, trial)
        return meta

    def _adopt(self, record: dict[str, Any], log_dir: str) -> dict[str, Any] | None:
        """Run metadata of the job a record names, if there is one to adopt."""
        app_id = record.get("app_id")
        if record.get("run_metadata"):
            if record["state"] != _records.ENDED:
                _records.index_add(self.log_root, log_dir)
            return dict(record["run_metadata"], adopted=True)
        if not app_id:  # the backend gives ids only when submitting
            app_id = self._find_submitted(record, log_dir)
            if not app_id:
                return None  # no job carries this trial's mark: start afresh
            record["app_id"] = app_id
        meta = self._metadata(app_id, log_dir, float(record.get("intent_at", 0.0)))
        # a "starting" record a capacity count saw end had a job: adopt it
        if record["state"] != _records.ENDED and not self._job_started(meta):
            return None
        ended = record["state"] == _records.ENDED
        record.update(state=record["state"] if ended else _records.SUBMITTED)
        record["run_metadata"] = meta
        _records.write_record(log_dir, record)
        if not ended:
            _records.index_add(self.log_root, log_dir)
        return dict(meta, adopted=True)

    def poll_trial_status(
        self, trials: Iterable[BaseTrial]
    ) -> dict[TrialStatus, set[int]]:
        """One look at every trial's job, mapped through the status table.

        A cancelled job reads EARLY_STOPPED when ``stop`` asked for it, FAILED
        when ``max_runtime_s`` did, ABANDONED otherwise. Unknown states keep
        the trial's status until ``unknown_grace_s`` has passed; then the
        trial is FAILED (``poll_exception`` says why).
        """
        trials = list(trials)
        metas = {
            t.index: t.run_metadata for t in trials if t.run_metadata.get("app_id")
        }
        if not metas:
            return {}
        self._hold_lease(trials[0].experiment.name or "experiment")
        described = self._describe_many(metas)
        result: dict[TrialStatus, set[int]] = {}
        by_index = {t.index: t for t in trials}
        for index, desc in described.items():
            trial, meta = by_index[index], metas[index]
            status = self._status_of(trial, meta, desc)
            if status is None:
                continue
            result.setdefault(status, set()).add(index)
            if status in _TERMINAL:
                _records.mark_ended(self.log_root, meta["log_dir"])
            self._fire_for(status, trial, meta, desc)
        return result

    def _status_of(
        self, trial: BaseTrial, meta: dict[str, Any], desc: Any
    ) -> TrialStatus | None:
        from torchx.specs import AppState

        index = trial.index
        state = None if desc is None or isinstance(desc, Exception) else desc.state
        status = APP_STATE_TO_TRIAL_STATUS.get(state) if state is not None else None
        if status is None:
            if not self._clock.expired(index):
                return trial.status if trial.status not in _TERMINAL else None
            return TrialStatus.FAILED
        self._clock.reset(index)
        if state == AppState.CANCELLED:
            if _marker(meta, STOP_REQUESTED) is not None:
                return TrialStatus.EARLY_STOPPED
            if _marker(meta, RUNTIME_EXCEEDED) is not None:
                return TrialStatus.FAILED
        if status == TrialStatus.RUNNING and self._over_runtime(meta):
            return self._stop_for_runtime(trial, meta)
        return status

    def _over_runtime(self, meta: dict[str, Any]) -> bool:
        if self.max_runtime_s is None:
            return False
        started = float(meta.get("submitted_at") or time.time())
        return time.time() - started > self.max_runtime_s

    def _stop_for_runtime(self, trial: BaseTrial, meta: dict[str, Any]) -> TrialStatus:
        reason = (
            f"stopped: ran longer than max_runtime_s={self.max_runtime_s:g} "
            f"(submitted {time.time() - float(meta['submitted_at']):.0f} s ago)"
        )
        _write_marker(meta, RUNTIME_EXCEEDED, {"reason": reason, "at": time.time()})
        try:
            self._cancel(meta)
        except Exception:  # not confirmed: the next poll tries again
            return TrialStatus.RUNNING
        return TrialStatus.FAILED

    def _fire_for(
        self, status: TrialStatus, trial: BaseTrial, meta: dict[str, Any], desc: Any
    ) -> None:
        if status == TrialStatus.COMPLETED:
            self._fire_once("trial_completed", meta, trial)
        elif status == TrialStatus.EARLY_STOPPED:
            asked = _marker(meta, STOP_REQUESTED) or {}
            self._fire_once(
                "trial_early_stopped", meta, trial, reason=asked.get("reason")
            )
        elif status in (TrialStatus.FAILED, TrialStatus.ABANDONED):
            self._fire_once(
                "trial_failed",
                meta,
                trial,
                reason=self.redact_text(self._short_reason(desc, trial.index, meta)),
            )

    def _short_reason(
        self, desc: Any, index: int, meta: dict[str, Any] | None = None
    ) -> str:
        runtime = _marker(meta, RUNTIME_EXCEEDED) if meta else None
        if desc is None:
            base = "the backend no longer knows this job"
        elif isinstance(desc, Exception):
            base = f"the backend could not be asked: {type(desc).__name__}: {desc}"
        else:
            base = f"{desc.state.name}: {desc.msg}"
        if runtime:
            base = f"{runtime.get('reason')} ({base})"
        unknown = self._clock.unknown_for(index)
        if unknown > 0:
            base += (
                f" (unknown for {unknown:.0f} s, grace {self.unknown_grace_s:.0f} s)"
            )
        return base

    def poll_exception(self, trial: BaseTrial) -> str:
        """Why the trial's job failed: state and exit code, TorchX's structured
        error (TorchElastic error file) and the last lines of the job's log,
        with every ``secret_env`` value replaced by ``<secret>``."""
        meta = trial.run_metadata
        if not meta.get("app_id"):
            return "the trial was never submitted (no app id in run_metadata)"
        parts: list[str] = []
        desc = self._describe_many({trial.index: meta}).get(trial.index)
        parts.append(self._short_reason(desc, trial.index, meta))
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
        return self.redact_text("\n".join(parts))

    def stop(self, trial: BaseTrial, reason: str | None = None) -> dict[str, Any]:
        """Cancel the trial's job and wait (up to ``stop_timeout_s``) until it ended.

        ``<log_dir>/.events/stop_requested`` is written first, so the job reads
        EARLY_STOPPED (not ABANDONED) to any process that finds it cancelled.
        """
        meta = trial.run_metadata
        if not meta.get("app_id"):
            return {"reason": reason} if reason else {}
        self._hold_lease(trial.experiment.name or "experiment")
        _write_marker(meta, STOP_REQUESTED, {"reason": reason, "at": time.time()})
        _faults.point("after_stop_intent", trial.index)
        facts = self._cancel(meta)
        _faults.point("after_cancel", trial.index)
        _records.mark_ended(self.log_root, meta["log_dir"])
        self._fire_once("trial_early_stopped", meta, trial, reason=reason)
        out: dict[str, Any] = {"stopped_at": time.time(), **facts}
        if reason:
            out["reason"] = reason
        return out

    def poll_available_capacity(self) -> int:
        """Free job slots: ``max_concurrent`` minus the jobs in ``log_root``'s index
        that still hold a slot (from the files, so every runner object and
        process agrees), capped by ``_backend_capacity()``; -1 when neither
        limits it."""
        slots = -1
        if self.max_concurrent is not None:
            slots = max(0, self.max_concurrent - self.count_active_jobs())
        backend = self._backend_capacity()
        if backend is not None and backend >= 0:
            slots = backend if slots < 0 else min(slots, backend)
        return slots

    def count_active_jobs(self) -> int:
        """Jobs under ``log_root`` that hold a slot now: starting or running, as
        the backend describes them. Ended ones leave the index."""
        from torchx.specs.api import AppState, is_terminal

        metas: dict[int, dict[str, Any]] = {}
        logs: dict[int, str] = {}
        count = 0
        for key, (_entry, log_dir) in enumerate(_records.index_list(self.log_root)):
            record = _records.read_record(log_dir)
            if record is None or record["state"] == _records.ENDED:
                _records.index_remove(self.log_root, log_dir)
                continue
            meta = record.get("run_metadata")
            if meta is None and record.get("app_id"):
                meta = {"app_id": record["app_id"], "log_dir": log_dir}
            if meta is None:  # no id yet: holds a slot while it may still start
                count += time.time() - float(record.get("intent_at", 0)) < 60.0
                continue
            metas[key], logs[key] = meta, log_dir
        for key, desc in (self._describe_many(metas) if metas else {}).items():
            if isinstance(desc, Exception):
                count += 1  # the backend cannot be asked: assume the job runs
            elif desc is not None and is_terminal(desc.state):
                _records.mark_ended(self.log_root, logs[key])
            elif desc is not None and desc.state != AppState.UNKNOWN:
                count += 1
        return count


def _marker(meta: dict[str, Any] | None, name: str) -> dict[str, Any] | None:
    """The JSON of ``<log_dir>/.events/<name>``, ``{}`` if not JSON, None if absent."""
    if not meta or not meta.get("log_dir"):
        return None
    path = os.path.join(meta["log_dir"], ".events", name)
    if not os.path.exists(path):
        return None
    data = _records.read_json(path)
    return data if isinstance(data, dict) else {}


def _write_marker(meta: dict[str, Any], name: str, data: dict[str, Any]) -> None:
    folder = os.path.join(meta["log_dir"], ".events")
    os.makedirs(folder, exist_ok=True)
    _records.write_json(os.path.join(folder, name), data)


def _check_no_nul(index: int, values: Any, what: str) -> None:
    """Refuse a NUL byte in ``values``: no argv item or variable can hold one."""
    if isinstance(values, dict):
        for key, value in values.items():
            if isinstance(key, str) and "\x00" in key:
                raise RunnerError(
                    f"Trial {index}: {what} name {key!r} contains a NUL byte, "
                    "which no command line or environment can hold."
                )
            try:
                _check_no_nul(index, value, what)
            except RunnerError:
                raise RunnerError(
                    f"Trial {index}: {what} {key!r} = {value!r} contains a NUL byte "
                    "(\\x00), which no command line or environment variable can "
                    "hold. Remove it from the search space or the value."
                ) from None
    elif isinstance(values, list | tuple):
        for value in values:
            _check_no_nul(index, value, what)
    elif isinstance(values, str) and "\x00" in values:
        raise RunnerError(f"Trial {index}: {what} contains a NUL byte.")


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
