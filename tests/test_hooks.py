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


# --- pluggy as designed: order, tryfirst/trylast, wrappers, errors -----------


class _Ordered:
    """Records its label in a shared list when ax_nas_trial_completed fires."""

    def __init__(self, label, calls):
        self.label, self.calls = label, calls

    @hooks.hookimpl
    def ax_nas_trial_completed(self, trial_index):
        self.calls.append(self.label)


class _First(_Ordered):
    @hooks.hookimpl(tryfirst=True)
    def ax_nas_trial_completed(self, trial_index):
        self.calls.append(self.label)


class _Last(_Ordered):
    @hooks.hookimpl(trylast=True)
    def ax_nas_trial_completed(self, trial_index):
        self.calls.append(self.label)


class _Wrapper:
    def __init__(self, calls):
        self.calls = calls

    @hooks.hookimpl(wrapper=True)
    def ax_nas_trial_completed(self, trial_index):
        self.calls.append("wrapper-before")
        result = yield
        self.calls.append(f"wrapper-after:{len(result)}")
        return result


class _OldStyleWrapper:
    def __init__(self, calls):
        self.calls = calls

    @hooks.hookimpl(hookwrapper=True)
    def ax_nas_trial_completed(self, trial_index):
        self.calls.append("old-before")
        outcome = yield
        self.calls.append(f"old-after:{outcome.exception is None}")


def _fire_completed(index=1):
    hooks.fire(
        "ax_nas_trial_completed",
        experiment_name="e",
        trial_index=index,
        run_metadata={},
        trial=None,
    )


def _registered(*plugins):
    """Register plugins in order; a context that unregisters them afterwards."""
    import contextlib

    @contextlib.contextmanager
    def ctx():
        names = [hooks.register(p) for p in plugins]
        try:
            yield names
        finally:
            for p in plugins:
                hooks.unregister(p)

    return ctx()


def _plain_pluggy_order(plugins):
    """The order a plain pluggy PluginManager calls the same plugins in."""
    import pluggy

    from ax_nas_plugins.hooks import specs

    pm = pluggy.PluginManager(specs.PROJECT)
    pm.add_hookspecs(specs)
    for p in plugins:
        pm.register(p)
    pm.hook.ax_nas_trial_completed(
        experiment_name="e", trial_index=1, run_metadata={}, trial=None
    )


def test_order_is_pluggys_last_registered_first_with_tryfirst_trylast():
    calls: list[str] = []
    plugins = [
        _Last("last", calls),
        _Ordered("a", calls),
        _Ordered("b", calls),
        _First("first", calls),
        _Ordered("c", calls),
    ]
    with _registered(*plugins):
        _fire_completed()
    ours = list(calls)
    calls.clear()
    _plain_pluggy_order(plugins)
    assert ours == calls == ["first", "c", "b", "a", "last"]


def test_wrappers_run_around_the_other_implementations():
    calls: list[str] = []
    with _registered(_Ordered("a", calls), _Wrapper(calls), _OldStyleWrapper(calls)):
        _fire_completed()
    # The old-style wrapper was registered last, so it is the outermost one.
    assert calls == [
        "old-before",
        "wrapper-before",
        "a",
        "wrapper-after:0",
        "old-after:True",
    ]


class _Raises:
    @hooks.hookimpl
    def ax_nas_trial_completed(self, trial_index):
        raise RuntimeError(f"hook bug at trial {trial_index}")


class _WrapperRaisesBeforeYield:
    @hooks.hookimpl(wrapper=True)
    def ax_nas_trial_completed(self):
        raise RuntimeError("wrapper setup bug")
        yield  # pragma: no cover


class _WrapperRaisesAfterYield:
    @hooks.hookimpl(wrapper=True)
    def ax_nas_trial_completed(self):
        yield
        raise RuntimeError("wrapper teardown bug")


def test_a_raising_hook_is_logged_with_its_plugin_and_the_others_run(caplog):
    calls: list[str] = []
    raising = _Raises()
    with _registered(_Ordered("before", calls), raising, _Ordered("after", calls)):
        hooks.register(_WrapperRaisesBeforeYield(), name="setup-bug")
        hooks.register(_WrapperRaisesAfterYield(), name="teardown-bug")
        try:
            with caplog.at_level("ERROR", logger="ax_nas_plugins.hooks"):
                _fire_completed(index=5)
        finally:
            hooks.unregister(name="setup-bug")
            hooks.unregister(name="teardown-bug")
        raising_name = hooks.plugin_manager().get_name(raising)
    assert calls == ["after", "before"]
    messages = [r.getMessage() for r in caplog.records]
    assert any(
        f"ax_nas_trial_completed of plugin {raising_name!r} raised" in m
        for m in messages
    ), messages
    assert "hook bug at trial 5" in caplog.text
    assert any("plugin 'setup-bug' raised before its yield" in m for m in messages)
    assert any("plugin 'teardown-bug' raised after its yield" in m for m in messages)


def test_event_reaches_the_jsonl_log_despite_a_raising_plugin(tmp_path):
    path = tmp_path / "events.jsonl"
    log = JsonlEventLog(path)
    # The broken plugin is registered last, so pluggy calls it first.
    with _registered(log, _Raises()):
        _fire_completed(index=9)
    assert json.loads(path.read_text())["trial_index"] == 9


def test_registered_plugins_are_seen_as_given():
    rec = _Recorder()
    pm = hooks.plugin_manager()
    name = hooks.register(rec, name="rec")
    try:
        assert pm.is_registered(rec)
        assert pm.get_plugin("rec") is rec
        assert pm.get_name(rec) == "rec"
        assert rec in pm.get_plugins()
        assert ("rec", rec) in pm.list_name_plugin()
        assert pm.get_hookcallers(rec)
    finally:
        hooks.unregister(name=name)
    assert not pm.is_registered(rec)
    _fire_completed()  # nothing of rec is left behind
    assert rec.events == []


def test_subset_hook_caller_leaves_out_a_plugin_given_as_registered():
    calls: list[str] = []
    a, b = _Ordered("a", calls), _Ordered("b", calls)
    with _registered(a, b):
        subset = hooks.plugin_manager().subset_hook_caller(
            "ax_nas_trial_completed", remove_plugins=[a]
        )
        subset(experiment_name="e", trial_index=1, run_metadata={}, trial=None)
    assert calls == ["b"]


def test_fire_passes_none_for_spec_arguments_left_out():
    seen = []

    class WantsTrial:
        @hooks.hookimpl
        def ax_nas_trial_completed(self, trial_index, trial):
            seen.append((trial_index, trial))

    with _registered(WantsTrial()):
        hooks.fire("ax_nas_trial_completed", experiment_name="e", trial_index=2)
    assert seen == [(2, None)]
