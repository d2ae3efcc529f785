"""A benchmark run resumed from its checkpoint goes on where it stopped.

`benchmarks/nas_bench_201.py --checkpoint-dir` saves a preset run after every
evaluation so that an hours-long run (full-NUTS SAASBO) can span sessions.
Sobol on the BraninCurrin problem: the resumed run must make exactly the
suggestions of an uninterrupted one, and log how many it resumed from.
Also checked here: the search space of the benchmark's ordered-operations
variant, and the CPU look-up-table latency estimate of its ``known_metrics``
variants.
"""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import pytest
from _bench_modules import benchmark_module

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def nb():
    yield from benchmark_module("nas_bench_201")


def _evaluated(path: Path) -> list[dict[str, float]]:
    with gzip.open(path, "rt", encoding="utf-8") as fh:
        return json.load(fh)["evaluated"]


def test_resumed_run_makes_the_same_suggestions(nb, tmp_path: Path) -> None:
    whole, parts = tmp_path / "whole", tmp_path / "parts"
    args = ("branincurrin", "cifar10", "sobol", 3)
    full = nb.run_one(*args, 6, 20, whole)
    first = nb.run_one(*args, 4, 20, parts)
    resumed = nb.run_one(*args, 6, 20, parts)

    path = nb.checkpoint_path(parts, "branincurrin", "cifar10", 20, "sobol", 3)
    assert path.exists() and not path.with_suffix(".tmp").exists()
    assert "resumed_from" not in first and resumed["resumed_from"] == 4
    assert resumed["checkpointed"] is True
    assert resumed["versions"]["botorch"].startswith("0.18")
    assert resumed["hv_curve"] == full["hv_curve"]
    whole_path = nb.checkpoint_path(whole, "branincurrin", "cifar10", 20, "sobol", 3)
    assert _evaluated(path) == _evaluated(whole_path)
    assert len(_evaluated(path)) == 6


def test_checkpoints_are_for_presets_only(nb, tmp_path: Path) -> None:
    with pytest.raises(SystemExit, match="presets only"):
        nb.run_one("branincurrin", "cifar10", "random", 0, 4, 20, tmp_path)


def test_unreadable_checkpoint_names_the_file(nb, tmp_path: Path) -> None:
    path = nb.checkpoint_path(tmp_path, "branincurrin", "cifar10", 20, "sobol", 0)
    path.write_bytes(b"not gzip")
    with pytest.raises(SystemExit, match=f"checkpoint {path} cannot be read"):
        nb.run_one("branincurrin", "cifar10", "sobol", 0, 4, 20, tmp_path)
    assert path.read_bytes() == b"not gzip"  # left as it was


def test_summary_states_the_given_conditions(nb, tmp_path: Path) -> None:
    row = nb.run_one("branincurrin", "cifar10", "sobol", 1, 3, 20, None)
    log = tmp_path / "runs.jsonl"
    log.write_text(json.dumps(row) + "\n")
    default = nb.summarise(log, tmp_path / "default.md")
    assert "a Kubernetes compile" in default
    assert "load averages of 4 to 20" in default
    said = "two benchmark processes shared the 2 cores, paused during the tests"
    text = nb.summarise(log, tmp_path / "said.md", [2], conditions=said)
    assert said in text and "Kubernetes" not in text
    # the shared machine's load is not claimed for runs that say their own
    assert "4 to 20" not in text
    assert "| branincurrin" in text and "HV after 2" in text


def test_rows_record_their_preset_options_and_mixed_ones_are_flagged(
    nb, tmp_path: Path, capsys
) -> None:
    """A row says what its method meant when it ran; pooling others warns.

    ``saasbo_fast`` changed defaults twice within 0.2.0, and ``--summarise``
    pools rows by method name, so a row carries the preset and its options,
    defaults included, and mixed rows of one method are flagged.
    """
    row = nb.run_one("branincurrin", "cifar10", "saasbo_fast", 0, 2, 20, None)
    assert row["preset_options"]["preset"] == "saasbo_fast"
    options = row["preset_options"]["options"]
    assert (options["fit"], options["acqf_maxiter"], options["acqf_restarts"]) == (
        "additive",
        100,
        10,
    )
    # a variant named after earlier runs keeps meaning those runs' options
    pinned = nb._preset_options("saasbo_additive_acq100")["options"]
    assert (pinned["acqf_maxiter"], pinned["acqf_restarts"]) == (100, None)
    assert nb._preset_options("saasbo_map")["options"]["acqf_maxiter"] is None
    assert nb._preset_options("gp_moo") == {"preset": "gp_moo", "options": {}}
    log = tmp_path / "runs.jsonl"
    old = {**row, "seed": 1}
    del old["preset_options"]  # a row logged before options were recorded
    log.write_text(json.dumps(row) + "\n")
    nb.summarise(log, tmp_path / "one.md")
    assert "warning" not in capsys.readouterr().err
    log.write_text(json.dumps(row) + "\n" + json.dumps(old) + "\n")
    nb.summarise(log, tmp_path / "two.md")
    err = capsys.readouterr().err
    assert "warning: branincurrin saasbo_fast" in err and "2 kinds" in err


def test_ordered_variant_declares_operations_ordered_by_cost(nb) -> None:
    """Only ``gp_moo_ordered`` changes the search space, and only its order."""
    assert set(nb.ORDERED_OPS_VARIANTS) == {"gp_moo_ordered"}
    assert nb.VARIANTS["gp_moo_ordered"] == ("gp_moo", {})
    assert sorted(nb.OPS_BY_COST) == sorted(nb.OPS)
    ordered = nb._ax_problem(None, "nb201", ordered_ops=True).search_space
    plain = nb._ax_problem(None, "nb201").search_space
    for name in nb.PARAMS:
        p, q = ordered.parameters[name], plain.parameters[name]
        assert p.is_ordered and p.values == nb.OPS_BY_COST
        assert not q.is_ordered and q.values == nb.OPS


def test_lut_estimate_adds_the_measured_operations(nb) -> None:
    """The CPU look-up-table estimate sums each edge's timings over the stages.

    CIFAR cells use the 32x32 family, ImageNet16-120 cells the 16x16 one; the
    estimators of every ``known_metrics`` variant import back by the path the
    benchmark stores.
    """
    from ax_nas_plugins.generation._known import load_estimator

    lut = json.loads((ROOT / "benchmarks/data/nb201_cpu_latency_lut.json").read_text())
    ops = ["nor_conv_3x3", "skip_connect", "none", "avg_pool_3x3", "nor_conv_1x1"]
    cell = dict(zip(nb.PARAMS, [*ops, "nor_conv_3x3"], strict=True))
    for dataset, family in [
        ("cifar10", "cifar"),
        ("cifar100", "cifar"),
        ("imagenet", "imagenet16"),
    ]:
        timings = lut["lut"][family]
        want = sum(sum(timings[op]) for op in cell.values())
        assert getattr(nb, f"lut_latency_{dataset}")(cell) == pytest.approx(want)
    slow = dict.fromkeys(nb.PARAMS, "nor_conv_3x3")
    fast = dict.fromkeys(nb.PARAMS, "skip_connect")
    assert nb.lut_latency_cifar10(slow) > 10 * nb.lut_latency_cifar10(fast)
    for prefix in nb.KNOWN_LATENCY_VARIANTS.values():
        for dataset in ("cifar10", "cifar100", "imagenet"):
            name = f"{prefix}_{dataset}"
            assert load_estimator("latency", f"nas_bench_201:{name}") is getattr(
                nb, name
            )


@pytest.mark.parametrize(
    "method", ["saasbo_fast", "saasbo_map", "saasbo_nuts_fast", "saasbo_additive"]
)
def test_saas_methods_build_with_their_own_fit(nb, method: str) -> None:
    """`--methods saasbo_fast` runs: its MAP default gets no NUTS-only option.

    The benchmark passed its JAX cache folder to every SAAS method without a
    ``fit``, so ``saasbo_fast`` (MAP since 0.2.0) was refused by the preset.
    Two Sobol evaluations build the strategy without fitting anything.
    """
    row = nb.run_one("branincurrin", "cifar10", method, 0, 2, 20, None)
    assert row["generators"] == ["Sobol"] and row["budget"] == 2
    assert nb._default_fit("saasbo_fast") == "additive"
    assert nb._default_fit("saasbo") == "nuts"
