"""A real Ax Orchestrator over ``torchx_local`` and SQLite, for the fault tests.

Usage: _orchestrate.py start|resume DB LOG_ROOT NAME TOTAL MAX_CONCURRENT
EPOCHS PAUSE COUNTER STOP_ODD

``start`` builds a Branin experiment whose trials run ``tests/faults/_job.py``
(EPOCHS epochs of PAUSE seconds, appending to COUNTER when they start);
``resume`` loads it with ``Orchestrator.from_stored_experiment``. With
STOP_ODD=1 an early-stopping strategy stops every odd trial once it has
written 2 epochs (deterministic, so each test knows which trials it stops).
Both print one JSON line: trial index -> [status, reason]. A run refused by
the lease exits with code 3 and the message on stderr. ``AX_NAS_FAULT`` (see
``ax_nas_plugins/runners/_faults.py``) kills this process at a chosen point.
"""

from __future__ import annotations

import json
import logging
import os
import sys


def _strategy():
    from ax.early_stopping.strategies.base import BaseEarlyStoppingStrategy

    class StopOddTrials(BaseEarlyStoppingStrategy):
        """Stops odd trials whose job wrote at least 2 epochs."""

        def _should_stop_trials_early(
            self, trial_indices, experiment, current_node=None
        ):
            out = {}
            for i in trial_indices:
                log_dir = experiment.trials[i].run_metadata.get("log_dir")
                path = os.path.join(log_dir or "", "epochs")
                if i % 2 and log_dir and os.path.exists(path):
                    with open(path) as fh:
                        if int(fh.read() or 0) >= 2:
                            out[i] = "odd trial after 2 epochs"
            return out

        def _is_harmful(self, trial_indices, experiment):
            return False

    return StopOddTrials()


def main() -> int:
    mode, db, log_root, name, total, max_conc, epochs, pause, counter, stop_odd = (
        sys.argv[1:11]
    )
    from ax.orchestration.orchestrator import Orchestrator, OrchestratorOptions

    import ax_nas_plugins as anp
    from ax_nas_plugins.runners.base import LeaseHeldError

    options = OrchestratorOptions(
        total_trials=int(total),
        max_pending_trials=int(max_conc),
        init_seconds_between_polls=0.5,
        min_seconds_before_poll=0.1,
        seconds_between_polls_backoff_factor=1.0,
        early_stopping_strategy=_strategy() if stop_odd == "1" else None,
        logging_level=logging.WARNING,
        tolerated_trial_failure_rate=0.9,
    )
    settings = anp.db_settings(db)
    try:
        if mode == "start":
            orchestrator = Orchestrator(
                experiment=_experiment(
                    anp, name, log_root, max_conc, epochs, pause, counter
                ),
                generation_strategy=anp.generation_strategy("sobol", seed=0),
                options=options,
                db_settings=settings,
            )
        else:
            orchestrator = Orchestrator.from_stored_experiment(
                experiment_name=name, options=options, db_settings=settings
            )
        print("orchestrating", flush=True)
        orchestrator.run_all_trials(timeout_hours=0.1)
    except LeaseHeldError as exc:
        print(f"LeaseHeldError: {exc}", file=sys.stderr, flush=True)
        return 3
    trials = orchestrator.experiment.trials
    print(
        json.dumps({i: [t.status.name, t.status_reason] for i, t in trials.items()}),
        flush=True,
    )
    return 0


def _experiment(anp, name, log_root, max_conc, epochs, pause, counter):
    from ax_nas_plugins.testing.experiments import two_param_experiment

    runner = anp.runner(
        "torchx_local",
        component="tests.faults._job:fault_job",
        component_const_params={
            "epochs": int(epochs),
            "pause": float(pause),
            "counter": counter,
        },
        cfg={"kill_grace_s": 1.0},
        log_root=log_root,
        max_concurrent=int(max_conc),
    )
    return two_param_experiment(name, runner)


if __name__ == "__main__":
    sys.exit(main())
