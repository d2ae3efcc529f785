"""Job side of the end-to-end early-stopping test: a TorchX component and its trainer.

The trainer replays one cached real learning curve (``benchmarks/data``) into
TensorBoard event files, one epoch at a time, as a training job would log
them: ``num_params`` once at step 0, ``val_acc`` at every epoch. It writes
its pid to ``<log_dir>/pid`` and the last epoch to ``<log_dir>/epochs``, each
atomically (a stop can land at any moment, and the test reads both). Run as
a script it imports neither Ax nor this package.
"""

from __future__ import annotations

import os
import sys
from typing import Any


def curve_job(
    log_dir: str,
    tensorboard_dir: str,
    config: int,
    curves: str,
    pause: float = 0.15,
    trial_index: int = 0,
    **_: Any,
):
    """TorchX component: one replica running this file as the trainer."""
    from torchx import specs

    return specs.AppDef(
        name=f"curve-{trial_index}",
        roles=[
            specs.Role(
                name="trainer",
                image=os.getcwd(),
                entrypoint=sys.executable,
                args=[
                    "-u",
                    os.path.abspath(__file__),
                    log_dir,
                    tensorboard_dir,
                    str(int(config)),
                    curves,
                    str(pause),
                ],
                resource=specs.Resource(cpu=1, gpu=0, memMB=512),
            )
        ],
    )


def _write_atomic(path: str, text: str) -> None:
    """Write ``text`` to ``path`` so a reader sees the old or the new content,
    never an empty or half-written file (temporary file, then rename)."""
    tmp = f"{path}.tmp{os.getpid()}"
    with open(tmp, "w") as fh:
        fh.write(text)
    os.replace(tmp, path)


def main(argv: list[str]) -> None:
    import json
    import time

    from torch.utils.tensorboard import SummaryWriter

    log_dir, tb_dir, config, curves, pause = argv
    os.makedirs(log_dir, exist_ok=True)
    _write_atomic(os.path.join(log_dir, "pid"), str(os.getpid()))
    with open(curves) as fh:
        c = json.load(fh)["configs"][int(config)]
    writer = SummaryWriter(tb_dir)
    writer.add_scalar("num_params", c["num_params"], 0)
    writer.flush()
    for epoch, acc in enumerate(c["val_acc"], start=1):
        time.sleep(float(pause))
        writer.add_scalar("val_acc", acc, epoch)
        writer.flush()
        _write_atomic(os.path.join(log_dir, "epochs"), str(epoch))
    writer.close()


if __name__ == "__main__":
    main(sys.argv[1:])
