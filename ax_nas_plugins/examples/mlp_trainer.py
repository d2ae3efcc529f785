"""Train the blog post's two-hidden-layer MLP and log its curves to TensorBoard.

Trainer-side code: it runs inside the job and imports torch (and, for data,
scikit-learn or torchvision), never Ax, BoTorch or the plugin registry.

Data: MNIST through torchvision when it is installed and its files are already
under ``--data_dir`` (nothing is downloaded); otherwise scikit-learn's bundled
8x8 ``load_digits`` (1,797 images), which needs no network. The data set used is
logged as the TensorBoard text tag ``dataset``.

Logged scalars (TensorBoard): ``val_acc`` and ``train_loss`` every epoch
(step = epoch, from 1), ``num_params`` and ``model_size_bytes`` once at step 0.
"""

from __future__ import annotations

import argparse
import os
import sys
import time


def _load_data(data_dir: str | None, seed: int):
    import numpy as np
    import torch

    if data_dir:
        try:  # MNIST only when already on disk: this must work offline
            from torchvision import datasets

            train = datasets.MNIST(data_dir, train=True, download=False)
            test = datasets.MNIST(data_dir, train=False, download=False)
            x_tr = train.data.float().div(255).flatten(1)
            x_va = test.data.float().div(255).flatten(1)
            return "mnist", x_tr, train.targets, x_va, test.targets, 10
        except Exception:  # torchvision missing, or files absent
            pass
    from sklearn.datasets import load_digits

    digits = load_digits()
    x = torch.tensor(digits.data / 16.0, dtype=torch.float32)
    y = torch.tensor(digits.target, dtype=torch.long)
    rng = np.random.default_rng(seed)
    order = torch.tensor(rng.permutation(len(y)))
    cut = int(0.75 * len(y))
    tr, va = order[:cut], order[cut:]
    return "digits", x[tr], y[tr], x[va], y[va], 10


def build_model(
    n_in: int, n_out: int, hidden_size_1: int, hidden_size_2: int, dropout: float
):
    """The blog post's MLP: two hidden ReLU layers with dropout."""
    from torch import nn

    return nn.Sequential(
        nn.Linear(n_in, hidden_size_1),
        nn.ReLU(),
        nn.Dropout(dropout),
        nn.Linear(hidden_size_1, hidden_size_2),
        nn.ReLU(),
        nn.Dropout(dropout),
        nn.Linear(hidden_size_2, n_out),
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
    p.add_argument("--data_dir", default=os.environ.get("AX_NAS_DATA_DIR"))
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=1)
    args, unknown = p.parse_known_args(argv)
    if unknown:  # runners may pass extra context flags; say so, don't fail
        print(f"mlp_trainer: ignoring extra arguments {unknown}", file=sys.stderr)
    for field in ("hidden_size_1", "hidden_size_2", "batch_size", "epochs"):
        if getattr(args, field) < 1:
            p.error(f"--{field} must be a positive integer, got {getattr(args, field)}")
    if not 0.0 <= args.dropout < 1.0:
        p.error(f"--dropout must be in [0, 1), got {args.dropout}")
    if args.learning_rate <= 0:
        p.error(f"--learning_rate must be positive, got {args.learning_rate}")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    import torch
    from torch.utils.tensorboard import SummaryWriter

    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    name, x_tr, y_tr, x_va, y_va, n_out = _load_data(args.data_dir, args.seed)
    model = build_model(
        x_tr.shape[1], n_out, args.hidden_size_1, args.hidden_size_2, args.dropout
    )
    opt = torch.optim.Adam(model.parameters(), lr=args.learning_rate)
    loss_fn = torch.nn.CrossEntropyLoss()
    writer = SummaryWriter(log_dir=args.log_dir)
    n_params = sum(p.numel() for p in model.parameters())
    size_bytes = sum(p.numel() * p.element_size() for p in model.parameters())
    writer.add_scalar("num_params", n_params, 0)
    writer.add_scalar("model_size_bytes", size_bytes, 0)
    writer.add_text("dataset", name, 0)
    gen = torch.Generator().manual_seed(args.seed)
    start = time.perf_counter()
    for epoch in range(1, args.epochs + 1):
        model.train()
        order = torch.randperm(len(y_tr), generator=gen)
        total = 0.0
        for i in range(0, len(order), args.batch_size):
            idx = order[i : i + args.batch_size]
            opt.zero_grad()
            loss = loss_fn(model(x_tr[idx]), y_tr[idx])
            loss.backward()
            opt.step()
            total += loss.item() * len(idx)
        model.eval()
        with torch.no_grad():
            acc = float((model(x_va).argmax(1) == y_va).float().mean())
        writer.add_scalar("train_loss", total / len(y_tr), epoch)
        writer.add_scalar("val_acc", acc, epoch)
        writer.flush()
        print(f"epoch {epoch}/{args.epochs} val_acc={acc:.4f}", flush=True)
    writer.close()
    print(
        f"done: dataset={name} num_params={n_params} "
        f"seconds={time.perf_counter() - start:.1f}",
        flush=True,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
