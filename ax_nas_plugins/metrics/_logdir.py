"""Scalar curves of one TensorBoard log dir, kept up to date incrementally.

The rule: a log dir is every event file (a file whose name contains
``tfevents``) in the dir and in its sub-dirs (nested runs, e.g. Lightning's
``version_0``). A tag's curve is the points of that tag from all of those files
together, as TensorBoard's multiplexer (and so Ax's ``TensorboardMetric``)
would pool them. :meth:`LogDir.refresh` lists the dirs and stats the files;
only files that grew are read, and only their new bytes.

The state here is a cache: a fresh process reads the same dir from the start
and gets the same curves. :func:`log_dir_state` keeps one :class:`LogDir` per
path for the whole process (most recently used first, at most
``MAX_CACHED_DIRS``), so every metric reading a trial's dir shares one read.
"""

from __future__ import annotations

import os
import threading
from collections import OrderedDict
from typing import Any

import numpy as np

from ax_nas_plugins.metrics._events import EventFileReader

MAX_CACHED_DIRS = 4096


class LogDir:
    """Event files under one dir, and their scalar points by tag.

    Attributes:
        path: The dir (absolute).
        files: Readers by file path.
        version: Increases whenever any point of any tag changed.
    """

    def __init__(self, path: str) -> None:
        self.path = path
        self.files: dict[str, EventFileReader] = {}
        self.version = 0
        self.lock = threading.Lock()
        self._curve_cache: dict[str, tuple[int, np.ndarray, np.ndarray]] = {}
        self._tag_versions: dict[str, int] = {}
        #: Results derived from the curves (processed curves, Data rows), keyed by
        #: their owner; entries carry the tag version they were made from.
        self.extra: dict[tuple, Any] = {}

    def exists(self) -> bool:
        return os.path.isdir(self.path)

    def _scan(self) -> list[tuple[str, os.stat_result]]:
        """Event files under the dir with their stats, each real dir walked once.

        A dir or file that vanished while walking is skipped (a writer
        rotating files); any other ``OSError`` (a symlink loop named like an
        event file, EIO, ESTALE, a permission) is raised for the caller to
        report against this dir.
        """
        found: list[tuple[str, os.stat_result]] = []
        stack = [self.path]
        seen: set[str] = set()  # real paths: a symlink loop is walked once
        while stack:
            d = stack.pop()
            real = os.path.realpath(d)
            if real not in seen:
                seen.add(real)
                _scan_one(d, stack, found)
        return found

    def refresh(self) -> bool:
        """Read whatever was appended since the last refresh; True if changed."""
        changed_tags: set[str] = set()
        seen = set()
        for path, st in self._scan():
            seen.add(path)
            reader = self.files.get(path)
            if reader is None:
                reader = self.files[path] = EventFileReader(path)
            before = {t: len(p[0]) for t, p in reader.points.items()}
            if reader.poll(st):
                grown = {
                    tag
                    for tag, (steps, _) in reader.points.items()
                    if before.get(tag) != len(steps)
                }
                grown.update(t for t in before if t not in reader.points)
                # Read again from the start to the same length: all its tags.
                changed_tags.update(grown or set(reader.points))
        for gone in [p for p in self.files if p not in seen]:
            changed_tags.update(self.files.pop(gone).points)
        if changed_tags:
            self.version += 1
            for tag in changed_tags:
                self._tag_versions[tag] = self.version
        return bool(changed_tags)

    def tags(self) -> list[str]:
        """Scalar tags present in any file, sorted."""
        found: set[str] = set()
        for reader in self.files.values():
            found.update(reader.points)
        return sorted(found)

    def tag_version(self, tag: str) -> int:
        return self._tag_versions.get(tag, 0)

    def curve(self, tag: str) -> tuple[np.ndarray, np.ndarray]:
        """All points of ``tag`` from every file: (steps, values), step-sorted.

        Points are ordered by step (stable: files in name order, points in
        the order written), duplicates kept; empty arrays if the tag is absent.
        """
        version = self.tag_version(tag)
        cached = self._curve_cache.get(tag)
        if cached is not None and cached[0] == version:
            return cached[1], cached[2]
        parts = [
            (
                np.frombuffer(r.points[tag][0], dtype=np.int64),
                np.frombuffer(r.points[tag][1], dtype=np.float64),
            )
            for _, r in sorted(self.files.items())
            if tag in r.points and len(r.points[tag][0])
        ]
        if not parts:
            steps = np.empty(0, dtype=np.float64)
            values = np.empty(0, dtype=np.float64)
        else:
            # Copies: the readers' arrays may grow (and move) on the next poll.
            steps = np.concatenate([p[0] for p in parts]).astype(np.float64)
            values = np.concatenate([p[1] for p in parts])
            if len(steps) > 1 and not np.all(steps[1:] >= steps[:-1]):
                order = np.argsort(steps, kind="stable")
                steps, values = steps[order], values[order]
        self._curve_cache[tag] = (version, steps, values)
        return steps, values


def _scan_one(
    d: str, subdirs: list[str], found: list[tuple[str, os.stat_result]]
) -> None:
    """Add ``d``'s sub-dirs to ``subdirs`` and its event files to ``found``."""
    try:
        with os.scandir(d) as it:
            entries = list(it)
    except (FileNotFoundError, NotADirectoryError):
        return  # not there (yet), or gone
    for entry in entries:
        if entry.is_dir(follow_symlinks=True):
            subdirs.append(entry.path)
        elif "tfevents" in entry.name:
            try:
                found.append((entry.path, entry.stat()))
            except FileNotFoundError:
                continue


_dirs: OrderedDict[str, LogDir] = OrderedDict()
_dirs_lock = threading.Lock()


def log_dir_state(path: str) -> LogDir:
    """The process-wide :class:`LogDir` of ``path`` (created on first use)."""
    key = os.path.abspath(path)
    with _dirs_lock:
        state = _dirs.get(key)
        if state is None:
            state = _dirs[key] = LogDir(key)
            while len(_dirs) > MAX_CACHED_DIRS:
                _dirs.popitem(last=False)
        else:
            _dirs.move_to_end(key)
        return state


def clear_cache() -> None:
    """Forget every dir read so far (the next fetch reads from the start)."""
    with _dirs_lock:
        _dirs.clear()
