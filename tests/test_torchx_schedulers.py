"""The pack's ``torchx.schedulers`` entry points keep TorchX whole.

TorchX uses only the schedulers of that entry-point group once any package
registers one (``torchx.util.entrypoints.load_group``), so registering
``k8s_job`` alone would hide ``local_cwd``, ``local_docker``, ``slurm``...
from the TorchX CLI and from Ax's own ``TorchXRunner``. The pack lists
TorchX's schedulers again; these tests check each name still makes
TorchX's scheduler and that Ax's runner still runs a trial on ``local_cwd``.
"""

from __future__ import annotations

import importlib

from ax.core.arm import Arm
from ax.core.base_trial import TrialStatus
from ax.core.experiment import Experiment
from ax.core.parameter import ParameterType, RangeParameter
from ax.core.search_space import SearchSpace
from torchx import specs

from ax_nas_plugins.runners.schedulers import k8s_job
from tests.runner_support import wait_for


def test_k8s_job_is_registered_and_every_torchx_scheduler_kept():
    from torchx.schedulers import DEFAULT_SCHEDULER_MODULES, get_scheduler_factories

    factories = get_scheduler_factories()
    assert set(DEFAULT_SCHEDULER_MODULES) | {"k8s_job"} == set(factories)
    assert isinstance(factories["k8s_job"]("s"), k8s_job.K8sJobScheduler)
    for name in ("local_cwd", "local_docker", "slurm", "kubernetes", "ray"):
        module = importlib.import_module(DEFAULT_SCHEDULER_MODULES[name])
        made = factories[name]("s")
        assert type(made) is type(module.create_scheduler("s")), name


def _ax_true(x1: float, trial_idx: int) -> specs.AppDef:
    return specs.AppDef(
        name=f"true-{trial_idx}",
        roles=[specs.Role(name="job", image="/", entrypoint="true")],
    )


def test_ax_torchx_runner_still_runs_on_local_cwd(tmp_path):
    from ax.runners.torchx import TorchXRunner

    runner = TorchXRunner(
        tracker_base=str(tmp_path / "tracker"),
        component=_ax_true,
        orchestrator="local_cwd",
        cfg={"log_dir": str(tmp_path / "logs")},
    )
    space = SearchSpace([RangeParameter("x1", ParameterType.FLOAT, 0.0, 1.0)])
    exp = Experiment(name="ax_runner", search_space=space, runner=runner)
    trial = exp.new_trial().add_arm(Arm({"x1": 0.5}))
    trial.run()

    def completed():
        statuses = runner.poll_trial_status([trial])
        return statuses if statuses.get(TrialStatus.COMPLETED) else None

    statuses = wait_for(completed, 60, "Ax's TorchXRunner to report COMPLETED")
    assert statuses[TrialStatus.COMPLETED] == {trial.index}
