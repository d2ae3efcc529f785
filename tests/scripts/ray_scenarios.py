"""The torchx_ray scenarios, run inside a loopback-only network namespace.

Usage: ``unshare -n python ray_scenarios.py WORKDIR OUT_JSON``

Brings ``lo`` up, starts a Ray head (``ax_nas_plugins.testing.ray_head``) on
127.0.0.1, records ``ss -tlnp``, runs each scenario (complete with a
TensorBoard curve, fail with reason, cancel, capacity, SIGKILL-then-resume
with a real Ax Orchestrator), stops Ray by pid and writes what it saw to
OUT_JSON for ``tests/test_runners_ray.py`` to check. A scenario that raises
records its traceback instead of stopping the others.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import traceback
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))
from tests.runner_support import cluster_orchestrate, wait_for  # noqa: E402

JOB = "tests._cluster_job:tb_job"
TRAINER = "ax_nas_plugins.testing.components:trainer"


def experiment(runner, name, metrics=()):
    from ax.core.experiment import Experiment
    from ax.core.parameter import ParameterType, RangeParameter
    from ax.core.search_space import SearchSpace

    space = SearchSpace(
        [
            RangeParameter("x1", ParameterType.FLOAT, 0.0, 1.0),
            RangeParameter("x2", ParameterType.FLOAT, 0.0, 1.0),
        ]
    )
    return Experiment(name=name, search_space=space, runner=runner, metrics=metrics)


def add_trial(exp, x1=0.5, x2=0.25):
    from ax.core.arm import Arm

    return exp.new_trial().add_arm(Arm({"x1": x1, "x2": x2}))


def poll_until_terminal(runner, trial, timeout=180):
    def done():
        for status, indices in runner.poll_trial_status([trial]).items():
            if trial.index in indices and status.is_terminal:
                return status.name
        return None

    return wait_for(done, timeout, f"trial {trial.index} to end")


def alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().split(") ")[-1].split()[0] != "Z"
    except OSError:
        return False


class Scenarios:
    def __init__(self, workdir: Path, head) -> None:
        self.workdir = workdir
        self.head = head

    def runner(self, component=JOB, name="x", **kw):
        import ax_nas_plugins as anp

        cfg = {"dashboard_address": self.head.dashboard_address, **kw.pop("cfg", {})}
        return anp.runner(
            "torchx_ray",
            component=component,
            component_const_params=kw.pop("const", {}),
            cfg=cfg,
            log_root=str(self.workdir / "runs"),
            stop_timeout_s=60.0,
            **kw,
        )

    def complete(self):
        import ax_nas_plugins as anp

        loss = anp.metric("tensorboard", name="loss", lower_is_better=True)
        runner = self.runner(const={"steps": 3, "pause": 0.1})
        exp = experiment(runner, "ray_complete", [loss])
        trial = add_trial(exp)
        trial.run()
        status = poll_until_terminal(runner, trial)
        trial.mark_running(no_runner_required=True, unsafe=True)
        trial.mark_completed()
        df = exp.fetch_data().full_df
        rows = df[df["metric_name"] == "loss"].sort_values("step")
        return {
            "status": status,
            "run_metadata": trial.run_metadata,
            "steps": [float(s) for s in rows["step"]],
            "last_loss": float(rows["mean"].iloc[-1]),
            "log_tail": runner._log_tail(trial.run_metadata, 20),
        }

    def fail(self):
        runner = self.runner(const={"fail_trials": "0"})
        exp = experiment(runner, "ray_fail")
        trial = add_trial(exp)
        trial.run()
        status = poll_until_terminal(runner, trial)
        return {"status": status, "reason": runner.poll_exception(trial)}

    def secret(self):
        os.environ["AX_NAS_TEST_TOKEN"] = "s3cr3t-ray"
        runner = self.runner(
            component=TRAINER,
            const={"echo_env": "AX_NAS_TEST_TOKEN"},
            secret_env=["AX_NAS_TEST_TOKEN"],
            cfg={"runtime_env": {"env_vars": {"AX_NAS_PLAIN": "plain"}}},
        )
        exp = experiment(runner, "ray_secret")
        trial = add_trial(exp)
        trial.run()
        status = poll_until_terminal(runner, trial)
        log_dir = Path(trial.run_metadata["log_dir"])
        result = json.loads((log_dir / "result.json").read_text())
        files_with_secret = [
            str(p)
            for p in log_dir.rglob("*")
            if p.is_file()
            and p.name != "result.json"
            and "s3cr3t-ray" in p.read_text(errors="replace")
        ]
        return {
            "status": status,
            "env": result["env"],
            "meta_has_secret": "s3cr3t-ray" in json.dumps(trial.run_metadata),
            "files_with_secret": files_with_secret,
        }

    def cancel_and_capacity(self):
        runner = self.runner(component=TRAINER, const={"sleep": 300})
        exp = experiment(runner, "ray_cancel")
        before = runner.poll_available_capacity()
        trials = [add_trial(exp, x1=0.1 * i) for i in range(2)]
        for t in trials:
            t.run()
        dirs = [Path(t.run_metadata["log_dir"]) for t in trials]
        wait_for(lambda: all((d / "pid").exists() for d in dirs), 120, "pids")
        pids = [int((d / "pid").read_text()) for d in dirs]
        deadline = time.monotonic() + 60
        during = runner.poll_available_capacity()
        while during != 0 and time.monotonic() < deadline:
            time.sleep(0.5)
            during = runner.poll_available_capacity()
        polled = {
            k.name: sorted(v) for k, v in runner.poll_trial_status(trials).items()
        }
        facts = runner.stop(trials[0], reason="test stop")
        # a fresh runner object (a resumed process) stops the other one
        fresh = self.runner(component=TRAINER, const={"sleep": 300})
        facts2 = fresh.stop(trials[1])
        gone = []
        for pid in pids:
            try:
                wait_for(lambda p=pid: not alive(p), 60, f"pid {pid} to end")
                gone.append(True)
            except AssertionError:
                gone.append(False)
                os.kill(pid, signal.SIGKILL)
        statuses = [
            fresh._get_scheduler().describe(t.run_metadata["app_id"]).msg
            for t in trials
        ]
        deadline = time.monotonic() + 60
        after = runner.poll_available_capacity()
        while after != before and time.monotonic() < deadline:
            time.sleep(0.5)
            after = runner.poll_available_capacity()
        return {
            "capacity_before": before,
            "capacity_during": during,
            "capacity_after": after,
            "polled": polled,
            "facts": [facts, facts2],
            "trainer_gone": gone,
            "messages": statuses,
        }

    def resume(self):
        import ax_nas_plugins as anp

        total = 4
        spec = {
            "runner": "torchx_ray",
            "component": JOB,
            "component_const_params": {"steps": 6, "pause": 0.5},
            "cfg": {"dashboard_address": self.head.dashboard_address},
            "log_root": str(self.workdir / "runs"),
        }
        made = dict(spec)
        root = Path(
            anp.runner(made.pop("runner"), **made).trial_log_dir("ray_resume", 0)
        ).parent
        from ray.job_submission import JobSubmissionClient

        client = JobSubmissionClient(self.head.address)
        before = {j.submission_id for j in client.list_jobs()}

        def orchestrate(mode):
            return cluster_orchestrate(mode, self.workdir, "ray_resume", total, spec)

        def mid_run():
            dirs = sorted(root.glob("trial_*")) if root.exists() else []
            done = [d for d in dirs if (d / "result.json").exists()]
            running = [
                d
                for d in dirs
                if (d / "pid").exists()
                and (d / "pid").read_text().strip()
                and not (d / "result.json").exists()
            ]

            return (
                done
                and running
                and {d.name: int((d / "pid").read_text()) for d in running}
            )

        first = orchestrate("start")
        try:
            running = wait_for(mid_run, 300, "one finished and one running trial")
        except AssertionError:
            first.kill()
            out, err = first.communicate()
            raise AssertionError(f"orchestrator:\n{out}\n{err[-4000:]}") from None
        first.send_signal(signal.SIGKILL)
        first.communicate()
        second = orchestrate("resume")
        out, err = second.communicate(timeout=600)
        if second.returncode != 0:
            raise AssertionError(err[-4000:])
        got = json.loads(out.strip().splitlines()[-1])
        tb_jobs = sorted(
            j.submission_id for j in client.list_jobs() if j.submission_id not in before
        )
        result_pids = {
            d.name: json.loads((d / "result.json").read_text())["pid"]
            for d in root.glob("trial_*")
            if (d / "result.json").exists()
        }
        return {
            "status": got["status"],
            "loss": got["loss"],
            "running_at_kill": running,
            "result_pids": result_pids,
            "trial_dirs": sorted(d.name for d in root.glob("trial_*")),
            "ray_job_ids": tb_jobs,
            "app_ids": [
                json.loads((d / "job.json").read_text())["run_metadata"]["app_id"]
                for d in sorted(root.glob("trial_*"))
            ],
        }


def main() -> None:
    workdir, out_path = Path(sys.argv[1]), sys.argv[2]
    from ax_nas_plugins.testing import ray_head

    ray_head.loopback_only_namespace()
    os.chdir(workdir)
    results: dict = {"interfaces": ray_head.interfaces()}
    t0 = time.monotonic()
    head = ray_head.start(cpus=2)
    results["head_start_s"] = time.monotonic() - t0
    try:
        results["ss"] = subprocess.run(
            ["ss", "-tlnpH"], capture_output=True, text=True, check=True
        ).stdout
        results["dashboard_address"] = head.dashboard_address
        scenarios = Scenarios(workdir, head)
        names = (
            sys.argv[3].split(",")
            if len(sys.argv) > 3
            else [
                "complete",
                "fail",
                "secret",
                "cancel_and_capacity",
                "resume",
            ]
        )
        for name in names:
            t = time.monotonic()
            try:
                results[name] = getattr(scenarios, name)()
            except Exception:
                results[name] = {"error": traceback.format_exc()}
            results[name]["seconds"] = time.monotonic() - t
            with open(out_path, "w") as fh:
                json.dump(results, fh, indent=1, default=str)
    finally:
        head.stop()
        results["left_after_stop"] = head.pids()
        with open(out_path, "w") as fh:
            json.dump(results, fh, indent=1, default=str)


if __name__ == "__main__":
    main()
