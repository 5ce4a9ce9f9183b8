"""Built-in encoders: whisper, ced, mert, sound_cnn, and conv_transformer (small: tests, the mini world).

The package shape every built-in kind follows:

- ``__init__.py`` (this file): the hook and one lazy trampoline per build function and example, so that
  registering (``usam list-plugins``, ``usam validate``) imports no model code;
- ``configs.py``: the config dataclasses only;
- ``<name>.py``: the component, with its ``build_<name>`` and ``<name>_example``.

No build function here freezes or adapts anything: the core applies each slot's ``mode`` / ``lora``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from usam_toolkit.hookspecs import RegisterFn, hookimpl
from usam_toolkit.interfaces import BuildContext


def build_whisper(cfg: Any, ctx: BuildContext) -> Any:
    """Whisper audio encoder (HF folder or CTranslate2 model.bin), variable-length, no 30 s padding."""
    from .whisper import build_whisper as build

    return build(cfg, ctx)


def whisper_example(tmp_dir: Path) -> dict[str, Any]:
    from .whisper import whisper_example as example

    return example(tmp_dir)


def build_conv_transformer(cfg: Any, ctx: BuildContext) -> Any:
    """Small log-mel + conv + transformer encoder (random or from safetensors), any sample rate."""
    from .conv_transformer import build_conv_transformer as build

    return build(cfg, ctx)


def conv_transformer_example(tmp_dir: Path) -> dict[str, Any]:
    from .conv_transformer import conv_transformer_example as example

    return example(tmp_dir)


def build_ced(cfg: Any, ctx: BuildContext) -> Any:
    """CED audio-tagging transformer (mispeech/ced-*) as a time-major encoder."""
    from .ced import build_ced as build

    return build(cfg, ctx)


def ced_example(tmp_dir: Path) -> dict[str, Any]:
    from .ced import ced_example as example

    return example(tmp_dir)


def build_mert(cfg: Any, ctx: BuildContext) -> Any:
    """MERT-v1 music encoder (m-a-p/MERT-v1-95M / -330M) with a learned weighted sum of layers, 24 kHz."""
    from .mert import build_mert as build

    return build(cfg, ctx)


def mert_example(tmp_dir: Path) -> dict[str, Any]:
    from .mert import mert_example as example

    return example(tmp_dir)


def build_sound_cnn(cfg: Any, ctx: BuildContext) -> Any:
    """Pretrained sound-effects CNN (aisfx, 512-d) as a frame-level encoder."""
    from .sound_cnn import build_sound_cnn as build

    return build(cfg, ctx)


def sound_cnn_example(tmp_dir: Path) -> dict[str, Any]:
    from .sound_cnn import sound_cnn_example as example

    return example(tmp_dir)


@hookimpl
def usam_register_encoders(register: RegisterFn) -> None:
    """Register the built-in encoders (configs only; model code loads when an encoder is built)."""
    from . import configs as c

    register(
        "whisper", build_whisper, c.WhisperEncoderConfig, requires=("transformers",), example=whisper_example
    )
    register(
        "conv_transformer", build_conv_transformer, c.ConvTransformerConfig, example=conv_transformer_example
    )
    register("ced", build_ced, c.CedConfig, requires=("safetensors", "torchaudio"), example=ced_example)
    register("mert", build_mert, c.MertConfig, requires=("safetensors",), example=mert_example)
    register(
        "sound_cnn",
        build_sound_cnn,
        c.SoundCnnConfig,
        requires=("torchaudio", "numpy"),
        example=sound_cnn_example,
    )
