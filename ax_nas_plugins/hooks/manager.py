"""A pluggy ``PluginManager`` whose hook implementations cannot stop a run.

The rule: hooks are called only through pluggy's own hook caller
(``pm.hook.<name>(**kwargs)``), so pluggy keeps its order (last registered
first, ``tryfirst``/``trylast``), runs ``wrapper=True`` and old-style
``hookwrapper=True`` implementations around the others, and passes each
implementation the arguments it names. What this manager adds is done at
registration, through pluggy's public API only: each plugin is registered as a
proxy whose hook functions are guarded copies of the plugin's own (same
name, signature and ``@hookimpl`` options). A guarded function that raises
``Exception`` logs it with the plugin's name and the hook's, and returns
``None``, so the other implementations and the trial go on;
``KeyboardInterrupt`` and ``SystemExit`` still propagate.

For wrappers the guard runs the plugin's generator inside its own: an
exception before the ``yield`` (or no ``yield`` at all) is logged and the
call goes on without that wrapper; an exception after it is logged and the
result of the inner implementations is kept.

The proxy is invisible to callers: ``register``, ``unregister``,
``get_plugin``, ``get_plugins``, ``get_name``, ``is_registered``,
``get_hookcallers``, ``subset_hook_caller`` and ``list_name_plugin`` take and
return the plugin objects as given. (``HookImpl.plugin``, seen by hook-call
monitors, is the proxy; its ``plugin`` attribute is the object given.)
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable, Generator, Iterable
from typing import Any

import pluggy

logger = logging.getLogger("ax_nas_plugins.hooks")


def _log_failure(hook_name: str, plugin_name: str, what: str = "raised") -> None:
    logger.exception(
        "Hook %s of plugin %r %s; the run goes on.", hook_name, plugin_name, what
    )


def _guard_call(
    fn: Callable[..., Any], hook_name: str, plugin_name: str
) -> Callable[..., Any]:
    @functools.wraps(fn)  # keeps the signature pluggy reads and the hookimpl opts
    def guarded(*args: Any) -> Any:
        try:
            return fn(*args)
        except Exception:
            _log_failure(hook_name, plugin_name)
            return None

    return guarded


def _guard_wrapper(
    fn: Callable[..., Any], hook_name: str, plugin_name: str
) -> Callable[..., Generator[None, Any, Any]]:
    """Guard a (new- or old-style) wrapper: a generator function yielding once."""

    @functools.wraps(fn)
    def guarded(*args: Any) -> Generator[None, Any, Any]:
        try:
            gen = fn(*args)
            next(gen)
        except StopIteration:
            logger.error(
                "Hook wrapper %s of plugin %r did not yield; the run goes on.",
                hook_name,
                plugin_name,
            )
            return (yield)
        except Exception:
            _log_failure(hook_name, plugin_name, "raised before its yield")
            return (yield)
        try:
            inner = yield
        except BaseException as exc:  # pluggy throws the inner error into wrappers
            try:
                gen.throw(exc)
            except StopIteration as stop:
                return stop.value
            raise
        try:
            gen.send(inner)
        except StopIteration as stop:
            return stop.value
        except Exception:
            _log_failure(hook_name, plugin_name, "raised after its yield")
            return inner
        gen.close()
        logger.error(
            "Hook wrapper %s of plugin %r yielded twice; the run goes on.",
            hook_name,
            plugin_name,
        )
        return inner

    return guarded


class _GuardedPlugin:
    """Stand-in registered with pluggy: guarded copies of a plugin's hook functions."""

    def __init__(self, plugin: object) -> None:
        self.plugin = plugin

    def __repr__(self) -> str:
        return f"<guarded {self.plugin!r}>"


class GuardedPluginManager(pluggy.PluginManager):
    """``pluggy.PluginManager`` that logs, and never raises, its plugins' errors."""

    def __init__(self, project_name: str) -> None:
        super().__init__(project_name)
        self._proxies: dict[int, _GuardedPlugin] = {}

    def _proxy_of(self, plugin: object) -> object:
        return self._proxies.get(id(plugin), plugin)

    @staticmethod
    def _original(obj: Any) -> Any:
        return obj.plugin if isinstance(obj, _GuardedPlugin) else obj

    def register(self, plugin: object, name: str | None = None) -> str | None:
        """Register ``plugin`` (guarded, see the module's rule); return its name."""
        if id(plugin) in self._proxies:
            raise ValueError(f"Plugin already registered: {plugin!r}")
        plugin_name = name or self.get_canonical_name(plugin)
        proxy = _GuardedPlugin(plugin)
        for attr in dir(plugin):
            opts = self.parse_hookimpl_opts(plugin, attr)
            if opts is None:
                continue
            hook_name = opts.get("specname") or attr
            fn = getattr(plugin, attr)
            guard = (
                _guard_wrapper
                if opts.get("wrapper") or opts.get("hookwrapper")
                else _guard_call
            )
            guarded = guard(fn, hook_name, plugin_name)
            # pluggy reads the options from this attribute (HookimplMarker's).
            setattr(guarded, f"{self.project_name}_impl", opts)
            setattr(proxy, attr, guarded)
        registered = super().register(proxy, name=plugin_name)
        if registered is not None:
            self._proxies[id(plugin)] = proxy
        return registered

    def unregister(
        self, plugin: object | None = None, name: str | None = None
    ) -> Any | None:
        """Unregister by object or by name; return the plugin object as given."""
        if plugin is None and name is not None:
            plugin = self._original(self.get_plugin(name))
        proxy = self._proxy_of(plugin) if plugin is not None else None
        removed = super().unregister(plugin=proxy, name=name)
        if removed is None:
            return None
        original = self._original(removed)
        self._proxies.pop(id(original), None)
        return original

    def is_registered(self, plugin: object) -> bool:
        return super().is_registered(self._proxy_of(plugin))

    def get_name(self, plugin: object) -> str | None:
        return super().get_name(self._proxy_of(plugin))

    def get_plugin(self, name: str) -> Any | None:
        return self._original(super().get_plugin(name))

    def get_hookcallers(self, plugin: object) -> list[pluggy.HookCaller] | None:
        return super().get_hookcallers(self._proxy_of(plugin))

    def subset_hook_caller(
        self, name: str, remove_plugins: Iterable[object]
    ) -> pluggy.HookCaller:
        return super().subset_hook_caller(
            name, [self._proxy_of(p) for p in remove_plugins]
        )

    def get_plugins(self) -> set[Any]:
        return {self._original(p) for p in super().get_plugins()}

    def list_name_plugin(self) -> list[tuple[str, Any]]:
        return [(n, self._original(p)) for n, p in super().list_name_plugin()]
