"""Error types. Every message names the file, line or key at fault and what would be valid."""

from __future__ import annotations

import difflib
from collections.abc import Iterable


class UsamError(Exception):
    """Base class; the CLI prints these without a traceback."""


class ConfigError(UsamError):
    """A recipe or override is invalid."""


class UnknownComponentError(ConfigError):
    """A component name is not registered for its kind."""


class PluginError(UsamError):
    """A plugin failed to load, register or build."""


class DataError(UsamError):
    """A manifest line or audio file is invalid."""


def did_you_mean(word: str, choices: Iterable[str]) -> str:
    """`` Did you mean 'x'?`` for the nearest choice, or an empty string."""
    close = difflib.get_close_matches(word, list(choices), n=1, cutoff=0.5)
    return f" Did you mean '{close[0]}'?" if close else ""
