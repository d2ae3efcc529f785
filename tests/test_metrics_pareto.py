"""Pairing: trials with different epoch counts give Ax the true Pareto set.

Accuracy is logged per epoch and num_params once at step 0 (as the seed
tutorial does). Trials ran 3 to 10 epochs (completed or early-stopped). Ax's
observed Pareto set and the MOO model's training data must see every trial
with both objectives, and the Pareto set must equal the one computed by hand
from the final values.
"""

from __future__ import annotations

import pytest
import torch
from ax.core.data import Data
from tb_helpers import experiment, running_trial, write_curve

import ax_nas_plugins as anp
from ax_nas_plugins.metrics import _logdir

torch.set_num_threads(1)

# trial: (epochs, final val_acc, num_params, early stopped?)
TRIALS = [
    (10, 0.90, 1000.0, False),
    (10, 0.80, 500.0, False),
    (4, 0.95, 2000.0, True),
    (6, 0.85, 300.0, True),
    (10, 0.70, 800.0, False),
    (3, 0.60, 100.0, True),
    (8, 0.88, 1500.0, False),
    (10, 0.92, 1800.0, False),
]


def true_pareto(points: list[tuple[float, float]]) -> set[int]:
    """Indices not dominated (maximise accuracy, minimise parameters)."""
    front = set()
    for i, (acc, size) in enumerate(points):
        dominated = any(
            a >= acc and s <= size and (a > acc or s < size)
            for j, (a, s) in enumerate(points)
            if j != i
        )
        if not dominated:
            front.add(i)
    return front


def _run(tmp_path, acc_metric, params_metric):
    exp = experiment(
        [acc_metric, params_metric],
        name="pareto",
        objectives=[(acc_metric, False, 0.5), (params_metric, True, 5000.0)],
    )
    for i, (epochs, acc, params, early) in enumerate(TRIALS):
        log_dir = tmp_path / f"trial_{i}"
        curve = [acc * (e + 1) / epochs for e in range(epochs)]
        write_curve(log_dir, "val_acc", curve)
        write_curve(log_dir, "num_params", [params])
        trial = running_trial(exp, log_dir, x=i / len(TRIALS))
        exp.fetch_data(trial_indices=[trial.index])
        if early:
            trial.mark_early_stopped()
        else:
            trial.mark_completed()
    data = exp.fetch_data()
    return exp, data


@pytest.mark.slow
def test_observed_pareto_set_is_the_true_one(tmp_path):
    from ax.generation_strategy.generation_strategy import GenerationStrategy
    from ax.service.utils.best_point import get_pareto_optimal_parameters

    _logdir.clear_cache()
    acc = anp.metric("tensorboard", name="val_acc", lower_is_better=False)
    params = anp.metric("num_params")
    exp, data = _run(tmp_path, acc, params)
    expected = true_pareto([(a, p) for _, a, p, _ in TRIALS])
    assert expected == {0, 2, 3, 5, 7}

    # Every trial has both objectives at its last step.
    latest = data.df.pivot(index="trial_index", columns="metric_name", values="mean")
    assert latest.notna().all().all() and len(latest) == len(TRIALS)
    for i, (_, a, p, _) in enumerate(TRIALS):
        assert latest.loc[i, "val_acc"] == pytest.approx(a)
        assert latest.loc[i, "num_params"] == p

    gs = anp.generation_strategy("sobol", seed=0)
    assert isinstance(gs, GenerationStrategy)
    front = get_pareto_optimal_parameters(exp, gs, use_model_predictions=False)
    assert set(front) == expected
    for i, (_, (means, _)) in front.items():
        assert means["num_params"] == TRIALS[i][2]
        assert means["val_acc"] == pytest.approx(TRIALS[i][1])

    # The MOO model is fit on every trial, completed and early-stopped, each
    # with both objectives in one observation.
    from ax.adapter.registry import Generators

    adapter = Generators.BOTORCH_MODULAR(
        experiment=exp, data=Data.from_multiple_data([exp.lookup_data()])
    )
    obs = adapter.get_training_data().observation_data["mean"]
    assert obs.notna().all().all()
    assert sorted(obs.index.get_level_values("trial_index")) == list(range(len(TRIALS)))
