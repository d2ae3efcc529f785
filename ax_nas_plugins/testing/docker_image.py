"""A trainer image made without any registry: debootstrap, tar, ``docker import``.

The rule: the image is a Debian ``minbase`` root filesystem with ``python3``
(enough for ``testing/trainer.py``, which is bind-mounted, not baked in),
tagged ``ax-nas-trainer:<hash>`` where the hash covers the recipe (suite,
variant, packages, mirror). The root filesystem tarball is cached under
``~/.cache/ax-nas-plugins/images/`` by the same hash, so a rebuilt dockerd
only re-imports it (seconds) and a fresh machine runs debootstrap once
(about 40 s, needs the Debian mirror that apt uses).

Example::

    image = ensure_trainer_image()      # "ax-nas-trainer:1a2b3c4d5e6f"
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import tempfile
from typing import Any

SUITE = "bookworm"
VARIANT = "minbase"
PACKAGES = ("python3",)
MIRROR = os.environ.get("AX_NAS_DEBIAN_MIRROR", "http://deb.debian.org/debian")


def cache_dir() -> str:
    """``$XDG_CACHE_HOME/ax-nas-plugins/images`` (or ``~/.cache/...``)."""
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(
        os.path.expanduser("~"), ".cache"
    )
    return os.path.join(base, "ax-nas-plugins", "images")


def recipe_hash() -> str:
    """Hash of everything that decides the image's content."""
    recipe = {
        "suite": SUITE,
        "variant": VARIANT,
        "packages": PACKAGES,
        "mirror": MIRROR,
    }
    return hashlib.sha256(json.dumps(recipe, sort_keys=True).encode()).hexdigest()[:12]


def image_tag() -> str:
    return f"ax-nas-trainer:{recipe_hash()}"


def _docker(*args: str, **kw: object) -> subprocess.CompletedProcess:
    return subprocess.run(["docker", *args], capture_output=True, text=True, **kw)  # type: ignore[call-overload]


def build_rootfs_tarball() -> str:
    """The cached rootfs tarball, made with debootstrap if missing."""
    folder = cache_dir()
    os.makedirs(folder, exist_ok=True)
    tarball = os.path.join(folder, f"rootfs-{recipe_hash()}.tar")
    if os.path.exists(tarball):
        return tarball
    if shutil.which("debootstrap") is None:
        raise RuntimeError(
            "debootstrap is not installed (apt-get install -y debootstrap; "
            "scripts/services.sh start does it)."
        )
    with tempfile.TemporaryDirectory(prefix="ax-nas-rootfs-") as tmp:
        root = os.path.join(tmp, "root")
        subprocess.run(
            [
                "debootstrap",
                f"--variant={VARIANT}",
                f"--include={','.join(PACKAGES)}",
                SUITE,
                root,
                MIRROR,
            ],
            check=True,
            capture_output=True,
        )
        partial = tarball + ".partial"
        subprocess.run(["tar", "-C", root, "-cf", partial, "."], check=True)
        os.replace(partial, tarball)
    return tarball


def ensure_trainer_image() -> str:
    """Tag of the trainer image in the local dockerd, importing it if missing."""
    tag = image_tag()
    if _docker("image", "inspect", tag).returncode == 0:
        return tag
    tarball = build_rootfs_tarball()
    with open(tarball, "rb") as fh:
        done = subprocess.run(
            ["docker", "import", "-", tag], stdin=fh, capture_output=True, text=True
        )
    if done.returncode != 0:
        raise RuntimeError(f"docker import of {tarball} failed: {done.stderr.strip()}")
    return tag


#: What trainer-side code needs at run time (no Ax, BoTorch, TorchX or pluggy).
TRAINER_REQUIREMENTS = ("torch", "tensorboard", "pytorch-lightning", "scikit-learn")


def requirement_closure(requirements: tuple[str, ...] = TRAINER_REQUIREMENTS) -> list:
    """Installed distributions that ``requirements`` need, recursively.

    The rule: follow each installed distribution's ``Requires-Dist`` entries
    that apply without extras on this Python (what ``pip install`` of those
    names would install); a requirement that is not installed is left out.
    """
    import re
    from importlib import metadata

    from packaging.requirements import Requirement

    found: dict[str, Any] = {}
    stack = list(requirements)
    while stack:
        name = stack.pop()
        key = re.sub(r"[-_.]+", "-", name).lower()
        if key in found:
            continue
        try:
            dist = metadata.distribution(name)
        except metadata.PackageNotFoundError:
            found[key] = None
            continue
        found[key] = dist
        for text in dist.requires or []:
            req = Requirement(text)
            if req.marker is None or req.marker.evaluate({"extra": ""}):
                stack.append(req.name)
    return [d for d in found.values() if d is not None]


def trainer_site_dir(
    dest: str, requirements: tuple[str, ...] = TRAINER_REQUIREMENTS
) -> tuple[str, list[str]]:
    """A site dir holding only ``requirements`` and their dependencies, as links.

    The rule: ``dest`` gets one symlink per top-level file or folder of each
    distribution of :func:`requirement_closure` (packages and their
    ``.dist-info``), pointing at ``/host-site/<name>``. Mount this Python's
    site-packages read-only at ``/host-site`` and ``dest`` on the container's
    ``PYTHONPATH``: the container's Python (same minor version) imports
    exactly these distributions and nothing else of this machine (no Ax).
    Returns (this machine's site-packages folder, distribution names).
    """
    import site

    os.makedirs(dest, exist_ok=True)
    dists = requirement_closure(requirements)
    roots: set[str] = set()
    site_dirs = {os.path.realpath(p) for p in site.getsitepackages()}
    host_site = ""
    for dist in dists:
        base = os.path.realpath(str(dist.locate_file("")))
        if base not in site_dirs:
            raise RuntimeError(
                f"{dist.metadata['Name']} is installed in {base}, not in this "
                f"Python's site-packages ({', '.join(sorted(site_dirs))})."
            )
        host_site = base
        for f in dist.files or []:
            top = f.parts[0]
            if top not in ("..", "__pycache__") and not top.endswith(".pth"):
                roots.add(top)
    for top in sorted(roots):
        link = os.path.join(dest, top)
        if not os.path.lexists(link):
            os.symlink(f"/host-site/{top}", link)
    return host_site, sorted(str(d.metadata["Name"]) for d in dists)
