"""The NAS demo's ``known_metrics`` benchmark measures what it says it measures.

`benchmarks/demo_known_params.py` compares `gp_moo` with and without the
parameter count on the demo's run config. Checked here: its experiment is the
demo's (parameters and thresholds read from `config/demo.yaml`), its exact
estimator equals the count of the model the demo's trainer builds for the
digits input, and its hypervolume is the area of the staircase.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from _bench_modules import benchmark_module

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def bench():
    yield from benchmark_module("demo_known_params")


def test_experiment_is_the_demo_config(bench) -> None:
    import yaml

    demo = yaml.safe_load((ROOT / "ax_nas_plugins/config/demo.yaml").read_text())
    exp, acc_ref, size_ref = bench.demo_experiment()
    assert list(exp.search_space.parameters) == [p["name"] for p in demo["parameters"]]
    assert (acc_ref, size_ref) == tuple(o["threshold"] for o in demo["objectives"])
    thresholds = {
        t.metric_names[0]: t.bound for t in exp.optimization_config.objective_thresholds
    }
    assert thresholds == {"val_acc": 0.80, "num_params": 20000}


def test_exact_estimate_counts_the_trainers_model(bench) -> None:
    from ax_nas_plugins import measure
    from ax_nas_plugins.examples.mlp_trainer import build_model

    for h1, h2 in [(16, 16), (23, 101), (128, 128)]:
        p = {"hidden_size_1": h1, "hidden_size_2": h2}
        model = build_model(64, 10, h1, h2, dropout=0.0)
        assert bench.digits_num_params(p) == measure.count_params(model)
        mnist = build_model(784, 10, h1, h2, dropout=0.0)
        assert bench.mnist_num_params(p) == measure.count_params(mnist)


def test_hypervolume_is_the_staircase_area(bench) -> None:
    # val_acc up, num_params down; reference (0.8, 100): box area 0.2 * 100
    points = [(0.9, 50.0), (0.95, 80.0), (0.85, 20.0), (0.7, 10.0), (0.99, 150.0)]
    # staircase: sizes 20-50 at height 0.05, 50-80 at 0.1, 80-100 at 0.15
    area = 30 * 0.05 + 30 * 0.1 + 20 * 0.15
    assert bench.hv_fraction(points, 0.8, 100.0) == pytest.approx(area / 20.0)
    # a dominated point adds nothing; nothing inside the box is zero
    assert bench.hv_fraction([*points, (0.86, 60.0)], 0.8, 100.0) == pytest.approx(
        area / 20.0
    )
    assert bench.hv_fraction([(0.7, 10.0), (0.9, 120.0)], 0.8, 100.0) == 0.0
