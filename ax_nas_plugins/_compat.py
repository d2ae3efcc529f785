"""Every reach of the pack into private code of its dependencies, in one place.

Each function names the version it was written against and what it depends
on; ``tests/test_compat_*.py`` fail with a clear message when a dependency
changes it. Sections are owned by the area that needs them.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager

# ---------------------------------------------------------------- generation
# jaxlib 0.9.2 (jax 0.9.2): XLA's C++ log level has a setter only in
# ``jax._src.lib.utils.absl_set_min_log_level`` (what ``jax_logging_level`` uses
# internally, without a way back to the previous level) and no getter. Used by
# the SAAS fit to silence XLA:CPU's spurious "machine type ... doesn't match"
# error, logged for every program loaded from JAX's persistent compilation
# cache (only when the user turned that cache on with ``jax_cache_dir``).


def set_xla_log_level(level: int) -> bool:
    """Set XLA's C++ minimum log level (0 info .. 3 fatal); False if jaxlib lacks it."""
    try:
        from jax._src.lib import utils as jax_utils

        setter = jax_utils.absl_set_min_log_level
    except (ImportError, AttributeError):  # another jaxlib: leave logging alone
        return False
    setter(level)
    return True


@contextmanager
def quiet_xla_log() -> Iterator[None]:
    """Errors-only-fatal XLA C++ log inside the block, then the process's level back.

    XLA has no getter, so "the process's level" is what ``TF_CPP_MIN_LOG_LEVEL``
    says (XLA's own default, 1, when unset): the level XLA started with.
    """
    if not set_xla_log_level(3):
        yield
        return
    try:
        yield
    finally:
        set_xla_log_level(int(os.environ.get("TF_CPP_MIN_LOG_LEVEL", "1")))
