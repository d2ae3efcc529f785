"""Trainer-side Lightning callback logging num_params, model size and latency.

Runs inside the training job: imports Lightning and torch, never Ax, BoTorch or
the plugin registry.
"""

from __future__ import annotations

from typing import Any

import pytorch_lightning as pl

from ax_nas_plugins import measure


class ModelStatsCallback(pl.Callback):
    """Log ``num_params``, ``model_size_bytes`` and latency once, when fit starts.

    The rule: at ``on_fit_start`` (before the first epoch, so a trial stopped
    early still has the values) the callback measures the LightningModule
    and logs the values through the trainer's TensorBoard logger (the first
    logger whose ``experiment`` has ``add_scalar``), under the tags the
    ``num_params``, ``model_size_bytes`` and ``latency`` metrics read. The
    latency needs an ``example_input``; without one (and without the module's
    ``example_input_array``) only the sizes are logged. Nothing is logged
    when the trainer has no such logger, or on ranks other than 0.

    Example::

        trainer = pl.Trainer(logger=TensorBoardLogger("runs", name="trial_3"),
                             callbacks=[ModelStatsCallback(num_threads=1)])

    Args:
        example_input: One input batch (default: the module's
            ``example_input_array``).
        latency: Measure latency.
        warmup: Untimed calls before timing.
        min_run_time: Seconds of timed calls at least.
        num_threads: torch threads while timing (default: current).
        device: Where to time the model (default: where it is).
        clock: ``"wall"`` or ``"thread_cpu"`` (see ``measure.measure_latency``).
    """

    def __init__(
        self,
        example_input: Any = None,
        latency: bool = True,
        warmup: int = 10,
        min_run_time: float = 1.0,
        num_threads: int | None = None,
        device: str | None = None,
        clock: str = "wall",
    ) -> None:
        self.example_input = example_input
        self.latency = latency
        self.warmup = warmup
        self.min_run_time = min_run_time
        self.num_threads = num_threads
        self.device = device
        self.clock = clock
        self.logged: dict[str, Any] = {}

    def on_fit_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if trainer.global_rank != 0:
            return
        writer = next(
            (
                lg.experiment
                for lg in trainer.loggers
                if hasattr(getattr(lg, "experiment", None), "add_scalar")
            ),
            None,
        )
        if writer is None:
            return
        example = self.example_input
        if example is None:
            example = getattr(pl_module, "example_input_array", None)
        self.logged = measure.log_model_stats(
            writer,
            pl_module,
            example,
            step=trainer.global_step,
            latency=self.latency and example is not None,
            warmup=self.warmup,
            min_run_time=self.min_run_time,
            num_threads=self.num_threads,
            device=self.device,
            clock=self.clock,
        )
