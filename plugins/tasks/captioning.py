"""Audio captioning (aac) and music captioning (mc): several references, COCO caption metrics."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from usam_toolkit.interfaces import BuildContext

from .base import PromptTask
from .configs import AacConfig, McConfig

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


class AacTask(PromptTask):
    name = "aac"
    metrics: tuple[str, ...] = ("coco_caption",)
    DEFAULT_PROMPTS = AAC_PROMPTS


class McTask(PromptTask):
    name = "mc"
    metrics: tuple[str, ...] = ("coco_caption",)
    DEFAULT_PROMPTS = MC_PROMPTS


def build_aac(cfg: AacConfig, ctx: BuildContext) -> AacTask:
    """Audio captioning: "Describe the audio in a sentence."; scored by COCO caption metrics."""
    return AacTask(cfg, cfg.metrics)


def build_mc(cfg: McConfig, ctx: BuildContext) -> McTask:
    """Music captioning: "Describe the music in detail."; scored by COCO caption metrics."""
    return McTask(cfg, cfg.metrics)


def aac_example(tmp_dir: Path) -> dict[str, Any]:
    """The defaults build it."""
    return {}


def mc_example(tmp_dir: Path) -> dict[str, Any]:
    """The defaults build it."""
    return {}
