"""The sobol preset on a real Ax experiment."""

from __future__ import annotations

import pytest

import ax_nas_plugins as anp


def _choice_experiment():
    from ax.core.experiment import Experiment
    from ax.core.parameter import ChoiceParameter, ParameterType
    from ax.core.search_space import SearchSpace

    space = SearchSpace(
        parameters=[
            ChoiceParameter("a", ParameterType.INT, values=[1, 2, 3], is_ordered=True),
            ChoiceParameter(
                "b",
                ParameterType.STRING,
                values=["x", "y"],
                is_ordered=False,
                sort_values=False,
            ),
        ]
    )
    return Experiment(search_space=space, name="sobol_test")


def test_sobol_never_repeats_an_arm_in_a_small_discrete_space():
    exp = _choice_experiment()
    gs = anp.generation_strategy("sobol", seed=1)
    seen = set()
    for _ in range(6):  # exactly the 6 cells of the space
        gr = gs.gen_single_trial(experiment=exp, n=1)
        trial = exp.new_trial(generator_run=gr)
        key = tuple(sorted(trial.arm.parameters.items()))
        assert key not in seen
        seen.add(key)
    assert len(seen) == 6


def test_sobol_rejects_bad_parallelism():
    with pytest.raises(ValueError, match="max_parallelism must be a positive"):
        anp.generation_strategy("sobol", max_parallelism=0)
