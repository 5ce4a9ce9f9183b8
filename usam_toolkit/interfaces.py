"""The contract between the core and every plugin: build context, protocols and output records.

Only the standard library and ``typing`` are imported at module level so that listing and validating
plugins stays instant; tensors appear in annotations as strings.

Shapes are written ``[B, T, D]``: batch, time (frames or tokens), feature width.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

if TYPE_CHECKING:  # pragma: no cover
    import torch


@dataclass(frozen=True)
class BuildContext:
    """What a ``build_fn(cfg, ctx)`` may know beyond its own config; never the whole recipe.

    Attributes:
        input_dim: width of the stream feeding the component (projectors, losses), or None.
        frame_rate: frames per second of that stream, or None where time has no rate (text).
        output_dim: width the component must produce, or None where it chooses (intermediate projector).
        llm_dim: hidden width of the language model, once known.
        prompt_dim: width of the pooled prompt embedding given to task-aware components.
        task_names: the recipe's task names, in order (routers and analyses index them).
        device: torch device string the model will run on.
        base_dir: folder against which relative paths in the component's config are resolved
            (the recipe's folder); never the current working directory.
        cache_dir: folder where the component may cache converted weights or derived files.
        is_last: True for the last projector of the chain (its output feeds the LLM).
    """

    input_dim: int | None = None
    frame_rate: float | None = None
    output_dim: int | None = None
    llm_dim: int | None = None
    prompt_dim: int | None = None
    task_names: tuple[str, ...] = ()
    device: str = "cpu"
    base_dir: Path | None = None
    cache_dir: Path | None = None
    is_last: bool = False

    def resolve_path(self, value: str | Path) -> Path:
        """Resolve a config path: absolute, ``~``-expanded, or relative to :attr:`base_dir`."""
        p = Path(value).expanduser()
        if p.is_absolute() or self.base_dir is None:
            return p
        return (self.base_dir / p).resolve()


# --------------------------------------------------------------------------------------------------
# Output records
# --------------------------------------------------------------------------------------------------
@dataclass
class EncoderOutput:
    """Features of one encoder.

    Attributes:
        features: ``[B, T, D]``; frames at index >= ``lengths[b]`` are padding and carry no meaning.
        lengths: ``[B]`` long, number of valid frames per sample.
        frame_rate: frames per second of ``features``.
        hidden_states: optional per-layer outputs ``[L, B, T, D]`` for analyses.
    """

    features: torch.Tensor
    lengths: torch.Tensor
    frame_rate: float
    hidden_states: torch.Tensor | None = None

    @property
    def mask(self) -> torch.Tensor:
        """``[B, T]`` bool, True on valid frames."""
        return lengths_to_mask(self.lengths, self.features.shape[1])


@dataclass
class ProjectorOutput:
    """Output of one projector in the chain.

    Attributes:
        features: ``[B, T', D']``.
        lengths: ``[B]`` long, valid tokens per sample.
        frame_rate: tokens per second after this projector.
        aux_losses: named scalar losses the projector wants added (e.g. TAPM load balancing); the
            recipe's ``losses`` decide their weight.
        extras: analysis tensors (e.g. ``routing_weights`` ``[B, N_experts]``); never needed for training.
    """

    features: torch.Tensor
    lengths: torch.Tensor
    frame_rate: float
    aux_losses: dict[str, torch.Tensor] = field(default_factory=dict)
    extras: dict[str, torch.Tensor] = field(default_factory=dict)


@dataclass
class ProjectorContext:
    """Per-batch information a projector may use besides the audio features.

    Attributes:
        prompt_embedding: ``[B, D_prompt]`` pooled embedding of each sample's task prompt (LLM input
            embeddings averaged over the prompt's tokens), or None if the model has no prompt.
        task_ids: ``[B]`` long, index of each sample's task in ``BuildContext.task_names``.
    """

    prompt_embedding: torch.Tensor | None = None
    task_ids: torch.Tensor | None = None


@dataclass
class LLMOutput:
    """What the language model returns for a teacher-forced batch.

    Attributes:
        logits: ``[B, L, V]`` over the packed sequence.
        labels: ``[B, L]`` long, -100 outside the target.
        audio_embeds: ``[B, T_a, D]`` the audio tokens as fed to the LLM (after projection).
        audio_lengths: ``[B]``.
        text_embeds: ``[B, T_t, D]`` input embeddings of the target text (for contrastive losses).
        text_lengths: ``[B]``.
        hidden_states: optional ``[B, L, D]`` last hidden state.
    """

    logits: torch.Tensor
    labels: torch.Tensor
    audio_embeds: torch.Tensor
    audio_lengths: torch.Tensor
    text_embeds: torch.Tensor
    text_lengths: torch.Tensor
    hidden_states: torch.Tensor | None = None


@dataclass
class LossInputs:
    """Everything a loss plugin may read; built once per step by the model.

    Attributes:
        llm: teacher-forced LLM output.
        aux_losses: projector auxiliary losses by name.
        task_ids: ``[B]`` long task indices.
    """

    llm: LLMOutput
    aux_losses: dict[str, torch.Tensor] = field(default_factory=dict)
    task_ids: torch.Tensor | None = None


@dataclass
class LossOutput:
    """A loss plugin's result: an unweighted scalar and values to log (plain floats)."""

    loss: torch.Tensor
    logs: dict[str, float] = field(default_factory=dict)


@dataclass
class GenerationConfig:
    """Decoding settings; ``max_new_tokens`` always comes from the recipe or the caller.

    Attributes:
        strategy: "greedy", "beam" or "nucleus".
        max_new_tokens: hard limit on generated tokens.
        num_beams: beams for "beam".
        length_penalty: exponent on length for beam scores.
        top_p: nucleus mass for "nucleus".
        temperature: sampling temperature for "nucleus".
        repetition_penalty: >1 discourages repeats.
        seed: sampling seed (nucleus).
    """

    strategy: str = "greedy"
    max_new_tokens: int = 128
    num_beams: int = 4
    length_penalty: float = 1.0
    top_p: float = 0.9
    temperature: float = 1.0
    repetition_penalty: float = 1.0
    seed: int = 0


# --------------------------------------------------------------------------------------------------
# Protocols (structural: plugins need not inherit from anything but torch.nn.Module)
#
# Every member declared below is one the core uses; the registry checks each built component against
# its kind's protocol (:data:`PROTOCOLS`, :func:`missing_members`) and names the plugin, its distribution
# and the recipe slot when one is missing. Optional members are named in the docstrings only.
# --------------------------------------------------------------------------------------------------
@runtime_checkable
class Encoder(Protocol):
    """An audio encoder; an ``nn.Module``.

    The encoder never freezes or adapts itself: the slot's ``mode`` (``frozen`` by default, ``lora``,
    ``trainable``) and ``lora`` are applied by the core after the build
    (:func:`usam_toolkit.model.train_mode.apply_encoder_mode`).

    Attributes:
        output_dim: D of :class:`EncoderOutput.features`.
        frame_rate: frames per second produced.
        sample_rate: audio rate the encoder expects; the data layer resamples to it.

    Optional attributes:
        mode_target: the sub-module ``mode`` applies to (its pretrained weights); default: the whole
            encoder. Parameters outside it keep the ``requires_grad`` the plugin gave them.
        max_samples: the longest input the encoder takes in one pass (see ``__call__``).
        accepts_hashes: ``__call__`` also takes ``hashes=`` (per-clip content hashes; feature caches).
    """

    output_dim: int
    frame_rate: float
    sample_rate: int

    def __call__(self, audio: torch.Tensor, audio_lengths: torch.Tensor) -> EncoderOutput:
        """Encode ``audio`` ``[B, N]`` (float, mono, at ``sample_rate``) with ``audio_lengths`` ``[B]``.

        Clips of any length: evaluation never crops, so an encoder with a longest input (its optional
        ``max_samples``) encodes longer clips window by window and joins the frames
        (``usam_plugins.encoders.common.encode_in_chunks``).
        """
        ...

    def fingerprint(self) -> str:
        """A string that changes whenever the encoder's outputs could change (config and weights)."""
        ...


@runtime_checkable
class Projector(Protocol):
    """One link of the projector chain; an ``nn.Module``. ``output_dim`` is its output width.

    Optional: ``routing_weights(...)`` marks a projector that routes between experts (TAPM); inference
    then reports its weights.
    """

    output_dim: int

    def output_frame_rate(self, frame_rate: float) -> float:
        """Tokens per second out for ``frame_rate`` in (``frame_rate`` itself when the rate is kept), so
        the next link is built knowing its input rate."""
        ...

    def __call__(
        self, features: torch.Tensor, lengths: torch.Tensor, frame_rate: float, context: ProjectorContext
    ) -> ProjectorOutput:
        """Map ``features`` ``[B, T, D_in]`` to a :class:`ProjectorOutput`."""
        ...


@runtime_checkable
class LanguageModel(Protocol):
    """A causal LM that reads audio tokens in its input sequence; an ``nn.Module``.

    The packed layout per sample is ``[prompt_left, audio, prompt_right, target]`` without inner
    padding; labels are -100 outside ``target``.
    """

    hidden_size: int

    def embedding_rms(self) -> float:
        """RMS of the LLM's input embeddings (the scale audio tokens are normalised to and measured
        against)."""
        ...

    def prompt_embedding(self, prompts: Sequence[str]) -> torch.Tensor:
        """``[B, D]`` mean of the input embeddings of each prompt's tokens."""
        ...

    def forward_packed(
        self,
        prompt_left: Sequence[str],
        audio_embeds: torch.Tensor,
        audio_lengths: torch.Tensor,
        prompt_right: Sequence[str],
        targets: Sequence[str],
    ) -> LLMOutput:
        """Teacher-forced pass over the packed sequences."""
        ...

    def generate_packed(
        self,
        prompt_left: Sequence[str],
        audio_embeds: torch.Tensor,
        audio_lengths: torch.Tensor,
        prompt_right: Sequence[str],
        config: GenerationConfig,
    ) -> list[str]:
        """Batched generation with left padding and a KV cache; one string per sample."""
        ...


@runtime_checkable
class Loss(Protocol):
    """A training objective; an ``nn.Module`` (it may hold trainable heads, e.g. SACLM)."""

    def __call__(self, inputs: LossInputs) -> LossOutput: ...


@runtime_checkable
class Metric(Protocol):
    """A corpus-level scorer. ``compute`` returns named scores (percentages where the field uses them)."""

    name: str

    def compute(
        self, hypotheses: Sequence[str], references: Sequence[Sequence[str]], **kw: Any
    ) -> dict[str, Any]:
        """Score ``hypotheses`` against one or more references each."""
        ...


@runtime_checkable
class Task(Protocol):
    """A task: prompt templates, targets and references, default metrics and text normalisation.

    ``usam_plugins.tasks.base.PromptTask`` implements all of it for instruction-style tasks. Examples are
    :class:`usam_toolkit.data.manifest.Example` objects (or plain dicts with the manifest's keys).

    Attributes:
        name: task name as used in manifests.
        metrics: default metric plugin names.
        num_prompt_variants: how many instruction paraphrases ``prompt`` picks from (training draws one).
        timestamps: whether consecutive windows of one recording give time-aligned text (SRT output).

    Optional attributes (the data layer's defaults otherwise): ``length_policy`` (None: defer to
    ``data.length_policy``), ``default_length_policy`` (``skip``) and ``safe_length_policies``.
    """

    name: str
    metrics: Sequence[str]
    num_prompt_variants: int
    timestamps: bool

    def prompt(self, example: Any, variant: int = 0) -> tuple[str, str]:
        """``(prompt_left, prompt_right)`` around the audio tokens for ``example``."""
        ...

    def references(self, example: Any) -> list[str]:
        """Every reference text of ``example`` (scoring takes them all)."""
        ...

    def target(self, example: Any) -> str:
        """The training target of ``example`` (its first reference, as the LLM is taught to write it)."""
        ...

    def training_text(self, reference: str) -> str:
        """``reference`` as the LLM is taught to write it (e.g. after a target prefix)."""
        ...

    def normalize(self, text: str) -> str:
        """Normalise a hypothesis or reference before scoring."""
        ...


@runtime_checkable
class Preparer(Protocol):
    """A corpus preparer (kind ``datasets``, used by ``usam prepare``)."""

    def prepare(self, root: Path, out: Path) -> list[Path]:
        """Read the corpus under ``root`` and write manifests under ``out``; returns the manifests written."""
        ...


#: The protocol each kind's built components follow (the registry checks them after every build).
PROTOCOLS: Mapping[str, type] = {
    "encoders": Encoder,
    "projectors": Projector,
    "llms": LanguageModel,
    "losses": Loss,
    "metrics": Metric,
    "tasks": Task,
    "datasets": Preparer,
}


def protocol_members(protocol: type) -> list[str]:
    """The members a protocol declares: annotated attributes, then methods (``__call__`` included)."""
    names: list[str] = []
    for cls in reversed(protocol.__mro__):
        if not getattr(cls, "_is_protocol", False) or cls is Protocol:
            continue
        names += [n for n in getattr(cls, "__annotations__", {}) if not n.startswith("_")]
        names += [n for n, v in vars(cls).items() if callable(v) and (n == "__call__" or n[0] != "_")]
    return list(dict.fromkeys(names))


def missing_members(obj: Any, protocol: type) -> list[str]:
    """The members of ``protocol`` that ``obj`` lacks (a method that is not callable counts as missing)."""
    methods = {n for cls in protocol.__mro__ for n, v in vars(cls).items() if callable(v)}
    missing = []
    for name in protocol_members(protocol):
        if name == "__call__":
            if not callable(obj):
                missing.append("__call__ (not callable)")
            continue
        try:
            value = getattr(obj, name)
        except AttributeError:
            missing.append(name)
            continue
        except Exception:  # a property that fails here still exists
            continue
        if name in methods and not callable(value):
            missing.append(f"{name} (not callable)")
    return missing


def lengths_to_mask(lengths: torch.Tensor, max_len: int | None = None) -> torch.Tensor:
    """``[B]`` lengths to a ``[B, T]`` bool mask, True on valid positions.

    The contract's name for :func:`usam_toolkit.masks.lengths_to_mask` (imported lazily, so that this
    module stays free of torch); masked reductions live in :mod:`usam_toolkit.masks` too.
    """
    from .masks import lengths_to_mask as _lengths_to_mask

    return _lengths_to_mask(lengths, max_len)


@dataclass
class StepOutput:
    """What a model's training forward returns to the trainer.

    Attributes:
        loss: weighted total loss (scalar tensor with grad).
        logs: per-term values as plain floats (e.g. ``{"loss/cross_entropy": 2.3}``).
        batch_size: samples in the batch.
        audio_seconds: total audio seconds in the batch.
        extras: analysis tensors (e.g. TAPM ``routing_weights`` ``[B, N]`` and ``task_ids`` ``[B]``).
    """

    loss: torch.Tensor
    logs: dict[str, float] = field(default_factory=dict)
    batch_size: int = 0
    audio_seconds: float = 0.0
    extras: dict[str, torch.Tensor] = field(default_factory=dict)
