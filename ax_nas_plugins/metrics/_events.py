"""Incremental reader of TensorBoard event files (TFRecord framing, Event protos).

The rule: an event file is a sequence of records, each ``uint64 length``,
``uint32 masked-crc32c(length)``, ``length`` bytes of a serialized ``Event``,
``uint32 masked-crc32c(data)`` (all little-endian). :class:`EventFileReader`
remembers the byte offset of the first record it has not read yet; a poll
stats the file and reads only the bytes after that offset.

Edge cases, named:

- A record cut off at the end of the file (the writer is still writing it)
  is left for the next poll: the offset stops before it.
- A record whose length header fails its CRC cannot be trusted to say where
  the next record starts: the reader warns and scans forward, byte by byte,
  to the next place where a header and its data both check out.
- A record whose data fails its CRC is skipped with a warning; the records
  around it are kept. Only records that carry scalar values are checked (the
  others are not used).
- A file that shrank or was replaced (another inode) is read again from the
  start; its earlier points are dropped.

Scalars are read from ``simple_value`` (``torch.utils.tensorboard``,
tensorboardX, Lightning) and from one-element numeric ``tensor`` values (TF2
summaries, ``add_scalar(..., new_style=True)``), unless the tag was declared
for another TensorBoard plugin than ``scalars``.

CRC-32C is computed with numpy over many records at once (one table lookup
per byte position for all records of a read), so no compiled extension is
needed.

Example::

    reader = EventFileReader("runs/trial_0/events.out.tfevents.1.host.1.0")
    reader.poll()            # True: new points were read
    reader.points["val_acc"] # (array('q', steps), array('d', values))
    reader.poll()            # False: nothing new, it cost one stat()
"""

from __future__ import annotations

import logging
import os
import struct
from array import array
from typing import Any

import numpy as np

logger = logging.getLogger(__name__)

_CRC_POLY = 0x82F63B78  # CRC-32C (Castagnoli), reflected
_MASK_DELTA = 0xA282EAD8
_HEADER = struct.Struct("<QI")  # length, masked crc of length
_U32 = struct.Struct("<I")
#: Records longer than this get their CRC computed one by one (rare: scalars are
#: small, and large records, images or graphs, carry no scalar and are not checked).
_VECTOR_MAX_LEN = 4096
#: Bytes read from a file at a time.
READ_CHUNK = 2**20


def _make_table() -> np.ndarray:
    table = np.zeros(256, dtype=np.uint32)
    for i in range(256):
        crc = i
        for _ in range(8):
            crc = (crc >> 1) ^ _CRC_POLY if crc & 1 else crc >> 1
        table[i] = crc
    return table


_TABLE = _make_table()
_TABLE_PY: tuple[int, ...] = tuple(int(x) for x in _TABLE)


def crc32c(data: bytes | bytearray | memoryview) -> int:
    """CRC-32C of ``data`` (pure Python, one table lookup per byte)."""
    crc = 0xFFFFFFFF
    table = _TABLE_PY
    for byte in bytes(data):
        crc = table[(crc ^ byte) & 0xFF] ^ (crc >> 8)
    return crc ^ 0xFFFFFFFF


def masked_crc32c(data: bytes | bytearray | memoryview) -> int:
    """The masked CRC-32C that TFRecord stores after the length and the data."""
    crc = crc32c(data)
    return (((crc >> 15) | (crc << 17)) + _MASK_DELTA) & 0xFFFFFFFF


def _masked_crc32c_many(
    buf: np.ndarray, starts: np.ndarray, lengths: np.ndarray
) -> np.ndarray:
    """Masked CRC-32C of many slices ``buf[start:start+length]`` at once.

    Slices are sorted by length (longest first) so that at byte position ``j``
    the slices still running are a prefix; each position costs one vectorised
    table lookup over that prefix.
    """
    n = len(starts)
    out = np.empty(n, dtype=np.uint32)
    if n == 0:
        return out
    order = np.argsort(-lengths, kind="stable")
    s = starts[order].astype(np.int64)
    lens = lengths[order].astype(np.int64)
    crc = np.full(n, 0xFFFFFFFF, dtype=np.uint32)
    # active[j] = number of slices longer than j (lens is sorted descending).
    ascending = lens[::-1]
    max_len = int(lens[0]) if n else 0
    positions = np.arange(max_len)
    active = n - np.searchsorted(ascending, positions, side="right")
    table = _TABLE
    for j in range(max_len):
        k = int(active[j])
        c = crc[:k]
        b = buf[s[:k] + j]
        crc[:k] = table[(c ^ b) & 0xFF] ^ (c >> 8)
    crc ^= np.uint32(0xFFFFFFFF)
    wide = crc.astype(np.uint64)
    masked = (((wide >> 15) | (wide << 17)) + _MASK_DELTA) & 0xFFFFFFFF
    out[order] = masked.astype(np.uint32)
    return out


def masked_crc32c_many(
    data: bytes, starts: np.ndarray, lengths: np.ndarray
) -> np.ndarray:
    """Masked CRC-32C of many slices of ``data``; long slices one by one."""
    buf = np.frombuffer(data, dtype=np.uint8)
    starts = np.asarray(starts, dtype=np.int64)
    lengths = np.asarray(lengths, dtype=np.int64)
    out = np.empty(len(starts), dtype=np.uint32)
    short = lengths <= _VECTOR_MAX_LEN
    out[short] = _masked_crc32c_many(buf, starts[short], lengths[short])
    for i in np.flatnonzero(~short):
        s, n = int(starts[i]), int(lengths[i])
        out[i] = masked_crc32c(data[s : s + n])
    return out


# --- scalar extraction ------------------------------------------------------

# tensorflow DataType enum values (tensorboard/compat/proto/types.proto).
_DT_FLOAT, _DT_DOUBLE, _DT_INT32, _DT_INT64, _DT_HALF = 1, 2, 3, 9, 19
_DT_BFLOAT16 = 14
_TENSOR_CONTENT_DTYPES = {
    _DT_FLOAT: np.float32,
    _DT_DOUBLE: np.float64,
    _DT_INT32: np.int32,
    _DT_INT64: np.int64,
    _DT_HALF: np.float16,
}


def _tensor_scalar(tensor: Any) -> float | None:
    """The value of a one-element numeric TensorProto, or None."""
    dims = tensor.tensor_shape.dim
    size = 1
    for d in dims:
        size *= d.size
    if size != 1:
        return None
    dtype = tensor.dtype
    if tensor.tensor_content:
        np_dtype = _TENSOR_CONTENT_DTYPES.get(dtype)
        if np_dtype is None:
            return None
        return float(np.frombuffer(tensor.tensor_content, dtype=np_dtype)[0])
    if dtype == _DT_FLOAT and tensor.float_val:
        return float(tensor.float_val[0])
    if dtype == _DT_DOUBLE and tensor.double_val:
        return float(tensor.double_val[0])
    if dtype in (_DT_INT32,) and tensor.int_val:
        return float(tensor.int_val[0])
    if dtype == _DT_INT64 and tensor.int64_val:
        return float(tensor.int64_val[0])
    if dtype == _DT_HALF and tensor.half_val:
        bits = np.array([tensor.half_val[0]], dtype=np.uint16)
        return float(bits.view(np.float16)[0])
    if dtype == _DT_BFLOAT16 and tensor.half_val:
        bits = np.array([tensor.half_val[0] << 16], dtype=np.uint32)
        return float(bits.view(np.float32)[0])
    return None


_event_cls: Any = None


def _event_class() -> Any:
    global _event_cls
    if _event_cls is None:
        from tensorboard.compat.proto.event_pb2 import Event

        _event_cls = Event
    return _event_cls


class EventFileReader:
    """Scalar points of one event file, read incrementally (see module docs).

    Attributes:
        path: The file.
        offset: Bytes read so far (always at a record boundary).
        points: ``tag -> (steps, values)`` in the order they were written.
        plugins: ``tag -> plugin name`` for tags whose first value declared one.
        version: Increases whenever ``points`` changes.
    """

    def __init__(self, path: str) -> None:
        self.path = path
        self.offset = 0
        self.points: dict[str, tuple[array, array]] = {}
        self.plugins: dict[str, str] = {}
        self.version = 0
        self._inode: int | None = None
        self._warned: set[tuple[str, int]] = set()

    def _reset(self) -> None:
        self.offset = 0
        self.points = {}
        self.plugins = {}
        self.version += 1

    def poll(self, st: os.stat_result | None = None) -> bool:
        """Read what was appended since the last poll; True if points changed.

        ``st`` may be passed when the caller already has the file's stat.
        """
        if st is None:
            try:
                st = os.stat(self.path)
            except FileNotFoundError:
                if self.points:
                    self._reset()
                    return True
                return False
        changed = False
        if (self._inode is not None and st.st_ino != self._inode) or (
            st.st_size < self.offset
        ):
            logger.warning(
                "TensorBoard event file %s was replaced or truncated; reading it "
                "again from the start.",
                self.path,
            )
            self._reset()
            changed = True
        self._inode = st.st_ino
        if st.st_size == self.offset:
            return changed
        try:
            n_points = self._read_to(st.st_size)
        except FileNotFoundError:
            n_points = 0
        if n_points:
            self.version += 1
        return changed or n_points > 0

    def _read_to(self, size: int) -> int:
        """Read records from ``offset`` up to ``size`` bytes; return points added.

        Chunks of ``READ_CHUNK`` bytes keep memory bounded (the parse of one
        chunk is what is held at once); a record larger than a chunk doubles
        the chunk until it fits.
        """
        n_points = 0
        chunk = READ_CHUNK
        with open(self.path, "rb") as fh:
            while self.offset < size:
                fh.seek(self.offset)
                data = fh.read(min(chunk, size - self.offset))
                at_eof = self.offset + len(data) >= size
                consumed, added = self._consume(data, at_eof)
                self.offset += consumed
                n_points += added
                if consumed == 0:
                    if at_eof:
                        break  # a partial record at the end: next poll
                    chunk *= 2
        return n_points

    # -- framing -------------------------------------------------------------

    def _warn_once(self, kind: str, at: int, message: str) -> None:
        if (kind, at) not in self._warned:
            self._warned.add((kind, at))
            logger.warning(message)

    def _consume(self, data: bytes, at_eof: bool = True) -> tuple[int, int]:
        """Parse whole records of ``data``; return (bytes consumed, points added).

        ``at_eof``: ``data`` ends where the file ends, so a record that claims
        to run past it is either still being written (nothing valid after
        it) or has a corrupt length (a whole valid record follows it).
        """
        pos = 0
        all_starts: list[int] = []
        all_lengths: list[int] = []
        while True:
            starts, lengths, stop = _walk(data, pos)
            bad = _first_bad_header(data, starts)
            if bad is not None:
                bad_at = starts[bad]
                resync_from = starts[bad - 1] if bad else bad_at
                starts, lengths = starts[:bad], lengths[:bad]
            elif stop + 12 <= len(data) and not _header_ok(data, stop):
                bad_at = stop  # a corrupt length that points past the end
                resync_from = starts[-1] if starts else stop
            elif at_eof and stop + 12 <= len(data):
                # The header checks out but its record runs past the end of the
                # file: corrupt if a whole record follows, else still written.
                bad_at = stop
                resync_from = stop
            else:
                bad_at = resync_from = None
            all_starts.extend(starts)
            all_lengths.extend(lengths)
            if bad_at is None:
                pos = stop
                break
            nxt = _resync(data, resync_from)
            if nxt is None and bad_at == stop and _header_ok(data, stop):
                pos = stop  # a record still being written: next poll
                break
            self._warn_corrupt_header(bad_at, nxt, len(data))
            if nxt is None:
                pos = bad_at
                break
            if nxt < bad_at and all_starts[-1:] == [resync_from]:
                # The previous record's length was wrong (the next good record
                # starts inside what it claimed): drop it, keep what follows.
                all_starts.pop()
                all_lengths.pop()
            pos = nxt
        return pos, self._parse(data, all_starts, all_lengths)

    def _warn_corrupt_header(self, bad_at: int, nxt: int | None, size: int) -> None:
        at = self.offset + bad_at
        self._warn_once(
            "length",
            at,
            f"Corrupt record header in TensorBoard event file {self.path} at byte "
            f"{at} (a wrong length or a failed CRC); "
            + (
                f"skipped to the next good record at byte {self.offset + nxt}."
                if nxt is not None
                else "no good record after it yet; will look again later."
            ),
        )

    # -- events --------------------------------------------------------------

    def _parse(self, data: bytes, starts: list[int], lengths: list[int]) -> int:
        """Decode the records, drop those whose data fails its CRC, keep points."""
        if not starts:
            return 0
        rec_ids, tags, steps, vals = self._decode(data, starts, lengths)
        if not rec_ids:
            return 0
        bad = self._bad_data(data, starts, lengths, rec_ids)
        added = 0
        points = self.points
        for idx, tag, step, val in zip(rec_ids, tags, steps, vals, strict=True):
            if not tag or (bad and idx in bad):
                continue
            pair = points.get(tag)
            if pair is None:
                pair = points[tag] = (array("q"), array("d"))
            pair[0].append(step)
            pair[1].append(val)
            added += 1
        return added

    def _decode(
        self, data: bytes, starts: list[int], lengths: list[int]
    ) -> tuple[list[int], list[str], list[int], list[float]]:
        """(record index, tag, step, value) of every scalar in the records.

        A record that does not decode is listed with an empty tag, so that
        its CRC is checked (and reported) like the others.
        """
        from_string = _event_class().FromString
        view = memoryview(data)
        rec_ids: list[int] = []
        tags: list[str] = []
        steps: list[int] = []
        vals: list[float] = []
        for idx, (s, n) in enumerate(zip(starts, lengths, strict=True)):
            try:
                event = from_string(view[s + 12 : s + 12 + n])
            except Exception:  # undecodable: reported below like a CRC failure
                rec_ids.append(idx)
                tags.append("")
                steps.append(0)
                vals.append(0.0)
                continue
            step = event.step
            for tag, value in self._scalars(event):
                rec_ids.append(idx)
                tags.append(tag)
                steps.append(step)
                vals.append(value)
        return rec_ids, tags, steps, vals

    def _scalars(self, event: Any) -> list[tuple[str, float]]:
        """The scalar (tag, value) pairs of one event; notes each tag's plugin."""
        out: list[tuple[str, float]] = []
        plugins = self.plugins
        for value in event.summary.value:
            kind = value.WhichOneof("value")
            tag = value.tag
            if tag not in plugins and value.HasField("metadata"):
                plugins[tag] = value.metadata.plugin_data.plugin_name
            if kind == "simple_value":
                out.append((tag, value.simple_value))
            elif kind == "tensor" and plugins.get(tag, "scalars") in ("scalars", ""):
                scalar = _tensor_scalar(value.tensor)
                if scalar is not None:
                    out.append((tag, scalar))
        return out

    def _bad_data(
        self, data: bytes, starts: list[int], lengths: list[int], rec_ids: list[int]
    ) -> set[int]:
        """Indices of the listed records whose data fails its CRC (warned once)."""
        rec_idx = sorted(set(rec_ids))
        r_starts = np.array([starts[i] + 12 for i in rec_idx], dtype=np.int64)
        r_lens = np.array([lengths[i] for i in rec_idx], dtype=np.int64)
        crcs = masked_crc32c_many(data, r_starts, r_lens)
        want = np.array(
            [_U32.unpack_from(data, starts[i] + 12 + lengths[i])[0] for i in rec_idx],
            dtype=np.uint32,
        )
        bad: set[int] = set()
        for j in np.flatnonzero(crcs != want):
            i = rec_idx[int(j)]
            bad.add(i)
            self._warn_once(
                "data",
                self.offset + starts[i],
                f"Corrupt record (CRC mismatch) in TensorBoard event file "
                f"{self.path} at byte {self.offset + starts[i]}; skipped it and "
                "kept the other records.",
            )
        return bad


# --- framing helpers ----------------------------------------------------------


def _walk(data: bytes, pos: int) -> tuple[list[int], list[int], int]:
    """Record (start, length) pairs from ``pos`` on, headers not yet checked."""
    starts: list[int] = []
    lengths: list[int] = []
    end = len(data)
    unpack = _HEADER.unpack_from
    while pos + 12 <= end:
        length, _ = unpack(data, pos)
        nxt = pos + 16 + length
        if nxt > end:
            break
        starts.append(pos)
        lengths.append(length)
        pos = nxt
    return starts, lengths, pos


def _first_bad_header(data: bytes, starts: list[int]) -> int | None:
    """Index in ``starts`` of the first record whose length fails its CRC."""
    if not starts:
        return None
    st_arr = np.asarray(starts, dtype=np.int64)
    crcs = masked_crc32c_many(data, st_arr, np.full(len(starts), 8))
    want = np.array([_U32.unpack_from(data, s + 8)[0] for s in starts], np.uint32)
    bad = np.flatnonzero(crcs != want)
    return int(bad[0]) if len(bad) else None


def _header_ok(data: bytes, pos: int) -> bool:
    _, crc = _HEADER.unpack_from(data, pos)
    return masked_crc32c(data[pos : pos + 8]) == crc


#: Candidate positions checked at once by :func:`_resync`.
_RESYNC_WINDOW = 1 << 16


def _resync(data: bytes, pos: int) -> int | None:
    """First offset after ``pos`` where a whole record checks out, or None.

    Header CRCs of a window of candidate offsets are computed at once
    (numpy); only offsets whose header checks out get their data checked.
    """
    buf = np.frombuffer(data, dtype=np.uint8)
    end = len(data)
    first = pos + 1
    while first + 16 <= end:
        last = min(first + _RESYNC_WINDOW, end - 15)
        cand = np.arange(first, last, dtype=np.int64)
        crcs = _masked_crc32c_many(buf, cand, np.full(len(cand), 8, np.int64))
        idx = cand[:, None] + np.arange(8, 12)
        want = buf[idx].astype(np.uint32) @ (np.uint32(1) << (8 * np.arange(4)))
        for p in cand[crcs == want.astype(np.uint32)].tolist():
            length = _HEADER.unpack_from(data, p)[0]
            if p + 16 + length > end:
                continue
            body = data[p + 12 : p + 12 + length]
            if masked_crc32c(body) == _U32.unpack_from(data, p + 12 + length)[0]:
                return p
        first = last
    return None
