"""Bad configs and paths through the real CLI: one line each, exit 2, nothing written.

Runs the commands in-process (typer's CliRunner) so that the table costs one
import of Ax, not one per row; the code path is the console script's.
"""

from __future__ import annotations

import copy
import os
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from ax_nas_plugins.cli.main import app
from ax_nas_plugins.config import DEMO_CONFIG

GOOD = yaml.safe_load(DEMO_CONFIG.read_text())


def _edit(change):
    data = copy.deepcopy(GOOD)
    change(data)
    return data


def _set(path, value):
    def change(data):
        node = data
        for part in path[:-1]:
            node = node[part]
        node[path[-1]] = value

    return change


CASES = {
    "threshold not a number": (
        _edit(_set(["objectives", 1, "threshold"], "lots")),
        "objectives[1].threshold: Input should be a valid number",
    ),
    "direction not allowed": (
        _edit(_set(["objectives", 0, "direction"], "up")),
        "objectives[0].direction: Input should be 'maximize' or 'minimize' (got 'up')",
    ),
    "misspelt field": (
        _edit(lambda d: d.update(budjet=d.pop("budget"))),
        "budjet: unknown field 'budjet' (did you mean 'budget'?)",
    ),
    "unknown runner": (
        _edit(_set(["runner", "plugin"], "torchx_locl")),
        "runner.plugin: No runner plugin named 'torchx_locl'. Did you mean "
        "'torchx_local'?",
    ),
    "unknown generation preset": (
        _edit(_set(["generation", "plugin"], "sobl")),
        "generation.plugin: No generation_strategy plugin named 'sobl'.",
    ),
    "misspelt metric option": (
        _edit(_set(["metrics", 0, "options"], {"smoothin": 0.5})),
        "metrics[0].options: metric plugin 'tensorboard': unknown option(s) "
        "'smoothin' (did you mean 'smoothin' -> 'smoothing'?)",
    ),
    "objective without metric": (
        _edit(_set(["objectives", 1, "metric"], "latency_ms")),
        "objectives[1].metric: 'latency_ms' is not in metrics; declared: val_acc, "
        "num_params",
    ),
    "bounds reversed": (
        _edit(_set(["parameters", 3, "bounds"], [0.5, 0.0])),
        "parameters[3]: bounds: lower 0.5 must be below upper 0.0",
    ),
    "constraint on unknown parameter": (
        _edit(lambda d: d.update(parameter_constraints=["hidden_size_1 <= width"])),
        "parameter_constraints[0]: unknown parameter(s) ['width']",
    ),
    "zero trials": (
        _edit(_set(["budget", "max_trials"], 0)),
        "budget.max_trials: Input should be greater than or equal to 1 (got 0)",
    ),
    "unreachable storage": (
        _edit(lambda d: d.update(storage="postgresql+psycopg://nobody@127.0.0.1:9/x")),
        "",  # the driver's message; the point is: nothing left behind
    ),
}


def _listing(root: Path) -> list[str]:
    return sorted(str(p.relative_to(root)) for p in root.rglob("*"))


def _one_error_line(result) -> str:
    lines = [ln for ln in result.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1, result.stderr + result.stdout
    assert lines[0].startswith("error: ")
    return lines[0]


@pytest.mark.parametrize("case", sorted(CASES))
def test_bad_config_one_line_exit_2_nothing_written(tmp_path, case):
    data, expected = CASES[case]
    cfg = tmp_path / "bad.yaml"
    cfg.write_text(yaml.safe_dump(data))
    before = _listing(tmp_path)
    result = CliRunner().invoke(app, ["run", str(cfg), "--dir", str(tmp_path / "run")])
    assert result.exit_code == 2, result.output
    line = _one_error_line(result)
    assert expected in line
    assert f"{cfg}: " in line  # the file is named
    assert _listing(tmp_path) == before  # nothing written, not even the folder


def test_yaml_syntax_error_names_the_line(tmp_path):
    cfg = tmp_path / "bad.yaml"
    cfg.write_text("name: x\nparameters: [\n  {name: a\n")
    result = CliRunner().invoke(app, ["run", str(cfg)])
    assert result.exit_code == 2
    assert "not valid YAML: line" in _one_error_line(result)


def _good_config(tmp_path) -> Path:
    cfg = tmp_path / "good.yaml"
    cfg.write_text(yaml.safe_dump(GOOD))
    return cfg


def test_bad_run_folders(tmp_path):
    cfg = _good_config(tmp_path)
    a_file = tmp_path / "a_file"
    a_file.write_text("x")
    held = tmp_path / "held"
    held.mkdir()
    (held / "config.yaml").write_text("name: other\n")
    cases = [
        (a_file, "is a file, not a folder"),
        (Path("/proc/ax_nas_no_such/x"), "Cannot make /proc/ax_nas_no_such/x"),
        (held, "already holds a run; continue it with `ax-nas resume"),
    ]
    for folder, expected in cases:
        before = _listing(tmp_path)
        result = CliRunner().invoke(app, ["run", str(cfg), "--dir", str(folder)])
        assert result.exit_code == 2, (folder, result.output)
        assert expected in _one_error_line(result), folder
        assert _listing(tmp_path) == before


def test_resume_status_report_without_a_run(tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    for cmd in ("resume", "status", "report"):
        for folder, expected in (
            (empty, "holds no run (no config.yaml)"),
            (tmp_path / "missing", "does not exist"),
        ):
            result = CliRunner().invoke(app, [cmd, str(folder)])
            assert result.exit_code == 2, (cmd, result.output)
            assert expected in _one_error_line(result), cmd
    assert os.listdir(empty) == []
    assert not (tmp_path / "missing").exists()


def test_demo_refusals(tmp_path):
    cases = [
        (["--trials", "0"], "--trials: Input should be greater than or equal to 1"),
        (["--generation", "sobl"], "--generation: No generation_strategy plugin named"),
        (["--max-epochs", "1"], "--max-epochs: must be 3 or more"),
        (["--resume"], "holds no run (no config.yaml)"),
        (["--resume", "--parallel", "3"], "--resume keeps the run's own settings"),
    ]
    empty = tmp_path / "empty"
    empty.mkdir()
    for args, expected in cases:
        result = CliRunner().invoke(app, ["demo", "--workdir", str(empty), *args])
        assert result.exit_code == 2, (args, result.output)
        assert expected in _one_error_line(result), args
        assert os.listdir(empty) == [], args
    on_file = (
        CliRunner().invoke(
            app, ["demo", "--workdir", str(tmp_path / "f"), "--trials", "2"]
        )
        if (tmp_path / "f").write_text("x")
        else None
    )
    assert on_file.exit_code == 2
    assert "is a file, not a folder" in _one_error_line(on_file)


def test_demo_help_has_plain_flags_and_literal_hints():
    result = CliRunner().invoke(app, ["demo", "--help"], env={"COLUMNS": "200"})
    line = next(ln for ln in result.output.splitlines() if "--resume" in ln)
    assert "<bool>" not in line
    assert "(default 24, from demo.yaml)" in result.output


def test_demo_missing_extra_prints_literal_hint_and_writes_nothing(
    tmp_path, monkeypatch
):
    """`--generation saasbo` without jax/numpyro: one line, `[saasbo]` intact, no files.

    jax and numpyro are installed here; ``sys.modules[name] = None`` is
    Python's own way to make an import fail, as if they were not.
    """
    import sys

    monkeypatch.setitem(sys.modules, "jax", None)
    monkeypatch.setitem(sys.modules, "numpyro", None)
    workdir = tmp_path / "demo"
    args = ["demo", "--workdir", str(workdir), "--generation", "saasbo"]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 2, result.output
    line = _one_error_line(result)
    assert "pip install 'ax-nas-plugins[saasbo]'" in line
    assert not workdir.exists()
    # The folder stays usable: the next start is not refused as "already a run".
    monkeypatch.undo()
    again = CliRunner().invoke(app, [*args[:3], "--trials", "0"])
    assert "already holds a run" not in again.output


def test_check_command(tmp_path):
    good = _good_config(tmp_path)
    ok = CliRunner().invoke(app, ["check", str(good)])
    assert ok.exit_code == 0, ok.output
    assert "ok. 6 parameters, 2 objective(s)" in ok.stdout
    bad = tmp_path / "bad.yaml"
    bad.write_text(yaml.safe_dump(CASES["unknown runner"][0]))
    before = _listing(tmp_path)
    refused = CliRunner().invoke(app, ["check", str(bad)])
    assert refused.exit_code == 2
    assert "runner.plugin: No runner plugin named" in _one_error_line(refused)
    assert _listing(tmp_path) == before
