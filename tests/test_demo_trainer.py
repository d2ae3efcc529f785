"""The demo trainer really trains and logs the curves the metrics read."""

from __future__ import annotations

import subprocess
import sys

import pytest


def test_trainer_logs_curve_and_size(tmp_path):
    from tensorboard.backend.event_processing.event_accumulator import (
        EventAccumulator,
    )

    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "ax_nas_plugins.examples.mlp_trainer",
            "--log_dir",
            str(tmp_path),
            "--epochs",
            "3",
            "--hidden_size_1",
            "16",
            "--hidden_size_2",
            "8",
            "--learning_rate",
            "0.01",
            "--data_dir",
            str(tmp_path / "no_mnist"),
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert out.returncode == 0, out.stderr
    acc = EventAccumulator(str(tmp_path))
    acc.Reload()
    tags = set(acc.Tags()["scalars"])
    assert {"val_acc", "train_loss", "num_params", "latency_ms"} <= tags
    # One point per epoch, the epoch as the step (whatever the batch size).
    assert [e.step for e in acc.Scalars("val_acc")] == [1, 2, 3]
    assert [e.step for e in acc.Scalars("train_loss")] == [1, 2, 3]
    assert all(0.0 <= e.value <= 1.0 for e in acc.Scalars("val_acc"))
    assert acc.Scalars("latency_ms")[0].value > 0
    # The Lightning callback logged the size at step 0 (count_params).
    (data_line,) = [x for x in out.stdout.splitlines() if x.startswith("data: ")]
    name, description = (tmp_path / "dataset.txt").read_text().splitlines()
    assert data_line == f"data: {description}"
    assert "dataset/text_summary" in acc.Tags()["tensors"]
    n_in = 784 if name == "mnist" else 64
    n_params = n_in * 16 + 16 + 16 * 8 + 8 + 8 * 10 + 10
    assert acc.Scalars("num_params")[0].step == 0
    assert acc.Scalars("num_params")[0].value == n_params
    if name == "digits":  # says why MNIST was not used
        assert description.startswith("sklearn digits (")
        assert (
            "torchvision is not installed" in description
            or f"MNIST files not found at {tmp_path / 'no_mnist'}" in description
        )
    assert f"dataset={name}" in out.stdout


@pytest.mark.parametrize(
    ("flag", "value", "message"),
    [
        ("--epochs", "0", "--epochs must be a positive integer"),
        ("--dropout", "1.5", "--dropout must be in [0, 1)"),
        ("--learning_rate", "-1", "--learning_rate must be positive"),
    ],
)
def test_trainer_names_bad_values(tmp_path, flag, value, message):
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "ax_nas_plugins.examples.mlp_trainer",
            "--log_dir",
            str(tmp_path),
            flag,
            value,
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert out.returncode == 2
    assert message in out.stderr
