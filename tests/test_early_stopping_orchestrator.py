"""learning_curve under a plain Ax Orchestrator; stopped processes really end.

Each trial is a real Python process that replays one cached learning curve
(MLPs really trained on digits, ``benchmarks/data``), writing one line per
epoch; the test's runner starts it with ``subprocess`` and kills it in
``stop``; the test's metric reads the lines as Ax ``Data`` with a step
column. The Orchestrator, Sobol generation and the strategy are the real ones.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from _curves import CURVES, make_experiment

TRAINER = """
import json, sys, time
cfg, out, pause = int(sys.argv[1]), sys.argv[2], float(sys.argv[3])
c = json.load(open(sys.argv[4]))["configs"][cfg]
with open(out, "a") as fh:
    for epoch, acc in enumerate(c["val_acc"], start=1):
        time.sleep(pause)
        fh.write(json.dumps({"epoch": epoch, "val_acc": acc,
                             "num_params": c["num_params"]}) + "\\n")
        fh.flush()
"""

EPOCH_SECONDS = 0.12


def _classes():
    from ax.core.base_trial import TrialStatus
    from ax.core.data import Data
    from ax.core.metric import Metric
    from ax.core.runner import Runner
    from ax.utils.common.result import Ok

    class CurveProcessRunner(Runner):
        """Starts one trainer process per trial; ``stop`` terminates it."""

        def __init__(self, workdir: str) -> None:
            super().__init__()
            self.workdir = workdir
            self.procs: dict[int, subprocess.Popen] = {}
            self.stopped: dict[int, str | None] = {}
            # per stopped trial: had its process already ended by itself, and
            # how many epochs had it written once it was terminated
            self.ended_before_stop: dict[int, bool] = {}
            self.lines_at_stop: dict[int, int] = {}

        def run(self, trial) -> dict[str, Any]:
            cfg = int(trial.arm.parameters["config"])
            out = str(Path(self.workdir) / f"trial_{trial.index}.jsonl")
            script = str(Path(self.workdir) / "trainer.py")
            self.procs[trial.index] = subprocess.Popen(
                [sys.executable, script, str(cfg), out, str(EPOCH_SECONDS), str(CURVES)]
            )
            return {"out": out, "pid": self.procs[trial.index].pid}

        def poll_trial_status(self, trials: Iterable) -> dict[TrialStatus, set[int]]:
            status: dict[TrialStatus, set[int]] = {}
            for t in trials:
                code = self.procs[t.index].poll()
                s = (
                    TrialStatus.RUNNING
                    if code is None
                    else TrialStatus.COMPLETED
                    if code == 0
                    else TrialStatus.FAILED
                )
                status.setdefault(s, set()).add(t.index)
            return status

        def stop(self, trial, reason: str | None = None) -> dict[str, Any]:
            proc = self.procs[trial.index]
            self.ended_before_stop[trial.index] = proc.poll() is not None
            proc.terminate()
            proc.wait(timeout=10)
            out = Path(trial.run_metadata["out"])
            self.lines_at_stop[trial.index] = (
                len(out.read_text().splitlines()) if out.exists() else 0
            )
            self.stopped[trial.index] = reason
            return {"stop_reason": reason}

    class JsonlCurveMetric(Metric):
        """Reads ``key`` from the trial's JSONL file, one point per epoch."""

        def is_available_while_running(self) -> bool:
            return True

        def fetch_trial_data(self, trial, **kwargs: Any):
            out = Path(trial.run_metadata["out"])
            # only whole lines: the trainer may be half-way through writing one
            lines = out.read_text().split("\n")[:-1] if out.exists() else []
            rows = [json.loads(line) for line in lines if line.strip()]
            df = pd.DataFrame(
                {
                    "trial_index": trial.index,
                    "arm_name": trial.arm.name,
                    "metric_name": self.name,
                    "metric_signature": self.signature,
                    "mean": [float(r[self.name]) for r in rows],
                    "sem": float("nan"),
                    "step": [float(r["epoch"]) for r in rows],
                }
            )
            return Ok(value=Data(df=df))

    return CurveProcessRunner, JsonlCurveMetric


@pytest.mark.slow
def test_orchestrator_stops_trials_and_their_processes_end(tmp_path):
    from ax.core.trial_status import TrialStatus
    from ax.orchestration.orchestrator import Orchestrator, OrchestratorOptions

    import ax_nas_plugins as anp

    (tmp_path / "trainer.py").write_text(TRAINER)
    runner_cls, metric_cls = _classes()
    exp = make_experiment(multi_objective=True, metric_cls=metric_cls, n_configs=200)
    runner = runner_cls(str(tmp_path))
    exp.runner = runner
    es = anp.early_stopping("learning_curve", min_progression=3)
    orchestrator = Orchestrator(
        experiment=exp,
        generation_strategy=anp.generation_strategy("sobol", seed=3),
        options=OrchestratorOptions(
            max_pending_trials=4,
            total_trials=20,
            init_seconds_between_polls=1,
            min_seconds_before_poll=0.2,
            seconds_between_polls_backoff_factor=1.0,
            early_stopping_strategy=es,
        ),
    )
    try:
        orchestrator.run_all_trials(timeout_hours=0.2)
    finally:
        for proc in runner.procs.values():
            if proc.poll() is None:
                proc.kill()
    statuses = {i: t.status for i, t in exp.trials.items()}
    stopped = [i for i, s in statuses.items() if s == TrialStatus.EARLY_STOPPED]
    completed = [i for i, s in statuses.items() if s == TrialStatus.COMPLETED]
    assert len(statuses) == 20
    assert stopped, f"nothing was early-stopped: {statuses}"
    assert len(completed) >= 5
    time.sleep(3 * EPOCH_SECONDS)
    # A stop can race the trainer's last epoch (decided on epoch 29's data, the
    # process wrote epoch 30 or even ended before the stop arrived), so the
    # checks are: every stopped process is gone and wrote nothing after its
    # stop, and some trials were really cut short.
    killed = [i for i in stopped if not runner.ended_before_stop[i]]
    assert killed, f"every stopped trial had ended by itself: {stopped}"
    for i in killed:
        proc = runner.procs[i]
        assert proc.poll() is not None and proc.returncode != 0  # it was killed
    cut_short = []
    for i in stopped:
        lines = Path(exp.trials[i].run_metadata["out"]).read_text().splitlines()
        assert len(lines) == runner.lines_at_stop[i]  # no epoch after the stop
        if len(lines) < 30:
            cut_short.append(i)
        reason = runner.stopped[i]
        assert (
            reason and "P(adds HV) =" in reason and "predicted final val_acc" in reason
        )
    assert cut_short, "no stopped trial was cut short of its 30 epochs"
    for i in completed:
        lines = Path(exp.trials[i].run_metadata["out"]).read_text().splitlines()
        assert len(lines) == 30
