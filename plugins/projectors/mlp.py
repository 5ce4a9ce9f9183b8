"""``mlp``: a per-frame MLP; time axis, lengths and frame rate unchanged."""

from __future__ import annotations

import torch
from torch import nn

from usam_toolkit.interfaces import ProjectorContext, ProjectorOutput

from ._common import build_mlp, zero_padding


class MLPProjector(nn.Module):
    """A stack of ``num_layers`` Linear layers with ``activation`` between them, frame by frame.

    Args:
        input_dim: D_in.
        hidden_dim: width of the hidden layers.
        output_dim: D_out.
        num_layers: number of Linear layers (1 = a single Linear).
        activation: name from :data:`usam_plugins.projectors._common.ACTIVATIONS`.
        dropout: dropout after each hidden activation.
    """

    def __init__(
        self,
        input_dim: int,
        hidden_dim: int,
        output_dim: int,
        num_layers: int = 2,
        activation: str = "gelu",
        dropout: float = 0.0,
    ) -> None:
        super().__init__()
        self.input_dim = input_dim
        self.output_dim = output_dim
        self.net = build_mlp(input_dim, hidden_dim, output_dim, num_layers, activation, dropout, "mlp")

    def forward(
        self, features: torch.Tensor, lengths: torch.Tensor, frame_rate: float, context: ProjectorContext
    ) -> ProjectorOutput:
        """Map ``features`` ``[B, T, D_in]`` to ``[B, T, D_out]``."""
        out = zero_padding(self.net(zero_padding(features, lengths)), lengths)
        return ProjectorOutput(out, lengths, float(frame_rate))
