"""Config dataclasses, build functions and conformance examples of the built-in losses.

Free of torch at import time (the hook imports it when plugins are listed). Loss weights are not
here: the recipe's ``losses: [{name: ..., weight: ...}]`` gives them (paper: 0.5 CE + 0.5 SACLM).

What each builder reads from the :class:`~usam_toolkit.interfaces.BuildContext`: ``saclm`` needs the
width D of audio tokens and text embeddings, ``ctx.llm_dim`` (falling back to ``ctx.input_dim``);
the other losses read nothing from it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, List, Optional

from usam_toolkit.errors import ConfigError
from usam_toolkit.interfaces import BuildContext


@dataclass
class CrossEntropyConfig:
    """Next-token cross-entropy over target tokens."""

    label_smoothing: float = 0.0


def build_cross_entropy(cfg: CrossEntropyConfig, ctx: BuildContext) -> Any:
    """Next-token cross-entropy over the target tokens (mean over tokens); logs perplexity."""
    from .cross_entropy import CrossEntropyLoss

    return CrossEntropyLoss(cfg.label_smoothing)


@dataclass
class SACLMConfig:
    """Semantic-Aware Contrastive Loss (paper §2.2; margin not given by the paper, 0.2 chosen).

    ``text_alignment``: "interpolate" (text resampled onto the audio frames) or "pool".
    ``negatives``: "derangement" (a random other sample), "mean" or "hardest".
    ``seed``: None draws derangements from torch's global RNG (seeded from the recipe and saved in
    checkpoints, so resumes are exact); an int gives the loss its own generator.
    ``global_negatives``: under DDP/FSDP training, negatives come from every rank's samples, so the loss
    is that of one process holding the whole global batch; False: each rank's own samples only.
    """

    hidden_dim: int = 256
    margin: float = 0.2
    l1_weight: float = 0.01
    threshold: float = 0.5
    text_alignment: str = "interpolate"
    negatives: str = "derangement"
    seed: Optional[int] = None
    global_negatives: bool = True


def build_saclm(cfg: SACLMConfig, ctx: BuildContext) -> Any:
    """Semantic-aware contrastive loss: score net + STE selection + aggregation + cosine triplet + λ·|S|."""
    from .saclm import SACLMLoss

    dim = ctx.llm_dim if ctx.llm_dim is not None else ctx.input_dim
    if dim is None:
        raise ConfigError("saclm: the build context gives neither llm_dim nor input_dim (width of audio tokens)")
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


@dataclass
class InfoNCEConfig:
    """Symmetric audio-text InfoNCE over the batch."""

    temperature: float = 0.07
    learnable_temperature: bool = False


def build_infonce(cfg: InfoNCEConfig, ctx: BuildContext) -> Any:
    """Symmetric InfoNCE between pooled audio tokens and pooled target-text embeddings."""
    from .infonce import InfoNCELoss

    if cfg.temperature <= 0:
        raise ConfigError(f"infonce: temperature must be > 0, got {cfg.temperature}")
    return InfoNCELoss(cfg.temperature, cfg.learnable_temperature)


@dataclass
class AuxConfig:
    """Sum of the projectors' auxiliary losses; ``names`` None = all of them."""

    names: Optional[List[str]] = None


@dataclass
class TAPMBalanceConfig:
    """TAPM's load-balancing loss (``aux_losses["tapm_balance"]``); set TAPM's balance_loss_weight > 0."""

    names: List[str] = field(default_factory=lambda: ["tapm_balance"])


def build_aux(cfg: Any, ctx: BuildContext) -> Any:
    """Sum of the named projector auxiliary losses, so the recipe can weight them."""
    from .aux import AuxLossSum

    return AuxLossSum(None if cfg.names is None else list(cfg.names))


def build_tapm_balance(cfg: TAPMBalanceConfig, ctx: BuildContext) -> Any:
    """TAPM's load-balancing loss (aux_losses["tapm_balance"]), so the recipe can weight it."""
    return build_aux(cfg, ctx)


def empty_example(tmp_dir: Path) -> dict[str, Any]:
    """These losses need no override to be tiny."""
    return {}


def saclm_example(tmp_dir: Path) -> dict[str, Any]:
    """Tiny heads."""
    return {"hidden_dim": 8}


@dataclass
class EmbeddingCTCConfig:
    """CTC of the audio tokens against the LLM's embeddings of the transcript (beyond the paper).

    ``tasks``: task names whose samples take part (monotonic ones only: transcription).
    ``scale``: initial cosine scale (learnt).
    """

    tasks: List[str] = field(default_factory=lambda: ["asr"])
    scale: float = 10.0


def build_embedding_ctc(cfg: EmbeddingCTCConfig, ctx: BuildContext) -> Any:
    """CTC between audio tokens and the target tokens' LLM input embeddings, on the chosen tasks."""
    from .embedding_ctc import EmbeddingCTCLoss

    dim = ctx.llm_dim if ctx.llm_dim is not None else ctx.input_dim
    if dim is None:
        raise ConfigError("embedding_ctc: the build context gives neither llm_dim nor input_dim")
    if cfg.scale <= 0:
        raise ConfigError(f"embedding_ctc: scale must be > 0, got {cfg.scale}")
    unknown = [t for t in cfg.tasks if ctx.task_names and t not in ctx.task_names]
    if unknown:
        raise ConfigError(
            f"embedding_ctc: tasks {unknown} are not in the recipe's tasks; valid: {', '.join(ctx.task_names)}"
        )
    names = list(ctx.task_names)
    return EmbeddingCTCLoss(int(dim), [names.index(t) for t in cfg.tasks if t in names], cfg.scale)
