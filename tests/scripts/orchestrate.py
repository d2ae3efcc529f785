"""Run (or resume) a real Ax Orchestrator over a runner preset, with SQLite.

Usage: orchestrate.py start|resume DB LOG_ROOT NAME TOTAL SLEEP RUNNER [IMAGE]

``start`` builds a Branin experiment whose trials run the stand-in trainer
for SLEEP seconds, 2 at a time; ``resume`` loads it with
``Orchestrator.from_stored_experiment``. Both run until TOTAL trials are
done and print one JSON line: trial index -> status.
"""

from __future__ import annotations

import json
import logging
import sys

import ax_nas_plugins as anp


def main() -> None:
    mode, db, log_root, name, total, sleep, runner_name = sys.argv[1:8]
    image = sys.argv[8] if len(sys.argv) > 8 else ""
    from ax.orchestration.orchestrator import Orchestrator, OrchestratorOptions

    options = OrchestratorOptions(
        total_trials=int(total),
        max_pending_trials=2,
        init_seconds_between_polls=1,
        min_seconds_before_poll=0.1,
        seconds_between_polls_backoff_factor=1.0,
        logging_level=logging.WARNING,
    )
    settings = anp.db_settings(db)
    if mode == "start":
        from ax_nas_plugins.testing.experiments import two_param_experiment

        const = {"sleep": float(sleep)}
        cfg = {"kill_grace_s": 2.0}
        if image:
            const.update(image=image, python="python3")
        runner = anp.runner(
            runner_name,
            component="ax_nas_plugins.testing.components:trainer",
            component_const_params=const,
            cfg=cfg,
            log_root=log_root,
        )
        experiment = two_param_experiment(name, runner)
        orchestrator = Orchestrator(
            experiment=experiment,
            generation_strategy=anp.generation_strategy("sobol", seed=0),
            options=options,
            db_settings=settings,
        )
    else:
        orchestrator = Orchestrator.from_stored_experiment(
            experiment_name=name, options=options, db_settings=settings
        )
    print("orchestrating", flush=True)
    orchestrator.run_all_trials()
    trials = orchestrator.experiment.trials
    print(json.dumps({i: t.status.name for i, t in trials.items()}), flush=True)


if __name__ == "__main__":
    main()
