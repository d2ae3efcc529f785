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
        budget_parameter="epochs",
        novelty=3.0,
    )
    combo = OrEarlyStoppingStrategy(left=ours, right=PercentileEarlyStoppingStrategy())
    payload = storage.to_json(combo, anp.registry_bundle())
    assert payload["left"]["__type"] == "LearningCurveEarlyStoppingStrategy"
    back = storage.from_json(payload, anp.registry_bundle())
    assert back.left == ours
    assert back.left.known_objectives == ["num_params"]
    assert back.left.max_fraction_stopped is None
    assert back.left.budget_parameter == "epochs"
    assert back.left.novelty == 3.0 and back.left.rule_options.novelty == 3.0
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
        ("novelty", 0.0, "None or a number > 0"),
        ("novelty", float("inf"), "None or a number > 0"),
    ],
)
def test_bad_options_name_the_field(option, value, allowed):
    from ax.exceptions.core import UserInputError

    with pytest.raises(UserInputError) as err:
        anp.early_stopping("learning_curve", **{option: value})
    assert f"`{option}`" in str(err.value) and allowed in str(err.value)


def _epochs_experiment(curves, running):
    """Completed trials of 8, 12 and 30 epochs; ``running``: (config, budget, seen)."""
    from ax.core.trial_status import TrialStatus

    acc, params = curves
    exp = make_experiment(multi_objective=True, epochs_parameter=True)
    for i in range(30):
        epochs = (8, 12, 30)[i % 3]
        add_trial(
            exp, i, acc[i], params[i], epochs, TrialStatus.COMPLETED, budget=epochs
        )
    idx = {}
    for cfg, budget, seen in running:
        idx[cfg] = add_trial(
            exp, cfg, acc[cfg], params[cfg], seen, None, budget=budget
        ).index
    return exp, idx


def test_trial_that_reached_its_own_epochs_is_never_stopped(curves):
    """The demo's defect: a trial with epochs=8 that logged 8 epochs was stopped.

    The rule predicted its value at 30 epochs (the longest completed trial);
    its own ``epochs`` parameter bounds the prediction, and a finished curve
    is never stopped, with the default options (``budget_parameter="auto"``)
    and with the parameter named.
    """
    bad, _ = _bad_and_good(curves, start=30)
    exp, idx = _epochs_experiment(curves, running=[(bad, 8, 8)])
    for es in (
        anp.early_stopping("learning_curve"),
        anp.early_stopping("learning_curve", budget_parameter="epochs"),
    ):
        assert es.should_stop_trials_early(set(idx.values()), exp) == {}
        reason = es.last_decisions[idx[bad]].reason
        assert "reached its own final progression 8" in reason
    # Without a budget the same trial is judged against 30 epochs and stopped.
    off = anp.early_stopping("learning_curve", budget_parameter=None)
    assert set(off.should_stop_trials_early(set(idx.values()), exp)) == {idx[bad]}


def test_prediction_targets_the_trials_own_epochs(curves):
    bad, _ = _bad_and_good(curves, start=30)
    exp, idx = _epochs_experiment(curves, running=[(bad, 12, 6)])
    es = anp.early_stopping("learning_curve")
    out = es.should_stop_trials_early(set(idx.values()), exp)
    d = es.last_decisions[idx[bad]]
    p = d.predictions["val_acc"]
    # Learned from the 20 completed curves that reached 12 epochs, cut there.
    assert p.n_curves == 20 and "20 finished curves" in d.reason
    assert set(out) == {idx[bad]}


def test_auto_budget_is_off_when_curves_do_not_end_at_epochs(curves):
    """'auto' uses `epochs` only while completed curves end exactly at it."""
    from ax.core.trial_status import TrialStatus

    acc, params = curves
    exp = make_experiment(multi_objective=True, epochs_parameter=True)
    for i in range(30):  # progression is not epochs here: every curve has 30 points
        add_trial(exp, i, acc[i], params[i], 30, TrialStatus.COMPLETED, budget=8)
    bad, _ = _bad_and_good(curves, start=30)
    trial = add_trial(exp, bad, acc[bad], params[bad], 8, None, budget=8)
    es = anp.early_stopping("learning_curve")
    assert set(es.should_stop_trials_early({trial.index}, exp)) == {trial.index}


def test_budget_parameter_errors_name_the_option(curves):
    from ax.exceptions.core import UserInputError

    with pytest.raises(UserInputError, match="`budget_parameter`"):
        anp.early_stopping("learning_curve", budget_parameter="")
    exp, idx = _epochs_experiment(curves, running=[(40, 12, 6)])
    es = anp.early_stopping("learning_curve", budget_parameter="n_iters")
    with pytest.raises(UserInputError) as err:
        es.should_stop_trials_early(set(idx.values()), exp)
    assert "'n_iters'" in str(err.value) and "'epochs'" in str(err.value)
