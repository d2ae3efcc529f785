"""Fault soak: random SIGKILLs of a real Orchestrator over one long run.

One experiment of TRIALS trials (``torchx_local``, SQLite, PARALLEL at a
time, an early-stopping strategy that stops every odd trial after 2 epochs;
the orchestrator and job are ``tests/faults/_orchestrate.py`` and
``tests/faults/_job.py``). The orchestrator is started, SIGKILLed at a random
moment (uniform in [MIN_S, MAX_S] seconds after it printed that it starts
orchestrating, i.e. once Ax is imported and the experiment loaded), resumed with
``Orchestrator.from_stored_experiment``, and so on KILLS times; then a last
resume runs to the end. Reported:

- **lost**: trials that never reached a terminal status, or fewer trials
  than asked;
- **duplicated**: trials whose trainer started more than once (a counter
  file the trainer appends to as it starts);
- **mislabelled**: a trial FAILED or ABANDONED (no job fails here), an even
  trial EARLY_STOPPED (only odd trials are stopped), or COMPLETED without
  its job having finished;
- **orphans**: processes still running from the run's folder at the end.

Run: ``nice -n 10 python benchmarks/fault_soak.py [TRIALS KILLS PARALLEL]``
(defaults 40 50 3; writes ``benchmarks/results/fault_soak[_<size>].{json,md}``).
``SOAK_EPOCHS`` sets the epochs per trial (default 40, of 0.5 s);
``SOAK_BUDGET_S`` stops the kills after that many seconds (the report says
how many there were), then one last resume runs to the end.
"""

from __future__ import annotations

import json
import os
import platform
import random
import signal
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
RESULTS = Path(__file__).resolve().parent / "results"
EPOCHS, PAUSE = int(os.environ.get("SOAK_EPOCHS", 40)), 0.5
MIN_S, MAX_S = 0.0, 8.0


def main() -> None:
    from tests.faults._support import Run
    from tests.runner_support import kill_leftovers

    trials, kills, parallel = (int(a) for a in (sys.argv[1:4] or (40, 50, 3)))
    seed = 7
    rng = random.Random(seed)
    work = Path(tempfile.mkdtemp(prefix="fault_soak_"))
    os.chdir(work)
    run = Run(
        work, total=trials, max_conc=parallel, epochs=EPOCHS, pause=PAUSE, stop_odd=True
    )
    t0 = time.monotonic()
    done_kills, final = 0, None
    budget = float(os.environ.get("SOAK_BUDGET_S", "inf"))  # then no more kills
    while done_kills < kills and time.monotonic() - t0 < budget:
        proc = run.start("resume" if _stored(work / "nas.db") else "start")
        proc.stdout.readline()  # "orchestrating": Ax is imported, the loop starts
        delay = rng.uniform(MIN_S, MAX_S)
        try:
            proc.wait(timeout=delay)
        except Exception:
            proc.send_signal(signal.SIGKILL)
            proc.communicate()
            done_kills += 1
            print(f"kill {done_kills} after {delay:.1f} s", flush=True)
            continue
        final = run.finish(proc)  # ended on its own: the run is complete
        break
    if final is None:
        mode = "resume" if _stored(work / "nas.db") else "start"
        final = run.finish(run.start(mode), timeout=3600)
    wall = time.monotonic() - t0
    starts = run.starts()
    statuses = {i: s for i, (s, _) in final.items()}
    lost = [i for i in range(trials) if statuses.get(i) not in _TERMINAL]
    duplicated = sorted(i for i, n in starts.items() if n > 1)
    mislabelled = sorted(
        i
        for i, s in statuses.items()
        if s in ("FAILED", "ABANDONED")
        or (s == "EARLY_STOPPED" and i % 2 == 0)
        or (s == "COMPLETED" and not (run.trial_dir(i) / "done").exists())
    )
    orphans = kill_leftovers(str(work))
    report = {
        "trials": trials,
        "kills": done_kills,
        "kills_asked": kills,
        "parallel": parallel,
        "epochs": EPOCHS,
        "epoch_s": PAUSE,
        "kill_window_s": [MIN_S, MAX_S],
        "seed": seed,
        "wall_s": round(wall, 1),
        "statuses": dict(Counter(statuses.values())),
        "lost": lost,
        "duplicated": duplicated,
        "mislabelled": mislabelled,
        "orphans": orphans,
        "never_started": sorted(set(range(trials)) - set(starts)),
        "machine": f"{platform.machine()}, {os.cpu_count()} CPUs, shared with "
        "other jobs (up to 7 engineers' tests and benchmarks)",
    }
    RESULTS.mkdir(exist_ok=True)
    suffix = (
        "" if (trials, kills, parallel) == (40, 50, 3) else (f"_{trials}t_{kills}k")
    )
    (RESULTS / f"fault_soak{suffix}.json").write_text(json.dumps(report, indent=2))
    lines = [
        f"# Fault soak: {trials} trials, {done_kills} SIGKILLs, {parallel} parallel",
        "",
        f"Machine: {report['machine']}. Wall time {report['wall_s']} s. Each "
        f"trial: {EPOCHS} epochs of {PAUSE} s; odd trials early-stopped after 2 "
        f"epochs; kills uniform in [{MIN_S}, {MAX_S}] s after each orchestrator "
        "began orchestrating "
        f"(seed {seed}).",
        "",
        "| measure | value |",
        "| --- | --- |",
        f"| final statuses | {report['statuses']} |",
        f"| lost | {len(lost)} {lost or ''} |",
        f"| duplicated (trainer started > 1 time) | {len(duplicated)} "
        f"{duplicated or ''} |",
        f"| mislabelled | {len(mislabelled)} {mislabelled or ''} |",
        f"| orphans | {len(orphans)} {orphans or ''} |",
    ]
    (RESULTS / f"fault_soak{suffix}.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


def _stored(db: Path) -> bool:
    """Whether the experiment reached the database (a kill may come earlier)."""
    import sqlite3

    if not db.exists():
        return False
    with sqlite3.connect(db) as con:
        try:
            return bool(con.execute("SELECT 1 FROM experiment_v2").fetchone())
        except sqlite3.OperationalError:
            return False


_TERMINAL = {"COMPLETED", "EARLY_STOPPED", "FAILED", "ABANDONED"}

if __name__ == "__main__":
    main()
