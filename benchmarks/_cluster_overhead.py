"""Runner overhead on clusters: Slurm and Ray beside local processes and Docker.

Run: ``nice -n 10 python benchmarks/runner_overhead.py --cluster`` (as root:
it starts a one-node Slurm cluster and, inside ``unshare -n``, a Ray head;
writes ``benchmarks/results/runner_overhead_cluster.{json,md}``).

For each preset, 20 trials of the stand-in trainer (``sleep 300``; it writes
its pid first) are submitted one after the other, then measured:

- ``submit_ms``: time inside ``runner.run`` (median of 20);
- ``submit_to_running_s``: from the start of ``runner.run`` until the job's
  process has written its pid (median and max of 20);
- ``poll_20_ms``: one ``poll_trial_status`` over the 20 running trials
  (median of 5), and ``poll_20_fresh_ms``: the first poll of a new runner
  object, as in a resumed process;
- ``stop_s``: ``runner.stop`` per trial until the backend confirms the job
  ended (median of 20).

Slurm runs on a node declared with 20 CPUs and Ray on a head with 20
logical CPUs, so that 20 sleeping jobs run at once on this 2-core machine.
"""

from __future__ import annotations

import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

N = 20
RESULTS = Path(__file__).resolve().parent / "results"
REPO = Path(__file__).resolve().parents[1]
TRAINER = "ax_nas_plugins.testing.components:trainer"


def _experiment(runner: Any, name: str):
    from ax.core.experiment import Experiment
    from ax.core.parameter import ParameterType, RangeParameter
    from ax.core.search_space import SearchSpace

    space = SearchSpace([RangeParameter("x", ParameterType.FLOAT, 0.0, 1.0)])
    return Experiment(name=name, search_space=space, runner=runner)


def measure(make_runner) -> dict[str, float]:
    """The measures of the module doc for one preset (``make_runner()`` -> runner)."""
    from ax.core.arm import Arm

    runner = make_runner()
    exp = _experiment(runner, "overhead")
    trials, submits, started = [], [], []
    for i in range(N):
        trial = exp.new_trial().add_arm(Arm({"x": i / N}))
        t0 = time.perf_counter()
        trial.run()
        submits.append(time.perf_counter() - t0)
        trials.append((trial, t0))
    pending = {t.index: (t, t0) for t, t0 in trials}
    deadline = time.monotonic() + 600
    while pending and time.monotonic() < deadline:
        for index, (trial, t0) in list(pending.items()):
            pid = Path(trial.run_metadata["log_dir"]) / "pid"
            if pid.exists() and pid.read_text().strip():
                started.append(time.perf_counter() - t0)
                del pending[index]
        time.sleep(0.02)
    if pending:
        raise RuntimeError(f"{len(pending)} jobs did not start within 600 s")
    all_trials = [t for t, _ in trials]
    polls = []
    for _ in range(5):
        t0 = time.perf_counter()
        status = runner.poll_trial_status(all_trials)
        polls.append(time.perf_counter() - t0)
    running = len(next(iter(status.values()), set()))
    fresh = make_runner()
    t0 = time.perf_counter()
    fresh.poll_trial_status(all_trials)
    fresh_poll = time.perf_counter() - t0
    stops = []
    for trial in all_trials:
        t0 = time.perf_counter()
        runner.stop(trial)
        stops.append(time.perf_counter() - t0)
    return {
        "submit_ms_median": 1e3 * statistics.median(submits),
        "submit_to_running_s_median": statistics.median(started),
        "submit_to_running_s_max": max(started),
        "running_at_poll": float(running),
        "poll_20_ms_median": 1e3 * statistics.median(polls),
        "poll_20_fresh_ms": 1e3 * fresh_poll,
        "stop_s_median": statistics.median(stops),
    }


def _runner(name: str, root: str, **kw: Any):
    import ax_nas_plugins as anp

    const = {"sleep": 300.0, **kw.pop("const", {})}
    return lambda: anp.runner(
        name,
        component=TRAINER,
        component_const_params=const,
        log_root=os.path.join(root, name),
        stop_timeout_s=60.0,
        **kw,
    )


def local_and_docker(root: str) -> dict[str, dict[str, float]]:
    out = {"torchx_local": measure(_runner("torchx_local", root))}
    if subprocess.run(["docker", "info"], capture_output=True).returncode == 0:
        from ax_nas_plugins.testing.docker_image import ensure_trainer_image

        image = ensure_trainer_image()
        out["torchx_docker"] = measure(
            _runner("torchx_docker", root, const={"image": image, "python": "python3"})
        )
    return out


def slurm(root: str) -> dict[str, dict[str, float]]:
    from ax_nas_plugins.testing import slurm_cluster

    slurm_cluster.install()
    cluster = slurm_cluster.start(cpus=N)
    old = os.environ.get("SLURM_CONF")
    os.environ["SLURM_CONF"] = cluster.conf
    try:
        return {"torchx_slurm": measure(_runner("torchx_slurm", root))}
    finally:
        if old is None:
            os.environ.pop("SLURM_CONF", None)
        else:
            os.environ["SLURM_CONF"] = old
        cluster.stop()


def ray_part(out_path: str) -> None:
    """Inside ``unshare -n``: start a head, measure torchx_ray, stop the head."""
    from ax_nas_plugins.testing import ray_head

    ray_head.loopback_only_namespace()
    root = tempfile.mkdtemp(prefix="ax-nas-bench-ray-")
    os.chdir(root)
    head = ray_head.start(cpus=N)
    try:
        got = measure(
            _runner(
                "torchx_ray", root, cfg={"dashboard_address": head.dashboard_address}
            )
        )
    finally:
        head.stop()
    Path(out_path).write_text(json.dumps({"torchx_ray": got}))


def ray(root: str) -> dict[str, dict[str, float]]:
    out = os.path.join(root, "ray.json")
    done = subprocess.run(
        ["unshare", "-n", sys.executable, str(Path(__file__).resolve()), "--ray", out],
        env={**os.environ, "PYTHONPATH": str(REPO)},
        capture_output=True,
        text=True,
        timeout=1200,
        check=False,
    )
    if done.returncode != 0 or not os.path.exists(out):
        raise RuntimeError(f"the Ray part failed:\n{done.stderr[-3000:]}")
    return json.loads(Path(out).read_text())


def main() -> None:
    import logging

    logging.getLogger("ax").setLevel(logging.ERROR)
    root = tempfile.mkdtemp(prefix="ax-nas-bench-cluster-")
    os.chdir(root)
    results: dict[str, dict[str, float]] = {}
    results.update(local_and_docker(root))
    results.update(slurm(root))
    results.update(ray(root))
    with open("/proc/meminfo") as fh:
        mem_gib = int(fh.readline().split()[1]) / 2**20
    machine = (
        f"{platform.platform()}, Python {platform.python_version()}, "
        f"{os.cpu_count()} CPUs, {mem_gib:.0f} GiB, no GPU; shared with other "
        "engineers' jobs (the CPUs were busy: timings are noisy)"
    )
    payload = {
        "benchmark": "runner_overhead_cluster",
        "machine": machine,
        "trials": N,
        "engines": "Slurm 22.05.8 (one node, 20 CPUs declared), Ray 2.60 (head, "
        "20 logical CPUs, loopback-only namespace), dockerd 20.10",
        "results": results,
        "measured_at": time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime()),
    }
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "runner_overhead_cluster.json").write_text(json.dumps(payload, indent=2))
    keys = list(next(iter(results.values())))
    lines = [
        "# Runner overhead on clusters (20 sleeping trials)",
        "",
        f"Machine: {machine}. Engines: {payload['engines']}. "
        f"Measured {payload['measured_at']}.",
        "",
        "| measure | " + " | ".join(results) + " |",
        "| --- | " + " | ".join("---:" for _ in results) + " |",
    ]
    for key in keys:
        cells = [f"{results[name][key]:.2f}" for name in results]
        lines.append(f"| {key} | " + " | ".join(cells) + " |")
    text = "\n".join(lines) + "\n"
    (RESULTS / "runner_overhead_cluster.md").write_text(text)
    print(text)


if __name__ == "__main__":
    if sys.argv[1:2] == ["--ray"]:
        ray_part(sys.argv[2])
    else:
        main()
