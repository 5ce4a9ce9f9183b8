"""Config dataclasses of the built-in tasks (nothing else).

Each task's ``build_<name>`` lives in its module (``base.py`` holds the shared :class:`PromptTask`);
``__init__`` registers them through lazy trampolines.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from usam_toolkit.errors import ConfigError

AUDIO_OPEN = "<Audio>"
AUDIO_CLOSE = "</Audio>"
# Mirrors usam_toolkit.data.dataset.LENGTH_POLICIES, repeated so that validating a recipe imports no data code
LENGTH_POLICIES = ("crop", "skip", "split")


@dataclass
class PromptTaskConfig:
    """Fields common to every built-in task.

    Attributes:
        prompts: paraphrases of the instruction; empty = the task's built-in list.
        audio_open: text before the audio tokens.
        audio_close: text right after the audio tokens (the instruction follows after a space).
        instruction_first: put the instruction before the audio, so the answer follows the audio
            directly (the small LM then attends to audio tokens a few positions back, not past a sentence).
        answer_prefix: text between the prompt and the answer, e.g. ``"\nText:"``: a cue that the answer
            starts here, which the LM also sees at generation.
        target_prefix: text prepended to the training target, e.g. ``" "`` so that the first word is the
            LM's usual space-led token after ``answer_prefix``; generated text is stripped of it.
        length_policy: what training does with this task's clips longer than ``data.max_seconds``
            (crop | skip | split); None = ``data.length_policy`` when the recipe sets one, else the
            task's own safe default (``default_length_policy``).
    """

    prompts: tuple[str, ...] = ()
    audio_open: str = AUDIO_OPEN
    audio_close: str = AUDIO_CLOSE
    instruction_first: bool = False
    answer_prefix: str = ""
    target_prefix: str = ""
    length_policy: str | None = None

    def __post_init__(self) -> None:
        if self.length_policy is not None and self.length_policy not in LENGTH_POLICIES:
            raise ConfigError(
                f"length_policy: '{self.length_policy}' is not valid "
                f"(valid: {', '.join(LENGTH_POLICIES)}, or leave it unset for the task's default)"
            )


@dataclass
class AsrConfig(PromptTaskConfig):
    """ASR task: prompts and metrics."""

    metrics: list[str] = field(default_factory=lambda: ["wer"])


@dataclass
class AacConfig(PromptTaskConfig):
    """Audio captioning: prompts and metrics."""

    metrics: list[str] = field(default_factory=lambda: ["coco_caption"])


@dataclass
class McConfig(PromptTaskConfig):
    """Music captioning: prompts and metrics."""

    metrics: list[str] = field(default_factory=lambda: ["coco_caption"])


@dataclass
class S2ttConfig(PromptTaskConfig):
    """Speech translation: prompts, metrics and the default target language.

    Attributes:
        target_lang: used when an example has no ``target_lang``; None makes that an error.
    """

    target_lang: str | None = None
    metrics: list[str] = field(default_factory=lambda: ["bleu", "chrf"])
