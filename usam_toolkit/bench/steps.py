"""The timed pieces of a training step, with the encoder strategies the benchmark compares.

:func:`train_step` is :meth:`AudioLLM.forward` plus backward and the optimizer, cut into sections that
a ``section(name)`` context (a :class:`~usam_toolkit.bench.timing.SectionTimer` or a FLOP counter)
measures: ``encoders``, ``fusion+projectors``, ``llm+losses`` (LLM forward, losses and the whole
backward, which also runs through the projectors) and ``optimizer``. The encoders run through an
encode function:

* :func:`encode_ours`: the toolkit's way: one variable-length batch per encoder, and frozen encoders
  wrapped in a :class:`~usam_toolkit.data.cache.CachedEncoder` read their features from the cache.
* :func:`encode_reference`: the reference implementation's way: one sample at a time (batch of 1),
  Whisper's input zero-padded to 30 s (its features then cover 30 s; fusion trims them to the other
  streams' length, so everything after the encoders costs the same as ours), no feature cache.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager, nullcontext
from typing import Any

import torch
import torch.nn.functional as F

from ..data.cache import CachedEncoder
from ..interfaces import EncoderOutput, LossInputs

Section = Callable[[str], AbstractContextManager[Any]]
EncodeFn = Callable[[Any, Any], list[EncoderOutput]]


def raw_encoder(enc: Any) -> Any:
    """The encoder inside a :class:`CachedEncoder`, else ``enc``."""
    return enc.encoder if isinstance(enc, CachedEncoder) else enc


def encode_ours(model: Any, batch: Any, use_cache: bool = True) -> list[EncoderOutput]:
    """Each encoder on the whole variable-length batch; cached encoders get the content hashes.

    The hashes are passed explicitly: :meth:`AudioLLM.encode` only passes them to encoders with an
    ``accepts_hashes`` attribute (see ``cache_wired`` in the report).
    """
    outs = []
    for enc in model.encoders:
        sr = int(enc.sample_rate)
        audio, lens = batch.audio[sr], batch.audio_lengths[sr]
        if isinstance(enc, CachedEncoder) and use_cache:
            outs.append(enc(audio, lens, hashes=batch.audio_hashes))
        else:
            outs.append(raw_encoder(enc)(audio, lens))
    return outs


def encode_ours_nocache(model: Any, batch: Any) -> list[EncoderOutput]:
    """:func:`encode_ours` with every encoder computed (no cache)."""
    return encode_ours(model, batch, use_cache=False)


def pad_outputs(rows: Sequence[torch.Tensor], rate: float) -> EncoderOutput:
    """Stack per-sample valid frames ``[T_b, D]`` into ``[B, max T_b, D]`` (zeros past each)."""
    lengths = torch.tensor([r.shape[0] for r in rows], dtype=torch.long, device=rows[0].device)
    feats = torch.nn.utils.rnn.pad_sequence(list(rows), batch_first=True)
    return EncoderOutput(features=feats, lengths=lengths, frame_rate=float(rate))


def encode_reference(
    model: Any, batch: Any, padded: Sequence[int] = (0,), pad_seconds: float = 30.0
) -> list[EncoderOutput]:
    """The reference's feature extraction: batch of 1, encoders in ``padded`` fed ``pad_seconds`` of audio
    (the clip, then zeros), no cache."""
    outs = []
    for i, enc in enumerate(model.encoders):
        raw = raw_encoder(enc)
        sr = int(raw.sample_rate)
        audio, lens = batch.audio[sr], batch.audio_lengths[sr]
        rows, rate = [], float(raw.frame_rate)
        for b in range(audio.shape[0]):
            n = int(lens[b])
            x = audio[b : b + 1, :n]
            if i in padded:
                target = max(n, round(pad_seconds * sr))
                x = F.pad(x, (0, target - n))
            out = raw(x, torch.tensor([x.shape[1]], dtype=torch.long, device=x.device))
            rows.append(out.features[0, : int(out.lengths[0])])
            rate = out.frame_rate
        outs.append(pad_outputs(rows, rate))
    return outs


def total_loss(model: Any, llm_out: Any, projected: Any, batch: Any) -> torch.Tensor:
    """The weighted loss sum of :meth:`AudioLLM.forward`."""
    inputs = LossInputs(llm=llm_out, aux_losses=projected.aux_losses, task_ids=batch.task_ids)
    total = llm_out.logits.new_zeros(())
    for weight, loss in zip(model.loss_weights, model.losses):
        total = total + weight * loss(inputs).loss
    return total


def forward_sections(model: Any, batch: Any, encode: EncodeFn, section: Section) -> torch.Tensor:
    """Encoders, fusion + projectors, LLM + losses; returns the loss (not yet backpropagated)."""
    with section("encoders"):
        streams = encode(model, batch)
    with section("fusion+projectors"):
        projected = model.project(model.fusion(streams), batch)
    with section("llm+losses"):
        llm_out = model.llm.forward_packed(
            batch.prompts_left, projected.features, projected.lengths, batch.prompts_right, batch.targets
        )
        loss = total_loss(model, llm_out, projected, batch)
    return loss


def train_step(
    model: Any,
    batch: Any,
    optimizer: Any,
    scheduler: Any,
    encode: EncodeFn,
    section: Section,
    autocast: AbstractContextManager[Any] | None = None,
    accumulation: int = 1,
) -> float:
    """One optimizer step (``accumulation`` micro-steps on the same batch); returns the last loss.

    Backward is timed under ``llm+losses``: it runs through the LLM's LoRA, the projectors and the losses.
    """
    loss = torch.zeros(())
    for _ in range(max(1, accumulation)):
        with autocast or nullcontext():
            loss = forward_sections(model, batch, encode, section)
        with section("llm+losses"):
            (loss / max(1, accumulation)).backward()
    with section("optimizer"):
        optimizer.step()
        scheduler.step()
        optimizer.zero_grad(set_to_none=True)
    return float(loss.detach())


class FlopSections:
    """A ``section(name)`` that counts FLOPs per section with ``FlopCounterMode`` (no timing)."""

    def __init__(self) -> None:
        self.totals: dict[str, float] = {}

    @contextmanager
    def __call__(self, name: str) -> Iterator[None]:
        from torch.utils.flop_counter import FlopCounterMode

        counter = FlopCounterMode(display=False)
        with counter:
            yield
        self.totals[name] = self.totals.get(name, 0.0) + float(counter.get_total_flops())

    def total(self) -> float:
        return float(sum(self.totals.values()))


@contextmanager
def uncached(model: Any) -> Iterator[Any]:
    """Temporarily replace cached encoders by the encoders they wrap (so :meth:`AudioLLM.forward` and
    :meth:`AudioLLM.generate` compute every feature, whatever ``AudioLLM.encode`` does with hashes)."""
    saved = list(model.encoders)
    try:
        for i, enc in enumerate(saved):
            model.encoders[i] = raw_encoder(enc)
        yield model
    finally:
        for i, enc in enumerate(saved):
            model.encoders[i] = enc
