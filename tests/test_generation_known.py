"""Metrics known before training (`known_metrics`): decoding, model, errors, storage."""

from __future__ import annotations

import json
import math
import random
from pathlib import Path

import pytest
from test_generation_log_costs import _attach
from test_generation_presets import make_experiment, nas_space, nodes

import ax_nas_plugins as anp
from ax_nas_plugins.generation._common import PresetError
from ax_nas_plugins.generation._known import (
    KnownMeanGP,
    KnownMetricError,
    ParameterDecoder,
)

CALLS = {"size_of": 0}
NOT_A_FUNCTION = 3


def size_of(params: dict) -> float:
    """An exact size of a `nas_space` arm (what the tests' trials report)."""
    CALLS["size_of"] += 1
    return params["width"] / 16 + params["depth"] + 0.5 * params["kernel"]


def fails_on_deep(params: dict) -> float:
    if params["depth"] >= 1:
        raise RuntimeError("no estimate for this depth")
    return 1.0


def returns_nan(params: dict) -> float:
    return math.nan


def _complete(exp, trial) -> None:
    p = trial.arm.parameters
    acc = 0.5 + 0.02 * p["depth"] - 0.01 * p["kernel"]
    _attach(exp, trial, {"acc": acc, "size": size_of(p)})


def _run(exp, gs, n: int) -> None:
    for _ in range(n):
        gr = gs.gen_single_trial(experiment=exp, n=1)
        trial = exp.new_trial(generator_run=gr)
        trial.mark_running(no_runner_required=True)
        _complete(exp, trial)


def _strategy(exp, known=True, **options):
    km = {"size": "test_generation_known:size_of"} if known else None
    return anp.generation_strategy(
        "gp_moo",
        experiment=exp,
        num_initial_trials=5,
        seed=1,
        known_metrics=km,
        **options,
    )


def _unseen_arms(exp, n: int = 12) -> list[dict]:
    sobol = anp.generation_strategy("sobol", seed=99)
    seen = {json.dumps(t.arm.parameters, sort_keys=True) for t in exp.trials.values()}
    arms = []
    while len(arms) < n:
        params = sobol.gen_single_trial(experiment=exp, n=1).arms[0].parameters
        if json.dumps(params, sort_keys=True) not in seen:
            arms.append(params)
    return arms


def _size_errors(gs, arms) -> list[float]:
    from ax.core.observation import ObservationFeatures

    means, _ = gs.adapter.predict([ObservationFeatures(parameters=a) for a in arms])
    return [abs(m - size_of(a)) for m, a in zip(means["size"], arms, strict=True)]


# ------------------------------------------------------------------ decoding
def test_decoder_inverts_ax_transforms_on_every_parameter_kind():
    """Unordered strings, ordered ints, log ints and floats, a fixed parameter."""
    from ax.adapter.registry import Mixed_transforms
    from ax.core.observation import ObservationFeatures

    space = nas_space(with_constraint=False)
    exp = make_experiment(space, name="decode")
    sobol = anp.generation_strategy("sobol", seed=5)
    arms = [sobol.gen_single_trial(experiment=exp, n=1).arms[0] for _ in range(20)]
    ss, transforms = space.clone(), []
    for cls in Mixed_transforms:
        t = cls(search_space=ss)
        ss = t.transform_search_space(ss)
        transforms.append(t)
    names = list(ss.parameters)
    assert "optimizer" not in names  # the fixed parameter is not a model input
    feats = [ObservationFeatures(parameters=dict(a.parameters)) for a in arms]
    for t in transforms:
        feats = t.transform_observation_features(feats)
    rng = random.Random(0)
    # float noise of the size a normalise/unnormalise round trip leaves
    rows = [[f.parameters[n] + rng.uniform(-1e-7, 1e-7) for n in names] for f in feats]
    decoded = ParameterDecoder(space, names).decode(rows)
    for arm, got in zip(arms, decoded, strict=True):
        want = arm.parameters
        assert set(got) == set(want)
        for name, value in want.items():
            if isinstance(value, float):
                assert got[name] == pytest.approx(value, rel=1e-5), name
            else:
                assert got[name] == value, name
                assert type(got[name]) is type(value), name


def test_column_snapping_equals_snapping_each_value_in_python():
    """Nearest choice (the first listed on a tie), integers half to even.

    ``decode`` snaps a whole column in torch; the reference is the per-value
    Python rule it replaced: ``min(choices, key=lambda c: abs(c - v))`` and
    ``round(v)``. Halfway values are where the two could part.
    """
    import torch

    from ax_nas_plugins.generation._known import _SNAP_BLOCK, _snap

    rng = random.Random(3)
    ordered = [16, 32, 48, 64, 96, 128]
    unsorted = [5, 1, 3, 0.5]
    values = [rng.uniform(-2.0, 140.0) for _ in range(2 * _SNAP_BLOCK + 7)]
    halfway = [24.0, 40.0, 80.0, 112.0, 4.0, 2.0, 0.75, 2.5, 3.5, -0.5, 0.5]
    column = values + halfway
    X = torch.tensor(column, dtype=torch.double)
    for choices in (ordered, unsorted):
        want = [min(choices, key=lambda c, v=v: abs(c - v)) for v in column]
        got = _snap(X, choices)
        assert got == want
        assert [type(g) for g in got] == [type(w) for w in want]
    want_int = [round(v) for v in column]
    got_int = _snap(X, "int")
    assert got_int == want_int and all(type(v) is int for v in got_int)
    assert _snap(X, "float") == column


def mlp_size(params: dict) -> float:
    """The docs' MLP parameter count: two integer widths (log scale)."""
    h1, h2 = params["h1"], params["h2"]
    return 784 * h1 + h1 + h1 * h2 + h2 + h2 * 10 + 10


def test_estimate_is_interpolated_between_the_values_of_wide_integer_ranges():
    """Exact at allowed widths, linear between neighbours, with a gradient there.

    BoTorch relaxes an ordered dimension of more than 20 values to a
    continuous one; a snapped estimate would be flat between neighbours.
    """
    import torch
    from ax.core.parameter import ParameterType, RangeParameter
    from ax.core.search_space import SearchSpace

    from ax_nas_plugins.generation._known import KnownValues

    space = SearchSpace(
        [
            RangeParameter("h1", ParameterType.INT, 16, 128, log_scale=True),
            RangeParameter("h2", ParameterType.INT, 16, 128, log_scale=True),
            RangeParameter("lr", ParameterType.FLOAT, 1e-4, 1e-2, log_scale=True),
        ]
    )
    values = KnownValues(
        "size",
        "test_generation_known:mlp_size",
        ParameterDecoder(space, ["h1", "h2", "lr"]),
    )
    lg = math.log10
    at = torch.tensor(
        [[lg(32), lg(16), -3.0], [lg(33), lg(17), -2.0], [lg(128), lg(128), -4.0]],
        dtype=torch.double,
    )
    want = [mlp_size({"h1": a, "h2": b}) for a, b in [(32, 16), (33, 17), (128, 128)]]
    assert values(at).tolist() == pytest.approx(want)
    # a quarter of the way from width 32 to 33 on h1 alone
    x = torch.tensor(
        [[0.75 * lg(32) + 0.25 * lg(33), lg(16), -3.0]],
        dtype=torch.double,
        requires_grad=True,
    )
    got = values(x)
    a, b = mlp_size({"h1": 32, "h2": 16}), mlp_size({"h1": 33, "h2": 16})
    assert got.item() == pytest.approx(0.75 * a + 0.25 * b)
    got.sum().backward()
    assert x.grad[0, 0].item() == pytest.approx((b - a) / (lg(33) - lg(32)))
    assert x.grad[0, 2].item() == 0.0  # the learning rate does not enter
    # both widths between neighbours: a convex combination of the 3 corners
    # of the simplex, continuous across the cell's diagonal
    corners = [mlp_size({"h1": p, "h2": q}) for p in (32, 33) for q in (16, 17)]
    for f1, f2 in [(0.3, 0.6), (0.6, 0.3), (0.5, 0.5 - 1e-9), (0.5 - 1e-9, 0.5)]:
        row = [(1 - f1) * lg(32) + f1 * lg(33), (1 - f2) * lg(16) + f2 * lg(17), -3]
        v = values(torch.tensor([row], dtype=torch.double)).item()
        assert min(corners) <= v <= max(corners)
    diag = [
        values(
            torch.tensor(
                [[(1 - f) * lg(32) + f * lg(33), (1 - g) * lg(16) + g * lg(17), -3.0]],
                dtype=torch.double,
            )
        ).item()
        for f, g in [(0.5, 0.5 - 1e-9), (0.5 - 1e-9, 0.5)]
    ]
    assert diag[0] == pytest.approx(diag[1], rel=1e-6)


def test_decoder_refuses_inputs_the_search_space_does_not_have():
    with pytest.raises(KnownMetricError, match="not parameters of the stored"):
        ParameterDecoder(nas_space(), ["op", "blocks"])


# ------------------------------------------------------------------ the model
def test_known_metric_is_predicted_at_arms_never_run():
    """With an exact estimate the size of unseen arms is known; without, it is not."""
    errors = {}
    for known in (True, False):
        exp = make_experiment(nas_space(), objectives=("acc", "size"), name="known")
        gs = _strategy(exp, known=known)
        _run(exp, gs, 7)
        assert [t.generator_runs[0]._generator_key for t in exp.trials.values()][
            -2:
        ] == ["anp:gp_moo", "anp:gp_moo"]
        errors[known] = max(_size_errors(gs, _unseen_arms(exp)))
    # sizes of nas_space arms span about 2.5 to 14.5
    assert errors[True] < 0.05, errors
    assert errors[False] > 10 * errors[True], errors


def test_model_is_a_known_mean_gp_and_the_estimator_is_called():
    exp = make_experiment(nas_space(), objectives=("acc", "size"), name="known")
    gs = _strategy(exp)
    before = CALLS["size_of"]
    _run(exp, gs, 6)
    models = gs.adapter.generator.surrogate.model.models
    kinds = sorted(type(m).__name__ for m in models)
    assert kinds == ["KnownMeanGP", "MixedSingleTaskGP"]
    known = next(m for m in models if isinstance(m, KnownMeanGP))
    assert known.mean_module._values.path == "test_generation_known:size_of"
    # the model step called the estimator beyond the trials' own reports
    assert CALLS["size_of"] - before > 6


# ------------------------------------------------------------------ errors
@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"known_metrics": {"size": lambda p: 1.0}}, "lambda or nested function"),
        ({"known_metrics": {"size": "no_such_module_xyz:f"}}, "cannot import"),
        ({"known_metrics": {"size": "test_generation_known:nope"}}, "cannot import"),
        (
            {"known_metrics": {"size": "test_generation_known:NOT_A_FUNCTION"}},
            "is int, not a function",
        ),
        ({"known_metrics": {"size": "justaname"}}, "is not an import path"),
        ({"known_metrics": {"size": 3}}, "must be an import path"),
        (
            {"known_metrics": {"latency": "test_generation_known:size_of"}},
            "'latency', not a metric of the optimization config; allowed: acc, size",
        ),
        ({"known_metrics": ["size"]}, "must map metric names"),
        (
            {
                "known_metrics": {"size": "test_generation_known:size_of"},
                "log_objectives": "auto",
            },
            "cannot be combined",
        ),
    ],
)
def test_options_are_checked_with_the_field_named(options, message):
    exp = make_experiment(nas_space(), objectives=("acc", "size"), name="known")
    with pytest.raises(PresetError, match="gp_moo: .*" + message.replace("(", r"\(")):
        anp.generation_strategy("gp_moo", experiment=exp, **options)


def test_known_metrics_need_the_experiment():
    with pytest.raises(PresetError, match="known_metrics needs experiment="):
        anp.generation_strategy(
            "gp_moo", known_metrics={"size": "test_generation_known:size_of"}
        )


def test_a_function_is_stored_by_its_import_path():
    exp = make_experiment(nas_space(), objectives=("acc", "size"), name="known")
    gs = anp.generation_strategy(
        "gp_moo", experiment=exp, known_metrics={"size": size_of}
    )
    spec = nodes(gs)[-1].generator_specs[0].generator_kwargs["surrogate_spec"]
    (config,) = spec.metric_to_model_configs["size"]
    assert config.model_options["estimator"] == "test_generation_known:size_of"


def test_a_function_the_path_does_not_import_is_used_in_this_process(caplog):
    """As in code run by exec (the docs' examples) or a notebook cell run again."""
    scope: dict = {"__name__": "__main__"}
    code = "def exec_size(p):\n    return p['width'] / 16 + p['depth'] + p['kernel']"
    exec(code, scope)
    fn = scope["exec_size"]
    exp = make_experiment(nas_space(), objectives=("acc", "size"), name="known")
    with caplog.at_level("WARNING", logger="ax_nas_plugins.generation"):
        gs = anp.generation_strategy(
            "gp_moo", experiment=exp, num_initial_trials=5, known_metrics={"size": fn}
        )
    assert "__main__:exec_size does not import back" in caplog.text
    _run(exp, gs, 6)
    known = next(
        m
        for m in gs.adapter.generator.surrogate.model.models
        if isinstance(m, KnownMeanGP)
    )
    assert known.mean_module._values.fn is fn


@pytest.mark.parametrize(
    ("estimator", "message"),
    [
        ("fails_on_deep", "RuntimeError: no estimate for this depth"),
        ("returns_nan", "returned nan .* it must return a finite number"),
    ],
)
def test_an_estimator_that_fails_is_named_with_the_arm(estimator, message):
    exp = make_experiment(nas_space(), objectives=("acc", "size"), name="known")
    gs = anp.generation_strategy(
        "gp_moo",
        experiment=exp,
        num_initial_trials=3,
        known_metrics={"size": f"test_generation_known:{estimator}"},
    )
    _run(exp, gs, 3)
    with pytest.raises(Exception) as info:
        _run(exp, gs, 1)
    text = "".join(str(e) for e in _chain(info.value))
    assert "known_metrics['size']" in text
    assert f"test_generation_known:{estimator}" in text
    assert "'depth'" in text  # the arm's parameters are in the message
    import re

    assert re.search(message, text), text
    assert len(exp.trials) == 3  # nothing stored was lost


def _chain(exc: BaseException):
    while exc is not None:
        yield exc
        exc = exc.__cause__ or exc.__context__


# ------------------------------------------------------------------ storage
RESUME = """
import json, sys, warnings
warnings.filterwarnings("ignore")
sys.path.insert(0, {tests!r})
import test_generation_known as t
from ax_nas_plugins import storage
exp, gs = storage.load_experiment({path!r}, name="known")
before = len(exp.trials)
t._run(exp, gs, 1)
models = gs.adapter.generator.surrogate.model.models
print(json.dumps({{"before": before, "after": len(exp.trials),
                  "gen": exp.trials[before].generator_runs[0]._generator_key,
                  "models": sorted(type(m).__name__ for m in models),
                  "max_err": max(t._size_errors(gs, t._unseen_arms(exp)))}}))
"""


@pytest.mark.parametrize("suffix", [".json", ".db"])
def test_stored_strategy_continues_in_a_fresh_process(tmp_path, py, suffix):
    from ax_nas_plugins import storage

    exp = make_experiment(nas_space(), objectives=("acc", "size"), name="known")
    gs = _strategy(exp)
    _run(exp, gs, 6)
    path = str(tmp_path / f"exp{suffix}")
    storage.save_experiment(exp, path, gs)
    out = py(RESUME.format(tests=str(Path(__file__).parent), path=path))
    assert out.returncode == 0, out.stderr[-3000:]
    result = json.loads(out.stdout.strip().splitlines()[-1])
    assert result["before"] == 6 and result["after"] == 7
    assert result["gen"] == "anp:gp_moo"
    assert result["models"] == ["KnownMeanGP", "MixedSingleTaskGP"]
    assert result["max_err"] < 0.05


# ------------------------------------------------------------------ auto
def test_auto_with_known_metrics_chooses_gp_moo_and_passes_them(caplog):
    from ax.core.parameter import ParameterType, RangeParameter
    from ax.core.search_space import SearchSpace

    from ax_nas_plugins.generation.auto import choose

    wide = SearchSpace(
        [RangeParameter(f"x{i}", ParameterType.FLOAT, 0.0, 1.0) for i in range(25)]
    )
    assert choose(wide, budget=40, num_initial_trials=8)[0] == "saasbo_fast"
    assert choose(wide, 40, 8, known_metrics=True) == (
        "gp_moo",
        "known_metrics given (gp_moo is the preset that uses them)",
    )
    # rules 1 and 2 still come first: a budget with no model step is Sobol
    assert choose(wide, budget=5, num_initial_trials=8, known_metrics=True)[0] == (
        "sobol"
    )
    exp = make_experiment(nas_space(), objectives=("acc", "size"), name="known")
    known = {"size": "test_generation_known:size_of"}
    gs = anp.generation_strategy("auto", experiment=exp, budget=40, known_metrics=known)
    assert gs.name == "auto:gp_moo"
    spec = nodes(gs)[-1].generator_specs[0].generator_kwargs["surrogate_spec"]
    assert list(spec.metric_to_model_configs) == ["size"]
    with caplog.at_level("INFO", logger="ax_nas_plugins.generation"):
        gs = anp.generation_strategy(
            "auto", experiment=exp, budget=5, known_metrics=known
        )
    assert gs.name == "auto:sobol"
    assert "known_metrics are not used by sobol" in caplog.text


# ------------------------------------------------------------------ run config
def test_run_config_passes_known_metrics_and_names_the_field_on_error():
    import copy

    import yaml

    from ax_nas_plugins.config import DEMO_CONFIG, ConfigError, build

    data = yaml.safe_load(DEMO_CONFIG.read_text())
    good = copy.deepcopy(data)
    good["generation"]["options"] = {
        "seed": 0,
        "known_metrics": {"num_params": "test_generation_known:mlp_params"},
    }
    built = build(good)
    spec = nodes(built.generation_strategy)[-1].generator_specs[0]
    configs = spec.generator_kwargs["surrogate_spec"].metric_to_model_configs
    assert list(configs) == ["num_params"]
    bad = copy.deepcopy(data)
    bad["generation"]["options"] = {"known_metrics": {"num_params": "nope_mod:f"}}
    with pytest.raises(ConfigError) as err:
        build(bad)
    ((path, message),) = err.value.problems
    assert path == "generation.options"
    assert "known_metrics['num_params']: cannot import 'nope_mod:f'" in message


def mlp_params(p: dict) -> float:
    """The demo MLP's parameter count on 784 inputs (an estimator for the test)."""
    h1, h2 = p["hidden_size_1"], p["hidden_size_2"]
    return 784 * h1 + h1 + h1 * h2 + h2 + h2 * 10 + 10
