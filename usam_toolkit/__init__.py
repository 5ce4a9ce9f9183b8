"""usam_toolkit: a plugin toolkit reproducing U-SAM (unified speech, audio and music understanding).

Public API::

    from usam_toolkit import hookimpl, load_recipe, get_registry
    m = usam_toolkit.load("runs/smoke")   # a checkpoint for inference (usam_toolkit.api.UsamInference)
"""

from __future__ import annotations

from typing import Any

from .config.loader import compose, load_recipe, validate_recipe
from .errors import ConfigError, DataError, PluginError, UnknownComponentError, UsamError
from .hookspecs import hookimpl, hookspec
from .interfaces import BuildContext, EncoderOutput, GenerationConfig, LossInputs, LossOutput, ProjectorOutput
from .plugins import get_registry, load_registry

__version__ = "0.1.0"

__all__ = [
    "AudioLLM",
    "BuildContext",
    "ConfigError",
    "DataError",
    "EncoderOutput",
    "GenerationConfig",
    "LossInputs",
    "LossOutput",
    "PluginError",
    "ProjectorOutput",
    "UnknownComponentError",
    "UsamError",
    "UsamInference",
    "compose",
    "get_registry",
    "hookimpl",
    "hookspec",
    "load",
    "load_recipe",
    "load_registry",
    "validate_recipe",
]


def __getattr__(name: str) -> Any:
    # AudioLLM and the inference API pull in torch: keep `import usam_toolkit` light for listing and
    # validating.
    if name == "AudioLLM":
        from .model.audio_llm import AudioLLM

        return AudioLLM
    if name in ("load", "UsamInference"):
        from . import api

        return getattr(api, name)
    raise AttributeError(name)
