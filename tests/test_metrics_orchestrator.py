"""The metrics inside a real Ax Orchestrator, with real trainer processes.

A test-only runner starts one Python process per trial (the runners of this
pack are built elsewhere); each process logs num_params once at step 0 and
val_acc once per epoch, to TensorBoard, for an epoch count that depends on
the arm. Ax's percentile early stopping reads our curves (the ``step``
column) and stops some trials. Afterwards every trial, completed or stopped,
has both objectives at its last step, and Ax's observed Pareto set equals the
one computed from the event files by TensorBoard's own reader.
"""

from __future__ import annotations

import subprocess
import sys
from collections import defaultdict
from typing import Any

import pytest
from ax.core.base_trial import TrialStatus
from ax.core.runner import Runner
from tb_helpers import experiment

import ax_nas_plugins as anp
from ax_nas_plugins.metrics import _logdir

TRAINER = r"""
import sys, time
from torch.utils.tensorboard import SummaryWriter
log_dir, x = sys.argv[1], float(sys.argv[2])
epochs = 3 + int(x * 6)
params = 100 + 5000 * x ** 2
w = SummaryWriter(log_dir)
w.add_scalar("num_params", params, 0)
w.flush()
for e in range(epochs):
    time.sleep(0.4)
    w.add_scalar("val_acc", (0.4 + 0.5 * x) * (e + 1) / epochs, e)
    w.flush()
w.close()
"""


class ProcessRunner(Runner):
    """Test-only: one local process per trial, status from the process."""

    # Class-level: Ax clones runners onto trials, and clones must share it.
    procs: dict[int, subprocess.Popen] = {}

    def __init__(self, root: str) -> None:
        super().__init__()
        self.root = root

    def run(self, trial) -> dict[str, Any]:
        log_dir = f"{self.root}/trial_{trial.index}"
        x = trial.arm.parameters["x"]
        self.procs[trial.index] = subprocess.Popen(
            [sys.executable, "-c", TRAINER, log_dir, str(x)]
        )
        return {"tensorboard_dir": log_dir}

    def poll_trial_status(self, trials):
        status: dict[TrialStatus, set[int]] = defaultdict(set)
        for t in trials:
            code = self.procs[t.index].poll()
            if code is None:
                status[TrialStatus.RUNNING].add(t.index)
            elif code == 0:
                status[TrialStatus.COMPLETED].add(t.index)
            else:
                status[TrialStatus.FAILED].add(t.index)
        return dict(status)

    def stop(self, trial, reason=None) -> dict[str, Any]:
        self.procs[trial.index].terminate()
        self.procs[trial.index].wait()
        return {"stopped": reason or ""}


def _final_values_by_tensorboard(log_dir: str) -> dict[str, float]:
    from tensorboard.backend.event_processing.event_accumulator import (
        EventAccumulator,
    )

    acc = EventAccumulator(log_dir, size_guidance={"scalars": 0})
    acc.Reload()
    return {tag: acc.Scalars(tag)[-1].value for tag in ("val_acc", "num_params")}


@pytest.mark.slow
def test_orchestrator_with_early_stopping_sees_every_trial(tmp_path):
    from ax.early_stopping.strategies import PercentileEarlyStoppingStrategy
    from ax.orchestration.orchestrator import Orchestrator, OrchestratorOptions
    from ax.service.utils.best_point import get_pareto_optimal_parameters

    _logdir.clear_cache()
    acc = anp.metric("tensorboard", name="val_acc", lower_is_better=False)
    params = anp.metric("num_params")
    exp = experiment(
        [acc, params],
        name="orchestrated",
        objectives=[(acc, False, 0.0), (params, True, 10_000.0)],
    )
    exp.runner = ProcessRunner(str(tmp_path))
    gs = anp.generation_strategy("sobol", seed=3)
    stopping = PercentileEarlyStoppingStrategy(
        metric_signatures=["val_acc"],
        percentile_threshold=40.0,
        min_progression=2,
        min_curves=2,
    )
    orchestrator = Orchestrator(
        experiment=exp,
        generation_strategy=gs,
        options=OrchestratorOptions(
            max_pending_trials=4,
            total_trials=8,
            init_seconds_between_polls=1,
            seconds_between_polls_backoff_factor=1.0,
            min_seconds_before_poll=0.2,
            early_stopping_strategy=stopping,
            tolerated_trial_failure_rate=0.0,
        ),
    )
    try:
        orchestrator.run_all_trials()
    finally:
        for proc in ProcessRunner.procs.values():
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    statuses = {t.index: t.status for t in exp.trials.values()}
    assert len(statuses) == 8
    # Trials ran 3 to 8 epochs whether or not the strategy stopped any (runs
    # here stopped two of eight), so the pairing is exercised either way.
    assert set(statuses.values()) <= {TrialStatus.COMPLETED, TrialStatus.EARLY_STOPPED}

    # A stopped trial may have logged an epoch between Ax's last fetch and the
    # kill; one more fetch reads it (incrementally) like any other poll.
    exp.fetch_data()
    truth = {
        i: _final_values_by_tensorboard(str(tmp_path / f"trial_{i}")) for i in statuses
    }
    latest = exp.lookup_data().df
    for i in statuses:
        rows = latest[latest["trial_index"] == i].set_index("metric_name")
        assert rows.loc["val_acc", "mean"] == pytest.approx(truth[i]["val_acc"])
        assert rows.loc["num_params", "mean"] == pytest.approx(truth[i]["num_params"])
        assert rows.loc["val_acc", "step"] == rows.loc["num_params", "step"]

    def dominated(i):
        a, p = truth[i]["val_acc"], truth[i]["num_params"]
        return any(
            truth[j]["val_acc"] >= a
            and truth[j]["num_params"] <= p
            and (truth[j]["val_acc"] > a or truth[j]["num_params"] < p)
            for j in truth
            if j != i
        )

    expected = {i for i in truth if not dominated(i)}
    front = get_pareto_optimal_parameters(exp, gs, use_model_predictions=False)
    assert set(front) == expected


LOOPING_TRAINER = r"""
import os, sys, time
from torch.utils.tensorboard import SummaryWriter
log_dir, bad = sys.argv[1], sys.argv[2] == "1"
w = SummaryWriter(log_dir)
w.add_scalar("num_params", 100.0, 0)
for e in range(3):
    w.add_scalar("val_acc", 0.1 * (e + 1), e)
w.close()
if bad:  # an event-file name that is a symlink loop: stat() fails with ELOOP
    loop = os.path.join(log_dir, "events.out.tfevents.0.loop.0.0")
    os.symlink(loop, loop)
time.sleep(0.5)
"""


class LoopRunner(ProcessRunner):
    """Trial 1's dir gets a symlink loop; the others are normal."""

    procs: dict[int, subprocess.Popen] = {}

    def run(self, trial) -> dict[str, Any]:
        log_dir = f"{self.root}/trial_{trial.index}"
        self.procs[trial.index] = subprocess.Popen(
            [sys.executable, "-c", LOOPING_TRAINER, log_dir, str(int(trial.index == 1))]
        )
        return {"tensorboard_dir": log_dir}


@pytest.mark.slow
def test_one_unreadable_trial_dir_loses_no_other_trials_data(tmp_path):
    from ax.orchestration.orchestrator import Orchestrator, OrchestratorOptions

    _logdir.clear_cache()
    acc = anp.metric("tensorboard", name="val_acc", lower_is_better=False)
    params = anp.metric("num_params")
    exp = experiment(
        [acc, params],
        name="one_bad_dir",
        objectives=[(acc, False, 0.0), (params, True, 10_000.0)],
    )
    exp.runner = LoopRunner(str(tmp_path))
    orchestrator = Orchestrator(
        experiment=exp,
        generation_strategy=anp.generation_strategy("sobol", seed=1),
        options=OrchestratorOptions(
            max_pending_trials=3,
            total_trials=3,
            init_seconds_between_polls=1,
            seconds_between_polls_backoff_factor=1.0,
            min_seconds_before_poll=0.2,
            tolerated_trial_failure_rate=0.9,
        ),
    )
    try:
        orchestrator.run_all_trials()
    finally:
        for proc in LoopRunner.procs.values():
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    statuses = {t.index: t.status for t in exp.trials.values()}
    assert statuses[0] == statuses[2] == TrialStatus.COMPLETED
    assert statuses[1] == TrialStatus.ABANDONED
    assert "ELOOP" in (exp.trials[1].status_reason or "")
    df = exp.lookup_data().df
    for i in (0, 2):
        rows = df[df["trial_index"] == i]
        assert set(rows["metric_name"]) == {"val_acc", "num_params"}
        assert rows[rows["metric_name"] == "val_acc"]["mean"].max() == pytest.approx(
            0.3
        )
