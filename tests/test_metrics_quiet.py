"""A curve that does not exist yet is a normal state: Ax logs no error for it.

A real small run through Ax's ``Client`` (which runs an ``Orchestrator``):
the pack's ``torchx_local`` runner starts the demo's Lightning trainer, the
``tensorboard`` and ``num_params`` metrics read its event files while it
runs. Every trial's first polls find no dir or no tag yet. Everything Ax and
the pack write to the terminal (file descriptors 1 and 2) is captured and
must hold no traceback and no "not yet" line.
"""

from __future__ import annotations

import pytest

import ax_nas_plugins as anp
from ax_nas_plugins.metrics import _logdir

NOT_YET_MARKERS = (
    "TensorBoardNotYetError",
    "not written yet",
    "does not exist yet",
    "Data to attach is empty",  # what Ax logs when every result is an empty Data
    "MetricFetchE",
)


@pytest.mark.slow
def test_client_run_logs_no_traceback_for_curves_not_there_yet(tmp_path, capfd):
    from ax.api.client import Client
    from ax.api.configs import ChoiceParameterConfig, RangeParameterConfig

    _logdir.clear_cache()
    client = Client()
    client.configure_experiment(
        name="quiet_client",
        parameters=[
            RangeParameterConfig(
                name="hidden_size_1", parameter_type="int", bounds=(8, 32)
            ),
            RangeParameterConfig(
                name="hidden_size_2", parameter_type="int", bounds=(8, 32)
            ),
            RangeParameterConfig(
                name="learning_rate", parameter_type="float", bounds=(1e-3, 1e-2)
            ),
            RangeParameterConfig(
                name="dropout", parameter_type="float", bounds=(0.0, 0.3)
            ),
            ChoiceParameterConfig(
                name="batch_size",
                parameter_type="int",
                values=[64, 128],
                is_ordered=True,
            ),
            RangeParameterConfig(name="epochs", parameter_type="int", bounds=(2, 3)),
        ],
    )
    client.configure_optimization(objective="val_acc, -num_params")
    client.configure_generation_strategy(initialization_budget=4)
    client.configure_runner(
        anp.runner(
            "torchx_local",
            component="ax_nas_plugins.examples.components:mlp",
            log_root=str(tmp_path / "runs"),
            max_concurrent=2,
        )
    )
    client.configure_metrics(
        [
            anp.metric("tensorboard", name="val_acc", lower_is_better=False),
            anp.metric("num_params"),
        ]
    )
    capfd.readouterr()  # only what the run itself prints
    client.run_trials(max_trials=4, parallelism=2)
    out, err = capfd.readouterr()

    summary = client.summarize()
    assert summary["trial_status"].tolist() == ["COMPLETED"] * 4, err[-3000:]
    assert summary["val_acc"].notna().all() and summary["num_params"].notna().all()
    lines = (out + err).splitlines()
    tracebacks = [x for x in lines if "Traceback" in x]
    not_yet = [x for x in lines if any(m in x for m in NOT_YET_MARKERS)]
    assert not tracebacks, "\n".join(lines[-80:])
    assert not not_yet, "\n".join(not_yet[:20])
    # Every trial said which data set it trained on.
    said = sorted((tmp_path / "runs").rglob("dataset.txt"))
    assert len(said) == 4
    assert {p.read_text().split("\n")[0] for p in said} <= {"digits", "mnist"}
