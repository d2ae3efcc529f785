"""Components: what a trial runs, and the arguments each trial passes to it.

The rule: a component is a TorchX component, i.e. a function returning a
``torchx.specs.AppDef``, given as the function itself or as a
``"module:function"`` string. For each trial it is called with keyword
arguments, later ones winning: ``component_const_params``, then the trial's
parameters, then whichever of these the function declares (or all, when it
takes ``**kwargs``):

- ``trial_index`` (and ``trial_idx``, the name Ax's own TorchXRunner uses),
- ``experiment_name``,
- ``log_dir``: the trial's own folder
  (``<log_root>/<slug>-<hash>/trial_<index>``),
- ``tensorboard_dir``: ``<log_dir>/tensorboard``, where metrics are read from.

A trial parameter the function does not accept is an error that names the
parameter and lists what the function accepts. The component puts values
into the role's ``args`` list; the schedulers start that list directly
(argv items, no shell), so a value like ``"; touch pwned"`` reaches the job
literally unless the component itself chooses a shell.
"""

from __future__ import annotations

import importlib
import inspect
from collections.abc import Callable
from typing import Any

from ax_nas_plugins.errors import AxNasError


class ComponentError(AxNasError, ValueError):
    """A component that cannot be found, stored or called with a trial's arguments."""


def resolve(component: Callable[..., Any] | str) -> Callable[..., Any]:
    """The component function, importing a ``"module:function"`` string."""
    if callable(component):
        return component
    if not isinstance(component, str) or ":" not in component:
        raise ComponentError(
            f"runner option `component` must be a TorchX component function or a "
            f"'module:function' string, got {component!r}."
        )
    module_name, _, attr = component.partition(":")
    try:
        obj: Any = importlib.import_module(module_name.strip())
        for part in attr.strip().split("."):
            obj = getattr(obj, part)
    except (ImportError, AttributeError) as exc:
        raise ComponentError(
            f"runner option `component`: cannot import {component!r} "
            f"({type(exc).__name__}: {exc})."
        ) from exc
    if not callable(obj):
        raise ComponentError(
            f"runner option `component`: {component!r} is not callable."
        )
    return obj


def reference(component: Callable[..., Any] | str) -> str:
    """The ``"module:function"`` string under which ``component`` can be stored."""
    if isinstance(component, str):
        return component
    module = getattr(component, "__module__", None)
    qualname = getattr(component, "__qualname__", None)
    if not module or not qualname or "<" in qualname or module == "__main__":
        raise ComponentError(
            f"The component {component!r} cannot be stored: only a function defined "
            "at module level in an importable module can be saved and resumed. "
            "Move it into a module, or pass it as a 'module:function' string."
        )
    return f"{module}:{qualname}"


def component_kwargs(
    fn: Callable[..., Any],
    parameters: dict[str, Any],
    const_params: dict[str, Any],
    auto: dict[str, Any],
) -> dict[str, Any]:
    """Keyword arguments for one trial's call of the component (see module doc)."""
    sig = inspect.signature(fn)
    takes_all = any(p.kind is p.VAR_KEYWORD for p in sig.parameters.values())
    accepted = {
        n
        for n, p in sig.parameters.items()
        if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)
    }
    kwargs = dict(const_params)
    kwargs.update(parameters)
    if not takes_all:
        unknown = sorted(set(kwargs) - accepted)
        if unknown:
            raise ComponentError(
                f"The component {getattr(fn, '__qualname__', fn)!r} does not accept "
                f"{', '.join(map(repr, unknown))} (from the trial's parameters or "
                f"`component_const_params`). It accepts: {', '.join(sorted(accepted))}."
            )
    for name, value in auto.items():
        if takes_all or name in accepted:
            kwargs[name] = value
    return kwargs
