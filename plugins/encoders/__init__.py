"""Built-in encoders: whisper, ced, mert, sound_cnn, and conv_transformer (small, for tests and the mini world)."""

from __future__ import annotations

from usam_toolkit.hookspecs import RegisterFn, hookimpl


@hookimpl
def usam_register_encoders(register: RegisterFn) -> None:
    """Register the built-in encoders (configs only; model code loads when an encoder is built)."""
    from . import configs as c

    register("whisper", c.build_whisper, c.WhisperConfig, requires=("transformers",), example=c.whisper_example)
    register("conv_transformer", c.build_conv_transformer, c.ConvTransformerConfig, example=c.conv_transformer_example)
    register("ced", c.build_ced, c.CedConfig, requires=("safetensors", "torchaudio"), example=c.ced_example)
    register("mert", c.build_mert, c.MertConfig, requires=("safetensors",), example=c.mert_example)
    register("sound_cnn", c.build_sound_cnn, c.SoundCnnConfig, requires=("torchaudio", "numpy"),
             example=c.sound_cnn_example)
