"""The noise-floor benchmark's pieces (``benchmarks/early_stopping_noise.py``).

A retrain oracle given the cached finals themselves is the replay's oracle:
it stops no true Pareto member and saves what the oracle saves; a Pareto set
always agrees with itself; a retrained table of other configurations is
refused with its path.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[1] / "benchmarks"


@pytest.fixture
def noise(monkeypatch):
    monkeypatch.syspath_prepend(str(BENCH))
    import early_stopping_noise

    yield early_stopping_noise
    for name in ("early_stopping_noise", "early_stopping_kills", "early_stopping"):
        sys.modules.pop(name, None)


def test_oracle_on_the_same_finals_is_the_oracle(noise) -> None:
    import early_stopping as es

    curves, params, _, orders = es.replay_setup("digits", 3, 100)
    same = noise.RetrainOracle("same", curves[:, -1], 0.0)
    for order in orders:
        got = es.replay(same, curves, params, order, workers=1)
        want = es.replay(es.Oracle(), curves, params, order, workers=1)
        assert got["pareto_killed"] == 0.0 and got["hv_log"] == pytest.approx(1.0)
        assert got["saved"] == pytest.approx(want["saved"]) and got["saved"] > 0.8
    finals = curves[:, -1]
    assert noise.agreement(finals, finals, params, orders, False) == 1.0
    # a different "retrain" (finals reversed) moves members off the Pareto set
    assert noise.agreement(finals, finals[::-1], params, orders, False) < 0.5


def test_margin_keeps_near_ties(noise) -> None:
    import early_stopping as es

    curves, params, _, orders = es.replay_setup("digits", 1, 100)
    step = noise.resolution(curves)
    strict = noise.RetrainOracle("k0", curves[:, -1], 0.0)
    loose = noise.RetrainOracle("k3", curves[:, -1], 3 * step)
    strict.reset(curves, params, orders[0])
    loose.reset(curves, params, orders[0])
    assert strict.keep < loose.keep


def test_retrain_of_other_configurations_is_refused(noise, tmp_path, monkeypatch):
    cached = json.loads((BENCH / "data" / "curves_digits.json").read_text())
    cached["configs"] = cached["configs"][::-1]
    cached["train_seed"] = 2000
    bad = tmp_path / "curves_digits_train2000.json"
    bad.write_text(json.dumps(cached))
    monkeypatch.setattr(noise, "RETRAIN", tmp_path)
    with pytest.raises(SystemExit, match=f"{bad}: not a retrain"):
        noise.retrained_finals("digits", 200)
    monkeypatch.setattr(noise, "RETRAIN", tmp_path / "empty")
    assert noise.retrained_finals("digits", 200) == {}


def test_rule_kills_counts_reproducible_members(noise) -> None:
    import early_stopping as es

    curves, params, max_params, orders = es.replay_setup("breast_cancer", 2, 100)
    finals = curves[:, -1]
    same = noise.rule_kills(
        "breast_cancer", 0.2, curves, params, max_params, orders, {1: finals}
    )
    # a "retrain" identical to the cached run: every member is reproducible
    assert same["reproducible_members"] == same["members"] > 0
    assert same["killed_reproducible"] == same["killed_members"] > 0
    assert same["reproducible_killed"] == pytest.approx(same["pareto_killed"])
    other = noise.rule_kills(
        "breast_cancer", 0.2, curves, params, max_params, orders, {1: finals[::-1]}
    )
    assert other["reproducible_members"] < other["members"]
    assert other["saved"] == pytest.approx(same["saved"])
