"""Trainer-side helpers: sizes, latency, TensorBoard logging, the Lightning callback."""

from __future__ import annotations

import pytest
import torch
from tb_helpers import experiment, running_trial

import ax_nas_plugins as anp
from ax_nas_plugins import measure
from ax_nas_plugins.metrics import _logdir

torch.set_num_threads(1)


def _mlp(width=32):
    return torch.nn.Sequential(
        torch.nn.Linear(16, width), torch.nn.ReLU(), torch.nn.Linear(width, 4)
    )


def test_trainer_side_import_pulls_in_neither_ax_botorch_nor_torch(py):
    out = py(
        "import sys, ax_nas_plugins.measure\n"
        "print(sorted({m.split('.')[0] for m in sys.modules} & "
        "{'ax', 'botorch', 'torch', 'torchx', 'gpytorch'}))"
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"


def test_lightning_callback_and_example_trainer_import_no_ax(py):
    out = py(
        "import sys, ax_nas_plugins.lightning_callback\n"
        "import ax_nas_plugins.examples.mlp_trainer as t\n"
        "t._module_class()\n"
        "print(sorted({m.split('.')[0] for m in sys.modules} & "
        "{'ax', 'botorch', 'torchx', 'gpytorch', 'pluggy'}))"
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip().splitlines()[-1] == "[]"


def test_count_params_and_size_count_shared_tensors_once():
    net = _mlp()
    expected = 16 * 32 + 32 + 32 * 4 + 4
    assert measure.count_params(net) == expected
    assert measure.model_size_bytes(net) == expected * 4
    tied = torch.nn.Sequential(net[0], torch.nn.ReLU(), net[0])  # shared layer
    assert measure.count_params(tied) == 16 * 32 + 32
    net[2].weight.requires_grad_(False)
    assert measure.count_params(net, trainable_only=True) == expected - 32 * 4
    bn = torch.nn.BatchNorm1d(8)  # 2x8 params, 2x8 float buffers + 1 int64
    assert measure.model_size_bytes(bn) == 16 * 4 + 16 * 4 + 8
    assert measure.model_size_bytes(bn, include_buffers=False) == 16 * 4
    assert measure.model_size_bytes(_mlp().half()) == expected * 2


def test_measure_latency_restores_mode_and_threads_and_records_the_setup():
    net = _mlp()
    net.train()
    before = torch.get_num_threads()
    result = measure.measure_latency(
        net, torch.randn(1, 16), warmup=3, min_run_time=0.05, num_threads=1
    )
    assert net.training and torch.get_num_threads() == before
    assert 0 < result.median_ms <= result.p90_ms
    assert result.blocks >= 1 and result.calls_per_block >= 1
    assert result.device == "cpu" and result.num_threads == 1
    assert result.device_name
    assert result.as_dict()["torch_version"] == torch.__version__
    assert result.clock == "wall" and result.min_ms <= result.median_ms
    cpu = measure.measure_latency(
        net, torch.randn(1, 16), min_run_time=0.05, num_threads=1, clock="thread_cpu"
    )
    assert cpu.clock == "thread_cpu" and cpu.median_ms > 0
    # tuple and dict inputs
    two = torch.nn.Bilinear(4, 4, 2)
    assert (
        measure.measure_latency(
            two, (torch.randn(1, 4), torch.randn(1, 4)), min_run_time=0.02
        ).median_ms
        > 0
    )

    class Kw(torch.nn.Module):
        def forward(self, x=None):
            return x * 2

    assert (
        measure.measure_latency(
            Kw(), {"x": torch.randn(3)}, min_run_time=0.02
        ).median_ms
        > 0
    )


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"warmup": -1}, "warmup must be an integer >= 0"),
        ({"min_run_time": 0}, "min_run_time must be > 0"),
        ({"num_threads": 0}, "num_threads must be None or >= 1"),
        ({"clock": "cpu"}, "clock must be one of wall, thread_cpu"),
        ({"clock": "thread_cpu", "num_threads": 2}, "needs a CPU model and num_thr"),
    ],
)
def test_measure_latency_bad_arguments(kwargs, match):
    with pytest.raises(measure.MeasureError, match=match):
        measure.measure_latency(_mlp(), torch.randn(1, 16), **kwargs)


def test_logged_stats_are_read_by_the_metrics(tmp_path):
    _logdir.clear_cache()
    net = _mlp()
    logged = measure.log_model_stats(
        tmp_path, net, torch.randn(1, 16), min_run_time=0.05, num_threads=1
    )
    assert logged["latency_threads"] == 1 and logged["latency_device"] == "cpu"
    metrics = [
        anp.metric("latency"),
        anp.metric("latency", name="p90", tag="latency_p90_ms"),
        anp.metric("num_params"),
        anp.metric("model_size_bytes"),
    ]
    exp = experiment(metrics)
    trial = running_trial(exp, tmp_path)
    df = exp.fetch_data().df.set_index("metric_name")["mean"]
    assert df["num_params"] == measure.count_params(net)
    assert df["model_size_bytes"] == measure.model_size_bytes(net)
    assert df["latency_ms"] == pytest.approx(logged["latency_ms"], rel=1e-6)
    assert df["p90"] == pytest.approx(logged["latency_p90_ms"], rel=1e-6)
    assert trial.index == 0
    with pytest.raises(measure.MeasureError, match="needs example_input"):
        measure.log_model_stats(tmp_path, net)
    with pytest.raises(measure.MeasureError, match="log dir path or an object"):
        measure.log_model_stats(42, net, latency=False)


@pytest.mark.slow
def test_lightning_callback_logs_at_fit_start(tmp_path):
    import pytorch_lightning as pl
    from pytorch_lightning.loggers import TensorBoardLogger

    from ax_nas_plugins.lightning_callback import ModelStatsCallback

    class Tiny(pl.LightningModule):
        def __init__(self):
            super().__init__()
            self.net = _mlp()
            self.example_input_array = torch.randn(1, 16)

        def forward(self, x):
            return self.net(x)

        def training_step(self, batch, _):
            x, y = batch
            loss = torch.nn.functional.mse_loss(self(x), y)
            self.log("train_loss", loss)
            return loss

        def configure_optimizers(self):
            return torch.optim.SGD(self.parameters(), lr=0.01)

    data = torch.utils.data.TensorDataset(torch.randn(32, 16), torch.randn(32, 4))
    callback = ModelStatsCallback(min_run_time=0.05, num_threads=1, clock="thread_cpu")
    trainer = pl.Trainer(
        max_epochs=2,
        logger=TensorBoardLogger(str(tmp_path), name="trial_0"),
        callbacks=[callback],
        enable_progress_bar=False,
        enable_checkpointing=False,
        enable_model_summary=False,
        log_every_n_steps=1,
    )
    trainer.fit(Tiny(), torch.utils.data.DataLoader(data, batch_size=8))
    assert callback.logged["num_params"] == measure.count_params(_mlp())

    _logdir.clear_cache()
    metrics = [
        anp.metric("tensorboard", name="train_loss"),
        anp.metric("num_params"),
        anp.metric("latency"),
    ]
    exp = experiment(metrics)
    running_trial(exp, tmp_path)  # the nested trial_0/version_0 dir is found
    latest = exp.fetch_data().df.set_index("metric_name")
    assert latest.loc["num_params", "mean"] == measure.count_params(_mlp())
    assert latest.loc["latency_ms", "mean"] > 0
    # once-logged values sit at the curve's last step
    assert latest.loc["num_params", "step"] == latest.loc["train_loss", "step"]
