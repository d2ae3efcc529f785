"""Wall time of `ax-nas demo` (24 trials by default), end to end, with its report.

Runs the console command in a fresh folder exactly as the README's first
command does, prints one table row, and writes
``benchmarks/results/demo_wall_time.md``. The machine's load is recorded with
the result: on a shared machine the time says little about an idle one.

    python benchmarks/demo_wall_time.py [--trials 24] [extra ax-nas demo options]
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "results" / "demo_wall_time.md"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--trials", type=int, default=24)
    args, extra = parser.parse_known_args()
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp) / "demo"
        load_before = os.getloadavg()[0]
        started = time.perf_counter()
        done = subprocess.run(
            [
                sys.executable,
                "-m",
                "ax_nas_plugins.cli.main",
                "demo",
                "--workdir",
                str(workdir),
                "--trials",
                str(args.trials),
                *extra,
            ],
            capture_output=True,
            text=True,
            check=False,
        )
        wall = time.perf_counter() - started
        load_after = os.getloadavg()[0]
    out = done.stdout + done.stderr
    counts = re.search(r"Trials: (.*)\.", done.stdout)
    row = (
        f"| {args.trials} | {' '.join(extra) or '(defaults)'} | {wall / 60:.1f} min "
        f"| {counts.group(1) if counts else '?'} | {out.count('Traceback')} "
        f"| {os.cpu_count()} | {load_before:.1f} -> {load_after:.1f} "
        f"| {done.returncode} |"
    )
    header = (
        "| trials | options | wall time | trials by status | tracebacks printed "
        "| cores | load average (1 min) | exit |\n|---|---|---|---|---|---|---|---|"
    )
    print(header)
    print(row)
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    if not RESULTS.exists():
        RESULTS.write_text(
            "# `ax-nas demo` wall time\n\n"
            "`python benchmarks/demo_wall_time.py` (appends one row per run).\n\n"
            + header
            + "\n"
        )
    with RESULTS.open("a") as fh:
        fh.write(row + "\n")


if __name__ == "__main__":
    main()
