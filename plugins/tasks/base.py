"""Shared behaviour of the built-in tasks: prompt templates, targets, references.

Prompt format (fed to the LLM as ``[prompt_left, audio tokens, prompt_right, target]``)::

    prompt_left  = "<Audio>"                                  (instruction_first: "{instruction} <Audio>")
    prompt_right = "</Audio> {instruction}{answer_prefix}"    (instruction_first: "</Audio>{answer_prefix}")
    target       = "{target_prefix}{reference}"

``instruction`` is one of the task's paraphrases (``variant`` picks it, modulo their number), or the
example's own free-form ``prompt`` field when it has one. Examples may be
:class:`usam_toolkit.data.manifest.Example` objects or plain dicts with the manifest's keys.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from .configs import LENGTH_POLICIES, PromptTaskConfig


def field_of(example: Any, key: str, default: Any = None) -> Any:
    """``example[key]`` for dicts and :class:`Example` alike; ``default`` when absent or None."""
    getter = getattr(example, "get", None)
    value = getter(key, default) if getter is not None else getattr(example, key, default)
    return default if value is None else value


class PromptTask:
    """A task defined by instruction paraphrases; subclasses set ``name``, ``metrics``,
    ``DEFAULT_PROMPTS``."""

    name: str = ""
    metrics: Sequence[str] = ()
    DEFAULT_PROMPTS: tuple[str, ...] = ()
    #: Whether outputs of consecutive windows of one recording are time-aligned text (SRT makes sense).
    timestamps: bool = False
    #: Training length policy when neither the task entry nor ``data.length_policy`` sets one. A task whose
    #: target follows the audio word for word (ASR, translation) must not crop while keeping the whole
    #: target, and cannot split without alignments; a clip-level caption survives either.
    default_length_policy: str = "crop"
    #: The policies that keep the target true to the audio that is read; another one is honoured with a
    #: warning naming the task.
    safe_length_policies: tuple[str, ...] = LENGTH_POLICIES

    def __init__(self, cfg: PromptTaskConfig, metrics: Sequence[str] | None = None):
        self.cfg = cfg
        self.prompts = tuple(cfg.prompts) or self.DEFAULT_PROMPTS
        if metrics:
            self.metrics = list(metrics)

    @property
    def num_prompt_variants(self) -> int:
        return len(self.prompts)

    @property
    def length_policy(self) -> str | None:
        """The policy the task entry of the recipe sets, or None to defer (see :class:`PromptTaskConfig`)."""
        return getattr(self.cfg, "length_policy", None)

    def instruction(self, example: Any, variant: int = 0) -> str:
        """The instruction text for ``example`` (its own ``prompt`` field wins)."""
        own = field_of(example, "prompt")
        if own:
            return str(own)
        return self.prompts[int(variant) % len(self.prompts)]

    def prompt(self, example: Any, variant: int = 0) -> tuple[str, str]:
        """``(prompt_left, prompt_right)`` around the audio tokens."""
        cfg, instruction = self.cfg, self.instruction(example, variant)
        answer = getattr(cfg, "answer_prefix", "")
        if getattr(cfg, "instruction_first", False):
            return f"{instruction} {cfg.audio_open}", f"{cfg.audio_close}{answer}"
        return cfg.audio_open, f"{cfg.audio_close} {instruction}{answer}"

    def references(self, example: Any) -> list[str]:
        """Every reference of ``example`` (``target`` as a list)."""
        target = field_of(example, "target", "")
        return [str(t) for t in target] if isinstance(target, (list, tuple)) else [str(target)]

    def target(self, example: Any) -> str:
        """The training target: the first reference, after ``target_prefix``."""
        return self.training_text(self.references(example)[0])

    def training_text(self, reference: str) -> str:
        """``reference`` as the LLM is taught to write it (``target_prefix`` first)."""
        return f"{getattr(self.cfg, 'target_prefix', '')}{reference}"

    def normalize(self, text: str) -> str:
        from usam_toolkit.text.normalize import normalize_basic

        return normalize_basic(text)
