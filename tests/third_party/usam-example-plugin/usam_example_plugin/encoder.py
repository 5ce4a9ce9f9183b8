"""The frame energy encoder module (imported only when built)."""

from __future__ import annotations

import hashlib
import math
from typing import Any

import torch
import torch.nn as nn

from usam_toolkit.interfaces import EncoderOutput


class FrameEnergyEncoder(nn.Module):
    """``[B, N]`` audio → ``[B, T, dim]`` with T = ceil(N / hop)."""

    def __init__(self, cfg: Any) -> None:
        super().__init__()
        self.cfg = cfg
        self.sample_rate = cfg.sample_rate
        self.hop = int(round(cfg.sample_rate * cfg.hop_ms / 1000))
        self.frame_rate = cfg.sample_rate / self.hop
        self.output_dim = cfg.dim
        g = torch.Generator().manual_seed(cfg.seed)
        self.register_buffer("proj", torch.randn(2, cfg.dim, generator=g))

    def fingerprint(self) -> str:
        return hashlib.sha256(repr(self.cfg).encode()).hexdigest()[:16]

    def forward(self, audio: torch.Tensor, audio_lengths: torch.Tensor) -> EncoderOutput:
        b, n = audio.shape
        t = math.ceil(n / self.hop)
        x = torch.nn.functional.pad(audio, (0, t * self.hop - n)).view(b, t, self.hop)
        energy = torch.log(x.pow(2).mean(-1) + 1e-8)
        zcr = (x[..., 1:].sign() != x[..., :-1].sign()).float().mean(-1)
        lengths = torch.div(audio_lengths + self.hop - 1, self.hop, rounding_mode="floor")
        feats = torch.stack([energy, zcr], -1) @ self.proj
        mask = torch.arange(t)[None, :] < lengths[:, None]
        return EncoderOutput(feats * mask[..., None], lengths, self.frame_rate)
