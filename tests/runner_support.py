"""Helpers for the runner tests: experiments, waiting, and leftover processes."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from ax.core.arm import Arm
from ax.core.experiment import Experiment
from ax.core.parameter import ChoiceParameter, ParameterType, RangeParameter
from ax.core.search_space import SearchSpace

from ax_nas_plugins.runners import _proc, _records

COMPONENT = "ax_nas_plugins.testing.components:trainer"
SCRIPTS = Path(__file__).resolve().parent / "scripts"
REPO = SCRIPTS.parents[1]


def exp_dir(log_root, name: str) -> Path:
    """The folder of experiment ``name`` under ``log_root`` (slug + name hash)."""
    return Path(log_root) / _records.folder_name(name)


def experiment(runner, name: str = "exp") -> Experiment:
    """A two-parameter experiment (a float and a string choice) with ``runner``."""
    space = SearchSpace(
        [
            RangeParameter("x", ParameterType.FLOAT, 0.0, 1.0),
            ChoiceParameter(
                "tag",
                ParameterType.STRING,
                ["a", "b", "; touch pwned", "$(touch pwned2)"],
                is_ordered=False,
                sort_values=False,
            ),
        ]
    )
    return Experiment(name=name, search_space=space, runner=runner)


def add_trial(exp: Experiment, x: float = 0.5, tag: str = "a"):
    return exp.new_trial().add_arm(Arm({"x": x, "tag": tag}))


def wait_for(predicate, timeout: float = 60.0, what: str = "condition"):
    """Poll ``predicate`` until truthy; the value, or AssertionError naming ``what``."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}")


def poll_until_terminal(runner, trials, timeout: float = 60.0):
    """Poll (marking trials as Ax would) until all are terminal; index -> status."""
    found = {}

    def done():
        pending = [t for t in trials if t.index not in found]
        for status, indices in runner.poll_trial_status(pending).items():
            for i in indices:
                if status.is_terminal:
                    found[i] = status
        return len(found) == len(trials)

    wait_for(done, timeout, "trials to finish")
    return found


def read_pid(folder: str, name: str = "pid") -> int:
    path = os.path.join(folder, name)
    p = Path(path)
    wait_for(lambda: p.exists() and p.read_text().strip(), 30, path)
    return int(p.read_text())


def processes_mentioning(text: str) -> list[int]:
    """Live pids whose command line contains ``text`` (zombies excluded)."""
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit() or int(entry) == os.getpid():
            continue
        try:
            with open(f"/proc/{entry}/cmdline", "rb") as fh:
                cmd = fh.read().replace(b"\0", b" ").decode("utf-8", "replace")
        except OSError:
            continue
        if text in cmd and _proc.is_alive(int(entry)):
            found.append(int(entry))
    return found


def kill_leftovers(text: str, grace: float = 5.0) -> list[int]:
    """SIGKILL every process whose command line mentions ``text`` and that is
    still there after ``grace`` seconds (a supervisor that has just written a
    job's exit status needs a moment to exit); their pids."""
    deadline = time.monotonic() + grace
    while processes_mentioning(text) and time.monotonic() < deadline:
        time.sleep(0.05)
    pids = processes_mentioning(text)
    for pid in pids:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    return pids


def result(folder: str) -> dict:
    with open(os.path.join(folder, "result.json")) as fh:
        return json.load(fh)


def start_script(script, args: list[str], workdir, fault: str | None = None):
    """Start ``python script *args`` in ``workdir`` with this repo importable,
    output piped; ``fault`` arms ``AX_NAS_FAULT`` (the process SIGKILLs itself
    at that point), which is otherwise cleared."""
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    env.pop("AX_NAS_FAULT", None)
    if fault:
        env["AX_NAS_FAULT"] = fault
    return subprocess.Popen(
        [sys.executable, str(script), *map(str, args)],
        cwd=workdir,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def cluster_orchestrate(
    mode: str, workdir, name: str, total: int, spec: dict, fault: str | None = None
) -> subprocess.Popen:
    """Start ``tests/scripts/cluster_orchestrate.py`` (a real Orchestrator over a
    cluster runner, SQLite in ``workdir``); ``fault`` arms ``AX_NAS_FAULT``."""
    args = [mode, Path(workdir) / "nas.db", name, total, json.dumps(spec)]
    return start_script(SCRIPTS / "cluster_orchestrate.py", args, workdir, fault)
