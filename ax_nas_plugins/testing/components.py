"""TorchX components over the stand-in trainer (``testing/trainer.py``)."""

from __future__ import annotations

import os
import sys
from typing import Any

from torchx import specs

TRAINER = os.path.join(os.path.dirname(os.path.abspath(__file__)), "trainer.py")


def trainer(
    log_dir: str,
    trial_index: int = 0,
    sleep: float = 0.0,
    exit_code: int = 0,
    fail_trials: str = "",
    echo_env: str = "",
    spawn_child: bool = False,
    image: str = "",
    python: str = "",
    **params: Any,
) -> specs.AppDef:
    """The stand-in trainer as a one-replica TorchX app; each parameter an argv pair.

    Every extra keyword (a trial parameter) becomes ``--param NAME VALUE``:
    three argv items, never a shell string. ``fail_trials`` is a
    comma-separated list of trial indices that exit with ``exit_code or 3``.
    ``image`` is used by container schedulers (the trainer's folder is then
    bind-mounted read-only at the same path); ``python`` defaults to this
    interpreter (use ``python3`` in an image).
    """
    failing = {int(t) for t in fail_trials.split(",") if t.strip()}
    code = exit_code or (3 if trial_index in failing else 0)
    args = ["-u", TRAINER, "--log-dir", log_dir, "--sleep", str(sleep)]
    args += ["--exit-code", str(code)]
    for name in sorted(params):
        if name in ("trial_idx", "experiment_name", "tensorboard_dir"):
            continue
        args += ["--param", name, str(params[name])]
    for name in filter(None, echo_env.split(",")):
        args += ["--echo-env", name]
    if spawn_child:
        args.append("--spawn-child")
    return specs.AppDef(
        name=f"trainer-{trial_index}",
        roles=[
            specs.Role(
                name="trainer",
                image=image or os.getcwd(),
                entrypoint=python or sys.executable,
                args=args,
                resource=specs.Resource(cpu=1, gpu=0, memMB=512),
                mounts=[
                    specs.BindMount(
                        src_path=os.path.dirname(TRAINER),
                        dst_path=os.path.dirname(TRAINER),
                        read_only=True,
                    )
                ],
            )
        ],
    )


def noop(log_dir: str, trial_index: int = 0, **params: Any) -> specs.AppDef:
    """A job that does nothing (``true``): for measuring runner overhead."""
    return specs.AppDef(
        name=f"noop-{trial_index}",
        roles=[
            specs.Role(
                name="noop",
                image=os.getcwd(),
                entrypoint="true",
                args=[],
                resource=specs.Resource(cpu=1, gpu=0, memMB=64),
            )
        ],
    )


def sleeper(
    log_dir: str, trial_index: int = 0, seconds: float = 120.0, **params: Any
) -> specs.AppDef:
    """A job that only sleeps (``sleep SECONDS``): many of them cost no CPU."""
    return specs.AppDef(
        name=f"sleeper-{trial_index}",
        roles=[
            specs.Role(
                name="sleeper",
                image=os.getcwd(),
                entrypoint="sleep",
                args=[str(seconds)],
                resource=specs.Resource(cpu=1, gpu=0, memMB=64),
            )
        ],
    )
