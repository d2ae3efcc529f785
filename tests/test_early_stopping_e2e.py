"""learning_curve with the pack's torchx_local runner and tensorboard metric.

A real Ax Orchestrator runs TorchX jobs (``torchx_local``); each job logs a
cached real learning curve to TensorBoard (``tests/_es_e2e_job.py``); the
``tensorboard`` and ``num_params`` metrics read the event files; the strategy
stops trials through the runner, whose jobs must really end.
"""

from __future__ import annotations

import logging
import os
import time
from pathlib import Path

import pytest
from _curves import CURVES, make_experiment


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().split(")")[-1].split()[0]
    except (FileNotFoundError, ProcessLookupError):
        return False
    return state != "Z"


@pytest.mark.slow
def test_stopped_jobs_really_end(tmp_path):
    from ax.core.trial_status import TrialStatus
    from ax.orchestration.orchestrator import Orchestrator, OrchestratorOptions

    import ax_nas_plugins as anp

    acc = anp.metric("tensorboard", name="val_acc", lower_is_better=False)
    size = anp.metric("num_params")
    exp = make_experiment(multi_objective=True, metrics=(acc, size), n_configs=200)
    exp.runner = anp.runner(
        "torchx_local",
        component="_es_e2e_job:curve_job",
        component_const_params={"curves": str(CURVES), "pause": 0.15},
        log_root=str(tmp_path / "runs"),
        max_concurrent=4,
    )
    es = anp.early_stopping("learning_curve", min_progression=3)
    orchestrator = Orchestrator(
        experiment=exp,
        generation_strategy=anp.generation_strategy("sobol", seed=3),
        options=OrchestratorOptions(
            max_pending_trials=4,
            total_trials=16,
            init_seconds_between_polls=1,
            min_seconds_before_poll=0.2,
            seconds_between_polls_backoff_factor=1.0,
            early_stopping_strategy=es,
            tolerated_trial_failure_rate=0.0,
            logging_level=logging.WARNING,  # a failure shows the assertion, not
        ),  # hundreds of INFO lines
    )
    orchestrator.run_all_trials(timeout_hours=0.2)
    statuses = {i: t.status for i, t in exp.trials.items()}
    stopped = [i for i, s in statuses.items() if s == TrialStatus.EARLY_STOPPED]
    completed = [i for i, s in statuses.items() if s == TrialStatus.COMPLETED]
    assert len(statuses) == 16 and len(stopped) + len(completed) == 16, statuses
    assert stopped, f"nothing was early-stopped: {statuses}"
    time.sleep(1.0)
    written = {}
    for i in stopped:
        log_dir = Path(exp.trials[i].run_metadata["log_dir"])
        pid = int((log_dir / "pid").read_text())
        assert not _alive(pid), f"trial {i}'s trainer (pid {pid}) still runs"
        written[i] = int((log_dir / "epochs").read_text())
        reason = exp.trials[i].status_reason or ""  # Ax keeps the strategy's reason
        assert "P(adds HV)" in reason and "predicted final val_acc" in reason
    # Stopped early (a job may finish its last epoch while Ax stops it) ...
    assert min(written.values()) < 30, written
    time.sleep(1.0)
    for i, epochs in written.items():  # ... and no job wrote more after the stop.
        log_dir = Path(exp.trials[i].run_metadata["log_dir"])
        assert int((log_dir / "epochs").read_text()) == epochs
    for i in completed:
        log_dir = Path(exp.trials[i].run_metadata["log_dir"])
        assert int((log_dir / "epochs").read_text()) == 30
    assert os.path.isdir(tmp_path / "runs")
