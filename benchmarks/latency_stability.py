"""Benchmark: how repeatable is ``measure.measure_latency`` against a naive loop?

The same small MLP (fixed seed) is measured 20 times in fresh processes and
20 times in one process, with

- ``measure``: :func:`ax_nas_plugins.measure.measure_latency` (warm-up,
  ``torch.utils.benchmark`` blocked autorange, inference mode, 1 thread),
  reporting the median per call, once with ``clock="wall"`` and once with
  ``clock="thread_cpu"`` (CPU time of the calling thread, which other jobs on
  a shared machine do not inflate);
- ``naive``: 100 calls, each timed with ``time.perf_counter``, no warm-up, no
  inference mode, torch's default thread count, reporting their median.

The spread is the coefficient of variation (stdev / mean) of the 20 medians.
Target (issue 4): under 5% for ``measure`` on an idle machine.

Run: ``nice -n 10 python benchmarks/latency_stability.py [--runs 20]``
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "results"
THREADS = 1
BATCH = 8


def _model():
    import torch

    torch.manual_seed(0)
    net = torch.nn.Sequential(
        torch.nn.Linear(64, 256),
        torch.nn.ReLU(),
        torch.nn.Linear(256, 256),
        torch.nn.ReLU(),
        torch.nn.Linear(256, 10),
    )
    return net, torch.randn(BATCH, 64)


def naive_ms() -> float:
    net, x = _model()
    times = []
    for _ in range(100):
        t0 = time.perf_counter()
        net(x)
        times.append(time.perf_counter() - t0)
    return statistics.median(times) * 1e3


def measured(min_run_time: float) -> dict:
    from ax_nas_plugins import measure

    net, x = _model()
    out = {}
    for clock in ("wall", "thread_cpu"):
        r = measure.measure_latency(
            net,
            x,
            warmup=10,
            min_run_time=min_run_time,
            num_threads=THREADS,
            clock=clock,
        )
        out.update(
            {
                f"{clock}_median_ms": r.median_ms,
                f"{clock}_p90_ms": r.p90_ms,
                "threads": r.num_threads,
                "device": r.device,
                "device_name": r.device_name,
            }
        )
    return out


def child(min_run_time: float) -> None:
    # Naive first: it gets the process cold, as a user's first measurement would.
    import torch

    default_threads = torch.get_num_threads()
    out = {"naive_ms": naive_ms(), "naive_threads": default_threads}
    out.update(measured(min_run_time))
    print(json.dumps(out))


def cv(values: list[float]) -> float:
    return statistics.stdev(values) / statistics.fmean(values)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--min-run-time", type=float, default=0.5)
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.min_run_time)
        return

    from rich.console import Console
    from rich.table import Table

    fresh = []
    for _ in range(args.runs):
        proc = subprocess.run(
            [
                sys.executable,
                __file__,
                "--child",
                "--min-run-time",
                str(args.min_run_time),
            ],
            capture_output=True,
            text=True,
            check=True,
        )
        fresh.append(json.loads(proc.stdout.strip().splitlines()[-1]))

    import torch

    default_threads = torch.get_num_threads()
    same = []
    for _ in range(args.runs):
        row = {"naive_ms": naive_ms(), "naive_threads": default_threads}
        row.update(measured(args.min_run_time))
        same.append(row)

    summary = {"runs": args.runs, "batch": BATCH, "min_run_time_s": args.min_run_time}
    table = Table(title="latency of a small MLP: spread of the median over runs")
    for col in (
        "setting",
        "method",
        "threads",
        "device",
        "mean of medians ms",
        "min ms",
        "max ms",
        "CV",
    ):
        table.add_column(col, justify="right")
    for setting, rows in (("fresh processes", fresh), ("one process", same)):
        for method, key, threads_key in (
            ("measure, clock=wall", "wall_median_ms", "threads"),
            ("measure, clock=thread_cpu", "thread_cpu_median_ms", "threads"),
            ("naive perf_counter loop", "naive_ms", "naive_threads"),
        ):
            vals = [r[key] for r in rows]
            entry = {
                "cv": cv(vals),
                "mean_ms": statistics.fmean(vals),
                "min_ms": min(vals),
                "max_ms": max(vals),
                "threads": rows[0][threads_key],
                "device": rows[0]["device"],
                "values_ms": vals,
            }
            summary[f"{setting}/{method}"] = entry
            table.add_row(
                setting,
                method,
                str(entry["threads"]),
                entry["device"],
                f"{entry['mean_ms']:.4f}",
                f"{entry['min_ms']:.4f}",
                f"{entry['max_ms']:.4f}",
                f"{entry['cv']:.1%}",
            )
    summary["device_name"] = fresh[0]["device_name"]
    summary["target_cv<5%"] = {
        f"{s}/{m}": summary[f"{s}/{m}"]["cv"] < 0.05
        for s in ("fresh processes", "one process")
        for m in ("measure, clock=wall", "measure, clock=thread_cpu")
    }
    summary["machine"] = {
        "note": "2 CPU cores, 24 GiB, no GPU; 3 other jobs may have shared the CPU "
        "during the run (not an idle machine)",
        "cpu_count": os.cpu_count(),
        "load_average_at_end": os.getloadavg(),
        "python": platform.python_version(),
        "torch": torch.__version__,
    }
    console = Console(width=120)
    console.print(table)
    console.print(
        f"device {summary['device_name']}; measure: {THREADS} thread(s), "
        f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores"
    )
    RESULTS.mkdir(exist_ok=True)
    out = RESULTS / "latency_stability.json"
    out.write_text(json.dumps(summary, indent=2))
    console.print(f"wrote {out}")


if __name__ == "__main__":
    main()
