"""Packing ``[prompt_left, audio, prompt_right, target]`` pieces into one padded batch of embeddings.

Pieces are concatenated per sample without inner padding; the batch is padded on the right for
teacher forcing and on the left for generation (so every sample's last real token sits at the end).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch

IGNORE_INDEX = -100


@dataclass
class PackedBatch:
    """A padded batch of packed sequences.

    Attributes:
        embeds: ``[B, L, D]`` input embeddings (zeros on padding).
        attention_mask: ``[B, L]`` long, 1 on real positions.
        position_ids: ``[B, L]`` long, 0.. along each sample's real positions (0 on left padding).
        labels: ``[B, L]`` long, the input token id on target positions, -100 elsewhere.
        lengths: ``[B]`` long, real positions per sample.
        offsets: ``[B]`` long, index of each sample's first real position (non-zero only with left padding).
    """

    embeds: torch.Tensor
    attention_mask: torch.Tensor
    position_ids: torch.Tensor
    labels: torch.Tensor
    lengths: torch.Tensor
    offsets: torch.Tensor


def pack(
    pieces: Sequence[Sequence[torch.Tensor]], labels: Sequence[torch.Tensor], side: str = "right"
) -> PackedBatch:
    """Concatenate each sample's pieces and pad the batch.

    Args:
        pieces: per sample, a list of ``[n_i, D]`` embeddings (any ``n_i``, including 0).
        labels: per sample, ``[sum n_i]`` long labels aligned with the concatenated pieces.
        side: "right" (training) or "left" (generation).

    Returns:
        A :class:`PackedBatch`.
    """
    if side not in ("left", "right"):
        raise ValueError(f"side must be 'left' or 'right', not {side!r}")
    seqs = [torch.cat(list(p), dim=0) for p in pieces]
    lengths = torch.tensor([s.shape[0] for s in seqs], dtype=torch.long)
    bsz, width = len(seqs), int(lengths.max()) if seqs else 0
    ref = seqs[0]
    embeds = ref.new_zeros(bsz, width, ref.shape[1])
    mask = torch.zeros(bsz, width, dtype=torch.long, device=ref.device)
    lab = torch.full((bsz, width), IGNORE_INDEX, dtype=torch.long, device=ref.device)
    offsets = (width - lengths) if side == "left" else torch.zeros_like(lengths)
    for b, (seq, y) in enumerate(zip(seqs, labels)):
        o, n = int(offsets[b]), seq.shape[0]
        if y.shape[0] != n:
            raise ValueError(f"sample {b}: {y.shape[0]} labels for {n} positions")
        embeds[b, o : o + n] = seq
        mask[b, o : o + n] = 1
        lab[b, o : o + n] = y.to(lab.device)
    # positions count real tokens only, so a left-padded sample sees the same positions as alone
    position_ids = (mask.cumsum(dim=1) - 1).clamp(min=0)
    if side == "right":
        position_ids = torch.arange(width, device=ref.device).expand(bsz, width).clone()
    return PackedBatch(embeds, mask, position_ids, lab, lengths.to(ref.device), offsets.to(ref.device))


def pad_rows(rows: Sequence[torch.Tensor], dim: int, like: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Right-pad a list of ``[n_i, D]`` tensors to ``[B, max n_i, D]`` (zeros) and return it with
    ``[B]`` lengths."""
    lengths = torch.tensor([r.shape[0] for r in rows], dtype=torch.long, device=like.device)
    width = int(lengths.max()) if len(rows) else 0
    out = like.new_zeros(len(rows), width, dim)
    for b, r in enumerate(rows):
        out[b, : r.shape[0]] = r
    return out, lengths
