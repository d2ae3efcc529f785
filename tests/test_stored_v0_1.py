"""An experiment stored by version 0.1.0 (before the package renames) still loads.

The fixtures in ``tests/fixtures/stored_v0_1/`` were written by commit
``ab884c6``, when early stopping lived in ``ax_nas_plugins.early_stopping``
(see ``tests/fixtures/make_stored_v0_1.py`` for how to regenerate them). The
current code must load each of them into the current classes with the options
that were stored: through :func:`ax_nas_plugins.storage.load_experiment` (SQL
and JSON), through Ax's ``Orchestrator.from_stored_experiment`` with
``anp.db_settings``, and the demo's record of its early-stopping choice.
"""

from __future__ import annotations

import json
import math
import shutil
from pathlib import Path

import pytest

import ax_nas_plugins as anp
from ax_nas_plugins import storage

FIXTURES = Path(__file__).parent / "fixtures" / "stored_v0_1"
EXPECTED = json.loads((FIXTURES / "expected.json").read_text())


@pytest.fixture
def stored_db(tmp_path):
    """A copy of the stored database (loading must never depend on writing it)."""
    target = tmp_path / "nas.db"
    shutil.copy(FIXTURES / "nas.db", target)
    return target


def test_the_fixture_was_written_by_the_old_package_layout():
    # Guards the proof itself: regenerating with today's code would prove nothing.
    assert EXPECTED["written_by"] == "0.1.0"
    assert EXPECTED["early_stopping_module"] == (
        "ax_nas_plugins.early_stopping.learning_curve"
    )


def _check_experiment(exp) -> None:
    from ax_nas_plugins.metrics.model import NumParamsMetric
    from ax_nas_plugins.metrics.tensorboard import TensorBoardCurveMetric
    from ax_nas_plugins.runners.local import TorchXLocalRunner

    assert exp.name == EXPECTED["experiment"]
    assert type(exp.runner) is TorchXLocalRunner
    for option, value in EXPECTED["runner_options"].items():
        assert getattr(exp.runner, option) == value, option
    assert type(exp.metrics["val_acc"]) is TensorBoardCurveMetric
    assert type(exp.metrics["num_params"]) is NumParamsMetric
    assert exp.metrics["val_acc"].lower_is_better is False
    statuses = {str(i): t.status.name for i, t in exp.trials.items()}
    assert statuses == EXPECTED["trial_statuses"]
    for index, params in EXPECTED["arm_parameters"].items():
        assert exp.trials[int(index)].arm.parameters == params
    df = exp.lookup_data().full_df
    curve = df[(df.metric_name == "val_acc") & (df.trial_index == 0)]
    assert sorted(curve["step"]) == [0.0, 1.0, 2.0]
    assert set(df.metric_name) == {"val_acc", "num_params"}


def _check_strategy(gs) -> None:
    assert gs is not None, "the generation strategy was not loaded"
    assert gs.name == EXPECTED["generation_strategy"]
    nodes = gs.nodes_by_name
    assert list(nodes) == EXPECTED["node_names"]
    bo_node = nodes["GenerationStep_1_anp:gp_moo"]
    # The preset's load-time rule (no silent Sobol fallback) is re-applied.
    assert bo_node.fallback_specs == {}


def test_sqlite_database_loads_with_load_experiment(stored_db):
    exp, gs = storage.load_experiment(stored_db, name=EXPECTED["experiment"])
    _check_experiment(exp)
    _check_strategy(gs)


def test_json_file_loads_with_load_experiment(tmp_path):
    target = tmp_path / "experiment.json"
    shutil.copy(FIXTURES / "experiment.json", target)
    exp, gs = storage.load_experiment(target)
    _check_experiment(exp)
    _check_strategy(gs)
    assert gs.experiment is exp


@pytest.mark.slow  # fits the stored GP and generates (about 10 s of CPU)
def test_orchestrator_resumes_the_stored_experiment_and_generates(stored_db):
    from ax.orchestration.orchestrator import Orchestrator, OrchestratorOptions

    orchestrator = Orchestrator.from_stored_experiment(
        EXPECTED["experiment"],
        options=OrchestratorOptions(total_trials=4),
        db_settings=anp.db_settings(str(stored_db)),
    )
    _check_experiment(orchestrator.experiment)
    gs = orchestrator.generation_strategy
    _check_strategy(gs)
    # The stored one-hot GP state decodes: the loaded strategy proposes the next
    # architecture from the BO node, inside the search space.
    gr = gs.gen_single_trial(experiment=orchestrator.experiment)
    params = gr.arms[0].parameters
    assert params["activation"] in {"relu", "tanh", "gelu"}
    assert 16 <= params["hidden_size"] <= 128
    assert gs.current_node_name == "GenerationStep_1_anp:gp_moo"


def _check_early_stopping(es) -> None:
    from ax_nas_plugins.stopping.learning_curve import (
        LearningCurveEarlyStoppingStrategy,
    )

    assert type(es) is LearningCurveEarlyStoppingStrategy
    assert type(es).__name__ == EXPECTED["early_stopping_class"]
    for option, value in EXPECTED["early_stopping_options"].items():
        got = getattr(es, option)
        assert got == value or (math.isclose(got, value)), option


def test_demo_early_stopping_choice_loads():
    choice = json.loads((FIXTURES / "early_stopping.json").read_text())
    _check_early_stopping(anp.early_stopping(choice["plugin"], **choice["options"]))


def test_early_stopping_strategy_in_ax_json_loads():
    data = json.loads((FIXTURES / "early_stopping_ax.json").read_text())
    _check_early_stopping(storage.from_json(data))
