"""Plugin discovery through entry points, one group per kind.

The rule: a plugin is an entry point in one of the groups of ``KINDS``; its
name is the entry-point name. The pack's own built-ins are declared the same
way in its ``pyproject.toml``, so there is no privileged path.

Listing is lazy: :func:`available` and :func:`plugin_infos` read only
distribution metadata and never import a plugin, so they do not import torch,
TorchX, BoTorch or Ax. A plugin is imported the first time it is used
(:func:`load`), and an import that fails is reported for that plugin alone.
"""

from __future__ import annotations

import ast
import difflib
import importlib.util
import inspect
import os
import threading
from dataclasses import dataclass
from importlib import metadata
from typing import Any

from ax_nas_plugins.errors import (
    PluginLoadError,
    PluginOptionError,
    UnknownPluginError,
)

#: Plugin kind -> entry-point group.
KINDS: dict[str, str] = {
    "runner": "ax_nas_plugins.runners",
    "metric": "ax_nas_plugins.metrics",
    "early_stopping": "ax_nas_plugins.early_stopping",
    "generation_strategy": "ax_nas_plugins.generation_strategies",
    "hooks": "ax_nas_plugins.hooks",
    "storage": "ax_nas_plugins.storage",
}


@dataclass(frozen=True)
class PluginInfo:
    """One installed plugin, known from metadata alone (nothing imported)."""

    kind: str
    name: str
    value: str  # "module:attr"
    distribution: str
    version: str

    @property
    def module(self) -> str:
        return self.value.partition(":")[0].strip()

    @property
    def attr(self) -> str:
        return self.value.partition(":")[2].strip()

    def description(self) -> str:
        """First line of the plugin's docstring, read from source without import."""
        return _static_docstring(self.module, self.attr)


_lock = threading.Lock()
_loaded: dict[tuple[str, str, str], Any] = {}


def _check_kind(kind: str) -> str:
    if kind not in KINDS:
        raise ValueError(
            f"Unknown plugin kind {kind!r}; allowed kinds: {', '.join(KINDS)}."
        )
    return KINDS[kind]


def plugin_infos(kind: str) -> dict[str, PluginInfo]:
    """Installed plugins of one kind by name, from entry-point metadata only.

    When two distributions declare the same name, the first one found on
    ``sys.path`` wins, as Python's own import would pick it.
    """
    group = _check_kind(kind)
    found: dict[str, PluginInfo] = {}
    for ep in metadata.entry_points(group=group):
        if ep.name in found:
            continue
        dist = getattr(ep, "dist", None)
        found[ep.name] = PluginInfo(
            kind=kind,
            name=ep.name,
            value=ep.value,
            distribution=dist.metadata["Name"] if dist is not None else "?",
            version=dist.version if dist is not None else "?",
        )
    return dict(sorted(found.items()))


def available(kind: str | None = None) -> dict[str, list[str]] | list[str]:
    """Names of the installed plugins: all kinds as a dict, or one kind as a list.

    Nothing is imported: a plugin that would fail to import is still listed
    (see :func:`check` for that).
    """
    if kind is not None:
        return list(plugin_infos(kind))
    return {k: list(plugin_infos(k)) for k in KINDS}


def info(kind: str, name: str) -> PluginInfo:
    """Metadata of one plugin; an unknown name lists the installed ones."""
    infos = plugin_infos(kind)
    if name not in infos:
        installed = list(infos)
        close = difflib.get_close_matches(name, installed, n=1, cutoff=0.5)
        raise UnknownPluginError(kind, name, installed, close[0] if close else None)
    return infos[name]


def load(kind: str, name: str) -> Any:
    """Import a plugin's entry-point object (class or factory), cached.

    Raises :class:`UnknownPluginError` for an unknown name and
    :class:`PluginLoadError` (naming distribution, entry point and the import
    error) when its import fails; other plugins are unaffected.
    """
    plugin = info(kind, name)
    key = (kind, name, plugin.value)
    with _lock:
        if key in _loaded:
            return _loaded[key]
    try:
        module = importlib.import_module(plugin.module)
        obj: Any = module
        for part in plugin.attr.split(".") if plugin.attr else []:
            obj = getattr(obj, part)
    except Exception as exc:  # any failure of third-party code is reported
        raise PluginLoadError(
            kind,
            name,
            plugin.value,
            plugin.distribution,
            f"{type(exc).__name__}: {exc}",
        ) from exc
    _check_type(plugin, obj)
    with _lock:
        _loaded[key] = obj
    return obj


def _check_type(plugin: PluginInfo, obj: Any) -> None:
    """Runners and metrics must be Ax classes, so that they can be stored."""
    base: type | None = None
    if plugin.kind == "runner":
        from ax.core.runner import Runner

        base = Runner
    elif plugin.kind == "metric":
        from ax.core.metric import Metric

        base = Metric
    if base is not None and not (isinstance(obj, type) and issubclass(obj, base)):
        raise PluginLoadError(
            plugin.kind,
            plugin.name,
            plugin.value,
            plugin.distribution,
            f"expected a subclass of {base.__module__}.{base.__name__}, got {obj!r}",
        )
    if base is None and not callable(obj):
        raise PluginLoadError(
            plugin.kind,
            plugin.name,
            plugin.value,
            plugin.distribution,
            f"expected a class or factory function, got {obj!r}",
        )


def check(kind: str | None = None) -> dict[tuple[str, str], str | None]:
    """Import every plugin (of one kind or all) and return the errors by (kind, name).

    A value of ``None`` means the plugin imported fine.
    """
    kinds = [kind] if kind else list(KINDS)
    result: dict[tuple[str, str], str | None] = {}
    for k in kinds:
        for name in plugin_infos(k):
            try:
                load(k, name)
                result[(k, name)] = None
            except PluginLoadError as exc:
                result[(k, name)] = str(exc)
    return result


def accepted_options(target: Any) -> tuple[list[str], list[str]]:
    """Keyword options a class or factory accepts, and the required ones."""
    sig = inspect.signature(target)
    accepted, required = [], []
    for pname, param in sig.parameters.items():
        if param.kind in (param.VAR_POSITIONAL, param.VAR_KEYWORD):
            continue
        if param.kind is param.POSITIONAL_ONLY:
            continue
        accepted.append(pname)
        if param.default is param.empty:
            required.append(pname)
    return accepted, required


def create(kind: str, plugin: str, options: dict[str, Any]) -> Any:
    """Build a plugin instance from its name and keyword options.

    Options are checked against the constructor's signature first, so a
    misspelt option names the plugin and everything it accepts.
    """
    target = load(kind, plugin)
    try:
        sig = inspect.signature(target)
    except (TypeError, ValueError):  # builtins without a signature
        return target(**options)
    try:
        sig.bind(**options)
    except TypeError as exc:
        accepted, required = accepted_options(target)
        unknown = [o for o in options if o not in accepted]
        missing = [r for r in required if r not in options]
        if unknown and not any(
            p.kind is p.VAR_KEYWORD for p in sig.parameters.values()
        ):
            problem = f"unknown option(s) {', '.join(map(repr, unknown))}"
            close = {
                u: difflib.get_close_matches(u, accepted, n=1, cutoff=0.6)
                for u in unknown
            }
            hints = [f"{u!r} -> {c[0]!r}" for u, c in close.items() if c]
            if hints:
                problem += f" (did you mean {', '.join(hints)}?)"
        elif missing:
            problem = f"missing required option(s) {', '.join(map(repr, missing))}"
        else:
            problem = str(exc)
        raise PluginOptionError(kind, plugin, problem, accepted, required) from exc
    return target(**options)


def _static_docstring(module: str, attr: str) -> str:
    """First docstring line of ``module:attr`` found by parsing source, no import.

    Walks package folders by hand because ``importlib.util.find_spec`` on a
    dotted name imports the parent packages.
    """
    parts = module.split(".")
    try:
        spec = importlib.util.find_spec(parts[0])
    except (ImportError, ValueError):
        return ""
    if spec is None:
        return ""
    path: str | None = spec.origin
    dirs = list(spec.submodule_search_locations or [])
    for part in parts[1:]:
        path = None
        for d in dirs:
            pkg_init = os.path.join(d, part, "__init__.py")
            mod_file = os.path.join(d, part + ".py")
            if os.path.exists(pkg_init):
                path, dirs = pkg_init, [os.path.join(d, part)]
                break
            if os.path.exists(mod_file):
                path, dirs = mod_file, []
                break
        if path is None:
            return ""
    if not path or not path.endswith(".py"):
        return ""
    try:
        with open(path, encoding="utf-8") as fh:
            tree = ast.parse(fh.read())
    except (OSError, SyntaxError, UnicodeDecodeError):
        return ""
    target = attr.split(".")[0] if attr else ""
    doc: str | None = None
    if not target:
        doc = ast.get_docstring(tree)
    else:
        for node in tree.body:
            if (
                isinstance(node, ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef)
                and node.name == target
            ):
                doc = ast.get_docstring(node)
                break
    if not doc:
        return ""
    first_paragraph = doc.strip().split("\n\n")[0]
    return " ".join(first_paragraph.split())
