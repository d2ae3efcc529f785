"""pluggy lifecycle hooks: trial deployed / completed / failed / early-stopped, saved.

The rule: hook plugins come from the ``ax_nas_plugins.hooks`` entry-point group
(loaded once, on the first event) or from :func:`register`; :func:`fire`
calls them through pluggy's own hook caller, so pluggy decides the order (the
plugin registered last runs first; ``tryfirst``/``trylast`` move an
implementation) and runs ``wrapper=True`` implementations around the others.
An implementation that raises is logged with its plugin's name and the others
still run (see :mod:`ax_nas_plugins.hooks.manager`); :func:`fire` never raises.
A plugin that fails to import is logged once with its distribution and does
not stop the others. See :mod:`ax_nas_plugins.hooks.specs` for every hook.
"""

from __future__ import annotations

import inspect
import logging
import threading
from typing import Any

from ax_nas_plugins.hooks import specs
from ax_nas_plugins.hooks.manager import GuardedPluginManager
from ax_nas_plugins.hooks.specs import hookimpl, hookspec

__all__ = ["fire", "hookimpl", "hookspec", "plugin_manager", "register", "unregister"]

logger = logging.getLogger(__name__)
_lock = threading.Lock()
_manager: GuardedPluginManager | None = None


def plugin_manager() -> GuardedPluginManager:
    """The process-wide plugin manager, with entry-point hook plugins loaded."""
    global _manager
    with _lock:
        if _manager is None:
            pm = GuardedPluginManager(specs.PROJECT)
            pm.add_hookspecs(specs)
            _load_entry_points(pm)
            _manager = pm
        return _manager


def _load_entry_points(pm: GuardedPluginManager) -> None:
    from ax_nas_plugins import registry

    for name in registry.plugin_infos("hooks"):
        try:
            obj = registry.load("hooks", name)
            plugin = obj() if isinstance(obj, type) else obj
            pm.register(plugin, name=name)
        except Exception as exc:  # PluginLoadError, or a plugin pluggy refuses
            logger.warning("Hook plugin %r is disabled: %s", name, exc)


def register(plugin: object, name: str | None = None) -> str | None:
    """Register a hook plugin object or module for this process."""
    return plugin_manager().register(plugin, name=name)


def unregister(plugin: object | None = None, name: str | None = None) -> None:
    """Remove a hook plugin registered earlier."""
    plugin_manager().unregister(plugin=plugin, name=name)


def fire(hook_name: str, **kwargs: Any) -> None:
    """Call ``hook_name`` through pluggy's hook caller; log (never raise) errors.

    Arguments of the hook's spec that the caller leaves out are passed as
    ``None``, so an implementation may ask for any of them.
    """
    caller = getattr(plugin_manager().hook, hook_name)
    spec = getattr(specs, hook_name, None)
    if spec is not None:
        for argname in inspect.signature(spec).parameters:
            kwargs.setdefault(argname, None)
    try:
        caller(**kwargs)
    except Exception:  # guarded implementations do not raise; pluggy itself may
        logger.exception("Hook %s failed; the run goes on.", hook_name)
