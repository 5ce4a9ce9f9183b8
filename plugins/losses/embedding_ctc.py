"""``embedding_ctc``: CTC between the audio tokens and the LLM's own embeddings of the transcript.

Beyond the paper. The audio tokens φ ``[B, Ta, D]`` (as fed to the LLM) are scored against the LLM's
input embeddings of the target tokens, so the loss pulls each audio token towards the embedding of the
word piece spoken there (or towards a learnt *blank* vector between them). Once the audio tokens sit
near the words' embeddings, reading them out is nearly a copy for the LLM, a mapping the next-token CE
alone has to discover through the LLM. In the mini world it moved dev WER only from 103 to 98 in 600
steps, still on the CTC plateau (docs/mini-world.md, "What limits ASR").

The output vocabulary is the set of distinct target tokens of the batch's selected samples (a sampled
softmax over the LLM's embedding table: no vocabulary-sized head, no extra knowledge of the LLM):

    logit(t, k) = s · cos(φ_t, e_k),   k ∈ {blank} ∪ {distinct target tokens of the batch}

with s = exp(log_scale) learnt, e_blank a learnt vector, and the text embeddings detached so the loss
moves the audio side only. CTC (``torch.nn.functional.ctc_loss``, blank index 0, mean over samples of the
loss divided by target length) runs on each selected sample's valid audio tokens against its target
token sequence. Only monotonic tasks belong here (transcription), hence ``tasks`` (default ``["asr"]``).

Token identities come from ``llm.labels`` (the label row's first ``text_lengths[b]`` non-ignored ids
are the target tokens, EOS excluded), and their embeddings from ``llm.text_embeds``.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import torch
from torch import nn
from torch.nn import functional as F

from usam_toolkit.errors import ConfigError
from usam_toolkit.interfaces import BuildContext, LossInputs, LossOutput

from .common import connected_zero
from .configs import EmbeddingCTCConfig


class EmbeddingCTCLoss(nn.Module):
    """CTC of the audio tokens against the LLM's embeddings of the target tokens (see module doc).

    Args:
        dim: width D of audio tokens and text embeddings.
        task_indices: indices (into the model's task list) of the tasks whose samples take part.
        scale: initial cosine scale s.
    """

    def __init__(self, dim: int, task_indices: list[int], scale: float = 10.0) -> None:
        super().__init__()
        self.task_indices = list(task_indices)
        self.blank = nn.Parameter(torch.randn(dim, generator=torch.Generator().manual_seed(0)) * 0.02)
        self.log_scale = nn.Parameter(torch.tensor(math.log(scale)))

    def _selected(self, inputs: LossInputs) -> list[int]:
        llm = inputs.llm
        rows = range(llm.audio_embeds.shape[0])
        if inputs.task_ids is not None:
            wanted = set(self.task_indices)
            rows = [b for b in rows if int(inputs.task_ids[b]) in wanted]
        return [b for b in rows if int(llm.text_lengths[b]) > 0 and int(llm.audio_lengths[b]) > 0]

    def forward(self, inputs: LossInputs) -> LossOutput:
        llm = inputs.llm
        rows = self._selected(inputs)
        if not rows:
            return LossOutput(connected_zero(self, llm.audio_embeds), {"samples": 0.0})
        targets, embeds = [], {}
        for b in rows:
            ids = llm.labels[b][llm.labels[b] != -100][: int(llm.text_lengths[b])]
            targets.append(ids.tolist())
            for j, token in enumerate(targets[-1]):
                embeds.setdefault(token, llm.text_embeds[b, j])
        vocab = list(embeds)
        index = {token: k + 1 for k, token in enumerate(vocab)}  # 0 = blank
        table = torch.cat(
            [self.blank[None], torch.stack([embeds[t] for t in vocab]).detach().to(self.blank.dtype)]
        )
        audio = llm.audio_embeds[rows].float()  # [R, Ta, D]
        logits = self.log_scale.exp() * F.normalize(audio, dim=-1) @ F.normalize(table.float(), dim=-1).T
        log_probs = logits.log_softmax(dim=-1).transpose(0, 1)  # [Ta, R, V+1]
        flat = torch.tensor([index[t] for seq in targets for t in seq], dtype=torch.long, device=audio.device)
        target_lengths = torch.tensor([len(seq) for seq in targets], dtype=torch.long, device=audio.device)
        input_lengths = llm.audio_lengths[rows].to(audio.device, torch.long)
        loss = F.ctc_loss(log_probs, flat, input_lengths, target_lengths, blank=0, zero_infinity=True)
        return LossOutput(
            loss,
            {
                "ctc": float(loss.detach()),
                "samples": float(len(rows)),
                "vocab": float(len(vocab)),
                "scale": float(self.log_scale.detach().exp()),
            },
        )


def build_embedding_ctc(cfg: EmbeddingCTCConfig, ctx: BuildContext) -> EmbeddingCTCLoss:
    """CTC between audio tokens and the target tokens' LLM input embeddings, on the chosen tasks."""
    dim = ctx.llm_dim if ctx.llm_dim is not None else ctx.input_dim
    if dim is None:
        raise ConfigError("embedding_ctc: the build context gives neither llm_dim nor input_dim")
    if cfg.scale <= 0:
        raise ConfigError(f"embedding_ctc: scale must be > 0, got {cfg.scale}")
    unknown = [t for t in cfg.tasks if ctx.task_names and t not in ctx.task_names]
    if unknown:
        raise ConfigError(
            f"embedding_ctc: tasks {unknown} are not in the recipe's tasks; "
            f"valid: {', '.join(ctx.task_names)}"
        )
    names = list(ctx.task_names)
    return EmbeddingCTCLoss(int(dim), [names.index(t) for t in cfg.tasks if t in names], cfg.scale)


def embedding_ctc_example(tmp_dir: Path) -> dict[str, Any]:
    """Tiny as it is: no override."""
    return {}
