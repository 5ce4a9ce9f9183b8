"""The batch handed from the data layer to the model."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING

from .manifest import Example
from .report import BadSample

if TYPE_CHECKING:  # pragma: no cover
    import torch


@dataclass
class Batch:
    """A collated batch; every list is in sample order.

    Attributes:
        ids: example ids.
        tasks: task names.
        task_ids: ``[B]`` long, index of each task in the collator's ``task_names``.
        audio: per sample rate, ``[B, N_sr]`` float32 mono, zero-padded after each sample's length.
        audio_lengths: per sample rate, ``[B]`` long valid samples.
        audio_hashes: content hash of each sample's audio as fed (after span selection), for the
            feature cache.
        durations: ``[B]`` float seconds of audio.
        targets: training targets (first reference).
        references: all references per sample.
        prompts_left: text before the audio tokens.
        prompts_right: text after the audio tokens.
        examples: the manifest examples.
        skipped: samples dropped from this batch in lenient mode (already written to the report);
            a batch may be empty (``len(batch) == 0``) when every sample was bad; skip such batches.
    """

    ids: list[str]
    tasks: list[str]
    task_ids: torch.Tensor
    audio: dict[int, torch.Tensor]
    audio_lengths: dict[int, torch.Tensor]
    audio_hashes: list[str]
    durations: torch.Tensor
    targets: list[str]
    references: list[list[str]]
    prompts_left: list[str]
    prompts_right: list[str]
    examples: list[Example]
    skipped: list[BadSample] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.ids)

    @property
    def audio_seconds(self) -> float:
        """Total seconds of (unpadded) audio."""
        return float(self.durations.sum().item()) if len(self) else 0.0

    def to(self, device: torch.device | str, non_blocking: bool = False) -> Batch:
        """A copy with every tensor on ``device``."""
        return replace(
            self,
            task_ids=self.task_ids.to(device, non_blocking=non_blocking),
            audio={sr: a.to(device, non_blocking=non_blocking) for sr, a in self.audio.items()},
            audio_lengths={
                sr: n.to(device, non_blocking=non_blocking) for sr, n in self.audio_lengths.items()
            },
            durations=self.durations.to(device, non_blocking=non_blocking),
        )

    def pin_memory(self) -> Batch:
        """Pinned copy (DataLoader ``pin_memory=True`` calls this)."""
        return replace(
            self,
            task_ids=self.task_ids.pin_memory(),
            audio={sr: a.pin_memory() for sr, a in self.audio.items()},
            audio_lengths={sr: n.pin_memory() for sr, n in self.audio_lengths.items()},
            durations=self.durations.pin_memory(),
        )
