"""pluggy lifecycle hooks: trial deployed / completed / failed / early-stopped, saved.

The rule: hook plugins come from the ``ax_nas_plugins.hooks`` entry-point group
(loaded once, on the first event) or from :func:`register`; :func:`fire`
calls every implementation and never lets one's exception escape. A plugin that
fails to import is logged once with its distribution and does not stop the
others. See :mod:`ax_nas_plugins.hooks.specs` for every hook.
"""

from __future__ import annotations

import logging
import threading
from typing import Any

import pluggy

from ax_nas_plugins.hooks import specs
from ax_nas_plugins.hooks.specs import hookimpl, hookspec

__all__ = ["fire", "hookimpl", "hookspec", "plugin_manager", "register", "unregister"]

logger = logging.getLogger(__name__)
_lock = threading.Lock()
_manager: pluggy.PluginManager | None = None


def plugin_manager() -> pluggy.PluginManager:
    """The process-wide plugin manager, with entry-point hook plugins loaded."""
    global _manager
    with _lock:
        if _manager is None:
            pm = pluggy.PluginManager(specs.PROJECT)
            pm.add_hookspecs(specs)
            _load_entry_points(pm)
            _manager = pm
        return _manager


def _load_entry_points(pm: pluggy.PluginManager) -> None:
    from ax_nas_plugins import registry
    from ax_nas_plugins.errors import PluginLoadError

    for name in registry.plugin_infos("hooks"):
        try:
            obj = registry.load("hooks", name)
            plugin = obj() if isinstance(obj, type) else obj
            pm.register(plugin, name=name)
        except (PluginLoadError, Exception) as exc:
            logger.warning("Hook plugin %r is disabled: %s", name, exc)


def register(plugin: object, name: str | None = None) -> str | None:
    """Register a hook plugin object or module for this process."""
    return plugin_manager().register(plugin, name=name)


def unregister(plugin: object | None = None, name: str | None = None) -> None:
    """Remove a hook plugin registered earlier."""
    plugin_manager().unregister(plugin=plugin, name=name)


def fire(hook_name: str, **kwargs: Any) -> None:
    """Call every implementation of ``hook_name``; log (never raise) their errors."""
    pm = plugin_manager()
    caller = getattr(pm.hook, hook_name)
    for impl in caller.get_hookimpls():
        argnames = impl.argnames
        try:
            impl.function(*[kwargs.get(a) for a in argnames])
        except Exception:
            logger.exception(
                "Hook %s of plugin %r raised; the run goes on.",
                hook_name,
                impl.plugin_name,
            )
