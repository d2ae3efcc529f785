"""Run (or resume) a real Ax Orchestrator over a cluster runner, with SQLite.

Usage: cluster_orchestrate.py start|resume DB NAME TOTAL SPEC_JSON

SPEC_JSON holds ``runner`` (plugin name) and its keyword arguments (``cfg``,
``log_root``, ``component_const_params``...). ``start`` builds an experiment
on x1, x2 in [0, 1] minimising ``loss``, a ``tensorboard`` metric read from
the TensorBoard files each job writes (``tests/_cluster_job.py``), 2 trials
at a time; ``resume`` loads it with ``Orchestrator.from_stored_experiment``.
Both run until TOTAL trials are done and print one JSON line: ``status``
(trial index -> status) and ``loss`` (trial index -> last value fetched).
"""

from __future__ import annotations

import json
import logging
import sys

import ax_nas_plugins as anp


def main() -> None:
    mode, db, name, total, spec_json = sys.argv[1:6]
    from ax.orchestration.orchestrator import Orchestrator, OrchestratorOptions

    options = OrchestratorOptions(
        total_trials=int(total),
        max_pending_trials=2,
        init_seconds_between_polls=1,
        min_seconds_before_poll=0.1,
        seconds_between_polls_backoff_factor=1.0,
        logging_level=logging.WARNING,
        tolerated_trial_failure_rate=0.9,
    )
    settings = anp.db_settings(db)
    if mode == "start":
        from ax_nas_plugins.testing.experiments import two_param_experiment

        spec = json.loads(spec_json)
        runner = anp.runner(spec.pop("runner"), **spec)
        loss = anp.metric("tensorboard", name="loss", lower_is_better=True)
        experiment = two_param_experiment(
            name, runner, metric=loss, bounds=((0.0, 1.0), (0.0, 1.0))
        )
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
    exp = orchestrator.experiment
    df = exp.lookup_data().df
    losses = {}
    for i in exp.trials:
        rows = df[(df["trial_index"] == i) & (df["metric_name"] == "loss")]
        if len(rows):
            losses[i] = float(rows.sort_values("step")["mean"].iloc[-1])
    out = {
        "status": {i: t.status.name for i, t in exp.trials.items()},
        "loss": losses,
    }
    print(json.dumps(out), flush=True)


if __name__ == "__main__":
    main()
