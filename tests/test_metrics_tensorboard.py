"""The tensorboard metric: Ax's numbers, every point, not-yet vs missing, storage."""

from __future__ import annotations

import logging

import numpy as np
import pytest
import torch
from ax.core.data import MAP_KEY
from tb_helpers import experiment, running_trial, write_curve

import ax_nas_plugins as anp
from ax_nas_plugins.metrics import _logdir
from ax_nas_plugins.metrics.tensorboard import (
    TensorBoardDataError,
    TensorBoardMetricError,
    TensorBoardReadError,
)

torch.set_num_threads(1)


@pytest.fixture(autouse=True)
def _fresh_cache():
    _logdir.clear_cache()
    yield
    _logdir.clear_cache()


OPTION_SETS = [
    {},
    {"smoothing": 0.6},
    {"quantile": 0.3},
    {"cumulative_best": True},
    {"cumulative_best": True, "lower_is_better": False},
    {"smoothing": 0.9, "quantile": 0.75, "cumulative_best": True},
]


@pytest.mark.parametrize("options", OPTION_SETS, ids=lambda o: str(o) or "plain")
def test_same_numbers_as_axs_tensorboard_metric(tmp_path, options):
    from ax.metrics.tensorboard import TensorboardMetric

    rng = np.random.default_rng(1)
    values = list(rng.normal(size=300).cumsum())
    steps = [3 * i for i in range(300)]
    values += [float("nan"), 5.0, 7.0, float("inf")]  # NaN, a duplicate step, inf
    steps += [1000, 900, 900, 1100]
    write_curve(tmp_path, "loss", values, steps)
    exp = experiment()
    trial = running_trial(exp, tmp_path)
    theirs = TensorboardMetric(name="loss", tag="loss", **options)
    ours = anp.metric("tensorboard", name="loss", **options)
    a = theirs.fetch_trial_data(trial).unwrap().full_df
    b = ours.fetch_trial_data(trial).unwrap().full_df
    assert len(b) == len(a) == 301  # NaN and inf dropped, step 900 averaged
    np.testing.assert_array_equal(b[MAP_KEY].to_numpy(), a[MAP_KEY].to_numpy())
    np.testing.assert_array_equal(b["mean"].to_numpy(), a["mean"].to_numpy())
    assert b["sem"].isna().all()
    assert set(b["metric_name"]) == {"loss"}
    assert set(b["trial_index"]) == {trial.index}


def test_every_point_of_a_long_curve_and_incremental_polls(tmp_path):
    from torch.utils.tensorboard import SummaryWriter

    w = SummaryWriter(str(tmp_path))
    for i in range(2000):
        w.add_scalar("val_acc", i / 2000, i)
    w.flush()
    exp = experiment()
    trial = running_trial(exp, tmp_path)
    metric = anp.metric("tensorboard", name="val_acc", lower_is_better=False)
    first = metric.fetch_trial_data(trial).unwrap()
    assert len(first.full_df) == 2000
    assert metric.is_available_while_running()
    # Nothing new: no read and no new rows, the same DataRow objects come back.
    again = metric.fetch_trial_data(trial).unwrap()
    assert all(a is b for a, b in zip(again._data_rows, first._data_rows, strict=True))
    for i in range(2000, 2050):
        w.add_scalar("val_acc", i / 2000, i)
    w.flush()
    second = metric.fetch_trial_data(trial).unwrap()
    assert second is not first
    assert second.full_df[MAP_KEY].tolist() == [float(i) for i in range(2050)]
    # Rows of the points already returned are reused, not rebuilt.
    assert second._data_rows[0] is first._data_rows[0]
    assert len(first.full_df) == 2000  # the earlier Data is left as it was
    w.close()
    # The cache is never needed for correctness: a cold read gives the same.
    _logdir.clear_cache()
    cold = metric.fetch_trial_data(trial).unwrap()
    assert cold.full_df.equals(second.full_df)


def test_one_read_serves_several_metrics_of_a_trial(tmp_path, monkeypatch):
    from ax_nas_plugins.metrics._events import EventFileReader

    write_curve(tmp_path, "val_acc", [0.1, 0.2, 0.3])
    write_curve(tmp_path / "more", "loss", [3.0, 2.0, 1.0])
    acc = anp.metric("tensorboard", name="val_acc", lower_is_better=False)
    loss = anp.metric("tensorboard", name="loss")
    params = anp.metric("num_params")
    exp = experiment([acc, loss])
    trial = running_trial(exp, tmp_path)
    polls = []
    original = EventFileReader.poll

    def counting_poll(self, st=None):
        polls.append(self.path)
        return original(self, st)

    monkeypatch.setattr(EventFileReader, "poll", counting_poll)
    results = acc.bulk_fetch_trial_data(trial, [acc, loss, params])
    assert len(polls) == 2  # two files, each polled once for three metrics
    assert results["val_acc"].unwrap().full_df["mean"].tolist() == pytest.approx(
        [0.1, 0.2, 0.3]
    )
    assert results["loss"].unwrap().full_df["mean"].tolist() == [3.0, 2.0, 1.0]
    # num_params is not logged yet: a normal state, an empty Data (no error).
    assert results["num_params"].unwrap().full_df.empty
    # Every subclass is fetched in the same group as the tensorboard metric.
    assert params.fetch_multi_group_by_metric is type(acc)
    data = exp.fetch_data()
    assert set(data.full_df["metric_name"]) == {"val_acc", "loss"}


def test_missing_dir_or_tag_is_empty_while_running_then_a_clear_error(tmp_path, caplog):
    metric = anp.metric("tensorboard", name="val_acc")
    exp = experiment([metric])
    trial = running_trial(exp, tmp_path / "not_there")
    with caplog.at_level(logging.DEBUG, logger="ax_nas_plugins.metrics.tensorboard"):
        assert metric.fetch_trial_data(trial).unwrap().full_df.empty
    # Said once, quietly (DEBUG), for whoever wants to know.
    assert "does not exist yet" in caplog.text
    assert all(r.levelno == logging.DEBUG for r in caplog.records)
    # What Ax calls leaves it out: nothing to log, fetched again next poll.
    assert metric.bulk_fetch_experiment_data(exp, [metric]) == {trial.index: {}}

    write_curve(tmp_path / "t1", "train_loss", [1.0, 0.5])
    trial2 = running_trial(exp, tmp_path / "t1")
    assert metric.fetch_trial_data(trial2).unwrap().full_df.empty
    trial2.mark_completed()
    err = metric.fetch_trial_data(trial2).unwrap_err()
    assert isinstance(err.exception, TensorBoardDataError)
    for part in (str(tmp_path / "t1"), "'val_acc'", "train_loss", "COMPLETED"):
        assert part in err.message

    trial.mark_failed()
    err = metric.fetch_trial_data(trial).unwrap_err()
    assert isinstance(err.exception, TensorBoardDataError)
    assert "does not exist" in err.message


def test_no_dir_anywhere_names_the_keys_and_the_template_option(tmp_path):
    metric = anp.metric("tensorboard", name="val_acc")
    exp = experiment([metric])
    trial = running_trial(exp, None)
    err = metric.fetch_trial_data(trial).unwrap_err()
    assert "tensorboard_dir" in err.message and "log_dir" in err.message


def test_log_dir_template(tmp_path):
    write_curve(tmp_path / "tmpl_exp" / "3", "val_acc", [0.5])
    metric = anp.metric(
        "tensorboard",
        name="val_acc",
        log_dir=str(tmp_path / "{experiment_name}" / "{trial_index}"),
    )
    exp = experiment([metric], name="tmpl_exp")
    for _ in range(3):
        running_trial(exp, None)
    trial = running_trial(exp, None)
    assert trial.index == 3
    assert metric.fetch_trial_data(trial).unwrap().full_df["mean"].tolist() == [0.5]


def test_nan_handling_like_ax(tmp_path, caplog):
    write_curve(tmp_path / "some", "m", [1.0, float("nan"), 3.0])
    write_curve(tmp_path / "all", "m", [float("nan"), float("inf")])
    metric = anp.metric("tensorboard", name="m")
    exp = experiment([metric])
    some = running_trial(exp, tmp_path / "some")
    with caplog.at_level(logging.WARNING):
        df = metric.fetch_trial_data(some).unwrap().full_df
    assert df["mean"].tolist() == [1.0, 3.0] and df[MAP_KEY].tolist() == [0.0, 2.0]
    assert "NaNs or Infs" in caplog.text
    bad = running_trial(exp, tmp_path / "all")
    err = metric.fetch_trial_data(bad).unwrap_err()
    assert isinstance(err.exception, TensorBoardDataError)
    assert "NaN or infinite" in err.message


@pytest.mark.parametrize(
    ("options", "match"),
    [
        ({"smoothing": 1.0}, "smoothing must be in"),
        ({"smoothing": "high"}, "smoothing must be a number"),
        ({"quantile": 1.5}, "quantile must be None or a number in"),
        ({"mode": "last"}, "mode must be one of curve, final"),
        ({"steps_from": "val_acc"}, "steps_from is only used with mode='final'"),
        ({"log_dir": "runs/{trial}"}, "unknown field.*'trial'.*{trial_index}"),
        ({"log_dir": "runs/{trial_index"}, "malformed"),
        ({"tag": ""}, "tag must be a non-empty string"),
    ],
)
def test_bad_options_say_what_is_allowed(options, match):
    with pytest.raises(TensorBoardMetricError, match=match):
        anp.metric("tensorboard", name="m", **options)


def test_final_mode_is_reported_at_the_curve_steps(tmp_path):
    write_curve(tmp_path, "val_acc", [0.1, 0.2, 0.3, 0.4])
    write_curve(tmp_path, "num_params", [1234.0])  # once, at step 0
    acc = anp.metric("tensorboard", name="val_acc", lower_is_better=False)
    params = anp.metric("num_params")
    pinned = anp.metric("num_params", name="pinned", steps_from="num_params")
    exp = experiment([acc, params, pinned])
    trial = running_trial(exp, tmp_path)
    df = params.fetch_trial_data(trial).unwrap().full_df
    assert df[MAP_KEY].tolist() == [0.0, 1.0, 2.0, 3.0]
    assert df["mean"].tolist() == [1234.0] * 4
    assert pinned.fetch_trial_data(trial).unwrap().full_df[MAP_KEY].tolist() == [0.0]
    # Latest rows: both metrics at the same step, so Ax pairs them.
    latest = exp.fetch_data().df.set_index("metric_name")[MAP_KEY].to_dict()
    assert latest == {"val_acc": 3.0, "num_params": 3.0, "pinned": 0.0}


@pytest.mark.slow
def test_registered_and_stored_in_json_and_sqlite(tmp_path, py):
    from ax_nas_plugins import storage

    metrics = [
        anp.metric(
            "tensorboard",
            name="val_acc",
            lower_is_better=False,
            smoothing=0.5,
            quantile=0.25,
            cumulative_best=True,
            log_dir="runs/{trial_index}",
        ),
        anp.metric("latency"),
        anp.metric("num_params", steps_from="val_acc"),
        anp.metric("model_size_bytes", name="size"),
    ]
    exp = experiment(metrics, name="stored_metrics")

    def attrs(m):
        return {
            k: getattr(m, k)
            for k in (
                "name",
                "tag",
                "lower_is_better",
                "smoothing",
                "quantile",
                "cumulative_best",
                "mode",
                "log_dir",
                "steps_from",
            )
        } | {"class": type(m).__name__}

    expected = sorted((attrs(m) for m in metrics), key=lambda a: a["name"])
    for location in (tmp_path / "exp.json", tmp_path / "exp.db"):
        storage.save_experiment(exp, location)
        code = (
            "from ax_nas_plugins import storage\n"
            f"exp, _ = storage.load_experiment({str(location)!r}, 'stored_metrics')\n"
            "ks=('name','tag','lower_is_better','smoothing','quantile',"
            "'cumulative_best','mode','log_dir','steps_from')\n"
            "print(sorted([{k: getattr(m, k) for k in ks} | "
            "{'class': type(m).__name__} for m in exp.metrics.values()], "
            "key=lambda a: a['name']))\n"
        )
        out = py(code)
        assert out.returncode == 0, out.stderr
        assert out.stdout.strip().splitlines()[-1] == repr(expected)


@pytest.mark.parametrize("where", ["dir", "file"])
def test_an_unreadable_trial_dir_is_that_trials_error_only(tmp_path, where):
    """A symlink loop (ELOOP) in one trial dir: its own MetricFetchE, others intact."""
    write_curve(tmp_path / "good", "val_acc", [0.1, 0.2])
    bad = tmp_path / "bad"
    if where == "dir":
        bad.symlink_to(bad)  # the trial dir itself loops
    else:
        bad.mkdir()
        (bad / "events.out.tfevents.1.host.1.0").symlink_to(
            bad / "events.out.tfevents.1.host.1.0"
        )
    acc = anp.metric("tensorboard", name="val_acc", lower_is_better=False)
    params = anp.metric("num_params")
    exp = experiment([acc, params])
    t_bad = running_trial(exp, bad)
    t_good = running_trial(exp, tmp_path / "good")
    out = acc.bulk_fetch_experiment_data(exp, [acc, params])
    for name in ("val_acc", "num_params"):
        err = out[t_bad.index][name].unwrap_err()
        assert isinstance(err.exception, TensorBoardReadError)
        assert "ELOOP" in err.message and str(bad) in err.message
        assert f"Trial {t_bad.index}" in err.message
    good = out[t_good.index]["val_acc"].unwrap().full_df
    assert good["mean"].tolist() == pytest.approx([0.1, 0.2])


@pytest.mark.slow
def test_experiment_stored_by_0_1_still_loads(tmp_path, py):
    """Fixtures written by the 0.1 code (three separate model-stat classes)."""
    import shutil
    from pathlib import Path

    code = "from ax_nas_plugins import storage\n"
    for fmt in ("json", "db"):
        src = Path(__file__).parent / "fixtures" / f"metrics_0_1.{fmt}"
        location = tmp_path / src.name
        shutil.copy(src, location)
        code += (
            f"exp, _ = storage.load_experiment({str(location)!r}, 'metrics_0_1')\n"
            "for m in sorted(exp.metrics.values(), key=lambda m: m.name):\n"
            "    print(type(m).__name__, m.name, m.tag, m.mode, m.steps_from)\n"
        )
    out = py(code)
    assert out.returncode == 0, out.stderr
    expected = [
        "LatencyMetric latency_ms latency_ms final None",
        "NumParamsMetric num_params num_params final val_acc",
        "ModelSizeMetric size bytes final None",
        "TensorBoardCurveMetric val_acc val_acc curve None",
    ]
    assert out.stdout.strip().splitlines()[-8:] == expected * 2
