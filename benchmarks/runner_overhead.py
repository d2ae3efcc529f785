"""Runner overhead: ``torchx_local`` against Ax's built-in ``TorchXRunner``.

Measured in one run, on the same machine, for both runners:

1. 40 trials of a no-op job (``true``) through a real Ax ``Orchestrator``, 4
   at a time: the time spent inside ``runner.run`` per trial (submit
   overhead) and the Orchestrator's wall time per trial.
2. 100 jobs that sleep: the time of one ``poll_trial_status`` over all 100
   (the first poll, the median of 5 polls, and, for ours, the first poll of a
   new runner object as in a resumed process, which has nothing cached; Ax's
   runner cannot do that at all).
3. Stopping those 100 jobs one by one: time per ``stop`` until the job's
   process is confirmed gone by pid (target: under 1 s each).

Ax's runner is ``ax.runners.torchx.TorchXRunner`` on TorchX ``local_cwd``
(state kept in memory: it cannot be saved or resumed). Ours keeps every job's
state in files and survives a restart.

Targets (issue 3): per-trial overhead and the 100-trial poll no more than 2x
Ax's built-in, the poll under 10 ms; stop confirmed by pid within 1 s.

Run: ``nice -n 10 python benchmarks/runner_overhead.py`` (writes
``benchmarks/results/runner_overhead.{json,md}``). With ``--cluster`` it
measures 20 sleeping trials on Slurm and Ray beside local and Docker instead
(``benchmarks/_cluster_overhead.py``; results ``runner_overhead_cluster.*``).
"""

from __future__ import annotations

import json
import logging
import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from torchx import specs

RESULTS = Path(__file__).resolve().parent / "results"
TRIALS, PARALLEL, POLL_JOBS = 40, 4, 100


# Components for Ax's TorchXRunner: it passes the trial's parameters and
# `trial_idx` (our runner passes `log_dir`, `trial_index`, ... as well).
def ax_noop(x1: float, x2: float, trial_idx: int) -> specs.AppDef:
    return _app(f"noop-{trial_idx}", "true", [])


def ax_sleeper(x1: float, x2: float, trial_idx: int) -> specs.AppDef:
    return _app(f"sleeper-{trial_idx}", "sleep", ["120"])


def _app(name: str, entrypoint: str, args: list[str]) -> specs.AppDef:
    role = specs.Role(
        name="job",
        image=os.getcwd(),
        entrypoint=entrypoint,
        args=args,
        resource=specs.Resource(cpu=1, gpu=0, memMB=64),
    )
    return specs.AppDef(name=name, roles=[role])


def _experiment(name: str, runner: Any):
    from ax_nas_plugins.testing.experiments import two_param_experiment

    return two_param_experiment(name, runner)


class Timed:
    """Wraps a runner method and records the seconds of each call."""

    def __init__(self, runner: Any, method: str) -> None:
        self.calls: list[float] = []
        original = getattr(runner, method)

        def wrapper(*args: Any, **kwargs: Any) -> Any:
            t0 = time.perf_counter()
            try:
                return original(*args, **kwargs)
            finally:
                self.calls.append(time.perf_counter() - t0)

        setattr(runner, method, wrapper)


def make_runners(root: str) -> dict[str, Any]:
    from ax.runners.torchx import TorchXRunner

    import ax_nas_plugins as anp

    ours = anp.runner(
        "torchx_local",
        component="ax_nas_plugins.testing.components:noop",
        log_root=os.path.join(root, "ours"),
    )
    ax = TorchXRunner(
        tracker_base=os.path.join(root, "ax_tracker"),
        component=ax_noop,
        orchestrator="local_cwd",
        cfg={"log_dir": os.path.join(root, "ax_logs")},
    )
    return {"torchx_local (ours)": ours, "Ax TorchXRunner": ax}


def orchestrated(name: str, runner: Any) -> dict[str, float]:
    from ax.orchestration.orchestrator import Orchestrator, OrchestratorOptions

    import ax_nas_plugins as anp

    timed = Timed(runner, "run")
    exp = _experiment(name.split()[0].replace("(", ""), runner)
    orch = Orchestrator(
        experiment=exp,
        generation_strategy=anp.generation_strategy("sobol", seed=0),
        options=OrchestratorOptions(
            total_trials=TRIALS,
            max_pending_trials=PARALLEL,
            init_seconds_between_polls=0,
            min_seconds_before_poll=0.0,
            seconds_between_polls_backoff_factor=1.0,
            logging_level=logging.ERROR,
        ),
    )
    t0 = time.perf_counter()
    orch.run_all_trials()
    wall = time.perf_counter() - t0
    statuses = {t.status.name for t in exp.trials.values()}
    return {
        "submit_ms_median": 1e3 * statistics.median(timed.calls),
        "submit_ms_mean": 1e3 * statistics.mean(timed.calls),
        "orchestrator_wall_s_per_trial": wall / TRIALS,
        "trials": len(exp.trials),
        "statuses": sorted(statuses),
    }


def _ax_pid(trial: Any) -> int:
    meta = trial.run_metadata
    sched = meta["torchx_runner"]._scheduler_instances["local_cwd"]
    app_id = meta["torchx_app_handle"].rsplit("/", 1)[-1]
    app = sched._apps[app_id]
    return next(iter(app.role_replicas.values()))[0].proc.pid


def _our_pid(trial: Any) -> int:
    meta = trial.run_metadata
    app_dir = Path(meta["log_dir"]) / meta["app_id"]
    found = list(app_dir.glob("*/0/state.json"))
    if not found:
        raise FileNotFoundError(app_dir)
    return json.loads(found[0].read_text())["pid"]


def poll_and_stop(name: str, runner: Any) -> dict[str, float]:
    from ax.core.arm import Arm

    from ax_nas_plugins.runners import _proc

    is_ours = not hasattr(runner, "_torchx_runner") or "ours" in name
    if is_ours:
        runner.component = "ax_nas_plugins.testing.components:sleeper"
    else:
        runner._component = ax_sleeper
    exp = _experiment("poll_" + ("ours" if is_ours else "ax"), runner)
    trials = []
    for i in range(POLL_JOBS):
        trial = exp.new_trial().add_arm(Arm({"x1": 0.1 * (i % 50), "x2": 0.1 * i}))
        trial.run()
        trials.append(trial)
    pid_of = _our_pid if is_ours else _ax_pid

    def all_started() -> bool:
        try:
            return all(_proc.is_alive(pid_of(t)) for t in trials)
        except (StopIteration, KeyError, TypeError, FileNotFoundError):
            return False

    deadline = time.monotonic() + 120
    while not all_started() and time.monotonic() < deadline:
        time.sleep(0.2)
    time.sleep(3.0)  # let 100 starting processes settle: measure a steady state
    polls = []
    for _ in range(5):
        t0 = time.perf_counter()
        got = runner.poll_trial_status(trials)
        polls.append(time.perf_counter() - t0)
    running = len(got.get(__import__("ax").core.base_trial.TrialStatus.RUNNING, ()))
    resumed_ms = None
    if is_ours:  # a new runner, as in a resumed process: nothing cached
        fresh = type(runner).deserialize_init_args(
            type(runner).serialize_init_args(runner)
        )
        fresh_runner = type(runner)(**fresh)
        t0 = time.perf_counter()
        fresh_runner.poll_trial_status(trials)
        resumed_ms = 1e3 * (time.perf_counter() - t0)
    stops, confirmed = [], 0
    for trial in trials:
        pid = pid_of(trial)
        started = _proc.start_time(pid)
        t0 = time.perf_counter()
        runner.stop(trial)
        while _proc.is_alive(pid, started) and time.perf_counter() - t0 < 5:
            _proc.reap(pid)
            time.sleep(0.0005)
        elapsed = time.perf_counter() - t0
        stops.append(elapsed)
        confirmed += elapsed < 1.0 and not _proc.is_alive(pid, started)
    return {
        "running_seen_by_poll": running,
        "poll_100_ms_first": 1e3 * polls[0],
        "poll_100_ms_new_process": resumed_ms if resumed_ms is not None else "n/a",
        "poll_100_ms_median": 1e3 * statistics.median(polls),
        "stop_ms_median": 1e3 * statistics.median(stops),
        "stop_ms_max": 1e3 * max(stops),
        "stops_confirmed_within_1s": confirmed,
    }


def main() -> None:
    from rich.console import Console
    from rich.table import Table

    logging.getLogger("ax").setLevel(logging.ERROR)
    root = tempfile.mkdtemp(prefix="ax-nas-bench-")
    os.chdir(root)
    results: dict[str, dict[str, Any]] = {}
    runners = make_runners(root)
    for name, runner in runners.items():
        results[name] = orchestrated(name, runner)
    for name, runner in make_runners(root + "/p").items():
        results[name].update(poll_and_stop(name, runner))

    ours, ax = results["torchx_local (ours)"], results["Ax TorchXRunner"]
    checks = {
        "submit <= 2x Ax": ours["submit_ms_median"] <= 2 * ax["submit_ms_median"],
        "poll(100) <= 2x Ax": ours["poll_100_ms_median"]
        <= 2 * ax["poll_100_ms_median"],
        "poll(100) < 10 ms": ours["poll_100_ms_median"] < 10,
        "every stop confirmed by pid < 1 s": ours["stops_confirmed_within_1s"]
        == POLL_JOBS,
    }
    table = Table(title="Runner overhead (lower is better)")
    table.add_column("measure")
    for name in results:
        table.add_column(name, justify="right")
    for key in next(iter(results.values())):
        row = [key]
        for name in results:
            v = results[name][key]
            row.append(f"{v:.2f}" if isinstance(v, float) else str(v))
        table.add_row(*row)
    console = Console()
    console.print(table)
    for check, ok in checks.items():
        console.print(f"{'MET ' if ok else 'MISSED'}  {check}")

    with open("/proc/meminfo") as fh:
        mem_gib = int(fh.readline().split()[1]) / 2**20
    load = os.getloadavg()[1]
    machine = (
        f"{platform.platform()}, Python {platform.python_version()}, "
        f"{os.cpu_count()} CPUs, {mem_gib:.0f} GiB, no GPU; 5-minute load "
        f"average {load:.1f} at the end (other jobs shared the CPUs when it "
        "is above the CPU count: timings are then pessimistic)"
    )
    payload = {
        "benchmark": "runner_overhead",
        "machine": machine,
        "trials": TRIALS,
        "parallel": PARALLEL,
        "poll_jobs": POLL_JOBS,
        "results": results,
        "targets_met": checks,
        "measured_at": time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime()),
    }
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "runner_overhead.json").write_text(json.dumps(payload, indent=2))
    lines = [
        "# Runner overhead",
        "",
        f"Machine: {machine}. Measured {payload['measured_at']}.",
        "",
        "| measure | " + " | ".join(results) + " |",
        "| --- | " + " | ".join("---:" for _ in results) + " |",
    ]
    for key in next(iter(results.values())):
        cells = []
        for name in results:
            v = results[name][key]
            cells.append(f"{v:.2f}" if isinstance(v, float) else str(v))
        lines.append(f"| {key} | " + " | ".join(cells) + " |")
    lines += ["", "| target | met |", "| --- | --- |"]
    lines += [f"| {c} | {'yes' if ok else 'NO'} |" for c, ok in checks.items()]
    (RESULTS / "runner_overhead.md").write_text("\n".join(lines) + "\n")
    sys.stdout.flush()


if __name__ == "__main__":
    if "--cluster" in sys.argv[1:]:
        # Slurm and Ray beside local and Docker: benchmarks/_cluster_overhead.py
        sys.path.insert(0, str(Path(__file__).resolve().parent))
        from _cluster_overhead import main as cluster_main

        cluster_main()
    else:
        main()
