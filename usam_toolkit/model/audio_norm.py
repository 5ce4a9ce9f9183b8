"""The audio-token normaliser between the projector chain and the LLM (recipe section ``audio_norm``).

Why it exists: the LLM only reads audio tokens well when they live on the scale of its own input
embeddings. Unnormalised, a trained TAPM handed the LLM tokens ~35x the RMS of the text embeddings that
differed between clips by 0.3 % of their norm (docs/mini-world.md); a LayerNorm makes the *direction* of
each token carry the content and a learnt scalar gain (initialised to the embeddings' RMS) its scale.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

from ..errors import ConfigError
from ..masks import zero_padding
from .config import AUDIO_NORM_KINDS, AudioNormConfig


class AudioTokenNorm(nn.Module):
    """``gain · LayerNorm(x)`` per token (no per-channel affine), ``gain`` a learnt scalar.

    Args:
        dim: D, the LLM width.
        gain: initial gain, the RMS of the LLM's input embeddings.
    """

    def __init__(self, dim: int, gain: float) -> None:
        super().__init__()
        self.dim = int(dim)
        self.gain = nn.Parameter(torch.tensor(float(gain)))

    def forward(self, x: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        """``x`` ``[B, T, D]`` -> ``[B, T, D]`` with unit-RMS tokens times ``gain``; padding stays zero."""
        y = F.layer_norm(x, (self.dim,)) * self.gain.to(x.dtype)
        return zero_padding(y, lengths)


def build_audio_norm(cfg: AudioNormConfig, dim: int, embedding_rms: float) -> nn.Module | None:
    """The module for ``cfg`` (None for ``kind: none``)."""
    if cfg.kind not in AUDIO_NORM_KINDS:
        raise ConfigError(
            f"audio_norm.kind: '{cfg.kind}' is not valid; choose one of {', '.join(AUDIO_NORM_KINDS)}"
        )
    if cfg.kind == "none":
        return None
    return AudioTokenNorm(dim, embedding_rms)
