"""``saclm``: the Semantic-Aware Contrastive Loss of U-SAM (paper §2.2), as the paper states it.

Steps, for audio tokens φ ``[B, Ta, D]`` (the projector's output as fed to the LLM) and the LLM input
embeddings T ``[B, Tt, D]`` of each sample's target text:

1. *Same length*: each sample's valid text embeddings are linearly interpolated along time onto its
   valid audio frames (``text_alignment="interpolate"``, centre-aligned like
   ``F.interpolate(..., align_corners=False)``), giving a text vector per audio frame; or
   ``"pool"``: the pooled text vector is repeated on every frame.
2. *Score network*: ``S_t = sigmoid(MLP([LN(φ_t); LN(T̃_t)]))`` ∈ [0, 1], conditioned on audio and text.
   The LayerNorms are ours: projector outputs are often 10-100x the norm of the LLM's input embeddings,
   which let the audio half drown the text half and saturated the sigmoid at 0 (S ≈ 1e-31: no
   gradient, every frame dropped, the loss stuck at the margin) in the mini world's runs.
3. *Selection*: ``D_t = 1[S_t > 0.5]`` with a straight-through estimator: the forward pass uses the
   hard mask, the backward pass the gradient of S (``D = hard + S − stop_grad(S)``), so the triplet
   term trains the score network although the threshold itself has no gradient.
4. *Aggregation*: ``φ' = Σ_t D_t·g(φ_t) / Σ_t D_t`` over valid frames, with g an MLP ``D -> D``
   (a masked mean of the kept, transformed frames). A sample with no kept frame falls back to the
   soft weights S (all > 0), so φ' is always defined and never NaN.
5. *Triplet*: ``max(d(φ', T) − d(φ', T⁻) + margin, 0)`` with ``d = 1 − cos`` and T the masked mean of
   the text embeddings. T⁻ comes from *other* samples only: ``negatives="derangement"`` (default)
   pairs each sample with another one through a random permutation without fixed points (a random
   single cycle, drawn from a generator seeded by ``seed``); ``"mean"`` averages d over all other
   samples; ``"hardest"`` takes the closest other text.
6. ``L_SAC = L_triplet + λ · mean_t |S_t|`` over valid frames (λ = 0.01, margin = 0.2).

Samples whose audio or text is empty take no part. With fewer than two usable samples there is no
negative: the loss is skipped (a warning once, ``logs["skipped"] = 1``) and a zero connected to the
heads' parameters is returned.

Under DDP or FSDP (training mode, a process group of several ranks, ``global_negatives`` on), the batch
is the *global* one: every rank's φ', T and frame statistics are gathered into the order of the global
batch the ranks were sharded from, the negatives and the batch-of-one rule are decided on it (a
derangement is drawn on rank 0 and broadcast), and each rank returns its share so that the trainer's
sample-weighted mean over ranks is the loss one process would compute on the whole global batch, with
the same gradient: each rank back-propagates every triplet term through the tensors it owns (the other
ranks' arrive as plain values), so no gradient crosses ranks. Evaluation (eval mode) keeps to each
rank's own batch.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
import torch.distributed as dist
from torch import nn
from torch.nn import functional as F

from usam_toolkit.errors import ConfigError
from usam_toolkit.interfaces import BuildContext, LossInputs, LossOutput
from usam_toolkit.masks import lengths_to_mask, masked_mean, zero_padding
from usam_toolkit.train.distributed import gather_global_batch

from .common import connected_zero
from .configs import SACLMConfig


def _distributed() -> bool:
    return dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1


def _from_rank0(t: torch.Tensor) -> torch.Tensor:
    dist.broadcast(t, src=0)
    return t


TEXT_ALIGNMENTS = ("interpolate", "pool")
NEGATIVES = ("derangement", "mean", "hardest")


def align_text_to_audio(
    text: torch.Tensor, text_lengths: torch.Tensor, audio_lengths: torch.Tensor, audio_frames: int
) -> torch.Tensor:
    """Linearly interpolate each sample's valid text embeddings onto its valid audio frames.

    Frame t of a clip with ``La`` frames reads text position ``(t + 0.5)·Lt/La − 0.5`` (clamped to
    ``[0, Lt−1]``), as ``F.interpolate(mode="linear", align_corners=False)`` does.

    Args:
        text: ``[B, Tt, D]``.
        text_lengths: ``[B]`` valid text tokens (>= 1 for usable samples).
        audio_lengths: ``[B]`` valid audio frames.
        audio_frames: Ta of the output.

    Returns:
        ``[B, Ta, D]``; rows beyond ``audio_lengths`` are zero.
    """
    b, _, d = text.shape
    lt = text_lengths.to(text.device, torch.float32).clamp_min(1)[:, None]
    la = audio_lengths.to(text.device, torch.float32).clamp_min(1)[:, None]
    t = torch.arange(audio_frames, device=text.device, dtype=torch.float32)[None, :]
    pos = ((t + 0.5) * lt / la - 0.5).clamp(min=0.0)
    pos = torch.minimum(pos, lt - 1)
    lo = pos.floor().long()
    hi = torch.minimum(lo + 1, (lt - 1).long())
    frac = (pos - lo.to(pos.dtype))[..., None].to(text.dtype)
    gather = lambda idx: torch.gather(text, 1, idx[..., None].expand(b, audio_frames, d))  # noqa: E731
    out = gather(lo) * (1 - frac) + gather(hi) * frac
    return zero_padding(out, audio_lengths)


def straight_through_mask(scores: torch.Tensor, threshold: float = 0.5) -> torch.Tensor:
    """``1[S > threshold]`` in the forward pass, gradient of ``S`` in the backward pass."""
    hard = (scores > threshold).to(scores.dtype)
    return hard + scores - scores.detach()


def cosine_distance(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """``1 − cos(x, y)`` along the last axis."""
    return 1.0 - F.cosine_similarity(x, y, dim=-1, eps=1e-8)


def triplet(d_pos: torch.Tensor, d_neg: torch.Tensor, margin: float) -> torch.Tensor:
    """``mean(max(d_pos − d_neg + margin, 0))``."""
    return F.relu(d_pos - d_neg + margin).mean()


def random_derangement(n: int, generator: torch.Generator | None) -> torch.Tensor:
    """A random permutation of ``range(n)`` with no fixed point (n >= 2): one random cycle.

    ``generator=None`` draws from torch's global RNG, whose state the trainer checkpoints.
    """
    order = torch.randperm(n, generator=generator)
    perm = torch.empty(n, dtype=torch.long)
    perm[order] = order.roll(-1)
    return perm


def negative_distances(
    anchor: torch.Tensor,
    text: torch.Tensor,
    mode: str,
    generator: torch.Generator | None,
    agree: Callable[[torch.Tensor], torch.Tensor] | None = None,
) -> tuple[torch.Tensor, torch.Tensor | None]:
    """``d(φ'_i, T⁻_i)`` for each sample, with negatives from other samples only.

    Args:
        anchor: φ' ``[n, D]``.
        text: pooled texts ``[n, D]``.
        mode: "derangement", "mean" or "hardest".
        generator: CPU generator for "derangement" (None: torch's global RNG).
        agree: maps the drawn derangement to the one every process uses (a broadcast from rank 0).

    Returns:
        ``[n]`` distances, and the negative index of each sample for "derangement" (else None).
    """
    n = anchor.shape[0]
    if mode == "derangement":
        perm = random_derangement(n, generator).to(anchor.device)
        if agree is not None:
            perm = agree(perm)
        return cosine_distance(anchor, text[perm]), perm
    dist = cosine_distance(anchor[:, None, :], text[None, :, :])  # [n, n]
    others = ~torch.eye(n, dtype=torch.bool, device=anchor.device)
    if mode == "mean":
        return (dist * others).sum(dim=1) / (n - 1), None
    return dist.masked_fill(~others, float("inf")).min(dim=1).values, None


class SACLMLoss(nn.Module):
    """Semantic-Aware Contrastive Loss with its trainable score and aggregation networks.

    Args:
        dim: D, the width of audio tokens and text embeddings (the LLM width).
        hidden_dim: hidden width of the score and aggregation MLPs.
        margin: triplet margin.
        l1_weight: λ of the ``mean |S|`` term.
        threshold: score threshold of the hard selection.
        text_alignment: "interpolate" or "pool" (step 1).
        negatives: "derangement", "mean" or "hardest" (step 5).
        seed: None (default) draws derangements from torch's global RNG, which the trainer seeds
            from the recipe and checkpoints, so a resumed run draws the same negatives; an int gives
            the loss a private generator (reproducible on its own, but not carried across a resume).
        global_negatives: in training under a process group, draw negatives from (and decide the
            batch-of-one rule on) the global batch; False keeps every rank to its own samples.
    """

    def __init__(
        self,
        dim: int,
        hidden_dim: int = 256,
        margin: float = 0.2,
        l1_weight: float = 0.01,
        threshold: float = 0.5,
        text_alignment: str = "interpolate",
        negatives: str = "derangement",
        seed: int | None = None,
        global_negatives: bool = True,
    ) -> None:
        super().__init__()
        if text_alignment not in TEXT_ALIGNMENTS:
            raise ConfigError(
                f"saclm: text_alignment '{text_alignment}' is unknown; valid: {', '.join(TEXT_ALIGNMENTS)}"
            )
        if negatives not in NEGATIVES:
            raise ConfigError(f"saclm: negatives '{negatives}' is unknown; valid: {', '.join(NEGATIVES)}")
        self.dim = dim
        self.margin = float(margin)
        self.l1_weight = float(l1_weight)
        self.threshold = float(threshold)
        self.text_alignment = text_alignment
        self.negatives = negatives
        self.audio_norm = nn.LayerNorm(dim)
        self.text_norm = nn.LayerNorm(dim)
        self.score_net = nn.Sequential(nn.Linear(2 * dim, hidden_dim), nn.GELU(), nn.Linear(hidden_dim, 1))
        self.aggregator = nn.Sequential(nn.Linear(dim, hidden_dim), nn.GELU(), nn.Linear(hidden_dim, dim))
        self.generator = None if seed is None else torch.Generator().manual_seed(int(seed))
        self.global_negatives = bool(global_negatives)
        self._warned_skip = False

    def scores(self, audio: torch.Tensor, text_frames: torch.Tensor) -> torch.Tensor:
        """``S = sigmoid(score_net([LN(φ_t); LN(T̃_t)]))`` ``[B, Ta]``."""
        joint = torch.cat([self.audio_norm(audio), self.text_norm(text_frames)], dim=-1)
        return torch.sigmoid(self.score_net(joint)[..., 0])

    def aggregate(
        self, audio: torch.Tensor, scores: torch.Tensor, mask: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """φ' ``[B, D]`` from the kept frames (STE mask), soft weights where nothing is kept.

        Returns:
            φ' and the number of kept frames per sample ``[B]``.
        """
        m = mask.to(scores.dtype)
        keep = straight_through_mask(scores, self.threshold) * m
        n_kept = (scores.detach() > self.threshold).to(scores.dtype).mul(m).sum(dim=1)
        weights = torch.where(n_kept[:, None] > 0, keep, scores * m)
        values = self.aggregator(audio)
        pooled = (weights[..., None] * values).sum(dim=1) / weights.sum(dim=1, keepdim=True).clamp_min(1e-6)
        return pooled, n_kept

    def _skip(self, inputs: LossInputs, usable: int) -> LossOutput:
        if not self._warned_skip:
            self._warned_skip = True
            warnings.warn(
                f"saclm: {usable} usable sample(s) in the batch; the contrastive term needs >= 2 "
                "(negatives come from other samples), so it is skipped (loss 0) for such batches",
                stacklevel=3,
            )
        return LossOutput(connected_zero(self, inputs.llm.audio_embeds), {"skipped": 1.0})

    def forward(self, inputs: LossInputs) -> LossOutput:
        """``L_triplet + λ·mean|S|`` over the usable samples of the batch: the global batch when training
        under a process group (see the module docstring), so the loss does not depend on the split."""
        llm = inputs.llm
        a_len = llm.audio_lengths.to(llm.audio_embeds.device, torch.long)
        t_len = llm.text_lengths.to(llm.text_embeds.device, torch.long)
        b, dim = a_len.shape[0], llm.audio_embeds.shape[-1]
        usable = (a_len > 0) & (t_len > 0)
        audio, text = llm.audio_embeds[usable].float(), llm.text_embeds[usable].float()
        a_len, t_len = a_len[usable], t_len[usable]
        mask = lengths_to_mask(a_len, audio.shape[1])
        audio = zero_padding(audio, mask)

        text_pooled = masked_mean(text, t_len)  # T [n, D]
        if self.text_alignment == "interpolate":
            text_frames = align_text_to_audio(text, t_len, a_len, audio.shape[1])
        else:
            text_frames = text_pooled[:, None, :].expand_as(audio)
        s = self.scores(audio, text_frames)  # [n, Ta]
        anchor, n_kept = self.aggregate(audio, s, mask)

        # One row per sample of this rank: [φ' | T | valid frames | Σ S | kept frames | usable].
        s_sum = (s * mask).sum(dim=1)
        per_sample = torch.cat(
            [
                anchor,
                text_pooled,
                mask.sum(dim=1, keepdim=True).to(anchor.dtype),
                s_sum[:, None],
                n_kept[:, None],
            ],
            dim=1,
        )
        rows = per_sample.new_zeros(b, per_sample.shape[1]).index_copy(0, usable.nonzero()[:, 0], per_sample)
        rows = torch.cat([rows, usable[:, None].to(rows.dtype)], dim=1)
        gather = self.global_negatives and self.training and _distributed()
        if gather:
            rows, mine = gather_global_batch(rows)
        else:
            mine = torch.ones(b, dtype=torch.bool, device=rows.device)
        n_global = rows.shape[0]
        use = rows[:, -1] > 0.5
        n = int(use.sum().item())
        if n < 2:
            return self._skip(inputs, n)
        rows, mine = rows[use], mine[use]
        anchors, texts = rows[:, :dim], rows[:, dim : 2 * dim]
        frames, s_sums, kept = rows[:, 2 * dim], rows[:, 2 * dim + 1], rows[:, 2 * dim + 2]
        total_frames = frames.detach().sum().clamp_min(1)

        d_pos = cosine_distance(anchors, texts)
        d_neg, _ = negative_distances(
            anchors, texts, self.negatives, self.generator, _from_rank0 if gather else None
        )
        terms = F.relu(d_pos - d_neg + self.margin)
        # Value: this rank's share of the mean over the global batch. Gradient: every term, each through
        # the tensors this rank owns (another rank's are plain values), so summed over ranks it is the
        # gradient of the global loss, also where a negative text came from another rank.
        l_triplet = torch.where(mine, terms, terms - terms.detach()).sum() / n
        l1 = s_sum.sum() / total_frames  # S >= 0, so |S| = S
        # The trainer weighs each rank's loss by its sample count b and divides by the global count.
        loss = (n_global / b) * (l_triplet + self.l1_weight * l1)
        if not bool(usable.any()):
            loss = loss + connected_zero(self, llm.audio_embeds)
        logs = {
            "triplet": float(terms.detach().mean()),
            "l1": float(s_sums.detach().sum() / total_frames),
            "kept_fraction": float(kept.detach().sum() / total_frames),
            "d_pos": float(d_pos.detach().mean()),
            "d_neg": float(d_neg.detach().mean()),
            "skipped": 0.0,
        }
        return LossOutput(loss, logs)


def build_saclm(cfg: SACLMConfig, ctx: BuildContext) -> SACLMLoss:
    """Semantic-aware contrastive loss: score net + STE selection + aggregation + cosine triplet + λ·|S|."""
    dim = ctx.llm_dim if ctx.llm_dim is not None else ctx.input_dim
    if dim is None:
        raise ConfigError(
            "saclm: the build context gives neither llm_dim nor input_dim (width of audio tokens)"
        )
    return SACLMLoss(
        int(dim),
        hidden_dim=cfg.hidden_dim,
        margin=cfg.margin,
        l1_weight=cfg.l1_weight,
        threshold=cfg.threshold,
        text_alignment=cfg.text_alignment,
        negatives=cfg.negatives,
        seed=cfg.seed,
        global_negatives=cfg.global_negatives,
    )


def saclm_example(tmp_dir: Path) -> dict[str, Any]:
    """Tiny heads."""
    return {"hidden_dim": 8}
