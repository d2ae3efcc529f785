"""Helpers of the fault tests: a real orchestrator process, start counts."""

from __future__ import annotations

import json
import subprocess
from collections import Counter
from pathlib import Path

from tests.runner_support import exp_dir, start_script

SCRIPT = Path(__file__).resolve().parent / "_orchestrate.py"
NAME = "faults"


class Run:
    """One experiment in ``workdir``: orchestrator processes, files, counts."""

    def __init__(
        self, workdir: Path, total=4, max_conc=2, epochs=4, pause=0.25, stop_odd=False
    ):
        self.workdir = workdir
        self.args = [
            str(workdir / "nas.db"),
            str(workdir / "runs"),
            NAME,
            str(total),
            str(max_conc),
            str(epochs),
            str(pause),
            str(workdir / "starts.log"),
            "1" if stop_odd else "0",
        ]
        self.total = total

    def start(
        self, mode: str, fault: str | None = None, total: int | None = None
    ) -> subprocess.Popen:
        args = list(self.args)
        if total is not None:
            args[3] = str(total)
        return start_script(SCRIPT, [mode, *args], self.workdir, fault)

    def finish(self, proc: subprocess.Popen, timeout: float = 300) -> dict:
        """Wait for an orchestrator; its JSON result (index -> (status, reason))."""
        try:
            out, err = proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            out, err = proc.communicate()
            raise AssertionError(f"orchestrator hung:\n{err[-3000:]}") from None
        assert proc.returncode == 0, f"rc {proc.returncode}:\n{err[-3000:]}"
        return {int(k): tuple(v) for k, v in json.loads(out.splitlines()[-1]).items()}

    def starts(self) -> Counter:
        """How many times each trial's trainer started (from the counter file)."""
        path = self.workdir / "starts.log"
        lines = path.read_text().splitlines() if path.exists() else []
        return Counter(int(line.split()[0]) for line in lines)

    def trial_dir(self, index: int) -> Path:
        return exp_dir(self.workdir / "runs", NAME) / f"trial_{index:04d}"
