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

Two more parts (issues 9 and 10):

- Peak memory of a cold fetch of one trial with ``--big`` scalars (default
  2,000,000: 1,000,000 steps x 2 tags), in a fresh process: the peak RSS
  growth and tracemalloc's peak, in bytes per point, next to what is kept.
- The pack's reader (``metrics/_events.py``) against tensorboard's own
  incremental loaders (``event_file_loader.RawEventFileLoader``, records as
  bytes, and ``EventFileLoader``, parsed ``Event`` protos) on the same file:
  a cold read, a poll with nothing new, a poll with 50 new points, the peak
  memory of the cold read, and what each returns from a file with a
  truncated record, a record with a bad data CRC and a record with a wrong
  length whose header CRC is valid.

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
from array import array
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


def write_fast(path: str, n_steps: int) -> None:
    """An event file of ``n_steps`` x 2 tags, framed with numpy CRCs (fast).

    The same bytes as torch's SummaryWriter would write for these points
    (one ``Event`` per tag and step, simple_value), minus its wall times.
    """
    import struct

    import numpy as np
    from tensorboard.compat.proto.event_pb2 import Event
    from tensorboard.compat.proto.summary_pb2 import Summary

    from ax_nas_plugins.metrics._events import masked_crc32c, masked_crc32c_many

    os.makedirs(path, exist_ok=True)
    version = Event(wall_time=1.0, file_version="brain.Event:2").SerializeToString()
    with open(os.path.join(path, "events.out.tfevents.1.bench.1.0"), "wb") as fh:
        head = struct.pack("<Q", len(version))
        fh.write(head + struct.pack("<I", masked_crc32c(head)) + version)
        fh.write(struct.pack("<I", masked_crc32c(version)))
        block = 100_000
        for first in range(0, n_steps, block):
            bodies = []
            for s in range(first, min(first + block, n_steps)):
                for tag, value in ((TAGS[0], s / 7), (TAGS[1], 1.0 / (s + 1))):
                    summary = Summary(
                        value=[Summary.Value(tag=tag, simple_value=value)]
                    )
                    ev = Event(wall_time=1.0 + s, step=s, summary=summary)
                    bodies.append(ev.SerializeToString())
            lengths = np.array([len(b) for b in bodies], dtype=np.int64)
            heads = b"".join(struct.pack("<Q", n) for n in lengths)
            head_crc = masked_crc32c_many(
                heads, np.arange(len(bodies)) * 8, np.full(len(bodies), 8)
            )
            data = b"".join(bodies)
            starts = np.concatenate([[0], np.cumsum(lengths)[:-1]])
            data_crc = masked_crc32c_many(data, starts, lengths)
            out = bytearray()
            for i, body in enumerate(bodies):
                out += heads[8 * i : 8 * i + 8]
                out += struct.pack("<I", int(head_crc[i]))
                out += body
                out += struct.pack("<I", int(data_crc[i]))
            fh.write(out)


def big_child(path: str) -> dict:
    """In a fresh process: peak memory of one cold fetch of the dir ``path``."""
    import resource

    from tb_helpers import experiment, running_trial

    import ax_nas_plugins as anp

    tmp = Path(path)
    metrics = [anp.metric("tensorboard", name=t, tag=t) for t in TAGS]
    exp = experiment(metrics, name="big")
    running_trial(exp, tmp)
    gc.collect()
    rss0 = _rss_bytes()
    kb0 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    t0 = time.perf_counter()
    out = metrics[0].bulk_fetch_experiment_data(experiment=exp, metrics=metrics)
    seconds = time.perf_counter() - t0
    peak_growth = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - kb0) * 1024
    points = sum(len(r.unwrap()._data_rows) for r in out[0].values())
    kept_rss = _rss_bytes() - rss0
    del out
    # Same fetch again from a cold cache, traced (slower; bytes, not time).
    from ax_nas_plugins.metrics import _logdir

    _logdir.clear_cache()
    gc.collect()
    tracemalloc.start()
    out = metrics[0].bulk_fetch_experiment_data(experiment=exp, metrics=metrics)
    kept, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    del out
    return {
        "points": points,
        "cold_fetch_s": seconds,
        "peak_rss_growth_bytes": peak_growth,
        "rss_kept_bytes": kept_rss,
        "peak_rss_growth_per_point": peak_growth / points,
        "traced_peak_per_point": peak / points,
        "traced_kept_per_point": kept / points,
        "note": "peak RSS growth counts the rss already reserved before the fetch "
        "as 0; ru_maxrss only rises above the starting rss.",
    }


def _run_big(n_points: int) -> dict:
    """``big_child`` in a fresh interpreter (its peak RSS is this fetch's alone)."""
    import subprocess

    tmp = Path(tempfile.mkdtemp(prefix="tb_fetch_big_"))
    write_fast(str(tmp), n_points // 2)  # here, not in the measured process
    try:
        out = subprocess.run(
            [sys.executable, __file__, "--big-child", str(tmp)],
            capture_output=True,
            text=True,
            check=True,
        )
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    result = json.loads(out.stdout.strip().splitlines()[-1])
    result["file"] = "written by write_fast (torch SummaryWriter's records)"
    print(
        f"cold fetch of {result['points']:,} points in a fresh process: "
        f"{result['cold_fetch_s']:.1f} s; peak RSS growth "
        f"{result['peak_rss_growth_per_point']:.0f} B/point, RSS kept "
        f"{result['rss_kept_bytes'] / result['points']:.0f} B/point; traced peak "
        f"{result['traced_peak_per_point']:.0f} B/point, traced kept "
        f"{result['traced_kept_per_point']:.0f} B/point"
    )
    return result


def _save_part(key: str, value: dict) -> None:
    RESULTS.mkdir(exist_ok=True)
    out = RESULTS / "tensorboard_fetch.json"
    data = json.loads(out.read_text()) if out.exists() else {}
    data[key] = value
    out.write_text(json.dumps(data, indent=2))


# --- the pack's reader vs tensorboard's loaders ------------------------------


class _OursLoader:
    """The pack's reader: points by tag after each poll."""

    name = "ours (_events.EventFileReader)"

    def __init__(self, path: str) -> None:
        from ax_nas_plugins.metrics._events import EventFileReader

        self.reader = EventFileReader(path)

    def poll(self) -> None:
        self.reader.poll()

    def count(self) -> int:
        return sum(len(p[0]) for p in self.reader.points.values())


class _TBLoader:
    """tensorboard's incremental loader; scalars kept like ours (arrays by tag).

    ``raw=True``: ``RawEventFileLoader`` (record bytes; parsed here with the
    same ``Event`` proto); else ``EventFileLoader`` (parsed and converted to
    TF2 tensors by tensorboard's data_compat, as TensorBoard itself reads).
    """

    def __init__(self, path: str, raw: bool) -> None:
        from tensorboard.backend.event_processing import event_file_loader as efl
        from tensorboard.compat.proto.event_pb2 import Event
        from tensorboard.util import tensor_util

        self.raw = raw
        self.name = (
            "tensorboard RawEventFileLoader" if raw else "tensorboard EventFileLoader"
        )
        self.loader = (efl.RawEventFileLoader if raw else efl.EventFileLoader)(path)
        self.parse = Event.FromString
        self.to_array = tensor_util.make_ndarray
        self.points: dict[str, tuple[array, array]] = {}

    def poll(self) -> None:
        points = self.points
        for item in self.loader.Load():
            event = self.parse(item) if self.raw else item
            for v in event.summary.value:
                kind = v.WhichOneof("value")
                if kind == "simple_value":
                    value = v.simple_value
                elif kind == "tensor" and v.metadata.plugin_data.plugin_name in (
                    "scalars",
                    "",
                ):
                    value = float(self.to_array(v.tensor).reshape(-1)[0])
                else:
                    continue
                pair = points.get(v.tag)
                if pair is None:
                    pair = points[v.tag] = (array("q"), array("d"))
                pair[0].append(event.step)
                pair[1].append(value)

    def count(self) -> int:
        return sum(len(p[0]) for p in self.points.values())


def _loaders(path: str) -> list:
    return [_OursLoader(path), _TBLoader(path, raw=True), _TBLoader(path, raw=False)]


def _corrupt_files(folder: Path) -> dict[str, tuple[str, int]]:
    """Three damaged copies of a 10-step file: name -> (path, points intact)."""
    import struct

    from ax_nas_plugins.metrics._events import masked_crc32c

    src_dir = folder / "src"
    from torch.utils.tensorboard import SummaryWriter

    w = SummaryWriter(str(src_dir))
    for s in range(10):
        w.add_scalar("a", float(s), s)
    w.close()
    blob = next(src_dir.glob("*tfevents*")).read_bytes()
    starts, pos = [], 0
    while pos + 12 <= len(blob):
        (n,) = struct.unpack_from("<Q", blob, pos)
        starts.append((pos, n))
        pos += 16 + n
    out = {}
    # 1. The writer is mid-record: the last record cut in half.
    p, n = starts[-1]
    path = folder / "events.out.tfevents.truncated"
    path.write_bytes(blob[: p + 12 + n // 2])
    out["truncated last record"] = (str(path), 9)
    # 2. One data byte flipped in step 2's record (record 0 is the version).
    b = bytearray(blob)
    p, n = starts[3]
    b[p + 12 + n - 1] ^= 0xFF
    path = folder / "events.out.tfevents.badcrc"
    path.write_bytes(bytes(b))
    out["bad data CRC (step 2)"] = (str(path), 9)
    # 3. Step 2's length made huge, with a header CRC that checks out.
    b = bytearray(blob)
    p, n = starts[3]
    b[p : p + 8] = struct.pack("<Q", 10**9)
    b[p + 8 : p + 12] = struct.pack("<I", masked_crc32c(bytes(b[p : p + 8])))
    path = folder / "events.out.tfevents.badlen"
    path.write_bytes(bytes(b))
    out["wrong length, valid CRC (step 2)"] = (str(path), 9)
    return out


def compare_loaders(steps: int) -> dict:
    """Speed, memory and corrupt-file behaviour of the three readers (see docs)."""
    tmp = Path(tempfile.mkdtemp(prefix="tb_loaders_"))
    from torch.utils.tensorboard import SummaryWriter

    w = SummaryWriter(str(tmp / "run"), max_queue=100_000, flush_secs=3600)
    for s in range(steps):
        w.add_scalar(TAGS[0], s / 7, s)
        w.add_scalar(TAGS[1], 1.0 / (s + 1), s)
    w.flush()
    path = str(next((tmp / "run").glob("*tfevents*")))
    rows = []
    readers = _loaders(path)
    for r in readers:
        t0 = time.perf_counter()
        r.poll()
        rows.append({"reader": r.name, "cold_s": time.perf_counter() - t0})
        rows[-1]["cold_points"] = r.count()
    for r, row in zip(readers, rows, strict=True):
        t0 = time.perf_counter()
        for _ in range(10):
            r.poll()
        row["idle_poll_s"] = (time.perf_counter() - t0) / 10
    new_times: dict[str, list[float]] = {r.name: [] for r in readers}
    for k in range(5):
        for s in range(steps + 25 * k, steps + 25 * (k + 1)):
            w.add_scalar(TAGS[0], s / 7, s)
            w.add_scalar(TAGS[1], 1.0 / (s + 1), s)
        w.flush()
        for r in readers:
            t0 = time.perf_counter()
            r.poll()
            new_times[r.name].append(time.perf_counter() - t0)
    w.close()
    for r, row in zip(readers, rows, strict=True):
        row["poll_50_new_s"] = statistics.median(new_times[r.name])
        row["points_after_polls"] = r.count()
    # Peak memory of a cold read (tracemalloc; a fresh reader each).
    for row, make in zip(
        rows,
        (
            lambda: _OursLoader(path),
            lambda: _TBLoader(path, True),
            lambda: _TBLoader(path, False),
        ),
        strict=True,
    ):
        gc.collect()
        tracemalloc.start()
        r = make()
        r.poll()
        kept, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        n = r.count()
        row["traced_peak_per_point"] = peak / n
        row["traced_kept_per_point"] = kept / n
        del r
    # Corrupt files: points returned, and whether anything was said (WARNING+).
    corrupt = _corrupt_files(tmp / "corrupt")
    for row, make in zip(
        rows,
        (
            lambda p: _OursLoader(p),
            lambda p: _TBLoader(p, True),
            lambda p: _TBLoader(p, False),
        ),
        strict=True,
    ):
        row["corrupt"] = {}
        for case, (p, intact) in corrupt.items():
            handler = _CountWarnings()
            logging.getLogger().addHandler(handler)
            logging.disable(logging.NOTSET)
            try:
                r = make(p)
                r.poll()
                r.poll()  # a second poll: does it get past the damage later?
                got = r.count()
                error = ""
            except Exception as exc:  # a loader that raises
                got, error = 0, f"{type(exc).__name__}: {exc}"
            finally:
                logging.disable(logging.WARNING)
                logging.getLogger().removeHandler(handler)
            row["corrupt"][case] = {
                "points": got,
                "intact": intact,
                "warned": handler.count > 0,
                "error": error,
            }
    shutil.rmtree(tmp, ignore_errors=True)
    _print_loaders(rows, steps)
    return {"steps": steps, "tags": len(TAGS), "rows": rows}


class _CountWarnings(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.count = 0

    def emit(self, record: logging.LogRecord) -> None:
        self.count += 1


def _print_loaders(rows: list[dict], steps: int) -> None:
    from rich.console import Console
    from rich.table import Table

    console = Console(width=150)
    table = Table(
        title=f"one event file, {2 * steps:,} scalars: the pack's reader vs "
        "tensorboard's loaders"
    )
    for col in (
        "reader",
        "cold s",
        "idle poll ms",
        "poll +50 ms",
        "peak B/pt",
        "kept B/pt",
        "points",
    ):
        table.add_column(col, justify="right")
    for r in rows:
        table.add_row(
            r["reader"],
            f"{r['cold_s']:.2f}",
            f"{r['idle_poll_s'] * 1e3:.3f}",
            f"{r['poll_50_new_s'] * 1e3:.2f}",
            f"{r['traced_peak_per_point']:.0f}",
            f"{r['traced_kept_per_point']:.0f}",
            str(r["points_after_polls"]),
        )
    console.print(table)
    cases = list(rows[0]["corrupt"])
    table = Table(title="damaged files (10 steps): points returned of those intact")
    table.add_column("reader")
    for c in cases:
        table.add_column(c, justify="right")
    for r in rows:
        cells = []
        for c in cases:
            v = r["corrupt"][c]
            cell = f"{v['points']}/{v['intact']}" + (" warned" if v["warned"] else "")
            cells.append(cell + (f" ({v['error'][:30]})" if v["error"] else ""))
        table.add_row(r["reader"], *cells)
    console.print(table)


def _rss_bytes() -> int:
    with open("/proc/self/statm") as fh:
        return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=20)
    parser.add_argument("--steps", type=int, default=2000)
    parser.add_argument("--polls", type=int, default=10)
    parser.add_argument("--append", type=int, default=50)
    parser.add_argument("--big", type=int, default=2_000_000)
    parser.add_argument("--loader-steps", type=int, default=50_000)
    parser.add_argument("--big-child", help=argparse.SUPPRESS)
    parser.add_argument(
        "--only", choices=("fetch", "big", "loaders"), help="run one part only"
    )
    args = parser.parse_args()
    if args.big_child:
        logging.disable(logging.WARNING)
        print(json.dumps(big_child(args.big_child)))
        return
    if args.only in (None, "big"):
        big = _run_big(args.big)
        _save_part("big", big)
    if args.only in (None, "loaders"):
        loaders = compare_loaders(args.loader_steps)
        _save_part("loaders", loaders)
    if args.only not in (None, "fetch"):
        return

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
    old = json.loads(out.read_text()) if out.exists() else {}
    parts = {k: old[k] for k in ("big", "loaders") if k in old}
    out.write_text(json.dumps(summary | parts, indent=2))
    console.print(f"wrote {out}")


if __name__ == "__main__":
    main()
