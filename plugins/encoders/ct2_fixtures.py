"""Test fixtures: a tiny random Whisper, and that model written as a real CTranslate2 ``model.bin``.

Used by the tests and by the ``whisper`` encoder's ``*_example`` (conformance checks need a model file).
"""

from __future__ import annotations

import json
from pathlib import Path

from .ct2_format import write_model_bin
from .whisper_ct2_names import whisper_hf_to_ct2


def tiny_whisper_state(
    seed: int = 0,
    d_model: int = 16,
    layers: int = 2,
    heads: int = 2,
    n_mels: int = 80,
    vocab: int = 64,
    max_source_positions: int = 1500,
) -> tuple[dict, dict]:
    """A random tiny ``WhisperForConditionalGeneration`` state dict (every tensor random, biases and norms
    included, so that a layout mistake changes outputs) and its HF config dict."""
    import torch
    from transformers import WhisperConfig as HFWhisperConfig
    from transformers import WhisperForConditionalGeneration

    config = {
        "vocab_size": vocab,
        "num_mel_bins": n_mels,
        "d_model": d_model,
        "encoder_layers": layers,
        "decoder_layers": layers,
        "encoder_attention_heads": heads,
        "decoder_attention_heads": heads,
        "encoder_ffn_dim": 2 * d_model,
        "decoder_ffn_dim": 2 * d_model,
        "max_source_positions": max_source_positions,
        "max_target_positions": 32,
        "bos_token_id": 0,
        "eos_token_id": 0,
        "pad_token_id": 0,
        "decoder_start_token_id": 1,
        "suppress_tokens": [],
        "begin_suppress_tokens": [],
    }
    torch.manual_seed(seed)
    model = WhisperForConditionalGeneration(HFWhisperConfig(**config))
    gen = torch.Generator().manual_seed(seed)
    state = {}
    for name, t in model.state_dict().items():
        if name == "proj_out.weight":
            continue
        if name.endswith("k_proj.bias"):
            continue
        std = (
            0.5
            if t.ndim == 1
            else 1.0 / max(1, t.shape[-1] if t.ndim == 2 else t.shape[1] * t.shape[2]) ** 0.5
        )
        value = torch.randn(t.shape, generator=gen) * std
        if "layer_norm" in name and name.endswith("weight"):
            value = 1.0 + 0.2 * torch.randn(t.shape, generator=gen)
        state[name] = value
    return state, config


def write_tiny_whisper_ct2(
    folder: Path, seed: int = 0, quantization: str | None = None, **sizes: int
) -> Path:
    """Write a tiny random Whisper as a CTranslate2 ``model.bin`` (+ its CTranslate2 ``config.json``) in
    ``folder``.

    Returns:
        the path of ``model.bin``.
    """
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    state, config = tiny_whisper_state(seed, **sizes)
    model = whisper_hf_to_ct2(
        state, config["encoder_attention_heads"], config["decoder_attention_heads"], quantization
    )
    write_model_bin(folder / "model.bin", model)
    (folder / "config.json").write_text(
        json.dumps(
            {"suppress_ids": [], "suppress_ids_begin": [], "lang_ids": [], "alignment_heads": [[1, 0]]}
        )
    )
    return folder / "model.bin"
