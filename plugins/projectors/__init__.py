"""Built-in projectors: linear, mlp, conv_downsample, window_qformer, tapm.

Package shape (as for every built-in kind): this file holds the hook and lazy trampolines, so listing
plugins imports no torch; :mod:`.configs` the config dataclasses; ``<name>.py`` the component with its
``build_<name>`` and ``<name>_example``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from usam_toolkit.hookspecs import RegisterFn, hookimpl
from usam_toolkit.interfaces import BuildContext


def build_linear(cfg: Any, ctx: BuildContext) -> Any:
    """A per-frame Linear projection (time and lengths unchanged)."""
    from .linear import build_linear as build

    return build(cfg, ctx)


def linear_example(tmp_dir: Path) -> dict[str, Any]:
    from .linear import linear_example as example

    return example(tmp_dir)


def build_mlp_projector(cfg: Any, ctx: BuildContext) -> Any:
    """A per-frame MLP (time and lengths unchanged)."""
    from .mlp import build_mlp_projector as build

    return build(cfg, ctx)


def mlp_example(tmp_dir: Path) -> dict[str, Any]:
    from .mlp import mlp_example as example

    return example(tmp_dir)


def build_conv_downsample(cfg: Any, ctx: BuildContext) -> Any:
    """Frame stacking by k then an MLP; lengths become ceil(len / k)."""
    from .conv_downsample import build_conv_downsample as build

    return build(cfg, ctx)


def conv_downsample_example(tmp_dir: Path) -> dict[str, Any]:
    from .conv_downsample import conv_downsample_example as example

    return example(tmp_dir)


def build_window_qformer(cfg: Any, ctx: BuildContext) -> Any:
    """A window-level Q-Former: queries_per_window tokens per window_seconds of audio."""
    from .window_qformer import build_window_qformer as build

    return build(cfg, ctx)


def window_qformer_example(tmp_dir: Path) -> dict[str, Any]:
    from .window_qformer import window_qformer_example as example

    return example(tmp_dir)


def build_tapm(cfg: Any, ctx: BuildContext) -> Any:
    """Task-Aware Projection Module: Σ_i softmax(W_r·e_text)_i · E_i(Z), time preserved."""
    from .tapm import build_tapm as build

    return build(cfg, ctx)


def tapm_example(tmp_dir: Path) -> dict[str, Any]:
    from .tapm import tapm_example as example

    return example(tmp_dir)


@hookimpl
def usam_register_projectors(register: RegisterFn) -> None:
    """Register the built-in projectors."""
    from . import configs as c

    register("linear", build_linear, c.LinearConfig, requires=("torch",), example=linear_example)
    register("mlp", build_mlp_projector, c.MLPConfig, requires=("torch",), example=mlp_example)
    register(
        "conv_downsample",
        build_conv_downsample,
        c.ConvDownsampleConfig,
        requires=("torch",),
        example=conv_downsample_example,
    )
    register(
        "window_qformer",
        build_window_qformer,
        c.WindowQFormerConfig,
        requires=("torch", "safetensors"),
        example=window_qformer_example,
    )
    register("tapm", build_tapm, c.TAPMConfig, requires=("torch",), example=tapm_example)
