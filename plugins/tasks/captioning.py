"""Audio captioning (aac) and music captioning (mc): several references, COCO caption metrics."""

from __future__ import annotations

from dataclasses import dataclass, field

from .base import PromptTask, PromptTaskConfig

AAC_PROMPTS = (
    "Describe the audio in a sentence.",
    "Write a one-sentence caption for the sound.",
    "What can be heard in this recording? Answer in one sentence.",
    "Summarize the audio content in a sentence.",
)
MC_PROMPTS = (
    "Describe the music in detail.",
    "Write a detailed description of this piece of music.",
    "Describe the genre, instruments, mood and tempo of the music.",
    "Give a detailed caption of the music.",
)


@dataclass
class AacConfig(PromptTaskConfig):
    """Audio captioning: prompts and metrics."""

    metrics: list[str] = field(default_factory=lambda: ["coco_caption"])


@dataclass
class McConfig(PromptTaskConfig):
    """Music captioning: prompts and metrics."""

    metrics: list[str] = field(default_factory=lambda: ["coco_caption"])


class AacTask(PromptTask):
    name = "aac"
    metrics: tuple[str, ...] = ("coco_caption",)
    DEFAULT_PROMPTS = AAC_PROMPTS


class McTask(PromptTask):
    name = "mc"
    metrics: tuple[str, ...] = ("coco_caption",)
    DEFAULT_PROMPTS = MC_PROMPTS


def build_aac(cfg: AacConfig, ctx) -> AacTask:
    """Audio captioning: "Describe the audio in a sentence."; scored by COCO caption metrics."""
    return AacTask(cfg, cfg.metrics)


def build_mc(cfg: McConfig, ctx) -> McTask:
    """Music captioning: "Describe the music in detail."; scored by COCO caption metrics."""
    return McTask(cfg, cfg.metrics)
