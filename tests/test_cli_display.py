"""The live display: a panel on a terminal, plain lines elsewhere."""

from __future__ import annotations

import io

from rich.console import Console

from ax_nas_plugins.cli._display import Display, RunState


def _state() -> RunState:
    state = RunState(name="nas_demo", total=24)
    state.counts = {"RUNNING": 2, "COMPLETED": 5, "EARLY_STOPPED": 1, "FAILED": 1}
    state.objectives = ["val_acc", "num_params"]
    state.pareto = [{"trial_index": 3, "val_acc": 0.91, "num_params": 5602.0}]
    state.phase = "fitting the model and optimizing the acquisition function"
    return state


def test_live_panel_on_a_terminal_shows_counts_pareto_phase_and_time():
    out = io.StringIO()
    console = Console(file=out, force_terminal=True, width=120, color_system=None)
    with Display(console, _state()) as display:
        assert display.live is not None
        display.line("trial 9 started: [saasbo] stays literal")
    text = out.getvalue()
    assert "7/24 done" in text
    assert "running 2" in text and "completed 5" in text
    assert "early-stopped 1" in text and "failed 1" in text
    assert "optimizer: fitting the model" in text
    assert "current Pareto set" in text and "0.91" in text
    assert "left about" in text and "elapsed" in text


def test_plain_lines_without_a_terminal_escape_markup():
    out = io.StringIO()
    console = Console(file=out, force_terminal=False, width=120)
    with Display(console, _state()) as display:
        assert display.live is None
        display.ax_nas_trial_failed(4, "pip install 'ax-nas-plugins[saasbo]'\nmore")
        display.ax_nas_trial_early_stopped(5, "[red]not markup[/]")
    text = out.getvalue()
    assert "trial 4 failed: pip install 'ax-nas-plugins[saasbo]'" in text
    assert "more" not in text  # one line per event
    assert "trial 5 stopped early: [red]not markup[/]" in text


def test_eta_after_first_finished_trial():
    state = _state()
    state.finished_at_start = 0
    state.started -= 70  # 7 trials done in 70 s, 17 left: about 170 s
    assert state.eta().startswith("2 min")
    fresh = RunState(name="x", total=3)
    assert fresh.eta() == "estimating"
