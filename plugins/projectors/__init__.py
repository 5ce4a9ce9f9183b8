"""Built-in projectors: linear, mlp, conv_downsample, window_qformer, tapm.

Only light imports here: :mod:`.configs` holds the config dataclasses and build functions, which
import torch and the component modules lazily.
"""

from __future__ import annotations

from usam_toolkit.hookspecs import RegisterFn, hookimpl


@hookimpl
def usam_register_projectors(register: RegisterFn) -> None:
    """Register the built-in projectors."""
    from . import configs as c

    register("linear", c.build_linear, c.LinearConfig, requires=("torch",), example=c.linear_example)
    register("mlp", c.build_mlp_projector, c.MLPConfig, requires=("torch",), example=c.mlp_example)
    register(
        "conv_downsample",
        c.build_conv_downsample,
        c.ConvDownsampleConfig,
        requires=("torch",),
        example=c.conv_downsample_example,
    )
    register(
        "window_qformer",
        c.build_window_qformer,
        c.WindowQFormerConfig,
        requires=("torch", "safetensors"),
        example=c.window_qformer_example,
    )
    register("tapm", c.build_tapm, c.TAPMConfig, requires=("torch",), example=c.tapm_example)
