"""Train the blog post's MNIST MLP (a PyTorch Lightning module) and log its curves.

Trainer-side code: it runs inside the job and imports torch, PyTorch Lightning,
TensorBoard and (for data) torchvision or scikit-learn, never Ax, BoTorch or
the plugin registry.

The rule for the data: MNIST through torchvision when torchvision is
installed and the MNIST files are already under ``--data_dir`` (nothing is
downloaded); otherwise scikit-learn's bundled 8x8 digits (1,797 images, no
network). The trainer says which it used, and why, three ways: a line
``data: ...`` on stdout, the TensorBoard text tag ``dataset``, and a file
``dataset.txt`` in the log dir (for the orchestrator side to report).

Logged scalars (TensorBoard, through Lightning's ``TensorBoardLogger``):
``val_acc`` and ``train_loss`` every epoch (step = epoch, from 1);
``num_params``, ``model_size_bytes`` and ``latency_ms`` once at step 0, by
the pack's :class:`~ax_nas_plugins.lightning_callback.ModelStatsCallback`.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from dataclasses import dataclass
from typing import Any

#: Where MNIST is looked for when ``--data_dir`` and ``AX_NAS_DATA_DIR`` are unset.
DEFAULT_DATA_DIR = os.path.join(
    os.path.expanduser("~"), ".cache", "ax-nas-plugins", "data"
)


@dataclass
class Dataset:
    """Tensors of one data set, and a sentence saying which one and why."""

    name: str
    description: str
    x_train: Any
    y_train: Any
    x_val: Any
    y_val: Any
    n_classes: int = 10


def _mnist(data_dir: str) -> Dataset | str:
    """MNIST from ``data_dir`` (torchvision layout), or the reason it is not used."""
    try:
        from torchvision import datasets
    except ImportError:
        return "torchvision is not installed"
    try:
        train = datasets.MNIST(data_dir, train=True, download=False)
        test = datasets.MNIST(data_dir, train=False, download=False)
    except RuntimeError:  # torchvision: "Dataset not found."
        return f"MNIST files not found at {data_dir}"
    return Dataset(
        "mnist",
        f"MNIST from {data_dir} (torchvision)",
        train.data.float().div(255).flatten(1),
        train.targets,
        test.data.float().div(255).flatten(1),
        test.targets,
    )


def _digits(seed: int, why: str) -> Dataset:
    """scikit-learn's 8x8 digits, split 75/25 with ``seed``."""
    import numpy as np
    import torch
    from sklearn.datasets import load_digits

    digits = load_digits()
    x = torch.tensor(digits.data / 16.0, dtype=torch.float32)
    y = torch.tensor(digits.target, dtype=torch.long)
    order = torch.from_numpy(np.random.default_rng(seed).permutation(len(y)))
    cut = int(0.75 * len(y))
    tr, va = order[:cut], order[cut:]
    return Dataset("digits", f"sklearn digits ({why})", x[tr], y[tr], x[va], y[va])


def load_data(data_dir: str, seed: int) -> Dataset:
    """MNIST when torchvision and its files are there, else sklearn's digits."""
    found = _mnist(data_dir)
    return found if isinstance(found, Dataset) else _digits(seed, found)


def _module_class() -> type:
    """``MnistMLP``, defined on first use so that importing this file stays cheap."""
    import pytorch_lightning as pl
    import torch
    from torch import nn

    class MnistMLP(pl.LightningModule):
        """The blog post's MLP: two hidden ReLU layers with dropout, Adam."""

        def __init__(
            self,
            n_in: int = 784,
            n_out: int = 10,
            hidden_size_1: int = 32,
            hidden_size_2: int = 32,
            learning_rate: float = 1e-3,
            dropout: float = 0.2,
        ) -> None:
            super().__init__()
            self.save_hyperparameters()
            self.model = nn.Sequential(
                nn.Linear(n_in, hidden_size_1),
                nn.ReLU(),
                nn.Dropout(dropout),
                nn.Linear(hidden_size_1, hidden_size_2),
                nn.ReLU(),
                nn.Dropout(dropout),
                nn.Linear(hidden_size_2, n_out),
            )
            self.learning_rate = learning_rate
            self.example_input_array = torch.zeros(1, n_in)  # for the latency

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.model(x)

        def training_step(self, batch: Any, batch_idx: int) -> torch.Tensor:
            x, y = batch
            loss = nn.functional.cross_entropy(self(x), y)
            self.log("train_loss", loss, on_step=False, on_epoch=True)
            return loss

        def validation_step(self, batch: Any, batch_idx: int) -> None:
            x, y = batch
            acc = (self(x).argmax(1) == y).float().mean()
            self.log("val_acc", acc, on_epoch=True, prog_bar=True)
            # Lightning uses a logged "step" as the TensorBoard step: the epoch,
            # so curves of trials with different batch sizes line up.
            self.log("step", float(self.current_epoch + 1), on_epoch=True)

        def on_train_epoch_end(self) -> None:
            self.log("step", float(self.current_epoch + 1), on_epoch=True)

        def configure_optimizers(self) -> torch.optim.Optimizer:
            return torch.optim.Adam(self.parameters(), lr=self.learning_rate)

    return MnistMLP


def build_model(
    n_in: int,
    n_out: int,
    hidden_size_1: int,
    hidden_size_2: int,
    dropout: float,
    learning_rate: float = 1e-3,
) -> Any:
    """The blog post's MLP as a LightningModule (``MnistMLP``)."""
    return _module_class()(
        n_in, n_out, hidden_size_1, hidden_size_2, learning_rate, dropout
    )


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--hidden_size_1", type=int, default=32)
    p.add_argument("--hidden_size_2", type=int, default=32)
    p.add_argument("--learning_rate", type=float, default=1e-3)
    p.add_argument("--dropout", type=float, default=0.2)
    p.add_argument("--batch_size", type=int, default=32)
    p.add_argument("--epochs", type=int, default=5)
    p.add_argument("--log_dir", required=True, help="TensorBoard folder to write")
    p.add_argument(
        "--data_dir",
        default=os.environ.get("AX_NAS_DATA_DIR") or DEFAULT_DATA_DIR,
        help="where MNIST is looked for (torchvision layout; never downloaded)",
    )
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument(
        "--latency", type=int, default=1, help="1: measure and log latency_ms"
    )
    args, unknown = p.parse_known_args(argv)
    if unknown:  # runners may pass extra context flags; say so, don't fail
        print(f"mlp_trainer: ignoring extra arguments {unknown}", file=sys.stderr)
    for field in ("hidden_size_1", "hidden_size_2", "batch_size", "epochs", "threads"):
        if getattr(args, field) < 1:
            p.error(f"--{field} must be a positive integer, got {getattr(args, field)}")
    if not 0.0 <= args.dropout < 1.0:
        p.error(f"--dropout must be in [0, 1), got {args.dropout}")
    if args.learning_rate <= 0:
        p.error(f"--learning_rate must be positive, got {args.learning_rate}")
    return args


def _quiet_lightning() -> None:
    """Keep the job's log short (this is the program's own main, after import)."""
    import logging
    import warnings

    for name in ("pytorch_lightning", "lightning.pytorch", "lightning_fabric"):
        logging.getLogger(name).setLevel(logging.WARNING)
    warnings.filterwarnings("ignore", ".*does not have many workers.*")
    warnings.filterwarnings("ignore", ".*Checkpoint directory.*")
    warnings.filterwarnings("ignore", ".*`srun` command is available.*")
    warnings.filterwarnings("ignore", ".*LeafSpec.*")


def _record_dataset(log_dir: str, data: Dataset) -> None:
    os.makedirs(log_dir, exist_ok=True)
    tmp = os.path.join(log_dir, "dataset.txt.tmp")
    with open(tmp, "w", encoding="utf-8") as fh:
        fh.write(f"{data.name}\n{data.description}\n")
    os.replace(tmp, os.path.join(log_dir, "dataset.txt"))


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    import pytorch_lightning as pl
    import torch
    from pytorch_lightning.loggers import TensorBoardLogger
    from torch.utils.data import DataLoader, TensorDataset

    from ax_nas_plugins.lightning_callback import ModelStatsCallback

    _quiet_lightning()

    torch.set_num_threads(args.threads)
    pl.seed_everything(args.seed, verbose=False)
    data = load_data(args.data_dir, args.seed)
    print(f"data: {data.description}", flush=True)
    _record_dataset(args.log_dir, data)
    model = build_model(
        data.x_train.shape[1],
        data.n_classes,
        args.hidden_size_1,
        args.hidden_size_2,
        args.dropout,
        args.learning_rate,
    )
    logger = TensorBoardLogger(
        args.log_dir, name="", version="", default_hp_metric=False
    )
    logger.experiment.add_text("dataset", data.description, 0)
    stats = ModelStatsCallback(
        latency=bool(args.latency), num_threads=1, warmup=5, min_run_time=0.1
    )
    trainer = pl.Trainer(
        max_epochs=args.epochs,
        logger=logger,
        callbacks=[stats],
        accelerator="cpu",
        devices=1,
        num_sanity_val_steps=0,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        log_every_n_steps=1,
    )
    train = DataLoader(
        TensorDataset(data.x_train, data.y_train),
        batch_size=args.batch_size,
        shuffle=True,
        generator=torch.Generator().manual_seed(args.seed),
    )
    val = DataLoader(TensorDataset(data.x_val, data.y_val), batch_size=4096)
    start = time.perf_counter()
    trainer.fit(model, train, val)
    acc = float(trainer.callback_metrics.get("val_acc", float("nan")))
    print(
        f"done: dataset={data.name} val_acc={acc:.4f} "
        f"num_params={int(stats.logged.get('num_params', 0))} "
        f"seconds={time.perf_counter() - start:.1f}",
        flush=True,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
