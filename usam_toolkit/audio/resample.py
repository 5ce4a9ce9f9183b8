"""Resampling with torchaudio's DSP, one cached kernel per (orig, new) rate pair.

A process (each DataLoader worker included) builds the windowed-sinc kernel of a rate pair once;
decoding happens once per sample and every encoder rate is derived from that one decode.
"""

from __future__ import annotations

from collections.abc import Iterable
from functools import lru_cache
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # pragma: no cover
    import torch


@lru_cache(maxsize=32)
def _resampler(orig: int, new: int):
    import torchaudio

    return torchaudio.transforms.Resample(orig_freq=orig, new_freq=new)


def resample(wave: torch.Tensor, orig: int, new: int) -> torch.Tensor:
    """Resample ``wave`` ``[..., N]`` from ``orig`` Hz to ``new`` Hz (identity if equal)."""
    if orig == new:
        return wave
    import torch

    with torch.no_grad():
        return _resampler(int(orig), int(new))(wave)


def resample_many(wave: torch.Tensor, orig: int, rates: Iterable[int]) -> dict[int, torch.Tensor]:
    """``{rate: wave at rate}`` for every rate in ``rates`` from one decoded ``wave`` ``[N]``."""
    return {int(r): resample(wave, orig, int(r)) for r in dict.fromkeys(rates)}
