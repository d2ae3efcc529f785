"""The learning-curve rule on plain numbers: probability, predictor, decisions."""

from __future__ import annotations

import numpy as np
import pytest
from _curves import digits_curves

from ax_nas_plugins.stopping._engine import RuleOptions, TrialData, decide
from ax_nas_plugins.stopping._predictor import CurvePredictor
from ax_nas_plugins.stopping._rule import (
    ObjectiveSpec,
    adds_hypervolume,
    p_adds_hypervolume,
    pareto_mask,
)

STEPS = np.arange(1, 31, dtype=float)
OBJECTIVES = [
    ObjectiveSpec("val_acc", minimize=False, threshold=0.8),
    ObjectiveSpec("num_params", minimize=True, threshold=30000.0, known=True),
]


def _trial(curve, params, epochs):
    return TrialData(
        curves={"val_acc": (STEPS[:epochs], np.asarray(curve[:epochs]))},
        known={"num_params": float(params)},
    )


def test_pareto_mask_and_adds_hypervolume():
    pts = np.array([[0.9, -100.0], [0.95, -200.0], [0.85, -300.0], [0.9, -150.0]])
    assert pareto_mask(pts).tolist() == [True, True, False, False]
    ref = np.array([0.8, -1000.0])
    front = pts[pareto_mask(pts)]
    assert adds_hypervolume(np.array([0.97, -250.0]), front, ref)
    assert not adds_hypervolume(np.array([0.94, -250.0]), front, ref)
    assert not adds_hypervolume(np.array([0.79, -10.0]), front, ref)  # below ref
    assert adds_hypervolume(np.array([0.5, -10.0]), front, np.array([-np.inf, -1e9]))


def test_probability_exact_for_one_uncertain_objective():
    front = np.array([[0.95, -200.0], [0.90, -100.0]])
    ref = np.array([0.8, -1000.0])
    # 150 params: only the 100-param point (0.90) is at least as small.
    p = p_adds_hypervolume(np.array([0.90, -150.0]), np.array([0.02, 0.0]), front, ref)
    assert p == pytest.approx(0.5)
    # 250 params: blocked by 0.95; one sd below -> Phi(-1).
    p = p_adds_hypervolume(np.array([0.93, -250.0]), np.array([0.02, 0.0]), front, ref)
    assert p == pytest.approx(0.158655, abs=1e-5)
    # known objective worse than the reference: impossible.
    p = p_adds_hypervolume(np.array([0.99, -2000.0]), np.array([0.02, 0.0]), front, ref)
    assert p == 0.0
    # nothing known yet (infinite sd): keep.
    assert p_adds_hypervolume(
        np.array([0.5, -150.0]), np.array([np.inf, 0]), front, ref
    )
    # tolerance lowers the front.
    p_tol = p_adds_hypervolume(
        np.array([0.93, -250.0]),
        np.array([0.02, 0.0]),
        front,
        ref,
        tolerance=np.array([0.02, 0.0]),
    )
    assert p_tol == pytest.approx(0.5)


def test_monte_carlo_agrees_with_exact_case():
    # Two uncertain objectives where the second is nearly certain: MC ~ exact.
    front = np.array([[0.95, 0.5]])
    ref = np.array([0.8, 0.0])
    exact = p_adds_hypervolume(np.array([0.94, 0.4]), np.array([0.01, 0.0]), front, ref)
    mc = p_adds_hypervolume(np.array([0.94, 0.4]), np.array([0.01, 1e-9]), front, ref)
    assert mc == pytest.approx(exact, abs=0.04)
    # Independent and far better in one objective: always adds.
    assert p_adds_hypervolume(
        np.array([0.9, 0.9]), np.array([0.01, 0.01]), front, ref
    ) == pytest.approx(1.0)


def test_predictor_is_accurate_and_calibrated_on_real_curves():
    curves, _ = digits_curves()
    train, test = curves[:100], curves[100:]
    model = CurvePredictor([(STEPS, c) for c in train])
    for t in (5, 10, 20):
        preds = [model.predict(STEPS[:t], c[:t]) for c in test]
        mean = np.array([p.mean for p in preds])
        std = np.array([p.std for p in preds])
        err = test[:, -1] - mean
        naive = test[:, -1] - test[:, t - 1]
        # Much better than "the curve stays where it is".
        assert np.mean(np.abs(err)) < 0.5 * np.mean(np.abs(naive))
        # Roughly calibrated: most truths within 2 sd, not absurdly wide.
        inside = np.mean(np.abs(err) < 2 * std)
        assert 0.85 <= inside <= 1.0
        assert np.median(std) < 0.1
        assert all(p.n_curves == 100 and p.step == t for p in preds)


def _fast_and_slow_starters():
    """Finished curves the rule leaves behind (fast starters only) and slow starters.

    The rule stops most slow starters, so an experiment's finished curves are
    mostly fast starters: 30 digits curves above 0.7 at epoch 3. The slow
    starters are held-out curves below 0.6 at epoch 3 that end above 0.85.
    """
    curves, params = digits_curves()
    fast = [i for i in range(100) if curves[i, 2] > 0.7][:30]
    slow = [i for i in range(100, 200) if curves[i, 2] < 0.6 and curves[i, -1] > 0.85]
    return curves, params, fast, slow


def test_spread_widens_for_curves_unlike_every_finished_one():
    curves, _, fast, slow = _fast_and_slow_starters()
    assert len(fast) == 30 and len(slow) >= 20
    finished = [(STEPS, curves[i]) for i in fast]
    for novelty, least, most in ((2.0, 0.95, 1.0), (None, 0.0, 0.8)):
        model = CurvePredictor(finished, novelty=novelty)
        for t in (3, 5):
            preds = [model.predict(STEPS[:t], curves[i, :t]) for i in slow]
            z = [
                (curves[i, -1] - p.mean) / p.std
                for i, p in zip(slow, preds, strict=True)
            ]
            # Default: the slow starters' true finals are inside 3 sd; without
            # the widening a third of them are 3.5-7 sd away (overconfident).
            assert least <= np.mean(np.abs(z) < 3) <= most, (novelty, t)
    # Curves like the finished ones keep the spread they had.
    typical = [i for i in range(100, 200) if curves[i, 2] > 0.8][:10]
    wide, plain = CurvePredictor(finished), CurvePredictor(finished, novelty=None)
    for i in typical:
        a, b = (
            wide.predict(STEPS[:4], curves[i, :4]),
            plain.predict(STEPS[:4], curves[i, :4]),
        )
        assert a.mean == b.mean and a.std == pytest.approx(b.std)


def test_slow_starter_unlike_finished_curves_is_kept():
    curves, params, fast, _ = _fast_and_slow_starters()
    completed = {i: _trial(curves[i], params[i], 30) for i in fast}
    # Trial 101: 0.624 at epoch 4, 0.969 at the end (10,446 parameters).
    running = {101: _trial(curves[101], params[101], 4)}
    kept = decide(OBJECTIVES, running, completed, RuleOptions())[101]
    assert not kept.stop and kept.probability >= 0.05, kept.reason
    # Before 0.2 (no widening) the rule stopped it: P(adds HV) = 0.025.
    old = decide(OBJECTIVES, running, completed, RuleOptions(novelty=None))[101]
    assert old.stop and old.probability < 0.05, old.reason


def test_predictor_edge_cases():
    model = CurvePredictor([])
    p = model.predict([1, 2], [0.1, 0.2])
    assert p.std == np.inf and p.mean == 0.2
    model = CurvePredictor([(STEPS, np.linspace(0.1, 0.9, 30))] * 3)
    done = model.predict(STEPS, np.linspace(0.1, 0.9, 30))
    assert done.mean == pytest.approx(0.9)
    with_nan = model.predict([1, 2, 3, 4], [0.1, np.nan, 0.3, 0.35])
    assert np.isfinite(with_nan.mean)
    with pytest.raises(ValueError, match="at least one finite point"):
        model.predict([1.0], [np.nan])


def _setup(n_completed=20):
    curves, params = digits_curves()
    completed = {i: _trial(curves[i], params[i], 30) for i in range(n_completed)}
    return curves, params, completed


def test_decide_stops_hopeless_keeps_promising_with_readable_reason():
    curves, params, completed = _setup(40)
    finals = curves[:, -1]
    bad = int(np.flatnonzero(finals < 0.5)[-1])  # a diverging / very slow config
    best = int(np.argmax(finals[40:]) + 40)
    running = {bad: _trial(curves[bad], params[bad], 8)}
    if best != bad:
        running[best] = _trial(curves[best], params[best], 8)
    out = decide(OBJECTIVES, running, completed, RuleOptions())
    assert out[bad].stop
    assert "predicted final val_acc" in out[bad].reason
    assert "num_params" in out[bad].reason and "(known)" in out[bad].reason
    assert "P(adds HV) =" in out[bad].reason and "< 0.05" in out[bad].reason
    assert not out[best].stop


def test_decide_safety_gates():
    _, _, completed = _setup(4)
    running = {150: _trial(np.full(30, 0.1), 20000, 10)}
    out = decide(OBJECTIVES, running, completed, RuleOptions())
    assert not out[150].stop and "min_trials_completed=5" in out[150].reason
    out = decide(OBJECTIVES, running, completed, RuleOptions(min_trials_completed=3))
    assert not out[150].stop and "min_curves=5" in out[150].reason
    out = decide(
        OBJECTIVES,
        running,
        completed,
        RuleOptions(min_trials_completed=3, min_curves=3, min_progression=12),
    )
    assert not out[150].stop and "min_progression" in out[150].reason
    out = decide(
        OBJECTIVES,
        running,
        completed,
        RuleOptions(min_trials_completed=3, min_curves=3),
    )
    assert out[150].stop


def test_decide_never_stops_a_trial_on_the_front():
    _, _, completed = _setup(20)
    # Smallest model so far with acceptable accuracy: on the front already.
    small = _trial(np.linspace(0.81, 0.85, 30), 100, 6)
    out = decide(OBJECTIVES, {999: small}, completed, RuleOptions(threshold=0.99))
    assert not out[999].stop and "Pareto front" in out[999].reason


def test_cap_on_fraction_stopped():
    _, _, completed = _setup(10)
    running = {100 + i: _trial(np.full(30, 0.1), 20000, 5) for i in range(4)}
    out = decide(
        OBJECTIVES,
        running,
        completed,
        RuleOptions(max_fraction_stopped=0.5),
        n_stopped=5,
    )
    # floor(0.5 * (10 + 5 + 4)) - 5 = 4 may be stopped now.
    assert sum(d.stop for d in out.values()) == 4
    out = decide(
        OBJECTIVES,
        running,
        completed,
        RuleOptions(max_fraction_stopped=0.5),
        n_stopped=8,
    )
    # floor(0.5 * 22) - 8 = 3 may be stopped now.
    assert sum(d.stop for d in out.values()) == 3
    kept = [d for d in out.values() if not d.stop]
    assert "max_fraction_stopped=0.5 reached" in kept[0].reason


def test_single_objective_compares_with_incumbent():
    curves, _ = digits_curves()
    objectives = [ObjectiveSpec("val_acc", minimize=False)]
    completed = {
        i: TrialData(curves={"val_acc": (STEPS, curves[i])}) for i in range(30)
    }
    worst = int(np.argmin(curves[30:, -1]) + 30)
    out = decide(
        objectives,
        {worst: TrialData(curves={"val_acc": (STEPS[:6], curves[worst, :6])})},
        completed,
        RuleOptions(),
    )
    assert out[worst].stop and "P(beats incumbent)" in out[worst].reason


def test_minimized_curve_objective_mirrors_maximized_one():
    curves, params = digits_curves()
    loss_objectives = [
        ObjectiveSpec("val_err", minimize=True, threshold=0.2),
        ObjectiveSpec("num_params", minimize=True, threshold=30000.0, known=True),
    ]

    def as_err(trial: TrialData) -> TrialData:
        steps, values = trial.curves["val_acc"]
        return TrialData(curves={"val_err": (steps, 1.0 - values)}, known=trial.known)

    completed = {i: _trial(curves[i], params[i], 30) for i in range(30)}
    running = {i: _trial(curves[i], params[i], 6) for i in range(30, 60)}
    acc_out = decide(OBJECTIVES, running, completed, RuleOptions())
    err_out = decide(
        loss_objectives,
        {i: as_err(t) for i, t in running.items()},
        {i: as_err(t) for i, t in completed.items()},
        RuleOptions(),
    )
    assert any(d.stop for d in acc_out.values())
    assert {i: d.stop for i, d in acc_out.items()} == {
        i: d.stop for i, d in err_out.items()
    }
    for i, d in acc_out.items():
        if d.probability is not None:
            assert err_out[i].probability == pytest.approx(d.probability, abs=1e-4)


def test_a_finished_curve_is_not_stopped():
    _, _, completed = _setup(10)
    done = {7: _trial(np.full(30, 0.1), 20000, 30)}
    out = decide(OBJECTIVES, done, completed, RuleOptions())
    assert not out[7].stop and "reached the final progression 30" in out[7].reason


def test_own_budget_bounds_the_prediction_and_a_finished_curve_is_kept():
    """A trial with budget 8 that logged 8 points is done: never stopped."""
    curves, params = digits_curves()
    completed = {i: _trial(curves[i], params[i], (8, 30)[i % 2]) for i in range(30)}
    worst = int(np.argmin(curves[30:, 7]) + 30)
    short = _trial(curves[worst], params[worst], 8)
    assert decide(OBJECTIVES, {worst: short}, completed, RuleOptions())[worst].stop
    short.budget = 8.0
    out = decide(OBJECTIVES, {worst: short}, completed, RuleOptions())
    assert not out[worst].stop
    assert "reached its own final progression 8" in out[worst].reason
    # Budget 30, seen 6: predicted at 30 from the 15 curves that reached it.
    longer = _trial(curves[worst], params[worst], 6)
    longer.budget = 30.0
    d = decide(OBJECTIVES, {worst: longer}, completed, RuleOptions())[worst]
    assert d.predictions["val_acc"].n_curves == 15
    # Budget 40: no finished curve reached it, so nothing to learn from: kept.
    longer.budget = 40.0
    d = decide(OBJECTIVES, {worst: longer}, completed, RuleOptions())[worst]
    assert not d.stop and "reach progression 40" in d.reason
