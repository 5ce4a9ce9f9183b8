"""Config dataclasses of the built-in losses (nothing else; free of torch).

Each loss's ``build_<name>`` and ``<name>_example`` live in its module; ``__init__`` registers them
through lazy trampolines. Loss weights are not here: the recipe's ``losses: [{name: ..., weight: ...}]``
gives them (paper: 0.5 CE + 0.5 SACLM).

What each builder reads from the :class:`~usam_toolkit.interfaces.BuildContext`: ``saclm`` needs the
width D of audio tokens and text embeddings, ``ctx.llm_dim`` (falling back to ``ctx.input_dim``);
the other losses read nothing from it.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class CrossEntropyConfig:
    """Next-token cross-entropy over target tokens."""

    label_smoothing: float = 0.0


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
    seed: int | None = None
    global_negatives: bool = True


@dataclass
class InfoNCEConfig:
    """Symmetric audio-text InfoNCE over the batch."""

    temperature: float = 0.07
    learnable_temperature: bool = False


@dataclass
class AuxConfig:
    """Sum of the projectors' auxiliary losses; ``names`` None = all of them."""

    names: list[str] | None = None


@dataclass
class TAPMBalanceConfig:
    """TAPM's load-balancing loss (``aux_losses["tapm_balance"]``); set TAPM's balance_loss_weight > 0."""

    names: list[str] = field(default_factory=lambda: ["tapm_balance"])


@dataclass
class EmbeddingCTCConfig:
    """CTC of the audio tokens against the LLM's embeddings of the transcript (beyond the paper).

    ``tasks``: task names whose samples take part (monotonic ones only: transcription).
    ``scale``: initial cosine scale (learnt).
    """

    tasks: list[str] = field(default_factory=lambda: ["asr"])
    scale: float = 10.0
