"""``linear``: one Linear layer per frame; time axis, lengths and frame rate unchanged."""

from __future__ import annotations

import torch
from torch import nn

from usam_toolkit.interfaces import ProjectorContext, ProjectorOutput

from ._common import zero_padding


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

    def forward(
        self, features: torch.Tensor, lengths: torch.Tensor, frame_rate: float, context: ProjectorContext
    ) -> ProjectorOutput:
        """Project ``features`` ``[B, T, D_in]`` to ``[B, T, D_out]``."""
        out = zero_padding(self.proj(zero_padding(features, lengths)), lengths)
        return ProjectorOutput(out, lengths, float(frame_rate))
