"""Benchmark: the pack's ``tensorboard`` metric against Ax's ``TensorboardMetric``.

20 trials x 2,000 steps x 2 tags written by torch's SummaryWriter; both
metrics fetch all trials (``bulk_fetch_experiment_data``, what Ax's
``Experiment.fetch_data`` calls) cold, then 10 polls with 50 new steps per
tag appended to every trial between polls, then 10 polls with nothing new.
Reported: seconds per fetch, points returned, peak Python memory during a
fetch (tracemalloc) and the memory the pack's cache keeps after each poll.

Targets (issue 4): >= 100x faster than Ax per repeated poll, >= 10x on the
cold fetch, 100% of the points, memory growing with the points kept and not
with the number of polls.

Run: ``nice -n 10 python benchmarks/tensorboard_fetch.py [--trials 20]``
"""

from __future__ import annotations

import argparse
import gc
import json
import logging
import os
import platform
import shutil
import statistics
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "results"
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))


def _fetch(metric, exp, metrics, memory: bool):
    """One fetch of every trial: (wall s, CPU s, points, peak bytes, kept bytes)."""
    if memory:
        gc.collect()
        tracemalloc.reset_peak()
    c0 = time.process_time()
    t0 = time.perf_counter()
    out = metric.bulk_fetch_experiment_data(experiment=exp, metrics=metrics)
    seconds = time.perf_counter() - t0
    cpu = time.process_time() - c0
    peak = kept = None
    if memory:
        _, peak = tracemalloc.get_traced_memory()
    points = 0
    for by_metric in out.values():
        for result in by_metric.values():
            points += len(result.unwrap().full_df)
    del out
    if memory:
        gc.collect()
        kept = tracemalloc.get_traced_memory()[0]
    return seconds, cpu, points, peak, kept


TAGS = ("val_acc", "train_loss")


def _append(writers, start, count):
    for i, w in enumerate(writers):
        for s in range(start, start + count):
            w.add_scalar(TAGS[0], s / 2000 + i * 1e-3, s)
            w.add_scalar(TAGS[1], 1.0 / (s + 1), s)
        w.flush()


def run_pass(args, memory: bool, ax_fetches: int) -> list[dict]:
    """Write the trials, then cold fetch, polls with new steps, idle polls.

    With ``memory``, tracemalloc runs throughout (slower; its times are not
    reported) and Ax's metric is fetched only ``ax_fetches`` times.
    """
    from ax.metrics.tensorboard import TensorboardMetric
    from tb_helpers import experiment, running_trial
    from torch.utils.tensorboard import SummaryWriter

    import ax_nas_plugins as anp
    from ax_nas_plugins.metrics import _logdir

    tmp = Path(tempfile.mkdtemp(prefix="tb_fetch_bench_"))
    writers = [
        SummaryWriter(str(tmp / f"trial_{i}"), max_queue=100_000, flush_secs=3600)
        for i in range(args.trials)
    ]
    _append(writers, 0, args.steps)
    ours = [anp.metric("tensorboard", name=t, tag=t) for t in TAGS]
    theirs = [TensorboardMetric(name=t, tag=t) for t in TAGS]
    exp_ours = experiment(ours, name="bench_ours")
    exp_ax = experiment(theirs, name="bench_ax")
    for i in range(args.trials):
        running_trial(exp_ours, tmp / f"trial_{i}")
        running_trial(exp_ax, tmp / f"trial_{i}")
    _logdir.clear_cache()
    if memory:
        gc.collect()
        tracemalloc.start()
    rows: list[dict] = []
    steps = args.steps
    phases = [("cold", 0)] + [
        (f"poll +{args.append}", p + 1) for p in range(args.polls)
    ]
    phases += [("poll, nothing new", p + 1) for p in range(args.polls)]
    for n, (phase, poll) in enumerate(phases):
        if phase.startswith("poll +"):
            _append(writers, steps, args.append)
            steps += args.append
        if phase == "poll, nothing new" and poll == 1:
            for w in writers:
                w.close()
        expected = args.trials * len(TAGS) * steps
        row = {"phase": phase, "poll": poll, "expected_points": expected}
        if n < ax_fetches and phase != "poll, nothing new":
            s_, c_, p_, pk, _ = _fetch(theirs[0], exp_ax, theirs, memory)
            row.update(ax_s=s_, ax_cpu_s=c_, ax_points=p_, ax_peak_bytes=pk)
        s_, c_, p_, pk, kept = _fetch(ours[0], exp_ours, ours, memory)
        row.update(
            ours_s=s_,
            ours_cpu_s=c_,
            ours_points=p_,
            ours_peak_bytes=pk,
            ours_kept_bytes=kept,
        )
        rows.append(row)
    if memory:
        tracemalloc.stop()
    for w in writers:
        w.close()
    shutil.rmtree(tmp, ignore_errors=True)
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=20)
    parser.add_argument("--steps", type=int, default=2000)
    parser.add_argument("--polls", type=int, default=10)
    parser.add_argument("--append", type=int, default=50)
    args = parser.parse_args()

    import torch

    torch.set_num_threads(1)
    logging.disable(logging.WARNING)
    from rich.console import Console
    from rich.table import Table

    timing = run_pass(args, memory=False, ax_fetches=10**9)
    memory = run_pass(args, memory=True, ax_fetches=2)

    cold = timing[0]
    polls = [r for r in timing if r["phase"].startswith("poll +")]
    idle = [r for r in timing if r["phase"] == "poll, nothing new"]
    med = statistics.median
    mem_polls = [r for r in memory if r["phase"].startswith("poll +")]
    mem_idle = [r for r in memory if r["phase"] == "poll, nothing new"]
    kept_per_point = [r["ours_kept_bytes"] / r["expected_points"] for r in memory]
    summary = {
        "trials": args.trials,
        "steps": args.steps,
        "tags": len(TAGS),
        "polls": args.polls,
        "append_per_poll": args.append,
        "cold_ax_s": cold["ax_s"],
        "cold_ours_s": cold["ours_s"],
        "cold_speedup": cold["ax_s"] / cold["ours_s"],
        "cold_speedup_cpu": cold["ax_cpu_s"] / cold["ours_cpu_s"],
        "poll_ax_median_s": med(r["ax_s"] for r in polls),
        "poll_ours_median_s": med(r["ours_s"] for r in polls),
        "poll_speedup": med(r["ax_s"] for r in polls) / med(r["ours_s"] for r in polls),
        "poll_speedup_min": min(r["ax_s"] / r["ours_s"] for r in polls),
        "poll_speedup_cpu": med(r["ax_cpu_s"] for r in polls)
        / med(r["ours_cpu_s"] for r in polls),
        "idle_poll_ours_median_s": med(r["ours_s"] for r in idle),
        "points_fraction_ours": min(
            r["ours_points"] / r["expected_points"] for r in timing
        ),
        "points_fraction_ax": min(
            r["ax_points"] / r["expected_points"] for r in timing if "ax_points" in r
        ),
        "peak_fetch_bytes_ax": [
            r["ax_peak_bytes"] for r in memory if "ax_peak_bytes" in r
        ],
        "peak_fetch_bytes_ours_cold": memory[0]["ours_peak_bytes"],
        "peak_fetch_bytes_ours_poll_max": max(r["ours_peak_bytes"] for r in mem_polls),
        "kept_bytes_after_cold": memory[0]["ours_kept_bytes"],
        "kept_bytes_after_polls": mem_polls[-1]["ours_kept_bytes"],
        "kept_bytes_per_point_range": [min(kept_per_point), max(kept_per_point)],
        "kept_bytes_change_over_idle_polls": mem_idle[-1]["ours_kept_bytes"]
        - mem_idle[0]["ours_kept_bytes"],
        "machine": {
            "note": "2 CPU cores, 24 GiB, no GPU; 3 other jobs may have shared the "
            "CPU during the run (wall and CPU seconds are both reported)",
            "cpu_count": os.cpu_count(),
            "python": platform.python_version(),
            "platform": platform.platform(),
            "load_average_at_end": os.getloadavg(),
        },
        "timing_rows": timing,
        "memory_rows": memory,
    }
    summary["targets_met"] = {
        "poll_speedup>=100": summary["poll_speedup"] >= 100,
        "cold_speedup>=10": summary["cold_speedup"] >= 10,
        "all_points": summary["points_fraction_ours"] == 1.0,
        "memory_flat_over_idle_polls": abs(summary["kept_bytes_change_over_idle_polls"])
        < 0.01 * summary["kept_bytes_after_polls"],
    }

    console = Console(width=140)
    table = Table(title="tensorboard fetch: Ax TensorboardMetric vs ax-nas-plugins")
    for col in (
        "phase",
        "#",
        "points",
        "Ax s",
        "Ax points",
        "ours s",
        "ours CPU s",
        "ours points",
        "speed-up",
        "ours kept MiB",
        "traced peak MiB",
    ):
        table.add_column(col, justify="right")
    mib = 1 / 2**20
    for t, m in zip(timing, memory, strict=True):
        ax = t.get("ax_s")
        table.add_row(
            t["phase"],
            str(t["poll"]),
            str(t["expected_points"]),
            "" if ax is None else f"{ax:.3f}",
            str(t.get("ax_points", "")),
            f"{t['ours_s']:.4f}",
            f"{t['ours_cpu_s']:.4f}",
            str(t["ours_points"]),
            "" if ax is None else f"{ax / t['ours_s']:.0f}x",
            f"{m['ours_kept_bytes'] * mib:.2f}",
            f"{m['ours_peak_bytes'] * mib:.2f}",
        )
    console.print(table)
    console.print(
        f"cold speed-up {summary['cold_speedup']:.1f}x (target >= 10x); median "
        f"poll speed-up {summary['poll_speedup']:.0f}x (target >= 100x); idle "
        f"poll {summary['idle_poll_ours_median_s'] * 1e3:.2f} ms; points "
        f"{summary['points_fraction_ours']:.0%} (Ax "
        f"{summary['points_fraction_ax']:.0%}); Ax peak "
        f"{max(summary['peak_fetch_bytes_ax']) * mib:.0f} MiB per fetch; kept "
        f"{summary['kept_bytes_per_point_range'][0]:.0f}-"
        f"{summary['kept_bytes_per_point_range'][1]:.0f} B/point; change over "
        f"{args.polls} idle polls {summary['kept_bytes_change_over_idle_polls']} B"
    )
    RESULTS.mkdir(exist_ok=True)
    out = RESULTS / "tensorboard_fetch.json"
    out.write_text(json.dumps(summary, indent=2))
    console.print(f"wrote {out}")


if __name__ == "__main__":
    main()
