"""`benchmarks/paired_seeds.py` compares two methods seed by seed, as documented.

Logs written here by hand (the format `nas_bench_201.py` appends), so every
number of the table is known: the paired differences, their standard error,
the count of seeds where the target is higher, pooling of several logs, the
largest budget winning, one problem at a time, and the errors for a bad spec,
an unknown method or a mix of problems.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
from _bench_modules import benchmark_module


@pytest.fixture(scope="module")
def ps():
    yield from benchmark_module("paired_seeds")


def _row(
    method: str,
    seed: int,
    budget: int,
    curve: dict[int, float],
    problem: str = "branincurrin",
    **extra: object,
) -> str:
    return json.dumps(
        {
            **extra,
            "problem": problem,
            "method": method,
            "seed": seed,
            "budget": budget,
            "hv_fraction": curve[max(curve)],
            "hv_curve": {str(k): v for k, v in curve.items()},
        }
    )


def _log(path: Path, *rows: str) -> Path:
    path.write_text("\n".join(rows) + "\n")
    return path


def test_paired_differences_pool_logs_and_keep_the_longest_run(ps, tmp_path, capsys):
    target = _log(
        tmp_path / "t.jsonl",
        _row("new", 0, 50, {30: 0.6, 50: 0.9}),
        _row("new", 1, 50, {30: 0.5, 50: 0.8}),
        _row("new", 2, 50, {30: 0.1, 50: 0.7}),
        _row("old", 0, 50, {30: 0.0, 50: 0.0}),  # another method: ignored
    )
    ref_a = _log(
        tmp_path / "a.jsonl",
        _row("old", 0, 30, {30: 0.9}),  # shorter run of seed 0: replaced below
        _row("old", 0, 50, {30: 0.4, 50: 0.85}),
        _row("old", 1, 50, {30: 0.6, 50: 0.6}),
    )
    ref_b = _log(tmp_path / "b.jsonl", _row("old", 2, 50, {30: 0.2, 50: 0.5}))
    out = tmp_path / "paired.md"
    assert (
        ps.main(
            [
                "--target",
                f"{target}:new",
                "--against",
                f"{ref_a},{ref_b}:old",
                "--at",
                "30",
                "50",
                "--out",
                str(out),
            ]
        )
        == 0
    )
    c30, c50 = (
        ps.compare(
            ps.hv_by_seed([target], "new"),
            ps.hv_by_seed([ref_a, ref_b], "old"),
            "old",
            at,
        )
        for at in (30, 50)
    )
    assert c30.seeds == (0, 1, 2)
    assert c30.diffs == pytest.approx([0.2, -0.1, -0.1])
    assert c30.higher == 1
    # sd of (0.2, -0.1, -0.1) with ddof=1 is sqrt(0.03), over sqrt(3)
    assert c30.standard_error == pytest.approx(math.sqrt(0.03) / math.sqrt(3))
    assert c50.diffs == pytest.approx([0.05, 0.2, 0.2])
    assert c50.higher == 3
    text = out.read_text()
    assert text == capsys.readouterr().out.rstrip("\n") + "\n"
    rows = [
        line
        for line in text.splitlines()
        if line.startswith("| 30") or line.startswith("| 50")
    ]
    assert rows == [
        "| 30 | `old` | 0, 1, 2 | 0.400 ± 0.216 | 0.400 ± 0.163 | +0.000 (0.100) "
        "| 1 of 3 |",
        "| 50 | `old` | 0, 1, 2 | 0.800 ± 0.082 | 0.650 ± 0.147 | +0.150 (0.050) "
        "| 3 of 3 |",
    ]


def test_budgets_without_values_are_skipped_with_a_note(ps, tmp_path, capsys):
    target = _log(tmp_path / "t.jsonl", _row("new", 0, 30, {30: 0.5}))
    ref = _log(tmp_path / "r.jsonl", _row("old", 0, 50, {30: 0.4, 50: 0.9}))
    ps.main(
        ["--target", f"{target}:new", "--against", f"{ref}:old", "--at", "30", "50"]
    )
    out = capsys.readouterr().out
    assert "no seed of 'new' and 'old' has a value after 50" in out
    assert "| 30 | `old` | 0 |" in out


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("no-colon", "expected LOG[,LOG...]:METHOD"),
        ("{log}:", "expected LOG[,LOG...]:METHOD"),
        ("{missing}:new", "no such log file"),
        ("{log}:nobody", "no rows of method 'nobody'"),
        ("{bad}:new", "bad.jsonl:2: not a JSON line"),
    ],
)
def test_bad_specs_and_logs_are_named(ps, tmp_path, spec, message):
    log = _log(tmp_path / "t.jsonl", _row("new", 0, 30, {30: 0.5}))
    bad = tmp_path / "bad.jsonl"
    bad.write_text(_row("new", 0, 30, {30: 0.5}) + "\n{oops\n")
    spec = spec.format(log=log, missing=tmp_path / "missing.jsonl", bad=bad)
    with pytest.raises(
        SystemExit, match=message.replace("[", r"\[").replace("]", r"\]")
    ):
        ps.main(["--target", spec, "--against", f"{log}:new", "--at", "30"])


def test_a_log_of_several_problems_needs_problem_and_never_mixes_them(ps, tmp_path):
    # nas_bench_201.jsonl holds the three data sets: seed 0 of cifar10 must not
    # be paired with (or replaced by) seed 0 of cifar100
    log = _log(
        tmp_path / "nb.jsonl",
        _row("new", 0, 40, {40: 0.9}, "nb201/cifar10"),
        _row("new", 0, 40, {40: 0.5}, "nb201/cifar100"),
        _row("old", 0, 40, {40: 0.8}, "nb201/cifar10"),
        _row("old", 0, 40, {40: 0.7}, "nb201/cifar100"),
    )
    argv = ["--target", f"{log}:new", "--against", f"{log}:old", "--at", "40"]
    with pytest.raises(SystemExit, match=r"several problems .*pick one with --problem"):
        ps.main(argv)
    for problem, diff in (("nb201/cifar10", 0.1), ("nb201/cifar100", -0.2)):
        c = ps.compare(
            ps.hv_by_seed([log], "new", problem),
            ps.hv_by_seed([log], "old", problem),
            "old",
            40,
        )
        assert c.diffs == pytest.approx([diff])
        assert ps.main([*argv, "--problem", problem]) == 0
    with pytest.raises(SystemExit, match="no rows of method 'new' of problem 'x'"):
        ps.main([*argv, "--problem", "x"])


def test_target_and_reference_of_different_problems_are_refused(ps, tmp_path):
    t = _log(tmp_path / "t.jsonl", _row("new", 0, 40, {40: 0.9}, "nb201/cifar10"))
    r = _log(tmp_path / "r.jsonl", _row("old", 0, 40, {40: 0.8}, "nb201/imagenet"))
    with pytest.raises(SystemExit, match="of problem 'nb201/imagenet', the target"):
        ps.main(["--target", f"{t}:new", "--against", f"{r}:old", "--at", "40"])


def test_branincurrin_of_different_input_counts_is_never_paired(ps, tmp_path):
    # rows of 30 and 100 inputs are all "branincurrin"; only dims tells them apart
    t30 = _log(tmp_path / "t30.jsonl", _row("new", 0, 50, {50: 0.9}, dims=30))
    r100 = _log(tmp_path / "r100.jsonl", _row("old", 0, 50, {50: 0.5}, dims=100))
    with pytest.raises(SystemExit, match=r"'branincurrin \(100 inputs\)', the target"):
        ps.main(["--target", f"{t30}:new", "--against", f"{r100}:old", "--at", "50"])
    both = _log(
        tmp_path / "both.jsonl",
        _row("new", 0, 50, {50: 0.9}, dims=30),
        _row("new", 1, 50, {50: 0.8}, dims=100),
    )
    with pytest.raises(SystemExit, match=r"several problems .*different input counts"):
        ps.runs([both], "new")
    r30 = _log(tmp_path / "r30.jsonl", _row("old", 0, 50, {50: 0.5}, dims=30))
    assert (
        ps.main(["--target", f"{t30}:new", "--against", f"{r30}:old", "--at", "50"])
        == 0
    )
    # rows from before dims was recorded are the 30-input default and pool with 30
    old = _log(tmp_path / "old.jsonl", _row("old", 1, 50, {50: 0.4}))
    assert sorted(ps.hv_by_seed([r30, old], "old")) == [0, 1]
    with pytest.raises(SystemExit, match="several problems"):
        ps.runs([r100, old], "old")
