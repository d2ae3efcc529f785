"""Process helpers over ``/proc``: liveness with pid-reuse checks, trees, killing.

The rule: a process is identified by its pid *and* its start time (field 22
of ``/proc/<pid>/stat``, clock ticks since boot). A pid whose start time
differs is another process that reused the number, and counts as gone; a
zombie (state ``Z``) counts as gone too, since it runs no code.

This module is imported by the detached supervisor (trainer side), so it uses
the standard library only.
"""

from __future__ import annotations

import contextlib
import os
import select
import signal
import time


def stat_fields(pid: int) -> list[str] | None:
    """Fields of ``/proc/<pid>/stat`` after the command name, or None if gone.

    Index 0 is the state letter, 1 the parent pid, 2 the process group, 3 the
    session, 19 the start time.
    """
    try:
        with open(f"/proc/{pid}/stat", "rb") as fh:
            raw = fh.read().decode("ascii", "replace")
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        return None
    return raw[raw.rfind(")") + 2 :].split()


def start_time(pid: int) -> int | None:
    """Start time of ``pid`` in clock ticks since boot, or None if gone."""
    fields = stat_fields(pid)
    return int(fields[19]) if fields else None


def is_alive(pid: int | None, started: int | None = None) -> bool:
    """True when ``pid`` runs (not a zombie) and, if given, started at ``started``."""
    if not pid or pid <= 0:
        return False
    fields = stat_fields(pid)
    if fields is None or fields[0] in ("Z", "X"):
        return False
    return started is None or int(fields[19]) == started


def reap(pid: int) -> None:
    """Collect ``pid``'s exit status if it is our child (no zombie left behind)."""
    with contextlib.suppress(ChildProcessError, OSError):
        os.waitpid(pid, os.WNOHANG)


def descendants(root: int) -> list[int]:
    """Pids of every live process below ``root`` (children first, then theirs)."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        fields = stat_fields(int(entry))
        if fields is None or fields[0] in ("Z", "X"):
            continue
        children.setdefault(int(fields[1]), []).append(int(entry))
    found: list[int] = []
    queue = list(children.get(root, []))
    while queue:
        pid = queue.pop(0)
        found.append(pid)
        queue.extend(children.get(pid, []))
    return found


def job_processes(sid: int | None, token: str | None) -> dict[int, int | None]:
    """Live processes of a job, with their start times: those in session
    ``sid``, and those whose environment carries ``AX_NAS_JOB_TOKEN=<token>``
    (inherited by whatever the job starts, even a daemon in a session of its
    own, reparented to pid 1). Our own process is never included."""
    needle = f"AX_NAS_JOB_TOKEN={token}".encode() if token else None
    found: dict[int, int | None] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit() or int(entry) == os.getpid():
            continue
        pid = int(entry)
        fields = stat_fields(pid)
        if fields is None or fields[0] in ("Z", "X"):
            continue
        member = sid is not None and sid > 0 and int(fields[3]) == sid
        if not member and needle is not None:
            try:
                with open(f"/proc/{pid}/environ", "rb") as fh:
                    member = needle in fh.read().split(b"\0")
            except OSError:
                member = False
        if member:
            found[pid] = int(fields[19])
    return found


def signal_tree(root: int, sig: int, include_root: bool = True) -> list[int]:
    """Send ``sig`` to ``root``'s descendants and, with ``include_root``, to
    ``root`` and its process group.

    Returns the pids signalled. Processes that vanish meanwhile are ignored.
    """
    targets = descendants(root)
    if include_root:
        targets.append(root)
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(root, sig)
    for pid in targets:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(pid, sig)
    return targets


def wait_gone(pids: dict[int, int | None], timeout: float) -> bool:
    """Wait until every pid (mapped to its start time) has ended; True if so."""
    deadline = time.monotonic() + timeout
    delay = 0.001
    while True:
        for pid in pids:
            reap(pid)
        if not any(is_alive(p, s) for p, s in pids.items()):
            return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(delay)
        delay = min(delay * 2, 0.005)


def kill_tree(root: int, started: int | None, grace: float) -> bool:
    """End ``root`` and everything below it: SIGTERM, then SIGKILL after ``grace``.

    Returns True when every process of the tree is confirmed gone.
    """
    if not is_alive(root, started):
        return True
    tree = {p: start_time(p) for p in descendants(root)}
    tree[root] = started
    signal_tree(root, signal.SIGTERM)
    if wait_gone(tree, grace):
        return True
    tree.update({p: start_time(p) for p in descendants(root)})
    for pid in tree:
        if is_alive(pid, tree[pid]):
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(pid, signal.SIGKILL)
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(root, signal.SIGKILL)
    return wait_gone(tree, 5.0)


class Watcher:
    """Cheap repeated liveness checks through pidfds (Linux 5.3+).

    The rule: the first check of a (pid, start time) reads ``/proc`` and, if
    the process is the one meant, opens a pidfd for it; later checks only ask
    whether that pidfd became readable (the process exited), which costs one
    ``select`` and cannot be fooled by pid reuse. Where pidfds are missing,
    every check reads ``/proc``. Descriptors are closed once the process ended.
    """

    def __init__(self) -> None:
        self._fds: dict[tuple[int, int | None], int] = {}
        self._usable = hasattr(os, "pidfd_open")

    def alive(self, pid: int | None, started: int | None) -> bool:
        if not pid:
            return False
        key = (pid, started)
        fd = self._fds.get(key)
        if fd is None:
            if not self._usable:
                return is_alive(pid, started)
            try:
                fd = os.pidfd_open(pid)
            except OSError:
                return False
            if not is_alive(pid, started):  # checked after opening: no pid reuse race
                os.close(fd)
                return False
            self._fds[key] = fd
            return True
        if select.select([fd], [], [], 0)[0]:
            os.close(fd)
            del self._fds[key]
            return False
        return True

    def forget(self, pid: int, started: int | None) -> None:
        """Close the pidfd kept for ``pid`` (it ended, or will not be asked again)."""
        fd = self._fds.pop((pid, started), None)
        if fd is not None:
            with contextlib.suppress(OSError):
                os.close(fd)

    def close(self) -> None:
        for fd in self._fds.values():
            with contextlib.suppress(OSError):
                os.close(fd)
        self._fds.clear()
