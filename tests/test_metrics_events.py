"""The event-file reader: real files from every writer, partial and corrupt records."""

from __future__ import annotations

import glob
import logging
import os
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch

from ax_nas_plugins.metrics._events import (
    EventFileReader,
    crc32c,
    masked_crc32c,
    masked_crc32c_many,
)
from ax_nas_plugins.metrics._logdir import LogDir

torch.set_num_threads(1)


def _write_torch(path, n=50, tags=("val_acc", "loss"), start=0):
    from torch.utils.tensorboard import SummaryWriter

    w = SummaryWriter(str(path))
    for i in range(start, start + n):
        for k, tag in enumerate(tags):
            w.add_scalar(tag, i * 0.5 + k, i)
    w.close()
    return glob.glob(os.path.join(str(path), "*tfevents*"))[0]


def test_crc32c_matches_tensorboards_and_the_standard_check_value():
    from tensorboard.compat.tensorflow_stub.pywrap_tensorflow import (
        masked_crc32c as tb_masked,
    )

    assert crc32c(b"123456789") == 0xE3069283  # the CRC-32C check value
    rng = np.random.default_rng(0)
    blobs = [rng.bytes(int(n)) for n in rng.integers(0, 5000, size=40)]
    data = b"".join(blobs)
    starts = np.cumsum([0] + [len(b) for b in blobs[:-1]])
    lengths = np.array([len(b) for b in blobs])
    got = masked_crc32c_many(data, starts, lengths)
    assert [int(x) for x in got] == [tb_masked(b) for b in blobs]
    assert masked_crc32c(blobs[0]) == tb_masked(blobs[0])


def test_reads_every_point_then_only_what_was_appended(tmp_path):
    from torch.utils.tensorboard import SummaryWriter

    w = SummaryWriter(str(tmp_path))
    for i in range(100):
        w.add_scalar("val_acc", i / 100, i)
    w.flush()
    path = glob.glob(str(tmp_path / "*tfevents*"))[0]
    reader = EventFileReader(path)
    assert reader.poll()
    steps, values = reader.points["val_acc"]
    assert list(steps) == list(range(100))
    assert values[10] == pytest.approx(0.1)
    offset = reader.offset
    assert offset == os.path.getsize(path)
    assert not reader.poll()  # nothing new
    for i in range(100, 150):
        w.add_scalar("val_acc", i / 100, i)
    w.close()
    assert reader.poll()
    assert list(reader.points["val_acc"][0]) == list(range(150))
    assert reader.offset > offset


def test_partial_last_record_is_picked_up_later(tmp_path):
    src = _write_torch(tmp_path / "src", n=20, tags=("a",))
    blob = Path(src).read_bytes()
    dst = tmp_path / "events.out.tfevents.partial"
    cut = len(blob) - 7  # in the middle of the last record
    dst.write_bytes(blob[:cut])
    reader = EventFileReader(str(dst))
    reader.poll()
    assert list(reader.points["a"][0]) == list(range(19))
    assert reader.offset < cut
    with open(dst, "ab") as fh:
        fh.write(blob[cut:])
    assert reader.poll()
    assert list(reader.points["a"][0]) == list(range(20))


def _record_starts(blob):
    import struct

    pos, starts = 0, []
    while pos < len(blob):
        (n,) = struct.unpack_from("<Q", blob, pos)
        starts.append((pos, n))
        pos += 16 + n
    return starts


def test_corrupt_data_crc_skips_one_record_and_keeps_the_rest(tmp_path, caplog):
    src = _write_torch(tmp_path / "src", n=30, tags=("a",))
    blob = bytearray(Path(src).read_bytes())
    records = _record_starts(bytes(blob))
    pos, n = records[11]  # record 0 is the file_version event: step 10 is #11
    blob[pos + 12 + n - 1] ^= 0xFF  # flip the float's last byte
    dst = tmp_path / "events.out.tfevents.corrupt"
    dst.write_bytes(bytes(blob))
    with caplog.at_level(logging.WARNING):
        reader = EventFileReader(str(dst))
        reader.poll()
    assert list(reader.points["a"][0]) == [i for i in range(30) if i != 10]
    assert "CRC mismatch" in caplog.text and str(dst) in caplog.text


def test_corrupt_length_header_resyncs_to_the_next_good_record(tmp_path, caplog):
    src = _write_torch(tmp_path / "src", n=30, tags=("a",))
    blob = bytearray(Path(src).read_bytes())
    pos, _ = _record_starts(bytes(blob))[6]
    blob[pos + 3] ^= 0x40  # a huge length with a wrong header CRC
    dst = tmp_path / "events.out.tfevents.badlen"
    dst.write_bytes(bytes(blob))
    with caplog.at_level(logging.WARNING):
        reader = EventFileReader(str(dst))
        reader.poll()
    assert list(reader.points["a"][0]) == [i for i in range(30) if i != 5]
    assert "Corrupt record header" in caplog.text
    assert reader.offset == len(blob)


def test_replaced_file_is_read_again(tmp_path):
    d = tmp_path / "run"
    path = _write_torch(d, n=10, tags=("a",))
    reader = EventFileReader(path)
    reader.poll()
    blob = Path(_write_torch(tmp_path / "other", n=3, tags=("a",))).read_bytes()
    os.remove(path)
    with open(path, "wb") as fh:
        fh.write(blob)
    assert reader.poll()
    assert list(reader.points["a"][0]) == [0, 1, 2]


def test_every_writer_and_scalar_encoding(tmp_path):
    """torch (simple_value, new_style float/double), tensorboardX, TF2-style
    tensor_content, Lightning's nested version dir, two files in one dir."""
    from tensorboard.compat.proto import event_pb2, summary_pb2, tensor_pb2
    from tensorboard.summary.writer.event_file_writer import EventFileWriter
    from tensorboardX import SummaryWriter as XWriter
    from torch.utils.tensorboard import SummaryWriter

    root = tmp_path / "trial"
    w = SummaryWriter(str(root))
    w.add_scalar("simple", 1.5, 0)
    w.add_scalar("new_float", 2.5, 1, new_style=True)
    w.add_scalar("new_double", 0.1, 2, new_style=True, double_precision=True)
    w.add_text("note", "not a scalar", 0)
    w.add_histogram("hist", np.arange(10), 0)
    w.close()
    x = XWriter(str(root), filename_suffix=".x")  # a second file in the same dir
    x.add_scalar("from_x", 3.5, 3)
    x.close()
    tf2 = EventFileWriter(str(root / "tf2"))  # a nested run
    tensor = tensor_pb2.TensorProto(
        dtype=1, tensor_content=np.array([4.25], dtype=np.float32).tobytes()
    )
    meta = summary_pb2.SummaryMetadata(
        plugin_data=summary_pb2.SummaryMetadata.PluginData(plugin_name="scalars")
    )
    for step, meta_or_none in ((4, meta), (5, None)):  # TF2: metadata once
        value = summary_pb2.Summary.Value(tag="tf2", tensor=tensor)
        if meta_or_none is not None:
            value.metadata.CopyFrom(meta_or_none)
        tf2.add_event(
            event_pb2.Event(step=step, summary=summary_pb2.Summary(value=[value]))
        )
    tf2.close()
    from pytorch_lightning.loggers import TensorBoardLogger

    lg = TensorBoardLogger(str(root), name="lightning")
    lg.log_metrics({"pl_metric": 6.5}, step=7)
    lg.finalize("success")

    state = LogDir(str(root))
    assert state.refresh()
    assert state.tags() == [
        "from_x",
        "new_double",
        "new_float",
        "pl_metric",
        "simple",
        "tf2",
    ]
    assert state.curve("new_double")[1].tolist() == [0.1]
    assert state.curve("new_float")[1].tolist() == [2.5]
    assert state.curve("tf2")[0].tolist() == [4.0, 5.0]
    assert state.curve("tf2")[1].tolist() == [4.25, 4.25]
    assert state.curve("pl_metric")[0].tolist() == [7.0]
    assert state.curve("from_x")[1].tolist() == [3.5]
    assert not state.refresh()  # nothing new: no read at all
    shutil.rmtree(root / "tf2")
    assert state.refresh()
    assert "tf2" not in state.tags()


def test_reads_in_chunks_smaller_than_a_record(tmp_path, monkeypatch):
    from torch.utils.tensorboard import SummaryWriter

    from ax_nas_plugins.metrics import _events

    w = SummaryWriter(str(tmp_path))
    for i in range(200):
        w.add_scalar("a", float(i), i)
        if i % 50 == 0:
            w.add_histogram("h", np.random.default_rng(i).normal(size=500), i)
    w.close()
    path = glob.glob(str(tmp_path / "*tfevents*"))[0]
    monkeypatch.setattr(_events, "READ_CHUNK", 64)  # histograms are ~1 KiB
    reader = EventFileReader(path)
    assert reader.poll()
    assert list(reader.points["a"][0]) == list(range(200))
    assert reader.offset == os.path.getsize(path)


def test_a_symlink_loop_in_the_log_dir_is_walked_once(tmp_path):
    _write_torch(tmp_path / "run", n=3, tags=("a",))
    os.symlink(tmp_path, tmp_path / "run" / "loop")
    state = LogDir(str(tmp_path))
    assert state.refresh()
    assert state.curve("a")[0].tolist() == [0.0, 1.0, 2.0]


def _set_length(blob: bytearray, pos: int, length: int) -> None:
    """Rewrite a record's length and give it a valid header CRC."""
    import struct

    blob[pos : pos + 8] = struct.pack("<Q", length)
    blob[pos + 8 : pos + 12] = struct.pack(
        "<I", masked_crc32c(bytes(blob[pos : pos + 8]))
    )


@pytest.mark.parametrize("where", ["past_the_end", "inside_the_file"])
def test_corrupt_length_with_a_valid_crc_resyncs_with_a_warning(
    tmp_path, caplog, where
):
    src = _write_torch(tmp_path / "src", n=10, tags=("a",))
    blob = bytearray(Path(src).read_bytes())
    pos, n = _record_starts(bytes(blob))[3]  # step 2 (record 0 is the version)
    _set_length(blob, pos, 10**9 if where == "past_the_end" else n + 7)
    dst = tmp_path / "events.out.tfevents.badlen"
    dst.write_bytes(bytes(blob))
    with caplog.at_level(logging.WARNING):
        reader = EventFileReader(str(dst))
        reader.poll()
    assert list(reader.points["a"][0]) == [i for i in range(10) if i != 2]
    assert "Corrupt record header" in caplog.text and str(dst) in caplog.text
    assert reader.offset == len(blob)


def test_partial_record_at_the_end_is_not_taken_for_a_corrupt_length(tmp_path, caplog):
    src = _write_torch(tmp_path / "src", n=10, tags=("a",))
    blob = Path(src).read_bytes()
    pos, n = _record_starts(blob)[-1]
    dst = tmp_path / "events.out.tfevents.partial"
    dst.write_bytes(blob[: pos + 12 + n // 2])  # the writer is mid-record
    with caplog.at_level(logging.WARNING):
        reader = EventFileReader(str(dst))
        reader.poll()
    assert list(reader.points["a"][0]) == list(range(9))
    assert reader.offset == pos and not caplog.text
    dst.write_bytes(blob)
    reader.poll()
    assert list(reader.points["a"][0]) == list(range(10))
