"""Checks of runner options, done once when the runner is made.

The rule: every option a user can get wrong is checked at construction, and
the error names the option, the value given and what is allowed. ``cfg``
is checked against the scheduler's own ``run_opts()`` (names and types; an
int is accepted for a float option and stored as a float) and against the
numeric bounds in :data:`ax_nas_plugins.runners.schedulers._opts.LIMITS`.
"""

from __future__ import annotations

import json
import math
from typing import Any

from torchx.specs.api import runopts

from ax_nas_plugins.runners.schedulers._opts import LIMITS


class OptionError(ValueError):
    """Raised with a message naming the option, the value and what is allowed."""


def number(
    name: str,
    value: Any,
    *,
    low: float | None = None,
    low_open: bool = False,
    optional: bool = False,
    integer: bool = False,
) -> Any:
    """``value`` checked as a number (an int when ``integer``) within bounds."""
    if value is None and optional:
        return None
    kind = "an integer" if integer else "a number"
    bound = ""
    if low is not None:
        bound = f" {'>' if low_open else '>='} {low:g}"
    allowed = f"{kind}{bound}" + (" or None" if optional else "")
    ok_type = isinstance(value, int) if integer else isinstance(value, int | float)
    if isinstance(value, bool) or not ok_type:
        raise OptionError(
            f"runner option `{name}` must be {allowed}; got {value!r} "
            f"({type(value).__name__})."
        )
    if not math.isfinite(value) or (
        low is not None and (value <= low if low_open else value < low)
    ):
        raise OptionError(f"runner option `{name}` must be {allowed}; got {value!r}.")
    return value if integer else float(value)


def check_cfg(
    owner: str, cfg: dict[str, Any], opts: runopts, managed: frozenset[str]
) -> dict[str, Any]:
    """``cfg`` checked against the scheduler's ``opts``; returns it normalised.

    ``managed`` are options the runner sets itself (refused in ``cfg``).
    """
    allowed = sorted(name for name, _ in opts if name not in managed)
    unknown = sorted(set(cfg) - set(allowed))
    if unknown:
        hint = " (the log folder comes from `log_root`)" if "log_dir" in unknown else ""
        raise OptionError(
            f"{owner}: unknown `cfg` option(s) {unknown}{hint}. Allowed: {allowed}."
        )
    out: dict[str, Any] = {}
    for key, value in cfg.items():
        try:
            json.dumps(value)
        except TypeError as exc:
            raise OptionError(
                f"runner option `cfg[{key!r}]` must be a JSON value "
                f"(it is stored with the experiment), got {value!r}."
            ) from exc
        opt = opts.get(key)
        if opt is not None and value is not None:
            if (
                opt.opt_type is float
                and isinstance(value, int)
                and not isinstance(value, bool)
            ):
                value = float(value)
            if not runopts.is_type(value, opt.opt_type):
                name = getattr(opt.opt_type, "__name__", str(opt.opt_type))
                raise OptionError(
                    f"{owner}: `cfg[{key!r}]` must be of type {name}; got {value!r} "
                    f"({type(value).__name__})."
                )
        if key in LIMITS and value is not None:
            low, high = LIMITS[key]
            if (low is not None and value < low) or (high is not None and value > high):
                raise OptionError(
                    f"{owner}: `cfg[{key!r}]` must be within "
                    f"[{'-inf' if low is None else low}, "
                    f"{'inf' if high is None else high}]; got {value!r}."
                )
        out[key] = value
    return out
