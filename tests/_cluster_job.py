"""Job side of the cluster-runner tests: a TorchX component and its trainer.

The trainer writes its pid to ``<log_dir>/pid``, then a ``loss`` curve of
``--steps`` points to TensorBoard event files in ``<tensorboard_dir>``
(``loss = (x1 - 0.3)**2 + x2 / step``), pausing ``--pause`` seconds per step,
then ``<log_dir>/result.json`` (its pid and parameters as received). With
``--exit-code N`` (N != 0) it prints a traceback-like line to stderr and
exits with N before writing anything else. Run as a script it imports only
the standard library and tensorboardX, never Ax or this package.
"""

from __future__ import annotations

import os
import sys
from typing import Any


def tb_job(
    log_dir: str,
    tensorboard_dir: str,
    x1: float,
    x2: float,
    trial_index: int = 0,
    steps: int = 3,
    pause: float = 0.2,
    fail_trials: str = "",
    python: str = "",
    **_: Any,
):
    """TorchX component: one replica running this file; each value one argv item."""
    from torchx import specs

    failing = {int(t) for t in fail_trials.split(",") if t.strip()}
    code = 7 if trial_index in failing else 0
    return specs.AppDef(
        name=f"tbjob-{trial_index}",
        roles=[
            specs.Role(
                name="trainer",
                image=os.getcwd(),
                entrypoint=python or sys.executable,
                args=[
                    "-u",
                    os.path.abspath(__file__),
                    log_dir,
                    tensorboard_dir,
                    str(x1),
                    str(x2),
                    str(int(steps)),
                    str(float(pause)),
                    str(code),
                ],
                resource=specs.Resource(cpu=1, gpu=0, memMB=256),
            )
        ],
    )


def main(argv: list[str]) -> int:
    import json
    import time

    log_dir, tb_dir, x1, x2, steps, pause, code = argv
    os.makedirs(log_dir, exist_ok=True)
    with open(os.path.join(log_dir, "pid"), "w") as fh:
        fh.write(str(os.getpid()))
    print(f"tbjob pid {os.getpid()} x1={x1} x2={x2}", flush=True)
    if int(code):
        print("Traceback (most recent call last):", file=sys.stderr)
        print(f"RuntimeError: tbjob failed on request ({code})", file=sys.stderr)
        sys.stderr.flush()
        return int(code)
    from tensorboardX import SummaryWriter

    writer = SummaryWriter(tb_dir)
    for step in range(1, int(steps) + 1):
        loss = (float(x1) - 0.3) ** 2 + float(x2) / step
        writer.add_scalar("loss", loss, step)
        writer.flush()
        print(f"step {step} loss {loss}", flush=True)
        time.sleep(float(pause))
    writer.close()
    result = {"pid": os.getpid(), "x1": x1, "x2": x2, "loss": loss}
    tmp = os.path.join(log_dir, "result.json.tmp")
    with open(tmp, "w") as fh:
        json.dump(result, fh)
    os.replace(tmp, os.path.join(log_dir, "result.json"))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
