"""Errors a user can cause, each saying what was wrong, where, and what is allowed.

This module imports nothing heavy: the registry and the CLI raise these errors
before Ax, torch or TorchX are imported.
"""

from __future__ import annotations


class AxNasError(Exception):
    """Base class of every error this pack raises on purpose."""


class UnknownPluginError(AxNasError, LookupError):
    """A plugin name that no installed distribution provides."""

    def __init__(
        self, kind: str, name: str, installed: list[str], closest: str | None
    ) -> None:
        self.kind = kind
        self.name = name
        self.installed = installed
        self.closest = closest
        hint = f" Did you mean {closest!r}?" if closest else ""
        listing = ", ".join(installed) if installed else "(none installed)"
        super().__init__(
            f"No {kind} plugin named {name!r}.{hint} Installed {kind} plugins: "
            f"{listing}. Run `ax-nas plugins` to see every kind."
        )


class PluginLoadError(AxNasError, ImportError):
    """A plugin whose entry point could not be imported or is of the wrong type."""

    def __init__(
        self,
        kind: str,
        name: str,
        entry_point: str,
        distribution: str,
        reason: str,
    ) -> None:
        self.kind = kind
        self.name = name
        self.entry_point = entry_point
        self.distribution = distribution
        self.reason = reason
        super().__init__(
            f"The {kind} plugin {name!r} (entry point {entry_point!r} from "
            f"distribution {distribution!r}) could not be loaded: {reason}"
        )


class PluginOptionError(AxNasError, TypeError):
    """Options that a plugin's constructor or factory does not accept."""

    def __init__(
        self,
        kind: str,
        name: str,
        problem: str,
        accepted: list[str],
        required: list[str],
    ) -> None:
        self.kind = kind
        self.name = name
        self.accepted = accepted
        self.required = required
        accepted_txt = ", ".join(accepted) if accepted else "(none)"
        required_txt = f" (required: {', '.join(required)})" if required else ""
        super().__init__(
            f"{kind} plugin {name!r}: {problem}. Accepted options: "
            f"{accepted_txt}{required_txt}."
        )


class StorageRegistrationError(AxNasError):
    """Two plugin classes that cannot be stored side by side."""
