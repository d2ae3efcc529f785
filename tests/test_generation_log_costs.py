"""Costs on a log scale (`log_objectives`, `LogCostY`): which metrics; end to end."""

from __future__ import annotations

import math

import numpy as np
import pytest
from test_generation_presets import (
    complete,
    discrete_space,
    make_experiment,
    nodes,
    step,
)

import ax_nas_plugins as anp
from ax_nas_plugins.generation._common import PresetError
from ax_nas_plugins.generation._log_costs import LogCostY, cost_objectives


def _experiment_data(exp):
    from ax.core.data_utils import DataLoaderConfig, extract_experiment_data

    return extract_experiment_data(
        experiment=exp, data_loader_config=DataLoaderConfig()
    )


def _attach(exp, trial, values):
    import pandas as pd
    from ax.core.data import Data

    rows = [
        {
            "trial_index": trial.index,
            "arm_name": trial.arm.name,
            "metric_name": m,
            "metric_signature": m,
            "mean": v,
            "sem": 0.0,
        }
        for m, v in values.items()
    ]
    exp.attach_data(Data(df=pd.DataFrame(rows)))
    trial.mark_completed()


def _filled(exp, outcomes):
    """One Sobol trial per row of ``outcomes`` (metric -> value), completed."""
    gs = anp.generation_strategy("sobol", seed=1)
    for values in outcomes:
        trial, _ = step(exp, gs, finish=False)
        _attach(exp, trial, values)
    return exp


ROWS = [
    {"acc": 0.6, "size": 1e3, "lat": 0.01},
    {"acc": 0.7, "size": 1e4, "lat": 0.02},
    {"acc": 0.8, "size": 1e5, "lat": 0.05},
]


def test_rule_picks_minimised_positive_objectives_of_a_multi_objective_search():
    exp = _filled(make_experiment(discrete_space(), ("acc", "size", "lat")), ROWS)
    oc = exp.optimization_config
    # acc is maximised: never logged; size and lat are minimised and positive
    assert cost_objectives(oc, _experiment_data(exp)) == ["size", "lat"]
    # one latency of 0 (a cost that can be 0): lat is no longer logged
    _filled(exp, [{"acc": 0.5, "size": 2e3, "lat": 0.0}])
    assert cost_objectives(oc, _experiment_data(exp)) == ["size"]


def test_rule_leaves_single_objective_and_bad_thresholds_alone():
    single = _filled(make_experiment(discrete_space(), ("size",)), ROWS)
    assert cost_objectives(single.optimization_config, _experiment_data(single)) == []
    assert cost_objectives(single.optimization_config, None) == []
    # thresholds: acc >= 0.0, size <= 2.0 (positive, absolute: logged)
    exp = _filled(
        make_experiment(discrete_space(), ("acc", "size"), thresholds=True), ROWS
    )
    oc = exp.optimization_config
    assert cost_objectives(oc, _experiment_data(exp)) == ["size"]
    from ax.core.outcome_constraint import ObjectiveThreshold
    from ax.core.types import ComparisonOp

    acc_t = oc.objective_thresholds[0]
    oc.objective_thresholds = [
        acc_t,
        ObjectiveThreshold(
            metric=exp.metrics["size"], bound=0.0, op=ComparisonOp.LEQ, relative=False
        ),
    ]
    assert cost_objectives(oc, _experiment_data(exp)) == []


def _transform(gs) -> LogCostY | None:
    return gs.adapter.transforms.get("LogCostY")


def test_gp_moo_models_the_cost_on_a_log_scale_and_predicts_on_the_original():
    exp = make_experiment(discrete_space(), objectives=("acc", "size"), name="logc")
    gs = anp.generation_strategy(
        "gp_moo", experiment=exp, num_initial_trials=4, seed=0, log_objectives="auto"
    )
    for _ in range(5):
        step(exp, gs)
    tf = _transform(gs)
    assert tf is not None and tf.metric_signatures == ["size"]
    # the model was fitted on log(size): StandardizeY saw the logs of the sizes
    # observed before the last trial was generated
    adapter = gs.adapter
    sizes = {
        t.arm.name: float(
            exp.lookup_data(trial_indices=[t.index])
            .df.query("metric_name == 'size'")["mean"]
            .iloc[0]
        )
        for t in exp.trials.values()
        if t.index < len(exp.trials) - 1
    }
    standardize = adapter.transforms["StandardizeY"]
    mu, sd = standardize.Ymean["size"], standardize.Ystd["size"]
    logs = sorted(math.log(v) for v in sizes.values())
    assert math.isclose(mu, float(np.mean(logs)), rel_tol=1e-6)
    assert math.isclose(sd, float(np.std(logs, ddof=1)), rel_tol=1e-6)
    # predictions come back on the original scale
    from ax.core.observation import ObservationFeatures

    arm = next(iter(exp.trials.values())).arm
    means, _ = adapter.predict([ObservationFeatures(parameters=arm.parameters)])
    assert abs(means["size"][0] - sizes[arm.name]) < 0.2 * sizes[arm.name]


def test_log_objectives_off_by_default_and_explicit_list():
    exp = make_experiment(discrete_space(), objectives=("acc", "size"), name="logn")
    off = anp.generation_strategy("gp_moo", experiment=exp, num_initial_trials=3)
    kwargs = nodes(off)[-1].generator_specs[0].generator_kwargs
    assert all(t.__name__ != "LogCostY" for t in kwargs["transforms"])
    assert "transform_configs" not in kwargs
    for _ in range(4):
        step(exp, off)
    assert _transform(off) is None

    exp2 = make_experiment(discrete_space(), objectives=("acc", "size"), name="logl")
    named = anp.generation_strategy(
        "saasbo_fast", experiment=exp2, num_initial_trials=3, log_objectives=["size"]
    )
    kwargs = nodes(named)[-1].generator_specs[0].generator_kwargs
    assert kwargs["transform_configs"] == {"LogCostY": {"metrics": ["size"]}}
    for _ in range(4):
        step(exp2, named)
    assert _transform(named).metric_signatures == ["size"]


@pytest.mark.parametrize(
    ("value", "message"),
    [
        (
            ["latency"],
            "'latency', not a metric of the optimization config; allowed: acc, size",
        ),
        ("yes", "log_objectives must be 'auto', None or a list of metric names"),
        ([1], "log_objectives must be 'auto', None or a list of metric names"),
    ],
)
def test_log_objectives_errors_name_the_option_and_what_is_allowed(value, message):
    exp = make_experiment(discrete_space(), objectives=("acc", "size"))
    with pytest.raises(PresetError, match=message.replace("(", r"\(")):
        anp.generation_strategy("gp_moo", experiment=exp, log_objectives=value)


def test_strategy_with_log_costs_round_trips_through_storage(tmp_path):
    from ax_nas_plugins import storage

    exp = make_experiment(discrete_space(), objectives=("acc", "size"), name="logs")
    gs = anp.generation_strategy(
        "gp_moo", experiment=exp, num_initial_trials=3, log_objectives="auto"
    )
    for _ in range(4):
        step(exp, gs)
    for suffix in (".json", ".db"):
        path = tmp_path / f"exp{suffix}"
        storage.save_experiment(exp, path, gs)
        loaded_exp, loaded = storage.load_experiment(path, name="logs")
        kwargs = nodes(loaded)[-1].generator_specs[0].generator_kwargs
        assert LogCostY in kwargs["transforms"]
        trial, _ = step(loaded_exp, loaded, finish=False)
        complete(loaded_exp, trial)
        assert _transform(loaded).metric_signatures == ["size"]
