"""AudioLLM: encoders -> fusion -> projector chain -> LLM, with weighted losses; built from a recipe.

Dimensions are derived while building: each encoder declares its width and frame rate, fusion sums the
widths at one rate, each projector gets the previous width, the last one the LLM's width.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import torch
import torch.nn as nn
from omegaconf import DictConfig, OmegaConf

from ..config.loader import iter_slots, recipe_base_dir, recipe_path, slot_fields
from ..errors import ConfigError
from ..interfaces import (
    BuildContext,
    EncoderOutput,
    GenerationConfig,
    LossInputs,
    ProjectorContext,
    ProjectorOutput,
    StepOutput,
)
from ..registry import Registry
from .config import FusionConfig
from .train_mode import KEEP_EVAL_ATTR, count_parameters

# Builds one slot in place of the registry: (the slot's fields, its BuildContext) -> the component.
SlotBuilder = Callable[[dict[str, Any], BuildContext], Any]


@dataclass
class ComponentInfo:
    """Where one built component came from (recorded in checkpoints)."""

    slot: str
    kind: str
    name: str
    plugin: str
    distribution: str
    version: str


def default_cache_dir(cfg: DictConfig) -> Path:
    """The recipe's ``cache_dir``, else ``$USAM_CACHE_DIR``, else ``~/.cache/usam_toolkit``."""
    import os

    value = cfg.get("cache_dir") or os.environ.get("USAM_CACHE_DIR") or "~/.cache/usam_toolkit"
    return Path(value).expanduser()


class AudioLLM(nn.Module):
    """The whole model. Build it with :meth:`from_recipe`; load a checkpoint for inference with
    :func:`usam_toolkit.load` (the facade depends on the model, never the other way round).

    Attributes:
        encoders: the audio encoders, in recipe order.
        fusion: time-aligned concatenation of their outputs.
        projectors: the projector chain.
        llm: the language model.
        losses: loss modules, with ``loss_weights`` in the same order.
        tasks: task objects by name; ``task_names`` gives their index order.
    """

    def __init__(
        self,
        encoders: Sequence[nn.Module],
        fusion: nn.Module,
        projectors: Sequence[nn.Module],
        llm: nn.Module,
        losses: Sequence[nn.Module],
        loss_names: Sequence[str],
        loss_weights: Sequence[float],
        tasks: Mapping[str, Any],
        components: Sequence[ComponentInfo] = (),
        audio_norm: nn.Module | None = None,
    ) -> None:
        super().__init__()
        self.encoders = nn.ModuleList(encoders)
        self.fusion = fusion
        self.projectors = nn.ModuleList(projectors)
        # None (the paper): the last projector's tokens enter the LLM as they are.
        self.audio_norm = audio_norm
        self.llm = llm
        self.losses = nn.ModuleList(losses)
        self.loss_names = list(loss_names)
        self.loss_weights = [float(w) for w in loss_weights]
        self.tasks = dict(tasks)
        self.task_names = list(self.tasks)
        self.components = list(components)

    # ------------------------------------------------------------------------------------------
    # Building
    # ------------------------------------------------------------------------------------------
    @classmethod
    def from_recipe(
        cls,
        cfg: DictConfig,
        registry: Registry | None = None,
        device: str = "cpu",
        builders: Mapping[str, SlotBuilder] | None = None,
    ) -> AudioLLM:
        """Build every component of a validated recipe (see :func:`usam_toolkit.load_recipe`).

        Args:
            cfg: the validated recipe.
            registry: where plugins are found (default: the process-wide one).
            device: where the model ends up (``meta`` builds shapes only: parameter counts, no memory).
            builders: slot path (``"encoders[0]"``, ``"llm"``, ...) -> ``(fields, ctx) -> component`` that
                replaces the registry's build for that slot, e.g. random weights of a checkpoint's shape
                (``usam bench --config paper``). Every other slot, and all wiring between them, is the
                recipe's as for any run.
        """
        from ..plugins import get_registry
        from .audio_norm import build_audio_norm
        from .config import AudioNormConfig
        from .fusion import Fusion

        reg = registry or get_registry()
        path = recipe_path(cfg)
        base = BuildContext(
            device=device,
            base_dir=recipe_base_dir(cfg),
            cache_dir=default_cache_dir(cfg),
        )
        slots = {where: (kind, slot, extra) for where, kind, slot, extra in iter_slots(cfg)}
        infos: list[ComponentInfo] = []

        unknown = sorted(set(builders or {}) - set(slots))
        if unknown:
            raise ConfigError(f"{path}: builders given for {unknown}, which the recipe has no slot for")

        def build(where: str, ctx: BuildContext) -> Any:
            kind, slot, extra = slots[where]
            fields = slot_fields(slot, extra)
            if builders and where in builders:
                infos.append(ComponentInfo(where, kind, str(fields["name"]), "override", "builders", ""))
                return builders[where](fields, ctx)
            entry = reg.get(kind, str(fields["name"]), where)
            infos.append(
                ComponentInfo(
                    where,
                    kind,
                    entry.name,
                    entry.provider.plugin,
                    entry.provider.distribution,
                    entry.provider.version,
                )
            )
            return reg.build(kind, fields, ctx, where)

        task_objs = [build(f"tasks[{i}]", base) for i in range(len(cfg.tasks))]
        tasks = {t.name: t for t in task_objs}
        if len(tasks) != len(task_objs):
            raise ConfigError(f"{path}: 'tasks' names a task twice: {[t.name for t in task_objs]}")
        names = tuple(tasks)
        base = replace(base, task_names=names)

        encoders = [build(f"encoders[{i}]", base) for i in range(len(cfg.encoders))]
        fusion_cfg = FusionConfig(**OmegaConf.to_container(cfg.fusion))  # type: ignore[arg-type]
        fusion = Fusion(fusion_cfg, [(int(e.output_dim), float(e.frame_rate)) for e in encoders])

        llm = build("llm", base)
        llm_dim = int(llm.hidden_size)

        projectors: list[nn.Module] = []
        width, rate = int(fusion.output_dim), float(fusion.frame_rate)
        n_proj = len(cfg.projectors)
        if n_proj == 0:
            raise ConfigError(
                f"{path}: 'projectors' is empty; the chain must end at the LLM width ({llm_dim})"
            )
        for i in range(n_proj):
            last = i == n_proj - 1
            ctx = replace(
                base,
                input_dim=width,
                frame_rate=rate,
                output_dim=llm_dim if last else None,
                llm_dim=llm_dim,
                prompt_dim=llm_dim,
                is_last=last,
            )
            proj = build(f"projectors[{i}]", ctx)
            projectors.append(proj)
            width = int(proj.output_dim)
            rate = float(proj.output_frame_rate(rate))
        if width != llm_dim:
            raise ConfigError(f"{path}: the projector chain ends at width {width}, the LLM needs {llm_dim}")

        norm_cfg = AudioNormConfig(**OmegaConf.to_container(cfg.get("audio_norm") or {}))  # type: ignore[arg-type]
        # On the meta device there is no embedding value to read; the gain's start does not matter there.
        rms = 1.0 if torch.device(device).type == "meta" else llm.embedding_rms()
        audio_norm = build_audio_norm(norm_cfg, llm_dim, rms)

        loss_ctx = replace(base, input_dim=llm_dim, llm_dim=llm_dim, prompt_dim=llm_dim)
        losses = [build(f"losses[{i}]", loss_ctx) for i in range(len(cfg.losses))]
        if not losses:
            raise ConfigError(
                f"{path}: 'losses' is empty; e.g. losses: [{{name: cross_entropy, weight: 1.0}}]"
            )
        weights = [float(s.get("weight", 1.0)) for s in cfg.losses]
        loss_names = [str(s.name) for s in cfg.losses]
        model = cls(encoders, fusion, projectors, llm, losses, loss_names, weights, tasks, infos, audio_norm)
        return model.to(device)

    def train(self, mode: bool = True) -> AudioLLM:
        """Set train/eval mode; encoders whose slot says ``frozen`` stay in eval mode either way."""
        super().train(mode)
        if mode:
            for module in self.modules():
                if getattr(module, KEEP_EVAL_ATTR, False):
                    module.eval()
        return self

    # ------------------------------------------------------------------------------------------
    # Forward
    # ------------------------------------------------------------------------------------------
    @property
    def sample_rates(self) -> list[int]:
        """The audio rates the data layer must provide (one decode, resampled to each)."""
        return sorted({int(e.sample_rate) for e in self.encoders})

    def encode(self, batch: Any) -> EncoderOutput:
        """Run every encoder on the batch's audio at its own rate and fuse on one time axis."""
        outs = []
        for i, enc in enumerate(self.encoders):
            sr = int(enc.sample_rate)
            kwargs = {"hashes": batch.audio_hashes} if getattr(enc, "accepts_hashes", False) else {}
            out = enc(batch.audio[sr], batch.audio_lengths[sr], **kwargs)
            self._check_encoder_output(i, enc, out, batch.audio[sr].shape[0])
            outs.append(out)
        return self.fusion(outs)

    def _check_encoder_output(self, index: int, enc: Any, out: Any, batch_size: int) -> None:
        """Refuse an encoder output that breaks the contract, naming the slot, plugin and the wrong axis
        (fusion would otherwise fail later with only a stream number)."""
        feats, lens = getattr(out, "features", None), getattr(out, "lengths", None)
        problems = []
        if not isinstance(feats, torch.Tensor) or feats.dim() != 3:
            shape = list(feats.shape) if isinstance(feats, torch.Tensor) else type(feats).__name__
            problems.append(f"features must be [B, T, D], got {shape}")
        else:
            if feats.shape[0] != batch_size:
                problems.append(f"axis 0 (batch) is {feats.shape[0]}, the batch has {batch_size} clips")
            if feats.shape[2] != int(enc.output_dim):
                problems.append(f"axis 2 (feature) is {feats.shape[2]}, its output_dim says {enc.output_dim}")
            if not isinstance(lens, torch.Tensor) or tuple(lens.shape) != (batch_size,):
                shape = list(lens.shape) if isinstance(lens, torch.Tensor) else type(lens).__name__
                problems.append(f"lengths must be [B] = [{batch_size}], got {shape}")
            elif len(lens) and int(lens.max()) > feats.shape[1]:
                problems.append(
                    f"lengths reach {int(lens.max())} but axis 1 (time) has {feats.shape[1]} frames"
                )
        if problems:
            slot = f"encoders[{index}]"
            info = next((c for c in self.components if c.slot == slot), None)
            who = f"'{info.name}' from {info.distribution} {info.version}" if info else type(enc).__name__
            raise ConfigError(
                f"{slot} ({who}): its output breaks the encoder contract: {'; '.join(problems)}"
            )

    def instruction_texts(self, batch: Any) -> list[str]:
        """The text prompt of each sample (left and right parts joined), as seen by the TAPM router."""
        return [f"{left} {right}".strip() for left, right in zip(batch.prompts_left, batch.prompts_right)]

    def stage_labels(self) -> list[str]:
        """One label per stage after fusion: ``projectors[i]:<name>`` then ``audio_norm`` when present."""
        names = {c.slot: c.name for c in self.components}
        labels = [
            f"projectors[{i}]:{names.get(f'projectors[{i}]', type(p).__name__)}"
            for i, p in enumerate(self.projectors)
        ]
        return labels + (["audio_norm"] if self.audio_norm is not None else [])

    def project(self, fused: EncoderOutput, batch: Any) -> ProjectorOutput:
        """Run the projector chain (and ``audio_norm``), collecting auxiliary losses and analysis tensors.

        ``extras`` also holds every stage's detached output for the projector-health figures
        (:mod:`usam_toolkit.model.health`): ``stage/<label>`` ``[B, T_i, D_i]`` and ``stage_len/<label>``
        ``[B]``, labels from :meth:`stage_labels`, the fused input as ``stage/fusion``.
        """
        ctx = ProjectorContext(
            prompt_embedding=self.llm.prompt_embedding(self.instruction_texts(batch)),
            task_ids=batch.task_ids,
        )
        feats, lens, rate = fused.features, fused.lengths, fused.frame_rate
        aux: dict[str, torch.Tensor] = {}
        extras: dict[str, torch.Tensor] = {"stage/fusion": feats.detach(), "stage_len/fusion": lens}
        labels = self.stage_labels()
        for label, proj in zip(labels, self.projectors):
            out = proj(feats, lens, rate, ctx)
            feats, lens, rate = out.features, out.lengths, out.frame_rate
            aux.update(out.aux_losses)
            extras.update(out.extras)
            extras[f"stage/{label}"], extras[f"stage_len/{label}"] = feats.detach(), lens
        if self.audio_norm is not None:
            feats = self.audio_norm(feats, lens)
            extras["stage/audio_norm"], extras["stage_len/audio_norm"] = feats.detach(), lens
        return ProjectorOutput(feats, lens, rate, aux, extras)

    def forward(self, batch: Any) -> StepOutput:
        """Teacher-forced pass: the weighted sum of the recipe's losses, and what to log."""
        projected = self.project(self.encode(batch), batch)
        llm_out = self.llm.forward_packed(
            batch.prompts_left, projected.features, projected.lengths, batch.prompts_right, batch.targets
        )
        inputs = LossInputs(llm=llm_out, aux_losses=projected.aux_losses, task_ids=batch.task_ids)
        total = llm_out.logits.new_zeros(())
        logs: dict[str, float] = {}
        for name, weight, loss in zip(self.loss_names, self.loss_weights, self.losses):
            out = loss(inputs)
            total = total + weight * out.loss
            logs[f"loss/{name}"] = float(out.loss.detach())
            logs.update({f"{name}/{k}": v for k, v in out.logs.items()})
        extras = dict(projected.extras)
        extras["task_ids"] = batch.task_ids
        return StepOutput(total, logs, len(batch), float(batch.audio_seconds), extras)

    @torch.no_grad()
    def generate(self, batch: Any, config: GenerationConfig) -> list[str]:
        """Decode one text per sample (batched, left-padded, KV cache)."""
        projected = self.project(self.encode(batch), batch)
        return self.llm.generate_packed(
            batch.prompts_left, projected.features, projected.lengths, batch.prompts_right, config
        )

    # ------------------------------------------------------------------------------------------
    # Reporting
    # ------------------------------------------------------------------------------------------
    def parameter_summary(self) -> list[dict[str, Any]]:
        """Rows of (component, total, trainable) parameter counts, plus a total row."""
        rows = []
        named = [(f"encoders[{i}]", m) for i, m in enumerate(self.encoders)]
        named += [("fusion", self.fusion)]
        named += [(f"projectors[{i}]", m) for i, m in enumerate(self.projectors)]
        if self.audio_norm is not None:
            named += [("audio_norm", self.audio_norm)]
        named += [("llm", self.llm)]
        named += [(f"losses[{i}]", m) for i, m in enumerate(self.losses)]
        labels = {c.slot: c.name for c in self.components}
        for slot, module in named:
            total, trainable = count_parameters(module)
            rows.append(
                {"component": slot, "name": labels.get(slot, slot), "total": total, "trainable": trainable}
            )
        total, trainable = count_parameters(self)
        rows.append({"component": "all", "name": "", "total": total, "trainable": trainable})
        return rows

    def format_parameter_summary(self) -> str:
        rows = self.parameter_summary()
        lines = [f"{'component':<16} {'plugin':<18} {'total':>14} {'trainable':>12} {'share':>8}"]
        for r in rows:
            share = 100.0 * r["trainable"] / max(1, r["total"])
            lines.append(
                f"{r['component']:<16} {r['name']:<18} {r['total']:>14,} {r['trainable']:>12,} {share:>7.2f}%"
            )
        return "\n".join(lines)

    def provenance(self) -> list[dict[str, str]]:
        """Which distribution and version supplied each component."""
        return [c.__dict__.copy() for c in self.components]
