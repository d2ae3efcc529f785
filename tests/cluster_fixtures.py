"""Fixtures for the cluster-runner tests: a real one-node Slurm cluster.

``slurm_cluster`` (session scope) installs the Debian packages when they are
missing (root only; CI runs as root), starts the cluster of
:mod:`ax_nas_plugins.testing.slurm_cluster` on 127.0.0.1, points
``SLURM_CONF`` at it for the session (restored afterwards) and stops every
daemon by pid at the end. Import it into a test module to use it.
"""

from __future__ import annotations

import os

import pytest

from ax_nas_plugins.testing import slurm_cluster as sc


@pytest.fixture(scope="session", name="slurm_cluster")
def slurm_cluster_fixture():
    if os.geteuid() != 0:
        pytest.skip("a real Slurm cluster needs root (its daemons run as root)")
    sc.install()
    cluster = sc.start()
    old = os.environ.get("SLURM_CONF")
    os.environ["SLURM_CONF"] = cluster.conf
    try:
        yield cluster
    finally:
        if old is None:
            os.environ.pop("SLURM_CONF", None)
        else:
            os.environ["SLURM_CONF"] = old
        cluster.stop()
