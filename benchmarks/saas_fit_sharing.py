"""Full-NUTS SAAS fits in processes that share the cores: free, pinned, BLAS-capped.

What it measures: the two model fits (one per outcome: val_acc, latency) of
the next `saasbo` suggestion of a stored NAS-Bench-201 cifar10 run (19
evaluated cells, the preset's full NUTS settings 512/256/16, depth 6), in
``P`` processes started at the same time, each fitting the same data. For
each process: the wall and CPU seconds of each fit. Modes:

- ``free``: the process may run on every core (the default of any process);
- ``own_core``: worker ``i`` is pinned to core ``i`` (modulo the core count)
  before it imports torch or JAX, as ``taskset -c i`` would;
- ``same_core``: every worker is pinned to the first allowed core;
- ``pack``: like ``free``, but the fit keeps the pack's default
  ``blas_threads=1`` (BLAS capped at one thread during each fit). The other
  modes fit with ``blas_threads=None`` (BLAS left alone, as before that
  default existed), so that they measure only the pinning they name.

With ``--neighbour torch`` a process doing torch matrix products on every
core runs during each condition (a stand-in for a training job started by
a local runner on the same machine).

Why it exists: full-NUTS steps of the benchmarks cost 10 to 20 times more
while a second benchmark process ran (373-906 CPU s against 30-135); this
isolates the cause. The data file is a checkpoint of ``nas_bench_201.py
--checkpoint-dir`` (Ax JSON), committed so that every run fits the same data.
Only the fits are timed: each worker stops before the acquisition.

Example (run it on an otherwise idle machine)::

    python benchmarks/saas_fit_sharing.py --procs 1 2 --modes free own_core same_core
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time
import warnings
from datetime import datetime, timezone
from pathlib import Path

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results"
DATA = HERE / "data" / "saas_fit_sharing_nb201_cifar10.json.gz"


MODES = ("free", "own_core", "same_core", "pack")


def worker(checkpoint: Path, core: int | None, seed: int, pack: bool) -> None:
    """Fit the two outcome models of the next suggestion; print one JSON line."""
    if core is not None:  # before torch and JAX start their threads
        os.sched_setaffinity(0, {core})
    os.environ.setdefault("AX_NAS_PROGRESS", "0")
    import torch

    torch.set_num_threads(1)
    warnings.filterwarnings("ignore")
    import logging

    logging.getLogger("ax").setLevel(logging.ERROR)
    sys.path.insert(0, str(HERE))
    import nas_bench_201 as nb

    import ax_nas_plugins.generation._saas as saas

    fits: list[dict[str, float]] = []
    original = saas.fit_nas_saas

    def timed(model, **options):
        t, c = time.perf_counter(), time.process_time()
        original(model, **options if pack else {**options, "blas_threads": None})
        fits.append(
            {"wall_s": time.perf_counter() - t, "cpu_s": time.process_time() - c}
        )
        if len(fits) == 2:  # both outcomes fitted: the acquisition is not timed
            print(json.dumps({"fits": fits}), flush=True)
            os._exit(0)

    saas.fit_nas_saas = timed
    exp, gs, *_ = nb._load_checkpoint(checkpoint)
    torch.manual_seed(seed)
    gs.gen_single_trial(experiment=exp, n=1)
    raise SystemExit("the strategy made a suggestion without two SAAS fits")


def _core(mode: str, i: int) -> int | None:
    cores = sorted(os.sched_getaffinity(0))
    if mode in ("free", "pack"):
        return None
    return cores[i % len(cores)] if mode == "own_core" else cores[0]


#: A stand-in for a training job on the same machine: torch matrix products on
#: every core, until killed.
TORCH_NEIGHBOUR = (
    "import os, torch\n"
    "torch.set_num_threads(os.cpu_count())\n"
    "a = torch.randn(512, 512)\n"
    "while True:\n"
    "    a = torch.tanh(a @ a)\n"
)


def run_condition(
    checkpoint: Path, procs: int, mode: str, seed: int, neighbour: str = "none"
) -> list[dict]:
    """Start ``procs`` workers at once (next to ``neighbour``); their fits."""
    if neighbour == "torch":
        busy = subprocess.Popen([sys.executable, "-c", TORCH_NEIGHBOUR])
        try:
            time.sleep(3)  # the neighbour is computing before the fits start
            return run_condition(checkpoint, procs, mode, seed)
        finally:
            busy.kill()
            busy.wait()
    cmd = [
        sys.executable,
        __file__,
        "--checkpoint",
        str(checkpoint),
        "--seed",
        str(seed),
    ]
    children = []
    for i in range(procs):
        core = _core(mode, i)
        extra = [] if core is None else ["--worker-core", str(core)]
        if mode == "pack":
            extra.append("--worker-pack")
        children.append(
            subprocess.Popen(
                [*cmd, "--worker", *extra],
                stdout=subprocess.PIPE,
                stderr=subprocess.DEVNULL,
                text=True,
            )
        )
    out = []
    for child in children:
        stdout, _ = child.communicate()
        lines = [ln for ln in stdout.splitlines() if ln.startswith("{")]
        if child.returncode != 0 or not lines:
            raise SystemExit(f"a worker failed (exit {child.returncode}): {stdout}")
        out.append(json.loads(lines[-1]))
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--procs", type=int, nargs="+", default=[1, 2])
    ap.add_argument("--modes", nargs="+", choices=MODES, default=list(MODES))
    ap.add_argument("--checkpoint", type=Path, default=DATA)
    ap.add_argument("--seed", type=int, default=5)
    ap.add_argument(
        "--neighbour",
        choices=["none", "torch"],
        default="none",
        help="torch: a process doing torch matrix products on every core runs "
        "during each condition (a stand-in for a training job)",
    )
    ap.add_argument("--out", type=Path, default=RESULTS / "saas_fit_sharing.json")
    ap.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--worker-core", type=int, default=None, help=argparse.SUPPRESS)
    ap.add_argument("--worker-pack", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.worker:
        worker(args.checkpoint, args.worker_core, args.seed, args.worker_pack)
        return 0
    if not hasattr(os, "sched_setaffinity"):
        raise SystemExit("saas_fit_sharing.py pins processes to cores: Linux only.")
    if not args.checkpoint.is_file():
        raise SystemExit(
            f"--checkpoint {args.checkpoint}: no such file (a checkpoint written "
            "by nas_bench_201.py --checkpoint-dir for a saasbo run is needed)."
        )
    if min(args.procs) < 1:
        raise SystemExit(f"--procs must be at least 1, got {min(args.procs)}.")
    rows = []
    for procs in args.procs:
        for mode in args.modes:
            started = time.perf_counter()
            results = run_condition(
                args.checkpoint, procs, mode, args.seed, args.neighbour
            )
            rows.append(
                {
                    "procs": procs,
                    "mode": mode,
                    "neighbour": args.neighbour,
                    "workers": results,
                    "elapsed_s": time.perf_counter() - started,
                }
            )
            for i, r in enumerate(results):
                fits = ", ".join(
                    f"{f['wall_s']:.1f} s wall / {f['cpu_s']:.1f} s CPU"
                    for f in r["fits"]
                )
                print(f"procs={procs} {mode} worker {i}: {fits}", flush=True)
    payload = {
        "when": datetime.now(timezone.utc).isoformat(timespec="minutes"),
        "machine": f"{platform.machine()}, {os.cpu_count()} CPUs, {platform.system()}",
        "checkpoint": str(args.checkpoint.relative_to(HERE.parent))
        if args.checkpoint.is_relative_to(HERE.parent)
        else str(args.checkpoint),
        "rows": rows,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(payload, indent=1) + "\n")
    lines = [
        "| processes at once | cores | next to | val_acc fit, wall / CPU s (each)"
        " | latency fit, wall / CPU s (each) |",
        "| --- | --- | --- | --- | --- |",
    ]
    for row in rows:
        cells = [
            ", ".join(
                f"{w['fits'][k]['wall_s']:.1f} / {w['fits'][k]['cpu_s']:.1f}"
                for w in row["workers"]
            )
            for k in (0, 1)
        ]
        lines.append(
            f"| {row['procs']} | {row['mode']} | {row['neighbour']} "
            f"| {cells[0]} | {cells[1]} |"
        )
    table = "\n".join(lines)
    md = args.out.with_suffix(".md")
    md.write_text(
        f"# SAAS fits next to other processes ({payload['when']})\n\n"
        f"Machine: {payload['machine']}; data: `{payload['checkpoint']}`.\n"
        "Cores: free / own_core / same_core fit with BLAS left alone "
        "(`blas_threads=None`); pack = free with the pack's default "
        "`blas_threads=1`.\n\n" + table + "\n"
    )
    print(table)
    return 0


if __name__ == "__main__":
    sys.exit(main())
