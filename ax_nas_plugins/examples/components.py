"""TorchX component of the demo trainer: one process, parameters as argv items."""

from __future__ import annotations

import sys

from torchx import specs


def mlp(
    tensorboard_dir: str,
    trial_index: int = 0,
    hidden_size_1: int = 32,
    hidden_size_2: int = 32,
    learning_rate: float = 1e-3,
    dropout: float = 0.2,
    batch_size: int = 32,
    epochs: int = 5,
    threads: int = 1,
    image: str = "",
    python: str = "",
) -> specs.AppDef:
    """The blog post's MLP trainer as a one-replica TorchX app.

    Each hyper-parameter becomes a ``--name value`` pair of argv items (no
    shell). ``image`` is the container image for container schedulers (the
    working folder for ``local_cwd``); ``python`` defaults to this interpreter
    (use ``python3`` inside an image).
    """
    values = {
        "hidden_size_1": int(hidden_size_1),
        "hidden_size_2": int(hidden_size_2),
        "learning_rate": float(learning_rate),
        "dropout": float(dropout),
        "batch_size": int(batch_size),
        "epochs": int(epochs),
    }
    args = ["-u", "-m", "ax_nas_plugins.examples.mlp_trainer"]
    for name, value in values.items():
        args += [f"--{name}", str(value)]
    args += ["--log_dir", tensorboard_dir, "--seed", str(trial_index)]
    args += ["--threads", str(int(threads))]
    return specs.AppDef(
        name=f"mlp-trial-{trial_index}",
        roles=[
            specs.Role(
                name="trainer",
                image=image or ".",
                entrypoint=python or sys.executable,
                args=args,
                resource=specs.Resource(cpu=1, gpu=0, memMB=1024),
            )
        ],
    )
