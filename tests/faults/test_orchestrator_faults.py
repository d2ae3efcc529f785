"""Kills of a real Ax Orchestrator (SQLite, torchx_local) at exact windows.

Each fault is injected on purpose: ``AX_NAS_FAULT=<point>@<trial>`` makes the
orchestrator SIGKILL itself at that point of the runner (see
``ax_nas_plugins/runners/_faults.py``). A new orchestrator then resumes from
SQLite. Each test checks what a user would: every trial's final status, how
many times each trainer started (a counter file), and that no process is
left (by pid, through the ``workdir`` fixture).
"""

from __future__ import annotations

import signal

import pytest

from tests.faults._support import Run
from tests.runner_support import kill_leftovers, wait_for

pytestmark = pytest.mark.slow


@pytest.fixture
def workdir(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    yield tmp_path
    leftovers = kill_leftovers(str(tmp_path))
    assert not leftovers, f"processes left running: {leftovers}"


def _killed_at(run: Run, fault: str, mode: str = "resume"):
    first = run.start(mode, fault=fault)
    _, err = first.communicate(timeout=300)
    assert first.returncode == -signal.SIGKILL, err[-3000:]


def test_kills_in_every_deploy_window_start_each_trainer_once(workdir):
    """#9.2: the job record is written first, so a resumed run adopts the job
    (or, if it never started, starts it) instead of running it again. Three
    orchestrators die, each in another window of another trial's deploy."""
    run = Run(workdir, total=4, max_conc=2, epochs=2, pause=0.2)
    _killed_at(run, "after_intent@1", mode="start")  # record written, no job
    _killed_at(run, "after_submit@2")  # job submitted, record not confirmed
    _killed_at(run, "after_confirm@3")  # confirmed, trial not saved by Ax
    statuses = run.finish(run.start("resume"))
    assert {i: s for i, (s, _) in statuses.items()} == dict.fromkeys(
        range(4), "COMPLETED"
    ), statuses
    assert run.starts() == dict.fromkeys(range(4), 1)


def test_resume_after_early_stops_keeps_its_capacity(workdir):
    """#9.1: after a resume, Ax stops trials through another runner object
    than the one it asks for capacity; the slots must come back."""
    run = Run(workdir, total=8, max_conc=2, epochs=6, pause=0.3, stop_odd=True)
    first = run.start("start")
    wait_for(
        lambda: sum((run.trial_dir(i) / "pid").exists() for i in range(8)) >= 2,
        240,
        "two running jobs",
    )
    first.send_signal(signal.SIGKILL)
    first.communicate()
    statuses = run.finish(run.start("resume"))
    assert len(statuses) == 8, statuses
    assert {s for s, _ in statuses.values()} <= {"COMPLETED", "EARLY_STOPPED"}
    stopped = {i for i, (s, _) in statuses.items() if s == "EARLY_STOPPED"}
    assert stopped and all(i % 2 for i in stopped), statuses
    assert run.starts() == dict.fromkeys(range(8), 1)


def test_a_kill_right_after_a_stop_still_reads_early_stopped(workdir):
    """#9.3: the orchestrator dies between the stop and Ax saving the trial;
    the resumed one must not report the cancelled job as ABANDONED."""
    run = Run(workdir, total=4, max_conc=2, epochs=40, pause=0.25, stop_odd=True)
    _killed_at(run, "after_stop_intent@1", mode="start")  # stop asked, no cancel
    _killed_at(run, "after_cancel@3")  # cancelled, EARLY_STOPPED not saved
    statuses = run.finish(run.start("resume"))
    assert statuses[3][0] == "EARLY_STOPPED", statuses
    # trial 1 was stopped again by the resumed run, or completed meanwhile
    assert statuses[1][0] in ("EARLY_STOPPED", "COMPLETED"), statuses
    assert {s for s, _ in statuses.values()} <= {"COMPLETED", "EARLY_STOPPED"}
    assert run.starts() == dict.fromkeys(range(4), 1)


def test_a_second_orchestrator_is_refused_while_the_first_lives(workdir):
    """#9.7: a lease next to the runs; it ends with its holder's life."""
    run = Run(workdir, total=2, max_conc=1, epochs=100, pause=0.25)  # 25 s each
    first = run.start("start")
    wait_for(lambda: (run.trial_dir(0) / "pid").exists(), 240, "a running job")
    second = run.start("resume", total=4)  # asked for more: it must poll and run
    _, err = second.communicate(timeout=300)
    assert second.returncode == 3, err[-3000:]
    assert f"pid {first.pid}" in err and "orchestrated by another live process" in err
    # the first one was not disturbed: it still runs (then it is SIGKILLed
    # here), or, on a slow machine, it has already finished its trials
    if first.poll() is None:
        first.send_signal(signal.SIGKILL)
    _, err_first = first.communicate()
    assert first.returncode in (0, -signal.SIGKILL), err_first[-3000:]
    statuses = run.finish(run.start("resume"))  # the holder died: lease taken over
    assert {s for s, _ in statuses.values()} == {"COMPLETED"}, statuses
    assert run.starts() == {0: 1, 1: 1}
