"""pluggy lifecycle hooks and the JSONL event log."""

from __future__ import annotations

import json

from ax_nas_plugins import hooks
from ax_nas_plugins.hooks.jsonl import JsonlEventLog


class _Recorder:
    def __init__(self):
        self.events = []

    @hooks.hookimpl
    def ax_nas_trial_failed(self, trial_index, reason):
        self.events.append(("failed", trial_index, reason))


class _Broken:
    @hooks.hookimpl
    def ax_nas_trial_failed(self, trial_index):
        raise RuntimeError("hook bug")


def test_fire_reaches_every_plugin_and_swallows_their_errors(caplog):
    rec, broken = _Recorder(), _Broken()
    hooks.register(broken)
    hooks.register(rec)
    try:
        hooks.fire(
            "ax_nas_trial_failed",
            experiment_name="e",
            trial_index=3,
            reason="exit code 1",
            run_metadata={},
            trial=None,
        )
    finally:
        hooks.unregister(rec)
        hooks.unregister(broken)
    assert rec.events == [("failed", 3, "exit code 1")]
    assert "hook bug" in caplog.text or "raised" in caplog.text


def test_jsonl_event_log_writes_one_line_per_event(tmp_path):
    path = tmp_path / "sub" / "events.jsonl"
    log = JsonlEventLog(path)
    hooks.register(log)
    try:
        hooks.fire(
            "ax_nas_trial_deployed",
            experiment_name="e",
            trial_index=0,
            run_metadata={"app_handle": "local_cwd://x/y"},
            trial=None,
        )
        hooks.fire(
            "ax_nas_trial_early_stopped",
            experiment_name="e",
            trial_index=0,
            reason="P(adds HV) = 0.01",
            run_metadata={},
            trial=None,
        )
        hooks.fire(
            "ax_nas_experiment_saved",
            experiment_name="e",
            location="x.db",
            experiment=None,
        )
    finally:
        hooks.unregister(log)
    lines = [json.loads(ln) for ln in path.read_text().splitlines()]
    assert [r["event"] for r in lines] == [
        "trial_deployed",
        "trial_early_stopped",
        "experiment_saved",
    ]
    assert lines[0]["run_metadata"] == {"app_handle": "local_cwd://x/y"}
    assert lines[1]["reason"] == "P(adds HV) = 0.01"


def test_entry_point_event_log_follows_environment(tmp_path, monkeypatch):
    path = tmp_path / "env_events.jsonl"
    monkeypatch.setenv("AX_NAS_EVENT_LOG", str(path))
    names = [name for name, _ in hooks.plugin_manager().list_name_plugin()]
    assert "jsonl_event_log" in names
    hooks.fire(
        "ax_nas_trial_completed",
        experiment_name="e",
        trial_index=7,
        run_metadata={},
        trial=None,
    )
    assert json.loads(path.read_text())["trial_index"] == 7
    monkeypatch.delenv("AX_NAS_EVENT_LOG")
    hooks.fire(
        "ax_nas_trial_completed",
        experiment_name="e",
        trial_index=8,
        run_metadata={},
        trial=None,
    )
    assert len(path.read_text().splitlines()) == 1
