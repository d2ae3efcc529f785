"""The config file -> Ax objects, in memory: every field lands where it should."""

from __future__ import annotations

import copy
import logging
from pathlib import Path

import pytest
import yaml

from ax_nas_plugins import registry
from ax_nas_plugins.config import DEMO_CONFIG, ConfigError, build, load_config

REPO = Path(__file__).resolve().parents[1]
DEMO = yaml.safe_load(DEMO_CONFIG.read_text())


def _config(**changes):
    data = copy.deepcopy(DEMO)
    data.update(changes)
    return data


def test_build_makes_every_piece_and_writes_nothing(tmp_path):
    from ax.core.parameter import ChoiceParameter, FixedParameter, RangeParameter

    data = _config(
        parameters=[
            *DEMO["parameters"],
            {"name": "act", "type": "choice", "values": ["relu", "gelu", "tanh"]},
            {"name": "threads", "type": "fixed", "value": 1},
        ],
        parameter_constraints=["dropout + epochs <= 12"],
        metrics=[
            *DEMO["metrics"],
            {"name": "model_bytes", "plugin": "model_size_bytes"},
        ],
        outcome_constraints=[{"metric": "model_bytes", "op": "<=", "bound": 1e6}],
        budget={
            "max_trials": 7,
            "parallelism": 3,
            "tolerated_failure_rate": 0.25,
            "trial_timeout_s": 120,
        },
    )
    run_dir = tmp_path / "not_yet"
    built = build(data, run_dir=run_dir)
    assert not run_dir.exists()  # nothing written
    space = built.experiment.search_space.parameters
    h1 = space["hidden_size_1"]
    assert (
        isinstance(h1, RangeParameter)
        and h1.log_scale
        and h1.parameter_type.name == "INT"
    )
    batch = space["batch_size"]
    assert isinstance(batch, ChoiceParameter) and batch.is_ordered
    assert isinstance(space["act"], ChoiceParameter) and not space["act"].is_ordered
    assert isinstance(space["threads"], FixedParameter)
    assert len(built.experiment.search_space.parameter_constraints) == 1
    oc = built.experiment.optimization_config
    assert dict(oc.objective.metric_weights) == {"val_acc": 1.0, "num_params": -1.0}
    assert {t.metric_names[0]: t.bound for t in oc.objective_thresholds} == {
        "val_acc": 0.8,
        "num_params": 20000.0,
    }
    assert [c.metric_names[0] for c in oc.outcome_constraints] == ["model_bytes"]
    assert (
        built.experiment.metrics["val_acc"].lower_is_better is False
    )  # from direction
    opts = built.orchestrator_options
    assert (opts.max_pending_trials, opts.total_trials) == (3, 7)
    assert opts.tolerated_trial_failure_rate == 0.25
    assert opts.early_stopping_strategy is built.early_stopping_strategy is not None
    assert opts.logging_level == logging.WARNING  # quiet for library users
    runner = built.experiment.runner
    assert runner.log_root == str((run_dir / "runs").resolve())
    assert runner.max_concurrent == 3
    runner_cls = registry.load("runner", "torchx_local")
    if "max_runtime_s" in registry.accepted_options(runner_cls)[0]:
        assert built.time_limit_by == "runner"
        assert runner.max_runtime_s == 120
    else:
        assert built.time_limit_by == "ttl"
        assert opts.ttl_seconds_for_trials == 120
    assert built.storage == str((run_dir / "nas.db").resolve())


def test_single_objective_and_storage_url():
    data = _config(
        objectives=[{"metric": "val_acc", "direction": "maximize"}],
        storage="postgresql+psycopg://u@localhost/nas",
    )
    built = build(data)
    assert not built.experiment.optimization_config.is_moo_problem
    assert built.storage == "postgresql+psycopg://u@localhost/nas"


def test_every_problem_reported_at_once():
    data = _config(generation={"plugin": "sobl"})
    data["objectives"][0]["metric"] = "acc"
    data["runner"]["options"]["componnt"] = "x"
    with pytest.raises(ConfigError) as err:
        build(data)
    paths = [p for p, _ in err.value.problems]
    assert paths == ["runner.options", "objectives[0].metric", "generation.plugin"]


def test_contradicting_direction_is_refused():
    data = _config()
    data["metrics"][0]["options"] = {"lower_is_better": True}
    with pytest.raises(ConfigError, match=r"metrics\[0\].options.lower_is_better"):
        build(data)


def test_load_config_from_file_and_int_bounds_stay_ints(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text(DEMO_CONFIG.read_text())
    config = load_config(path)
    assert config.parameters[0].bounds == (16, 128)
    dumped = config.model_dump(mode="json")
    assert load_config(dumped) == config  # what config.yaml stores reads back


def test_config_reference_is_current():
    from ax_nas_plugins.config.reference import reference_markdown

    committed = (REPO / "docs" / "config.md").read_text()
    assert committed == reference_markdown(), (
        "docs/config.md is stale: run `ax-nas config-reference --out docs/config.md`"
    )


def test_progress_observer_gets_tasks_instead_of_bars():
    from ax_nas_plugins.progress import observe, progress_task

    seen = []
    with (
        observe(lambda *event: seen.append(event)),
        progress_task("SAAS fit (outcome 1/2)", total=4) as advance,
    ):
        advance(2)
    assert seen == [
        ("start", "SAAS fit (outcome 1/2)", 0.0, 4),
        ("advance", "SAAS fit (outcome 1/2)", 2.0, 4),
        ("end", "SAAS fit (outcome 1/2)", 2.0, 4),
    ]
