"""``linear``: one Linear layer per frame; time axis, lengths and frame rate unchanged."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from torch import nn

from usam_toolkit.interfaces import BuildContext, ProjectorContext, ProjectorOutput
from usam_toolkit.masks import zero_padding

from .common import require_input_dim, resolve_output_dim
from .configs import LinearConfig


class LinearProjector(nn.Module):
    """``y_t = W z_t + b`` on every valid frame; padding frames are zero.

    Args:
        input_dim: D_in.
        output_dim: D_out.
        bias: whether the layer has a bias.
    """

    def __init__(self, input_dim: int, output_dim: int, bias: bool = True) -> None:
        super().__init__()
        self.input_dim = input_dim
        self.output_dim = output_dim
        self.proj = nn.Linear(input_dim, output_dim, bias=bias)

    def output_frame_rate(self, frame_rate: float) -> float:
        """Frames per second out for ``frame_rate`` in: unchanged (one output per input frame)."""
        return float(frame_rate)

    def forward(
        self, features: torch.Tensor, lengths: torch.Tensor, frame_rate: float, context: ProjectorContext
    ) -> ProjectorOutput:
        """Project ``features`` ``[B, T, D_in]`` to ``[B, T, D_out]``."""
        out = zero_padding(self.proj(zero_padding(features, lengths)), lengths)
        return ProjectorOutput(out, lengths, float(frame_rate))


def build_linear(cfg: LinearConfig, ctx: BuildContext) -> LinearProjector:
    """A per-frame Linear projection (time and lengths unchanged)."""
    d_in = require_input_dim(ctx, "linear")
    return LinearProjector(d_in, resolve_output_dim(ctx, cfg.output_dim, d_in, "linear"), cfg.bias)


def linear_example(tmp_dir: Path) -> dict[str, Any]:
    """Tiny linear: nothing to set."""
    return {}
