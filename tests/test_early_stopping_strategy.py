"""The learning_curve strategy on real Ax experiments (Data with a step column)."""

from __future__ import annotations

import numpy as np
import pytest
from _curves import add_trial, digits_curves, make_experiment

import ax_nas_plugins as anp
from ax_nas_plugins import storage


@pytest.fixture(scope="module")
def curves():
    return digits_curves()


def _experiment(curves, n_completed=25, running=(), epochs=8, multi=True):
    from ax.core.trial_status import TrialStatus

    acc, params = curves
    exp = make_experiment(multi_objective=multi)
    for i in range(n_completed):
        add_trial(exp, i, acc[i], params[i], 30, TrialStatus.COMPLETED)
    idx = {}
    for cfg in running:
        idx[cfg] = add_trial(exp, cfg, acc[cfg], params[cfg], epochs, None).index
    return exp, idx


def _bad_and_good(curves, start=25):
    acc = curves[0]
    finals = acc[start:, -1]
    return int(np.argmin(finals) + start), int(np.argmax(finals) + start)


def test_stops_hopeless_trial_with_reason_and_keeps_best(curves):
    bad, good = _bad_and_good(curves)
    exp, idx = _experiment(curves, running=(bad, good))
    es = anp.early_stopping("learning_curve")
    out = es.should_stop_trials_early(trial_indices=set(idx.values()), experiment=exp)
    assert set(out) == {idx[bad]}
    reason = out[idx[bad]]
    assert "predicted final val_acc" in reason and "P(adds HV) =" in reason
    assert "num_params" in reason and "(known)" in reason  # flat curve -> known
    kept = es.last_decisions[idx[good]]
    assert not kept.stop and kept.probability is not None and kept.probability > 0.05


def test_objective_reported_without_progression_is_known(curves):
    from ax.core.trial_status import TrialStatus

    acc, params = curves
    exp = make_experiment(multi_objective=True)
    for i in range(20):
        add_trial(exp, i, acc[i], params[i], 30, TrialStatus.COMPLETED, False)
    bad, _ = _bad_and_good(curves, start=20)
    trial = add_trial(exp, bad, acc[bad], params[bad], 8, None, False)
    es = anp.early_stopping("learning_curve")
    out = es.should_stop_trials_early({trial.index}, exp)
    assert f"num_params {int(params[bad])} (known)" in out[trial.index]


def test_single_objective_experiment(curves):
    bad, good = _bad_and_good(curves)
    exp, idx = _experiment(curves, running=(bad, good), multi=False)
    es = anp.early_stopping("learning_curve")
    out = es.should_stop_trials_early(trial_indices=set(idx.values()), experiment=exp)
    assert set(out) == {idx[bad]}
    assert "P(beats incumbent)" in out[idx[bad]]


def test_waits_for_completed_trials_and_progression(curves):
    bad, _ = _bad_and_good(curves)
    exp, idx = _experiment(curves, n_completed=3, running=(bad,))
    es = anp.early_stopping("learning_curve")
    assert es.should_stop_trials_early(set(idx.values()), exp) == {}
    assert "min_trials_completed" in es.last_decisions[idx[bad]].reason
    exp, idx = _experiment(curves, running=(bad,), epochs=3)
    es = anp.early_stopping("learning_curve", min_progression=5)
    assert es.should_stop_trials_early(set(idx.values()), exp) == {}
    assert "min_progression" in es.last_decisions[idx[bad]].reason


def test_composes_with_ax_logical_strategies(curves):
    from ax.early_stopping.strategies import (
        AndEarlyStoppingStrategy,
        OrEarlyStoppingStrategy,
        PercentileEarlyStoppingStrategy,
    )

    acc = curves[0]
    bad, good = _bad_and_good(curves)
    # A middling config: below the median at epoch 8 but not hopeless.
    at8 = acc[25:, 7]
    mid = int(np.flatnonzero((at8 < np.median(acc[:25, 7])) & (acc[25:, -1] > 0.95))[0])
    mid += 25
    exp, idx = _experiment(curves, running=(bad, good, mid))
    sig = exp.metrics["val_acc"].signature
    ours = anp.early_stopping("learning_curve")
    pct = PercentileEarlyStoppingStrategy(
        metric_signatures=[sig], percentile_threshold=50, min_progression=5
    )
    trials = set(idx.values())
    lc_only = set(ours.should_stop_trials_early(trials, exp))
    pct_only = set(pct.should_stop_trials_early(trials, exp))
    both = AndEarlyStoppingStrategy(left=ours, right=pct)
    either = OrEarlyStoppingStrategy(left=ours, right=pct)
    assert set(both.should_stop_trials_early(trials, exp)) == lc_only & pct_only
    assert set(either.should_stop_trials_early(trials, exp)) == lc_only | pct_only
    assert idx[bad] in lc_only & pct_only


def test_stored_and_loaded_with_registry_bundle(curves):
    from ax.early_stopping.strategies import (
        OrEarlyStoppingStrategy,
        PercentileEarlyStoppingStrategy,
    )

    ours = anp.early_stopping(
        "learning_curve",
        threshold=0.1,
        tolerance=0.002,
        min_progression=3,
        known_objectives=["num_params"],
        max_fraction_stopped=None,
    )
    combo = OrEarlyStoppingStrategy(left=ours, right=PercentileEarlyStoppingStrategy())
    payload = storage.to_json(combo, anp.registry_bundle())
    assert payload["left"]["__type"] == "LearningCurveEarlyStoppingStrategy"
    back = storage.from_json(payload, anp.registry_bundle())
    assert back.left == ours
    assert back.left.known_objectives == ["num_params"]
    assert back.left.max_fraction_stopped is None
    # The factory keeps working after the strategy's package was imported.
    import types

    import ax_nas_plugins.stopping.learning_curve  # noqa: F401

    assert isinstance(anp.early_stopping, types.FunctionType)
    assert anp.early_stopping("percentile").percentile_threshold == 50.0


def test_is_harmful_replays_the_front(curves):
    exp, _ = _experiment(curves, n_completed=40)
    safe = anp.early_stopping("learning_curve", check_safe=True)
    assert safe._is_harmful(set(), exp) is False
    reckless = anp.early_stopping(
        "learning_curve", threshold=0.999, check_safe=True, min_progression=1
    )
    assert reckless._is_harmful(set(), exp) is True
    # check_safe makes should_stop_trials_early stop nothing.
    bad, _ = _bad_and_good(curves, start=40)
    exp, idx = _experiment(curves, n_completed=40, running=(bad,))
    assert reckless.should_stop_trials_early(set(idx.values()), exp) == {}


@pytest.mark.parametrize(
    ("option", "value", "allowed"),
    [
        ("threshold", 1.5, "a probability in (0, 1)"),
        ("tolerance", -0.1, "a finite number >= 0"),
        ("min_curves", 0, "an integer >= 1"),
        ("max_fraction_stopped", 0.0, "None or a fraction in (0, 1]"),
        ("max_front_loss", 1.0, "a fraction in [0, 1)"),
    ],
)
def test_bad_options_name_the_field(option, value, allowed):
    from ax.exceptions.core import UserInputError

    with pytest.raises(UserInputError) as err:
        anp.early_stopping("learning_curve", **{option: value})
    assert f"`{option}`" in str(err.value) and allowed in str(err.value)
