"""Built-in tasks: asr, s2tt, aac, mc (prompt templates in :mod:`usam_plugins.tasks.base`).

Package shape (as for every built-in kind): this file holds the hook and lazy trampolines;
:mod:`.configs` the config dataclasses; ``<name>.py`` the task with its ``build_<name>`` and
``<name>_example`` (``captioning.py`` holds both aac and mc).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from usam_toolkit.hookspecs import RegisterFn, hookimpl
from usam_toolkit.interfaces import BuildContext


def build_asr(cfg: Any, ctx: BuildContext) -> Any:
    """Speech recognition: "Transcribe the speech into text."; scored by WER."""
    from .asr import build_asr as build

    return build(cfg, ctx)


def asr_example(tmp_dir: Path) -> dict[str, Any]:
    from .asr import asr_example as example

    return example(tmp_dir)


def build_s2tt(cfg: Any, ctx: BuildContext) -> Any:
    """Speech translation: "Translate the English speech into {language}."; scored by BLEU and chrF."""
    from .s2tt import build_s2tt as build

    return build(cfg, ctx)


def s2tt_example(tmp_dir: Path) -> dict[str, Any]:
    from .s2tt import s2tt_example as example

    return example(tmp_dir)


def build_aac(cfg: Any, ctx: BuildContext) -> Any:
    """Audio captioning: "Describe the audio in a sentence."; scored by COCO caption metrics."""
    from .captioning import build_aac as build

    return build(cfg, ctx)


def aac_example(tmp_dir: Path) -> dict[str, Any]:
    from .captioning import aac_example as example

    return example(tmp_dir)


def build_mc(cfg: Any, ctx: BuildContext) -> Any:
    """Music captioning: "Describe the music in detail."; scored by COCO caption metrics."""
    from .captioning import build_mc as build

    return build(cfg, ctx)


def mc_example(tmp_dir: Path) -> dict[str, Any]:
    from .captioning import mc_example as example

    return example(tmp_dir)


@hookimpl
def usam_register_tasks(register: RegisterFn) -> None:
    """Register the built-in tasks."""
    from . import configs as c

    register("asr", build_asr, c.AsrConfig, example=asr_example)
    register("s2tt", build_s2tt, c.S2ttConfig, example=s2tt_example)
    register("aac", build_aac, c.AacConfig, example=aac_example)
    register("mc", build_mc, c.McConfig, example=mc_example)
