"""Time-aligned fusion of several encoder streams (paper Eq. 1): resample, align, concatenate channels.

Rules (per sample ``b`` and stream ``s`` with rate ``r_s`` and ``L_s[b]`` valid frames):

* Shared rate ``r`` = ``FusionConfig.frame_rate``, or the lowest stream rate when None.
* New length ``L'_s[b] = ceil(L_s[b] * r / r_s)`` (a 1e-6 tolerance absorbs float error, so 150 frames at
  50 Hz give exactly 75 at 25 Hz): a partly covered last output frame is kept.
* Only the valid part ``x_s[b, :L_s[b]]`` is resampled, so padding never mixes into valid frames:

  - down (``r < r_s``): overlap-weighted average. Output frame ``i`` spans ``[i/r, (i+1)/r)`` seconds, input
    frame ``j`` spans ``[j/r_s, (j+1)/r_s)``; output ``i`` is the mean of the input frames weighted by how
    long each overlaps its span, so every input frame reaches the output. For an integer ratio
    ``k = r_s / r`` that is the mean of ``k`` consecutive frames; at 75 -> 50 Hz, output 0 =
    ``(x0 + 0.5 x1) / 1.5``. The last, partly covered output frame averages only the valid frames it has
    (weights renormalised).
  - up (``r > r_s``): linear interpolation to ``L'_s[b]`` frames (``align_corners=False``: output frame
    ``i`` reads source position ``(i + 0.5) * L / L' - 0.5``, clamped to the valid range). This is the only
    place interpolation remains.
  - equal rates: the stream is copied.

* ``FusionConfig.mode``: ``average`` (the default). The old names ``interpolate`` and ``pool`` are still
  accepted for old recipes and checkpoints and mean the same thing; ``interpolate`` warns that it no longer
  downsamples by interpolation (it used to read only 2 of every 8 frames at 50 -> 6.25 Hz).
* Common length ``L[b] = min_s L'_s[b]``: every stream is trimmed to it (streams differ by at most a frame
  or two from rounding; the shortest decides so that no stream contributes padding).
* Output ``[B, max_b L[b], sum_s D_s]``, zeros past ``L[b]``; ``lengths = L`` (the combined mask).
* A single stream already at the shared rate passes through unchanged (the same object).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from ..errors import ConfigError
from ..interfaces import EncoderOutput
from .config import FUSION_MODES as MODES
from .config import FusionConfig

_EPS = 1e-6
# Overlaps below this many input frames are float error at a shared boundary, not real coverage.
_MIN_OVERLAP = 1e-9


def resampled_length(length: int, rate_in: float, rate_out: float) -> int:
    """``ceil(length * rate_out / rate_in)`` with a small tolerance for float error."""
    if length <= 0:
        return 0
    return max(1, math.ceil(length * rate_out / rate_in - _EPS))


def average_weights(
    length: int, new_len: int, ratio: float, device: torch.device | None = None
) -> tuple[torch.Tensor, torch.Tensor]:
    """Overlap weights of ``new_len`` output frames over ``length`` input frames (see the module docstring).

    The ``[L', L]`` weight matrix is a band, at most ``W = ceil(ratio) + 1`` input frames per output frame,
    so only the band is built: a dense matrix made fusion several times slower than interpolation on CPU.

    Args:
        length: valid input frames ``L``.
        new_len: output frames ``L'``.
        ratio: input frames per output frame, ``r_in / r_out`` (> 1 when downsampling).
        device: where to build the tensors.

    Returns:
        ``(index, weight)``, both ``[L', W]``: output ``i`` = ``sum_w weight[i, w] * x[index[i, w]]``; each
        row of ``weight`` (float64) sums to 1.
    """
    # Times in input-frame units: input j spans [j, j + 1), output i spans [i * ratio, (i + 1) * ratio).
    # float64 so that boundaries shared by an input and an output frame cancel to (near) exactly zero.
    i = torch.arange(new_len, dtype=torch.float64, device=device)[:, None]
    j = torch.floor(i * ratio) + torch.arange(math.ceil(ratio) + 1, dtype=torch.float64, device=device)
    w = torch.minimum((i + 1) * ratio, j + 1) - torch.maximum(i * ratio, j)
    w = torch.where((w > _MIN_OVERLAP) & (j < length), w, 0.0)  # padding and frames outside the span: 0
    return j.long().clamp(max=length - 1), w / w.sum(dim=1, keepdim=True)


def resample_valid(x: torch.Tensor, rate_in: float, rate_out: float) -> torch.Tensor:
    """Resample one sample's valid frames ``x`` ``[L, D]`` to ``[L', D]`` (see the module docstring)."""
    length = x.shape[0]
    new_len = resampled_length(length, rate_in, rate_out)
    if new_len == 0:
        return x[:0]
    if abs(rate_in - rate_out) < _EPS * max(rate_in, rate_out):
        return x
    if rate_out < rate_in:
        index, weight = average_weights(length, new_len, rate_in / rate_out, device=x.device)
        return (weight.to(x.dtype)[:, None, :] @ x[index])[:, 0]  # [L', 1, W] @ [L', W, D]
    y = F.interpolate(x.t()[None], size=new_len, mode="linear", align_corners=False)
    return y[0].t()


class Fusion(nn.Module):
    """Concatenate encoder streams on a shared time axis.

    Attributes:
        output_dim: sum of the streams' widths.
        frame_rate: the shared rate in frames/s.
    """

    def __init__(self, cfg: FusionConfig, streams: Sequence[tuple[int, float]]):
        """Args:
        cfg: the recipe's ``fusion`` section.
        streams: ``(output_dim, frame_rate)`` of each encoder, in recipe order.
        """
        super().__init__()
        if not streams:
            raise ConfigError("fusion: needs at least one encoder stream")
        if cfg.mode not in MODES:
            raise ConfigError(f"fusion.mode: '{cfg.mode}' is not valid; choose one of {', '.join(MODES)}")
        if cfg.frame_rate is not None and cfg.frame_rate <= 0:
            raise ConfigError(
                f"fusion.frame_rate: {cfg.frame_rate} must be positive (or null for the lowest rate)"
            )
        self.cfg = cfg
        self.dims = [int(d) for d, _ in streams]
        self.rates = [float(r) for _, r in streams]
        self.frame_rate = float(cfg.frame_rate) if cfg.frame_rate is not None else min(self.rates)
        self.output_dim = sum(self.dims)

    def output_lengths(self, lengths: Sequence[torch.Tensor]) -> torch.Tensor:
        """``[B]`` fused lengths from each stream's ``[B]`` lengths."""
        per_stream = [
            torch.tensor(
                [resampled_length(int(n), r, self.frame_rate) for n in ls.tolist()], dtype=torch.long
            )
            for ls, r in zip(lengths, self.rates)
        ]
        return torch.stack(per_stream).min(dim=0).values

    def forward(self, outputs: Sequence[EncoderOutput]) -> EncoderOutput:
        """Fuse ``outputs`` (one :class:`EncoderOutput` per stream, features ``[B, T_s, D_s]``).

        Returns:
            :class:`EncoderOutput` with features ``[B, T, sum D_s]`` at :attr:`frame_rate`.
        """
        if len(outputs) != len(self.dims):
            raise ValueError(f"fusion: expected {len(self.dims)} streams, got {len(outputs)}")
        for i, (out, dim, rate) in enumerate(zip(outputs, self.dims, self.rates)):
            if out.features.shape[-1] != dim or abs(out.frame_rate - rate) > _EPS * rate:
                raise ValueError(
                    f"fusion: stream {i} is [.., {out.features.shape[-1]}] at {out.frame_rate} Hz; "
                    f"built for [.., {dim}] at {rate} Hz"
                )
        if len(outputs) == 1 and abs(outputs[0].frame_rate - self.frame_rate) <= _EPS * self.frame_rate:
            return outputs[0]
        ref = outputs[0].features
        batch = ref.shape[0]
        per_sample: list[list[torch.Tensor]] = []
        for b in range(batch):
            parts = [
                resample_valid(out.features[b, : int(out.lengths[b])], out.frame_rate, self.frame_rate)
                for out in outputs
            ]
            common = min(p.shape[0] for p in parts)
            per_sample.append([p[:common] for p in parts])
        lengths = torch.tensor([s[0].shape[0] for s in per_sample], dtype=torch.long, device=ref.device)
        t = int(lengths.max().item()) if batch else 0
        fused = ref.new_zeros(batch, t, self.output_dim)
        for b, parts in enumerate(per_sample):
            if parts[0].shape[0]:
                fused[b, : parts[0].shape[0]] = torch.cat([p.to(fused.dtype) for p in parts], dim=-1)
        return EncoderOutput(features=fused, lengths=lengths, frame_rate=self.frame_rate)
