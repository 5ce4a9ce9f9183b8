"""Built-in corpus preparers for ``usam prepare <corpus> --root DIR --out DIR``.

Each build function returns an object with ``prepare(root: Path, out: Path) -> list[Path]`` (the
manifests written); the layout each expects is in its module's docstring.
"""

from __future__ import annotations

from usam_toolkit.hookspecs import RegisterFn, hookimpl


def _defaults(tmp_dir) -> dict:
    return {}


@hookimpl
def usam_register_datasets(register: RegisterFn) -> None:
    """Register the built-in datasets."""
    from .audiocaps import AudioCapsConfig, build_audiocaps
    from .clotho import ClothoConfig, build_clotho
    from .covost2 import Covost2Config, build_covost2
    from .librispeech import LibriSpeechConfig, build_librispeech
    from .musiccaps import MusicCapsConfig, build_musiccaps
    from .wavcaps import WavCapsConfig, build_wavcaps

    register("librispeech", build_librispeech, LibriSpeechConfig, example=_defaults)
    register("covost2", build_covost2, Covost2Config, example=_defaults)
    register("audiocaps", build_audiocaps, AudioCapsConfig, example=_defaults)
    register("clotho", build_clotho, ClothoConfig, example=_defaults)
    register("wavcaps", build_wavcaps, WavCapsConfig, example=_defaults)
    register("musiccaps", build_musiccaps, MusicCapsConfig, example=_defaults)
