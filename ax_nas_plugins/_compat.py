"""Every reach of the pack into private code of its dependencies, in one place.

Each function names the version it was written against and what it depends
on; ``tests/test_compat_*.py`` fail with a clear message when a dependency
changes it. Sections are owned by the area that needs them.
"""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

# ---------------------------------------------------------------------------
# Storage and hooks (ax-platform 1.3.1, SQLAlchemy 2.1.9, pluggy 1.6.0)
#
# No private attribute is reached. ``storage.py``, ``_bundle.py``,
# ``_sql_tables.py`` and ``hooks/manager.py`` extend these public points,
# which a new release could still move; ``storage_extension_points_problems``
# lists what no longer holds, and tests/test_compat.py fails with that list
# (the storage/hooks section's test; other sections have tests/test_compat_*.py).
#
# - Ax ``RegistryBundle``: ``decoder`` is a property a subclass overrides
#   (``RegistryBundleBase`` declares it abstract) and ``__init__`` takes the
#   JSON registries by keyword; ``sqa_config`` feeds Ax's SQL save/load.
# - Ax SQL ``Decoder.generation_strategy_from_sqa``: the one method every
#   loaded strategy passes through (``DBSettings.decoder`` is what
#   ``Orchestrator.from_stored_experiment`` decodes with).
# - Ax ``sqa_store.db.get_engine`` (``ValueError`` before the first
#   ``init_engine_and_session_factory``), ``create_all_tables``.
# - Ax ``GenerationStrategy.experiment`` setter, ``nodes_by_name``, and a
#   node's ``fallback_specs`` attribute (the presets' load-time rule).
# - SQLAlchemy ``Dialect.type_compiler_instance`` (2.0+) and the type
#   compiler's ``visit_TEXT`` / ``visit_VARCHAR``.
# - pluggy ``PluginManager.register`` reading hook options through
#   ``parse_hookimpl_opts`` (keys ``wrapper``, ``hookwrapper``, ``specname``),
#   and ``get_hookcallers`` / ``get_name`` / ``get_plugin`` used by
#   ``unregister``.
# ---------------------------------------------------------------------------


def storage_extension_points_problems() -> list[str]:
    """What no longer holds of the public extension points listed above."""
    import inspect

    problems: list[str] = []

    def need(ok: bool, what: str) -> None:
        if not ok:
            problems.append(what)

    from ax.generation_strategy.generation_node import GenerationNode
    from ax.generation_strategy.generation_strategy import GenerationStrategy
    from ax.storage.registry_bundle import RegistryBundle, RegistryBundleBase
    from ax.storage.sqa_store import db
    from ax.storage.sqa_store.decoder import Decoder
    from ax.storage.sqa_store.structs import DBSettings

    need(
        "decoder" in getattr(RegistryBundleBase, "__abstractmethods__", ()),
        "ax RegistryBundleBase.decoder is no longer an abstract property "
        "(ax_nas_plugins._bundle.PluginRegistryBundle overrides it)",
    )
    init = inspect.signature(RegistryBundle.__init__).parameters
    for kw in (
        "metric_clss",
        "runner_clss",
        "json_encoder_registry",
        "json_decoder_registry",
        "json_class_encoder_registry",
        "json_class_decoder_registry",
    ):
        need(kw in init, f"ax RegistryBundle.__init__ lost the keyword {kw!r}")
    need(
        callable(getattr(Decoder, "generation_strategy_from_sqa", None)),
        "ax Decoder.generation_strategy_from_sqa is gone "
        "(StrategyRulesDecoder re-applies load-time rules there)",
    )
    need("decoder" in DBSettings._fields, "ax DBSettings has no `decoder` field")
    for name in ("get_engine", "init_engine_and_session_factory", "create_all_tables"):
        need(callable(getattr(db, name, None)), f"ax sqa_store.db.{name} is gone")
    prop = inspect.getattr_static(GenerationStrategy, "experiment", None)
    need(
        isinstance(prop, property) and prop.fset is not None,
        "ax GenerationStrategy.experiment has no setter",
    )
    need(
        isinstance(
            inspect.getattr_static(GenerationStrategy, "nodes_by_name", None), property
        ),
        "ax GenerationStrategy.nodes_by_name is gone",
    )
    need(
        "fallback_specs" in inspect.signature(GenerationNode.__init__).parameters,
        "ax GenerationNode no longer takes fallback_specs",
    )

    from sqlalchemy.engine.interfaces import Dialect
    from sqlalchemy.sql.compiler import GenericTypeCompiler

    need(
        "type_compiler_instance" in getattr(Dialect, "__annotations__", {}),
        "SQLAlchemy Dialect.type_compiler_instance is gone",
    )
    for name in ("visit_TEXT", "visit_VARCHAR"):
        need(
            callable(getattr(GenericTypeCompiler, name, None)),
            f"SQLAlchemy GenericTypeCompiler.{name} is gone",
        )

    import pluggy

    register_src = inspect.getsource(pluggy.PluginManager.register)
    need(
        "parse_hookimpl_opts" in register_src,
        "pluggy PluginManager.register no longer reads options through "
        "parse_hookimpl_opts (hooks.manager.GuardedPluginManager relies on it)",
    )
    opts = pluggy.HookimplMarker("compat_check")(lambda: None).compat_check_impl
    for key in ("wrapper", "hookwrapper", "specname"):
        need(key in opts, f"pluggy hookimpl options lost the key {key!r}")
    return problems


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


# ---------------------------------------------------------------- generation
# BoTorch 0.18 ``botorch.acquisition.multi_objective.logei``: the first
# qLogEHVI / qLogNEHVI built in a process JIT-compiles a fused C++ kernel with
# torch's ``cpp_extension.load`` (module globals ``_C`` and
# ``_load_attempted``; ``_load_attempted = True`` before the first build makes
# BoTorch use its pure-Python path, same values). torch 2.13 guards the build
# with a plain lock file, ``<extensions root>/logei_fused_ext/lock`` (root:
# ``TORCH_EXTENSIONS_DIR``, else ``get_default_build_root()/py<XY>_<cpu|cuXYZ>``),
# and ``FileBaton.wait`` polls until it disappears, with no timeout: a process
# killed while compiling leaves it, and every later process on the machine
# hangs at its first multi-objective suggestion.

FUSED_LOGEI_EXTENSION = "logei_fused_ext"

_logger = logging.getLogger("ax_nas_plugins.generation")


def fused_logei_lock() -> Path:
    """Path of torch's build lock for BoTorch's fused qLogEHVI kernel (not created)."""
    import torch
    from torch.utils.cpp_extension import get_default_build_root

    root = os.environ.get("TORCH_EXTENSIONS_DIR")
    if root is None:
        if torch.version.hip is not None:
            accelerator = f"rocm{torch.version.hip.replace('.', '')}"
        elif torch.version.cuda is not None:
            accelerator = f"cu{torch.version.cuda.replace('.', '')}"
        else:
            accelerator = "cpu"
        py = f"py{sys.version_info.major}{sys.version_info.minor}"
        folder = f"{py}{getattr(sys, 'abiflags', '')}_{accelerator}"
        root = os.path.join(get_default_build_root(), folder)
    return Path(root) / FUSED_LOGEI_EXTENSION / "lock"


def skip_fused_logei_if_locked() -> Path | None:
    """Use BoTorch's pure-Python qLogEHVI here when its kernel's build lock exists.

    The rule: if this process has not loaded (or tried) the fused kernel yet
    and its build lock file exists, the kernel is skipped here, so the first
    suggestion cannot hang on a lock left by a killed process; the values are
    the same, the acquisition is slower. A warning names the lock file: if no
    other process is compiling the kernel, deleting it restores the fast path.
    Returns the lock path when it skipped, else None (also when BoTorch no
    longer has these module globals).
    """
    try:
        from botorch.acquisition.multi_objective import logei
    except ImportError:
        return None
    if getattr(logei, "_load_attempted", True) or getattr(logei, "_C", None):
        return None
    try:
        lock = fused_logei_lock()
    except Exception:  # another torch layout: leave BoTorch alone
        return None
    if not lock.exists():
        return None
    logei._load_attempted = True
    _logger.warning(
        "BoTorch's fused qLogEHVI kernel is locked by %s (a build in progress, or "
        "left by a process killed while compiling it, which would make this "
        "process wait forever); using BoTorch's pure-Python qLogEHVI in this "
        "process (same values, slower). If no other process is compiling it, "
        "delete that file.",
        lock,
    )
    return lock
