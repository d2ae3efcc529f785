"""Config problems, each with its path in the file (``objectives[1].threshold``).

The rule: a config is refused as a whole, with every problem found, each
naming the path in the file, the value given and what is allowed; nothing is
written for a config with a problem.
"""

from __future__ import annotations

import difflib
import types
import typing
from typing import Any, Union

from pydantic import BaseModel, ValidationError

from ax_nas_plugins.errors import AxNasError


class ConfigError(AxNasError, ValueError):
    """A config file (or dict) with problems; ``problems`` holds (path, message)."""

    def __init__(self, source: str, problems: list[tuple[str, str]]) -> None:
        self.source = source
        self.problems = problems
        lines = [
            f"{source}: {path}: {msg}" if path else f"{source}: {msg}"
            for path, msg in problems
        ]
        super().__init__("\n".join(lines))


def path_text(loc: tuple[Any, ...]) -> str:
    """``("objectives", 1, "threshold")`` -> ``objectives[1].threshold``."""
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else str(part)
    return out


def _unwrap(annotation: Any) -> list[Any]:
    """The model classes an annotation may hold (lists, unions, Annotated)."""
    origin = typing.get_origin(annotation)
    if origin is typing.Annotated:
        return _unwrap(typing.get_args(annotation)[0])
    if origin in (list, tuple, dict, Union, types.UnionType):
        found: list[Any] = []
        for arg in typing.get_args(annotation):
            found += _unwrap(arg)
        return found
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return [annotation]
    return []


def _clean_loc(
    root: type[BaseModel], loc: tuple[Any, ...]
) -> tuple[tuple[Any, ...], Any]:
    """Drop pydantic's union-tag segments; return (loc, model class at the end)."""
    models: list[Any] = [root]
    clean: list[Any] = []
    for part in loc:
        if isinstance(part, int):
            clean.append(part)
            continue
        tagged = [m for m in models if _tag(m) == part]
        if tagged and len(models) > 1:
            models = tagged
            continue
        fields = {}
        for m in models:
            fields.update(m.model_fields)
        clean.append(part)
        models = _unwrap(fields[part].annotation) if part in fields else []
    return tuple(clean), (models[0] if len(models) == 1 else None)


def _tag(model: Any) -> Any:
    field = model.model_fields.get("type")
    if field is None:
        return None
    args = typing.get_args(field.annotation)
    return args[0] if args else None


def problems_from_validation(
    root: type[BaseModel], exc: ValidationError
) -> list[tuple[str, str]]:
    """Turn pydantic's errors into (path, message) with value and allowed values."""
    problems = []
    meant: set[str] = set()  # fields a misspelling stands for: not "missing" too
    for err in exc.errors():
        loc, _ = _clean_loc(root, tuple(err["loc"]))
        msg = err["msg"].removeprefix("Value error, ")
        kind = err["type"]
        if kind == "extra_forbidden":
            parent_loc, parent = _clean_loc(root, tuple(err["loc"])[:-1])
            allowed = list(parent.model_fields) if parent else []
            name = str(loc[-1])
            close = difflib.get_close_matches(name, allowed, n=1, cutoff=0.6)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            if close:
                meant.add(path_text((*parent_loc, close[0])))
            msg = f"unknown field {name!r}{hint}; allowed: {', '.join(allowed)}"
            loc = (*parent_loc, name)
        elif kind == "missing":
            msg = "required field is missing"
        elif kind == "union_tag_invalid":
            msg = f"{msg.split(' (')[0]}"
        elif "input" in err and not isinstance(err["input"], dict | list):
            msg = f"{msg} (got {err['input']!r})"
        problems.append((path_text(loc), msg, kind))
    return [(p, m) for p, m, k in problems if not (k == "missing" and p in meant)]
