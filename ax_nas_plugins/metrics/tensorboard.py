"""The ``tensorboard`` metric: every point of a trial's scalar curve, incrementally."""

from __future__ import annotations

import errno
import logging
import math
import os
import string
from itertools import repeat
from typing import TYPE_CHECKING, Any

import numpy as np
from ax.core.data import Data, DataRow
from ax.core.map_metric import MapMetric
from ax.core.metric import Metric, MetricFetchE, MetricFetchResult
from ax.core.trial import Trial
from ax.utils.common.result import Err, Ok

from ax_nas_plugins.errors import AxNasError
from ax_nas_plugins.metrics._logdir import LogDir, log_dir_state
from ax_nas_plugins.metrics._process import NoFiniteValuesError, process_curve

if TYPE_CHECKING:
    from ax.core.base_trial import BaseTrial
    from ax.core.experiment import Experiment

logger = logging.getLogger(__name__)

#: run_metadata keys holding a trial's TensorBoard dir, in the order they are tried.
#: ``tensorboard_dir`` and ``log_dir`` are what this pack's runners write;
#: ``tb_log_dir`` is what Ax's own ``TensorboardMetric`` reads.
RUN_METADATA_KEYS = ("tensorboard_dir", "log_dir", "tb_log_dir")
MODES = ("curve", "final")
TEMPLATE_FIELDS = ("trial_index", "experiment_name", "arm_name")


class TensorBoardMetricError(AxNasError, ValueError):
    """An option of a TensorBoard metric that is not allowed."""


class TensorBoardNotYetError(AxNasError):
    """The trial's dir or tag is not there yet (the trial is still running)."""


class TensorBoardDataError(AxNasError):
    """The trial finished and its dir or tag is missing, or holds no usable value."""


class TensorBoardReadError(TensorBoardDataError):
    """Reading the trial's dir failed with an ``OSError`` (named in the message)."""


class TensorBoardCurveMetric(MapMetric):
    """Every point of a TensorBoard scalar curve, read incrementally, as Ax ``Data``.

    The rule: for each trial, the metric reads the scalar ``tag`` from every
    event file under the trial's TensorBoard dir (sub-dirs included) and
    returns one row per step, with the ``step`` column. The dir is the
    ``log_dir`` option (a template with ``{trial_index}``,
    ``{experiment_name}``, ``{arm_name}``) when given, otherwise the trial's
    ``run_metadata`` under ``tensorboard_dir``, ``log_dir`` or ``tb_log_dir``
    (the first present). Files are read from where the last fetch stopped, so
    a poll with nothing new costs a directory listing and a ``stat`` per file;
    all metrics reading one dir share one read.

    ``mode="curve"`` (default) returns the curve, post-processed exactly as
    Ax's ``TensorboardMetric`` does (``smoothing``, ``quantile``,
    ``cumulative_best``). ``mode="final"`` is for values logged once (number
    of parameters, latency): the last value (highest step) is reported at
    every step of the trial's curve metrics, so that Ax pairs it with them in
    every trial whatever its number of epochs (see ``docs/metrics.md``).

    Edge cases: points logged twice at one step are averaged; NaN and
    infinite values are dropped with a warning, a curve with no finite value
    is an error (both as Ax does). A missing dir or tag is a "not yet"
    ``MetricFetchE`` while the trial runs (Ax retries), and an error naming
    the dir, the tag and the tags present once the trial has finished.

    Example::

        import ax_nas_plugins as anp
        val_acc = anp.metric("tensorboard", name="val_acc", lower_is_better=False)
        params = anp.metric("num_params")      # mode="final", tag "num_params"

    Args:
        name: Ax metric name.
        tag: Scalar tag as logged (default: ``name``).
        lower_is_better: Direction of the objective.
        smoothing: TensorBoard smoothing in [0, 1); 0 is off.
        cumulative_best: Report the running best of the curve.
        quantile: Report the running quantile (in [0, 1]) of the curve.
        mode: ``"curve"`` or ``"final"``.
        log_dir: Template of the trial's dir; None reads run_metadata.
        steps_from: In ``final`` mode, the tag whose steps the value is
            reported at (default: the steps of the experiment's curve metrics
            that read the same dir, objectives first).
    """

    def __init__(
        self,
        name: str,
        tag: str | None = None,
        lower_is_better: bool | None = True,
        smoothing: float = 0.0,
        cumulative_best: bool = False,
        quantile: float | None = None,
        mode: str = "curve",
        log_dir: str | None = None,
        steps_from: str | None = None,
    ) -> None:
        super().__init__(name=name, lower_is_better=lower_is_better)
        tag = name if tag is None else tag
        where = f"{type(self).__name__} {name!r}"
        if not isinstance(tag, str) or not tag:
            raise TensorBoardMetricError(
                f"{where}: tag must be a non-empty string, got {tag!r}."
            )
        if isinstance(smoothing, bool) or not isinstance(smoothing, int | float):
            raise TensorBoardMetricError(
                f"{where}: smoothing must be a number in [0, 1), got {smoothing!r}."
            )
        if not 0 <= smoothing < 1:
            raise TensorBoardMetricError(
                f"{where}: smoothing must be in [0, 1) (0 is off), got {smoothing}."
            )
        if quantile is not None and not (
            isinstance(quantile, int | float) and 0 <= quantile <= 1
        ):
            raise TensorBoardMetricError(
                f"{where}: quantile must be None or a number in [0, 1], "
                f"got {quantile!r}."
            )
        if mode not in MODES:
            raise TensorBoardMetricError(
                f"{where}: mode must be one of {', '.join(MODES)}, got {mode!r}."
            )
        if steps_from is not None and mode != "final":
            raise TensorBoardMetricError(
                f"{where}: steps_from is only used with mode='final'."
            )
        if log_dir is not None:
            _check_template(where, log_dir)
        self.tag = tag
        self.smoothing = float(smoothing)
        self.cumulative_best = bool(cumulative_best)
        self.quantile = None if quantile is None else float(quantile)
        self.mode = mode
        self.log_dir = log_dir
        self.steps_from = steps_from

    # -- Ax's Metric API -----------------------------------------------------

    @classmethod
    def is_available_while_running(cls) -> bool:
        return True

    @property
    def fetch_multi_group_by_metric(self) -> type[Metric]:
        # Every subclass (latency, num_params, ...) is fetched in the same group,
        # so one read of a trial's dir serves all of them.
        return TensorBoardCurveMetric

    def bulk_fetch_experiment_data(
        self,
        experiment: Experiment,
        metrics: list[Metric],
        trials: list[BaseTrial] | None = None,
        **kwargs: Any,
    ) -> dict[int, dict[str, MetricFetchResult]]:
        """Fetch several metrics of many trials; curves not there yet are left out.

        The rule: a (trial, metric) whose curve does not exist yet is absent
        from the result, as Ax's own base class leaves out trials that expect
        no data. Ax then logs nothing for it and fetches it again on the next
        poll (an empty ``Data`` would make Ax log "Data to attach is empty"
        when no trial has a point yet; a ``MetricFetchE`` is logged at INFO).
        """
        results = super().bulk_fetch_experiment_data(
            experiment=experiment, metrics=metrics, trials=trials, **kwargs
        )
        return {
            index: {
                sig: result
                for sig, result in by_metric.items()
                if not (result.is_ok() and result.unwrap().empty)
            }
            for index, by_metric in results.items()
        }

    def fetch_trial_data(self, trial: BaseTrial, **kwargs: Any) -> MetricFetchResult:
        return self.bulk_fetch_trial_data(trial=trial, metrics=[self], **kwargs)[
            self.signature
        ]

    def bulk_fetch_trial_data(
        self, trial: BaseTrial, metrics: list[Metric], **kwargs: Any
    ) -> dict[str, MetricFetchResult]:
        """Fetch several metrics of one trial, reading each dir once."""
        ours = [m for m in metrics if isinstance(m, TensorBoardCurveMetric)]
        results: dict[str, MetricFetchResult] = {}
        for m in metrics:
            if not isinstance(m, TensorBoardCurveMetric):
                results[m.signature] = Err(
                    MetricFetchE(
                        message=f"{m!r} is not a TensorBoard metric of this pack.",
                        exception=None,
                    )
                )
        if not isinstance(trial, Trial) or trial.arm is None:
            for m in ours:
                results[m.signature] = _err(
                    TensorBoardDataError(
                        f"Trial {trial.index}: TensorBoard metrics read one arm per "
                        "trial (an ax Trial with its arm set); batch trials and "
                        "trials without an arm are not supported."
                    ),
                )
            return results
        finished = trial.status.is_terminal
        refreshed: set[str] = set()  # each dir is read once per call
        for m in ours:
            results[m.signature] = m._fetch_result(trial, finished, refreshed)
        return results

    def _fetch_result(
        self, trial: Trial, finished: bool, refreshed: set[str]
    ) -> MetricFetchResult:
        """This metric's result for one trial; every failure is this trial's own.

        A curve that is not there yet while the trial runs is a normal state:
        an empty ``Data``, logged at DEBUG only (a ``MetricFetchE`` would make
        Ax log it, with a traceback when it carries an exception);
        :meth:`bulk_fetch_experiment_data` leaves it out. Any ``OSError``
        reading the dir (a symlink loop, a stale network handle, an I/O
        error, a permission) becomes this trial's ``MetricFetchE`` naming the
        path and the errno.
        """
        try:
            return Ok(self._fetch(trial, finished, refreshed))
        except TensorBoardNotYetError as exc:
            logger.debug("%s", exc)
            return Ok(Data())
        except TensorBoardDataError as exc:
            return _err(exc)
        except OSError as exc:
            return _err(
                TensorBoardReadError(
                    f"Trial {trial.index}: cannot read its TensorBoard dir "
                    f"(metric {self.name!r}, tag {self.tag!r}): "
                    f"{_describe_os_error(exc)}."
                )
            )

    # -- reading -------------------------------------------------------------

    def trial_log_dir(self, trial: BaseTrial) -> str:
        """The trial's TensorBoard dir (``log_dir`` template or run_metadata)."""
        if self.log_dir is not None:
            return self.log_dir.format(
                trial_index=trial.index,
                experiment_name=trial.experiment.name,
                arm_name=getattr(trial, "arm", None) and trial.arm.name,  # type: ignore[attr-defined]
            )
        metadata = trial.run_metadata or {}
        for key in RUN_METADATA_KEYS:
            value = metadata.get(key)
            if value:
                return os.fspath(value)
        raise TensorBoardDataError(
            f"Trial {trial.index}: no TensorBoard dir. Its run_metadata has none of "
            f"the keys {', '.join(RUN_METADATA_KEYS)} (it has: "
            f"{', '.join(sorted(metadata)) or 'none'}), and metric {self.name!r} "
            "has no log_dir template (e.g. log_dir='runs/{trial_index}')."
        )

    def _state(self, trial: BaseTrial, refreshed: set[str]) -> LogDir:
        path = self.trial_log_dir(trial)
        state = log_dir_state(path)
        if state.path not in refreshed:
            with state.lock:
                state.refresh()
            refreshed.add(state.path)
        return state

    def _missing(self, trial: BaseTrial, state: LogDir, finished: bool) -> AxNasError:
        where = f"(metric {self.name!r}, tag {self.tag!r})"
        if not finished:
            what = (
                f"tag {self.tag!r} is not written yet in {state.path}"
                if state.exists()
                else f"TensorBoard dir {state.path} does not exist yet"
            )
            return TensorBoardNotYetError(
                f"Trial {trial.index}: {what} {where}; will look again on the "
                "next poll."
            )
        status = f"Trial {trial.index} has finished ({trial.status.name})"
        if not state.exists():
            return TensorBoardDataError(
                f"{status} but its TensorBoard dir {state.path} does not exist "
                f"{where}. Check the runner's log dir or the metric's log_dir "
                "template."
            )
        present = state.tags()
        return TensorBoardDataError(
            f"{status} but tag {self.tag!r} is missing in {state.path} "
            f"(metric {self.name!r}). Scalar tags present: "
            f"{', '.join(present) if present else 'none'}."
        )

    def _processed(
        self, trial: BaseTrial, state: LogDir, finished: bool
    ) -> tuple[np.ndarray, np.ndarray]:
        """Processed (steps, means) of this metric's curve in ``state``."""
        key = (
            "processed",
            self.tag,
            self.smoothing,
            self.quantile,
            self.cumulative_best,
            bool(self.lower_is_better),
        )
        version = state.tag_version(self.tag)
        cached = state.extra.get(key)
        if cached is not None and cached[0] == version:
            return cached[1], cached[2]
        steps, values = state.curve(self.tag)
        if len(steps) == 0:
            raise self._missing(trial, state, finished)
        try:
            out = process_curve(
                steps,
                values,
                smoothing=self.smoothing,
                quantile=self.quantile,
                cumulative_best=self.cumulative_best,
                lower_is_better=self.lower_is_better,
                label=f"Trial {trial.index}, tag {self.tag!r} in {state.path}",
            )
        except NoFiniteValuesError as exc:
            raise TensorBoardDataError(
                f"Trial {trial.index}: every value of tag {self.tag!r} in "
                f"{state.path} is NaN or infinite (metric {self.name!r})."
            ) from exc
        state.extra[key] = (version, out[0], out[1])
        return out

    def _alignment_steps(
        self, trial: BaseTrial, state: LogDir, finished: bool, own: np.ndarray
    ) -> np.ndarray:
        """Steps at which a ``final`` value is reported (see class docs)."""
        if self.steps_from is not None:
            steps, values = state.curve(self.steps_from)
            steps = np.unique(steps[np.isfinite(values)])
            return steps if len(steps) else own[-1:]
        experiment = trial.experiment
        curves = [
            m
            for m in experiment.metrics.values()
            if isinstance(m, TensorBoardCurveMetric) and m.mode == "curve"
        ]
        opt = experiment.optimization_config
        in_opt = set(opt.metric_names) if opt is not None else set()
        preferred = [m for m in curves if m.name in in_opt] or curves
        found: list[np.ndarray] = []
        for m in preferred:
            try:
                if log_dir_state(m.trial_log_dir(trial)).path != state.path:
                    continue
                found.append(m._processed(trial, state, finished)[0])
            except (TensorBoardNotYetError, TensorBoardDataError):
                continue
        if not found:
            return own[-1:]
        return found[0] if len(found) == 1 else np.unique(np.concatenate(found))

    def _fetch(self, trial: Trial, finished: bool, refreshed: set[str]) -> Data:
        state = self._state(trial, refreshed)
        with state.lock:
            steps, means = self._processed(trial, state, finished)
            if self.mode == "final":
                value = float(means[-1])
                steps = self._alignment_steps(trial, state, finished, steps)
                means = np.full(len(steps), value)
            return _rows_to_data(
                state,
                self,
                trial.index,
                trial.arm.name,
                steps,
                means,  # type: ignore[union-attr]
            )


def _err(exc: Exception) -> MetricFetchResult:
    return Err(MetricFetchE(message=str(exc), exception=exc))


def _describe_os_error(exc: OSError) -> str:
    """``path: strerror (errno N, NAME)`` of an ``OSError``."""
    code = errno.errorcode.get(exc.errno, str(exc.errno)) if exc.errno else "no errno"
    where = exc.filename if exc.filename is not None else "?"
    return f"{where}: {exc.strerror or exc} (errno {exc.errno}, {code})"


def _check_template(where: str, template: str) -> None:
    if not isinstance(template, str) or not template:
        raise TensorBoardMetricError(
            f"{where}: log_dir must be a non-empty string template, got {template!r}."
        )
    try:
        fields = [f for _, f, _, _ in string.Formatter().parse(template) if f]
    except ValueError as exc:
        raise TensorBoardMetricError(
            f"{where}: log_dir template {template!r} is malformed: {exc}."
        ) from exc
    unknown = [f for f in fields if f not in TEMPLATE_FIELDS]
    if unknown:
        raise TensorBoardMetricError(
            f"{where}: log_dir template {template!r} uses unknown field(s) "
            f"{', '.join(map(repr, unknown))}; allowed: "
            f"{', '.join('{' + f + '}' for f in TEMPLATE_FIELDS)}."
        )


def _rows_to_data(
    state: LogDir,
    metric: TensorBoardCurveMetric,
    trial_index: int,
    arm_name: str,
    steps: np.ndarray,
    means: np.ndarray,
) -> Data:
    """``Data`` of these points, reusing the rows of the previous fetch's prefix.

    Points already returned by an earlier fetch (same step, same value) keep
    their ``DataRow`` objects, so a poll builds rows only for new points (and
    a poll with nothing new builds none).
    """
    key = (
        "rows",
        metric.name,
        metric.signature,
        metric.tag,
        metric.mode,
        metric.smoothing,
        metric.quantile,
        metric.cumulative_best,
        bool(metric.lower_is_better),
        trial_index,
        arm_name,
    )
    prev = state.extra.get(key)
    if prev is not None and prev[0] is steps and prev[1] is means:
        # A new Data each time (a list copy): Ax caches DataFrames on Data
        # objects, and the cache should keep only rows.
        return Data(data_rows=prev[2])
    common = 0
    rows: list[DataRow] = []
    if prev is not None:
        p_steps, p_means, p_rows = prev[0], prev[1], prev[2]
        n = min(len(p_steps), len(steps))
        same = (p_steps[:n] == steps[:n]) & (p_means[:n] == means[:n])
        common = n if same.all() else int(np.argmin(same))
        rows = p_rows[:common]
    n_new = len(steps) - common
    # map() with positional arguments: the cheapest way to make many DataRows.
    rows.extend(
        map(
            DataRow,
            repeat(trial_index, n_new),
            repeat(arm_name, n_new),
            repeat(metric.name, n_new),
            repeat(metric.signature, n_new),
            means[common:].tolist(),
            repeat(math.nan, n_new),
            steps[common:].tolist(),
        )
    )
    state.extra[key] = (steps, means, rows)
    return Data(data_rows=rows)
