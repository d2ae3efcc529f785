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
