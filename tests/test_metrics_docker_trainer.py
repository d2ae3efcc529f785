"""Trainer-side code runs in a container that has torch and tensorboard but no Ax.

The container is the project's trainer image (Debian ``minbase`` with
``python3``, :mod:`ax_nas_plugins.testing.docker_image`). Its Python gets
exactly the dependency closure of torch, tensorboard, pytorch-lightning and
scikit-learn from this machine's site-packages (read-only links, see
``trainer_site_dir``) plus the ``ax_nas_plugins`` folder alone (what ``pip
install --no-deps`` would add). No network. Inside: Ax, BoTorch, TorchX and
pluggy cannot be imported; ``measure``, the Lightning callback and the demo
trainer import and run, and the trainer's curves are read back here by the
pack's metric.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = [pytest.mark.docker, pytest.mark.slow]

REPO = Path(__file__).resolve().parents[1]

CHECK = """
import importlib, sys
for name in ("ax", "botorch", "torchx", "pluggy", "gpytorch"):
    try:
        importlib.import_module(name)
    except ImportError:
        continue
    sys.exit(f"{name} is importable in the trainer image")
import ax_nas_plugins, ax_nas_plugins.measure, ax_nas_plugins.lightning_callback
import ax_nas_plugins.examples.mlp_trainer
print("python", sys.version.split()[0], "ax-free imports ok")
"""


@pytest.fixture(scope="module")
def image():
    done = subprocess.run(["docker", "version"], capture_output=True, text=True)
    if done.returncode != 0:
        message = (
            f"dockerd is unreachable ({done.stderr.strip()[:200]}); start it with "
            "`scripts/services.sh start`"
        )
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(message + " (CI=true: docker tests must run)")
        pytest.skip(message)
    from ax_nas_plugins.testing.docker_image import ensure_trainer_image

    return ensure_trainer_image()


def test_trainer_side_code_runs_without_ax_in_the_image(image, tmp_path):
    from ax_nas_plugins.testing.docker_image import trainer_site_dir

    deps = tmp_path / "deps"
    host_site, dists = trainer_site_dir(str(deps))
    assert not {"ax-platform", "botorch", "torchx", "pluggy"} & {
        d.lower() for d in dists
    }
    out = tmp_path / "out"
    out.mkdir()
    script = (
        f"python3 -c '{CHECK}' && python3 -m ax_nas_plugins.examples.mlp_trainer "
        "--log_dir /out/tb --epochs 2 --hidden_size_1 16 --hidden_size_2 8 "
        "--learning_rate 0.01 --batch_size 64 --threads 1"
    )
    done = subprocess.run(
        [
            "docker",
            "run",
            "--rm",
            "--network",
            "none",
            "-v",
            f"{host_site}:/host-site:ro",
            "-v",
            f"{deps}:/deps:ro",
            "-v",
            f"{REPO / 'ax_nas_plugins'}:/pack/ax_nas_plugins:ro",
            "-v",
            f"{out}:/out",
            "-e",
            "PYTHONPATH=/deps:/pack",
            "-e",
            "PYTHONDONTWRITEBYTECODE=1",
            "-e",
            "HOME=/tmp",
            image,
            "sh",
            "-c",
            script,
        ],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert "ax-free imports ok" in done.stdout
    assert "python 3.11" in done.stdout  # the image's own Python
    assert "data: sklearn digits (torchvision is not installed)" in done.stdout

    # What the trainer logged, read back by the pack's metrics (Ax side).
    sys.path.insert(0, str(Path(__file__).parent))
    from tb_helpers import experiment, running_trial

    import ax_nas_plugins as anp

    acc = anp.metric("tensorboard", name="val_acc", lower_is_better=False)
    params = anp.metric("num_params")
    latency = anp.metric("latency")
    exp = experiment([acc, params, latency])
    trial = running_trial(exp, out / "tb")
    got = acc.bulk_fetch_trial_data(trial, [acc, params, latency])
    assert got["val_acc"].unwrap().full_df["step"].tolist() == [1.0, 2.0]
    n_params = 64 * 16 + 16 + 16 * 8 + 8 + 8 * 10 + 10
    assert set(got["num_params"].unwrap().full_df["mean"]) == {n_params}
    assert got["latency_ms"].unwrap().full_df["mean"].iloc[0] > 0
    assert (out / "tb" / "dataset.txt").read_text().startswith("digits\n")
