"""Built-in corpus preparers for ``usam prepare <corpus> --root DIR --out DIR``.

Each build function returns an object with ``prepare(root: Path, out: Path) -> list[Path]`` (the
manifests written; :class:`usam_toolkit.interfaces.Preparer`); the layout each expects is in its module's
docstring. Package shape (as for every built-in kind): this file holds the hook and lazy trampolines;
:mod:`.configs` the config dataclasses; ``<name>.py`` the preparer with its ``build_<name>`` and
``<name>_example``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from usam_toolkit.hookspecs import RegisterFn, hookimpl
from usam_toolkit.interfaces import BuildContext


def build_librispeech(cfg: Any, ctx: BuildContext) -> Any:
    """LibriSpeech ASR manifests from LibriSpeech/<split>/<spk>/<chapter>/*.flac + *.trans.txt."""
    from .librispeech import build_librispeech as build

    return build(cfg, ctx)


def librispeech_example(tmp_dir: Path) -> dict[str, Any]:
    from .librispeech import librispeech_example as example

    return example(tmp_dir)


def build_covost2(cfg: Any, ctx: BuildContext) -> Any:
    """CoVoST 2 en->X (default zh-CN, de) manifests from covost TSVs + Common Voice en/clips."""
    from .covost2 import build_covost2 as build

    return build(cfg, ctx)


def covost2_example(tmp_dir: Path) -> dict[str, Any]:
    from .covost2 import covost2_example as example

    return example(tmp_dir)


def build_audiocaps(cfg: Any, ctx: BuildContext) -> Any:
    """AudioCaps captioning manifests from train/val/test.csv + downloaded clips."""
    from .audiocaps import build_audiocaps as build

    return build(cfg, ctx)


def audiocaps_example(tmp_dir: Path) -> dict[str, Any]:
    from .audiocaps import audiocaps_example as example

    return example(tmp_dir)


def build_clotho(cfg: Any, ctx: BuildContext) -> Any:
    """Clotho captioning manifests from clotho_captions_<split>.csv + <split>/ audio folders."""
    from .clotho import build_clotho as build

    return build(cfg, ctx)


def clotho_example(tmp_dir: Path) -> dict[str, Any]:
    from .clotho import clotho_example as example

    return example(tmp_dir)


def build_wavcaps(cfg: Any, ctx: BuildContext) -> Any:
    """WavCaps captioning manifests from json_files/<Source>/*.json + <Source>_flac/ audio."""
    from .wavcaps import build_wavcaps as build

    return build(cfg, ctx)


def wavcaps_example(tmp_dir: Path) -> dict[str, Any]:
    from .wavcaps import wavcaps_example as example

    return example(tmp_dir)


def build_musiccaps(cfg: Any, ctx: BuildContext) -> Any:
    """MusicCaps music-captioning manifests from musiccaps-public.csv + <ytid>.wav clips."""
    from .musiccaps import build_musiccaps as build

    return build(cfg, ctx)


def musiccaps_example(tmp_dir: Path) -> dict[str, Any]:
    from .musiccaps import musiccaps_example as example

    return example(tmp_dir)


@hookimpl
def usam_register_datasets(register: RegisterFn) -> None:
    """Register the built-in datasets."""
    from . import configs as c

    register("librispeech", build_librispeech, c.LibriSpeechConfig, example=librispeech_example)
    register("covost2", build_covost2, c.Covost2Config, example=covost2_example)
    register("audiocaps", build_audiocaps, c.AudioCapsConfig, example=audiocaps_example)
    register("clotho", build_clotho, c.ClothoConfig, example=clotho_example)
    register("wavcaps", build_wavcaps, c.WavCapsConfig, example=wavcaps_example)
    register("musiccaps", build_musiccaps, c.MusicCapsConfig, example=musiccaps_example)
