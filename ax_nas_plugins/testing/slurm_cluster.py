"""A one-node Slurm cluster with accounting, on 127.0.0.1, in a scratch folder.

The rule: :func:`start` brings up ``munged`` (own socket), ``mariadbd`` (as
user ``mysql``, socket under ``/run/mysqld``), ``slurmdbd``, ``slurmctld``
and ``slurmd`` (node ``localhost``, 2 CPUs by default), every daemon in the
foreground as a child of this process, every port picked free at run time
and bound to 127.0.0.1; :meth:`SlurmCluster.stop` ends them by the pids it
started (never by name) and removes the scratch folders. Clients (``sbatch``,
``squeue``, ``sacct``, ``sinfo``, ``scancel``) find the cluster through
``SLURM_CONF`` (:attr:`SlurmCluster.env`).

Needs root and the Debian packages ``slurm-wlm munge slurmdbd
mariadb-server`` (:func:`install` runs ``apt-get`` when they are missing).
Used by the tests and ``benchmarks/runner_overhead.py``.

Example::

    cluster = start()
    try:
        subprocess.run(["sinfo"], env={**os.environ, **cluster.env})
    finally:
        cluster.stop()
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass, field

#: iproute2 (``ip``, ``ss``) is for the Ray head's loopback-only namespace.
PACKAGES = ("slurm-wlm", "munge", "slurmdbd", "mariadb-server", "iproute2")
BINARIES = (
    "slurmctld",
    "slurmd",
    "slurmdbd",
    "munged",
    "mariadbd",
    "sbatch",
    "ip",
    "ss",
)


def missing_binaries() -> list[str]:
    """Daemons and clients of :data:`PACKAGES` that are not on ``PATH``."""
    extra = ["/usr/sbin", "/usr/bin"]
    path = os.pathsep.join([os.environ.get("PATH", ""), *extra])
    return [b for b in BINARIES if shutil.which(b, path=path) is None]


def install() -> None:
    """``apt-get install`` the Debian packages when a binary is missing (root)."""
    if not missing_binaries():
        return
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    subprocess.run(["apt-get", "update", "-q"], check=True, env=env)
    subprocess.run(["apt-get", "install", "-y", "-q", *PACKAGES], check=True, env=env)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait(predicate, timeout: float, what: str, procs: list) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for name, proc in procs:
            if proc.poll() is not None:
                raise RuntimeError(f"{name} exited with {proc.returncode} ({what})")
        if predicate():
            return
        time.sleep(0.2)
    raise RuntimeError(f"timed out after {timeout} s waiting for {what}")


@dataclass
class SlurmCluster:
    """A running one-node cluster: its scratch folder, config and daemon pids."""

    root: str
    conf: str
    cluster_name: str
    partition: str = "debug"
    cpus: int = 2
    procs: list[tuple[str, subprocess.Popen]] = field(default_factory=list)
    run_dirs: list[str] = field(default_factory=list)

    @property
    def env(self) -> dict[str, str]:
        """Environment variables that point Slurm's clients at this cluster."""
        return {"SLURM_CONF": self.conf}

    def client(self, *args: str, check: bool = True) -> str:
        """Run a Slurm client command against this cluster; its stdout."""
        done = subprocess.run(
            list(args),
            capture_output=True,
            text=True,
            env={**os.environ, **self.env},
            check=False,
        )
        if check and done.returncode != 0:
            raise RuntimeError(f"{args}: {done.returncode}: {done.stderr.strip()}")
        return done.stdout

    def log_tails(self, lines: int = 15) -> str:
        """The last lines of every daemon log (for error messages)."""
        out = []
        folder = os.path.join(self.root, "log")
        for name in sorted(os.listdir(folder)) if os.path.isdir(folder) else []:
            with open(os.path.join(folder, name), errors="replace") as fh:
                tail = fh.read().splitlines()[-lines:]
            out.append(f"--- {name} ---\n" + "\n".join(tail))
        return "\n".join(out)

    def stop(self) -> None:
        """SIGTERM each daemon by pid (reverse start order), SIGKILL what stays."""
        for _name, proc in reversed(self.procs):
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
                try:
                    proc.wait(timeout=20)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait(timeout=10)
            for fh in (proc.stdout, proc.stderr):
                if fh:
                    fh.close()
        self.procs.clear()
        for folder in [*self.run_dirs, self.root]:
            shutil.rmtree(folder, ignore_errors=True)


def _spawn(cluster: SlurmCluster, name: str, argv: list[str], **kw) -> None:
    log = open(os.path.join(cluster.root, "log", f"{name}.out"), "wb")  # noqa: SIM115
    proc = subprocess.Popen(
        argv, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, **kw
    )
    log.close()
    cluster.procs.append((name, proc))


def _as_user(user: str) -> list[str]:
    return ["setpriv", f"--reuid={user}", f"--regid={user}", "--init-groups", "--"]


def start(cpus: int = 2, timeout: float = 120.0) -> SlurmCluster:
    """Start the cluster (see module doc); on any failure, stop what started.

    ``cpus`` may exceed the machine's (``SlurmdParameters=config_overrides``):
    jobs that only sleep then run side by side, as in the benchmarks."""
    if os.geteuid() != 0:
        raise RuntimeError("a Slurm test cluster needs root (daemons run as root)")
    missing = missing_binaries()
    if missing:
        raise RuntimeError(
            f"Slurm/munge/MariaDB binaries missing: {missing} "
            f"(apt-get install -y {' '.join(PACKAGES)})"
        )
    root = tempfile.mkdtemp(prefix="ax-nas-slurm-")
    os.chmod(root, 0o755)
    tag = os.path.basename(root).rsplit("-", 1)[-1]
    name = f"axnas{tag.lower()}"[:20].replace("_", "")
    cluster = SlurmCluster(
        root=root, conf=os.path.join(root, "etc", "slurm.conf"), cluster_name=name
    )
    cluster.cpus = cpus
    try:
        _start(cluster, tag, timeout)
    except BaseException as exc:
        logs = cluster.log_tails()
        cluster.stop()
        if isinstance(exc, Exception):
            raise RuntimeError(
                f"Slurm test cluster did not start: {exc}\n{logs}"
            ) from exc
        raise
    return cluster


def _start(c: SlurmCluster, tag: str, timeout: float) -> None:
    for sub in ("etc", "log", "state", "spool", "run", "mysql"):
        os.makedirs(os.path.join(c.root, sub), exist_ok=True)
    # munge: own socket folder owned by munge (the daemon refuses others)
    munge_dir = f"/run/ax-nas-munge-{tag}"
    os.makedirs(munge_dir, mode=0o755)
    c.run_dirs.append(munge_dir)
    shutil.chown(munge_dir, "munge", "munge")
    munge_sock = os.path.join(munge_dir, "munge.socket")
    _spawn(
        c,
        "munged",
        [
            *_as_user("munge"),
            "/usr/sbin/munged",
            "--foreground",
            "--force",
            f"--socket={munge_sock}",
            f"--pid-file={munge_dir}/munged.pid",
            f"--log-file={munge_dir}/munged.log",
            f"--seed-file={munge_dir}/munged.seed",
        ],
    )
    _wait(lambda: os.path.exists(munge_sock), timeout, "munged socket", c.procs)

    # MariaDB for slurmdbd: as user mysql, loopback only, socket under /run/mysqld
    datadir = os.path.join(c.root, "mysql")
    shutil.chown(datadir, "mysql", "mysql")
    subprocess.run(
        [
            "mariadb-install-db",
            "--user=mysql",
            f"--datadir={datadir}",
            "--auth-root-authentication-method=socket",
            "--skip-test-db",
        ],
        check=True,
        capture_output=True,
    )
    os.makedirs("/run/mysqld", exist_ok=True)
    shutil.chown("/run/mysqld", "mysql", "root")
    db_sock = f"/run/mysqld/ax-nas-{tag}.sock"
    db_port = free_port()
    _spawn(
        c,
        "mariadbd",
        [
            *_as_user("mysql"),
            "/usr/sbin/mariadbd",
            "--no-defaults",
            f"--datadir={datadir}",
            "--bind-address=127.0.0.1",
            f"--port={db_port}",
            f"--socket={db_sock}",
            f"--pid-file={os.path.join(datadir, 'mariadbd.pid')}",
            "--skip-name-resolve",
            "--innodb-buffer-pool-size=32M",
            "--innodb-log-file-size=16M",
            "--performance-schema=OFF",
        ],
    )

    def db_up() -> bool:
        return (
            subprocess.run(
                ["mariadb", f"--socket={db_sock}", "-u", "root", "-e", "SELECT 1"],
                capture_output=True,
            ).returncode
            == 0
        )

    _wait(db_up, timeout, "mariadbd", c.procs)
    password = os.urandom(12).hex()
    sql = (
        f"CREATE USER 'slurm'@'127.0.0.1' IDENTIFIED BY '{password}';"
        "CREATE DATABASE slurm_acct_db;"
        "GRANT ALL ON slurm_acct_db.* TO 'slurm'@'127.0.0.1';"
    )
    subprocess.run(
        ["mariadb", f"--socket={db_sock}", "-u", "root", "-e", sql],
        check=True,
        capture_output=True,
    )
    c.run_dirs.append(db_sock)

    dbd_port, ctld_port, slurmd_port = free_port(), free_port(), free_port()
    etc, r = os.path.join(c.root, "etc"), c.root
    dbd_conf = os.path.join(etc, "slurmdbd.conf")
    fd = os.open(dbd_conf, os.O_CREAT | os.O_WRONLY, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(
            "\n".join(
                [
                    "AuthType=auth/munge",
                    f"AuthInfo=socket={munge_sock}",
                    "DbdAddr=127.0.0.1",
                    "CommunicationParameters=NoInAddrAny",
                    "DbdHost=localhost",
                    f"DbdPort={dbd_port}",
                    "SlurmUser=root",
                    f"LogFile={r}/log/slurmdbd.log",
                    f"PidFile={r}/run/slurmdbd.pid",
                    "StorageType=accounting_storage/mysql",
                    "StorageHost=127.0.0.1",
                    f"StoragePort={db_port}",
                    "StorageUser=slurm",
                    f"StoragePass={password}",
                    "StorageLoc=slurm_acct_db",
                    "",
                ]
            )
        )
    with open(c.conf, "w") as fh:
        fh.write(
            "\n".join(
                [
                    f"ClusterName={c.cluster_name}",
                    "SlurmctldHost=localhost(127.0.0.1)",
                    f"SlurmctldPort={ctld_port}",
                    f"SlurmdPort={slurmd_port}",
                    "SlurmUser=root",
                    "SlurmdUser=root",
                    "AuthType=auth/munge",
                    f"AuthInfo=socket={munge_sock}",
                    f"StateSaveLocation={r}/state",
                    f"SlurmdSpoolDir={r}/spool",
                    f"SlurmctldLogFile={r}/log/slurmctld.log",
                    f"SlurmdLogFile={r}/log/slurmd.log",
                    f"SlurmctldPidFile={r}/run/slurmctld.pid",
                    f"SlurmdPidFile={r}/run/slurmd.pid",
                    "ProctrackType=proctrack/linuxproc",
                    "TaskPlugin=task/none",
                    "SchedulerType=sched/backfill",
                    "SelectType=select/cons_tres",
                    "SelectTypeParameters=CR_Core",
                    "ReturnToService=2",
                    "MpiDefault=none",
                    *(
                        ["SlurmdParameters=config_overrides"]
                        if c.cpus > (os.cpu_count() or 1)
                        else []
                    ),
                    "CommunicationParameters=NoCtldInAddrAny,NoInAddrAny",
                    "KillWait=5",
                    "MinJobAge=300",
                    "SchedulerParameters=sched_interval=2",
                    "AccountingStorageType=accounting_storage/slurmdbd",
                    "AccountingStorageHost=localhost",
                    f"AccountingStoragePort={dbd_port}",
                    f"AccountingStoragePass={munge_sock}",
                    "JobAcctGatherType=jobacct_gather/none",
                    "JobCompType=jobcomp/none",
                    f"NodeName=localhost NodeAddr=127.0.0.1 CPUs={c.cpus} "
                    "State=UNKNOWN",
                    f"PartitionName={c.partition} Nodes=localhost Default=YES "
                    "MaxTime=INFINITE State=UP",
                    "",
                ]
            )
        )
    env = {**os.environ, **c.env}
    _spawn(c, "slurmdbd", ["slurmdbd", "-D"], env=env)

    def dbd_up() -> bool:
        done = subprocess.run(
            ["sacctmgr", "-i", "add", "cluster", c.cluster_name],
            capture_output=True,
            text=True,
            env=env,
        )
        c.last_error = done.stdout + done.stderr
        return done.returncode == 0 or "already exists" in done.stdout + done.stderr

    try:
        _wait(dbd_up, timeout, "slurmdbd (sacctmgr add cluster)", c.procs)
    except RuntimeError as exc:
        raise RuntimeError(f"{exc}: {getattr(c, 'last_error', '')}") from None
    _spawn(c, "slurmctld", ["slurmctld", "-D", "-i"], env=env)
    _spawn(c, "slurmd", ["slurmd", "-D", "-N", "localhost"], env=env)

    def node_idle() -> bool:
        done = subprocess.run(
            ["sinfo", "-h", "-o", "%t"], capture_output=True, text=True, env=env
        )
        return done.returncode == 0 and done.stdout.strip().startswith("idle")

    _wait(node_idle, timeout, "the node to be idle (sinfo)", c.procs)


@contextlib.contextmanager
def running(cpus: int = 2):
    """Context manager: a started cluster, stopped on exit."""
    cluster = start(cpus=cpus)
    try:
        yield cluster
    finally:
        cluster.stop()
