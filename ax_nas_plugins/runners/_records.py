"""Job records, the index of live jobs, and the experiment lease: all files.

The rule: what any process needs to know about a trial's job is on disk, so
every runner object in every process sees the same state.

- **Job record** ``<log_dir>/job.json``: written *before* the job is
  submitted (``state: "starting"``, with the app id the backend will use
  when it is known in advance), then confirmed (``"submitted"``, with the run
  metadata), then ``"ended"`` once a poll saw the job end. It names its
  experiment and trial, so a folder of another experiment is refused.
- **Index** ``<log_root>/.jobs/<folder>__<trial>``: one entry per job that
  may still hold a slot (made with the record, removed once the job ended);
  capacity is counted from it, not from one object's memory.
- **Lease** ``<log_root>/<folder>/.lease``: pid, process start time and host
  of the process orchestrating the experiment. Another live process on the
  same experiment is refused; a lease whose holder died is taken over.

Every file is written to a temporary name and renamed.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import socket
import time
from typing import Any

from ax_nas_plugins.runners import _proc

JOB_FILE = "job.json"
INDEX_DIR = ".jobs"
LEASE_FILE = ".lease"
STARTING, SUBMITTED, ENDED = "starting", "submitted", "ended"


def folder_name(experiment_name: str) -> str:
    """Readable, injective folder name: a path-safe slug plus 8 hex digits of
    the SHA-256 of the exact name (``"nas a"`` and ``"nas b"`` never share a folder)."""
    slug = re.sub(r"[^A-Za-z0-9._-]+", "_", experiment_name).strip("._-")[:60]
    digest = hashlib.sha256(experiment_name.encode("utf-8")).hexdigest()[:8]
    return f"{slug or 'experiment'}-{digest}"


def write_json(path: str, data: Any) -> None:
    """Write ``data`` as JSON atomically (temporary file, then rename)."""
    tmp = f"{path}.tmp{os.getpid()}"
    with open(tmp, "w", encoding="utf-8") as fh:
        json.dump(data, fh)
    os.replace(tmp, path)


def read_json(path: str) -> Any:
    """The JSON in ``path``, or None when missing or unreadable."""
    try:
        with open(path, encoding="utf-8") as fh:
            return json.load(fh)
    except (OSError, json.JSONDecodeError):
        return None


# -- job records ------------------------------------------------------------------


def read_record(log_dir: str) -> dict[str, Any] | None:
    """The trial's job record (``state`` filled in for records of 0.1)."""
    record = read_json(os.path.join(log_dir, JOB_FILE))
    if not isinstance(record, dict):
        return None
    record.setdefault("state", SUBMITTED if record.get("run_metadata") else STARTING)
    return record


def write_record(log_dir: str, record: dict[str, Any]) -> None:
    os.makedirs(log_dir, exist_ok=True)
    write_json(os.path.join(log_dir, JOB_FILE), record)


def index_entry(log_root: str, log_dir: str) -> str:
    parent, trial = os.path.split(os.path.normpath(log_dir))
    return os.path.join(log_root, INDEX_DIR, f"{os.path.basename(parent)}__{trial}")


def index_add(log_root: str, log_dir: str) -> None:
    """Record that the job of ``log_dir`` may hold a slot."""
    os.makedirs(os.path.join(log_root, INDEX_DIR), exist_ok=True)
    write_json(index_entry(log_root, log_dir), {"log_dir": log_dir})


def index_remove(log_root: str, log_dir: str) -> None:
    with contextlib.suppress(FileNotFoundError):
        os.unlink(index_entry(log_root, log_dir))


def index_list(log_root: str) -> list[tuple[str, str]]:
    """``(entry path, log_dir)`` of every job that may hold a slot."""
    folder = os.path.join(log_root, INDEX_DIR)
    try:
        names = os.listdir(folder)
    except FileNotFoundError:
        return []
    out = []
    for name in names:
        if ".tmp" in name:
            continue
        data = read_json(os.path.join(folder, name))
        if isinstance(data, dict) and data.get("log_dir"):
            out.append((os.path.join(folder, name), data["log_dir"]))
    return out


def mark_ended(log_root: str, log_dir: str) -> None:
    """The job of ``log_dir`` ended: record it and free its slot."""
    record = read_record(log_dir)
    if record is not None and record.get("state") != ENDED:
        record["state"] = ENDED
        record["ended_seen_at"] = time.time()
        with contextlib.suppress(OSError):
            write_record(log_dir, record)
    index_remove(log_root, log_dir)


# -- lease ------------------------------------------------------------------------


class LeaseHeld(RuntimeError):
    """Another live process holds the experiment's lease (``holder`` says who)."""

    def __init__(self, holder: dict[str, Any]) -> None:
        super().__init__(str(holder))
        self.holder = holder


def _me() -> dict[str, Any]:
    pid = os.getpid()
    return {
        "pid": pid,
        "start": _proc.start_time(pid),
        "host": socket.gethostname(),
    }


def _holder_alive(holder: dict[str, Any]) -> bool:
    if holder.get("host") != socket.gethostname():
        return True  # cannot check another machine: assume it still runs
    return _proc.is_alive(holder.get("pid"), holder.get("start"))


def _is_me(holder: dict[str, Any]) -> bool:
    me = _me()
    return all(holder.get(k) == me[k] for k in ("pid", "start", "host"))


def take_lease(folder: str) -> None:
    """Hold the lease of the experiment folder ``folder`` for this process.

    Raises :class:`LeaseHeld` when another live process holds it. A lease of a
    process that died (pid and start time no longer match) is taken over.
    """
    path = os.path.join(folder, LEASE_FILE)
    for _ in range(5):
        holder = read_json(path)
        if isinstance(holder, dict):
            if _is_me(holder):
                return
            if _holder_alive(holder):
                raise LeaseHeld(holder)
            # the holder died: move its lease aside (only one taker wins)
            stale = f"{path}.stale{os.getpid()}"
            try:
                os.rename(path, stale)
            except FileNotFoundError:
                continue
            if read_json(stale) != holder:  # someone else's fresh lease: put back
                with contextlib.suppress(OSError):
                    os.link(stale, path)
            with contextlib.suppress(FileNotFoundError):
                os.unlink(stale)
            continue
        if os.path.exists(path) and read_json(path) is None:  # broken: unusable
            with contextlib.suppress(FileNotFoundError):
                os.unlink(path)
            continue
        os.makedirs(folder, exist_ok=True)
        tmp = f"{path}.tmp{os.getpid()}"
        write_json(tmp, {**_me(), "taken_at": time.time()})
        try:
            os.link(tmp, path)  # atomic: fails if another process was faster
        except FileExistsError:
            continue
        finally:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp)
        return
    holder = read_json(path)
    raise LeaseHeld(holder if isinstance(holder, dict) else {"file": path})


def release_lease(folder: str) -> bool:
    """Give up this process's lease of ``folder``; True if it held it."""
    path = os.path.join(folder, LEASE_FILE)
    holder = read_json(path)
    if isinstance(holder, dict) and _is_me(holder):
        with contextlib.suppress(FileNotFoundError):
            os.unlink(path)
        return True
    return False
