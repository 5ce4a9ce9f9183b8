"""Helpers shared by the encoder plugins: fingerprints, lengths, chunked encoding, log-mel frontend.

Importing this module pulls in torch; plugin ``__init__`` files import it lazily (inside build
functions), never at module level.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Callable
from typing import Any

import torch
from torch import nn

from usam_toolkit.errors import ConfigError
from usam_toolkit.interfaces import EncoderOutput
from usam_toolkit.masks import padding_mask as pad_mask  # re-exported under the name encoders know

__all__ = [
    "conv_out_length",
    "encode_in_chunks",
    "fingerprint",
    "mel_filters",
    "pad_mask",
    "whisper_log_mel",
]

_FINGERPRINT_ATTR = "_usam_fingerprint_cache"


def fingerprint(module: nn.Module, cfg: Any, refresh: bool = False) -> str:
    """sha256 of ``repr(cfg)``, the class name and every parameter/buffer's name, dtype, shape and bytes.

    The result is cached on the module (hashing a large model takes seconds); pass ``refresh=True``
    after changing weights in place (training).

    Args:
        module: the encoder.
        cfg: its config dataclass instance.
        refresh: recompute even if cached.

    Returns:
        a 64-character hex digest.
    """
    cached = getattr(module, _FINGERPRINT_ATTR, None)
    if cached is not None and not refresh:
        return cached
    h = hashlib.sha256()
    h.update(type(module).__qualname__.encode())
    h.update(repr(cfg).encode())
    tensors = list(module.state_dict().items())
    for name, t in tensors:
        h.update(name.encode())
        h.update(str(t.dtype).encode())
        h.update(str(tuple(t.shape)).encode())
        data = t.detach().cpu().contiguous()
        if data.dtype == torch.bfloat16:
            data = data.view(torch.int16)
        h.update(data.numpy().tobytes())
    digest = h.hexdigest()
    object.__setattr__(module, _FINGERPRINT_ATTR, digest)
    return digest


def conv_out_length(
    length: torch.Tensor, kernel: int, stride: int, padding: int = 0, dilation: int = 1
) -> torch.Tensor:
    """Exact output length of a 1-D convolution (PyTorch's formula), element-wise on ``[B]`` lengths."""
    return torch.div(length + 2 * padding - dilation * (kernel - 1) - 1, stride, rounding_mode="floor") + 1


def encode_in_chunks(
    encode: Callable[[torch.Tensor, torch.Tensor], EncoderOutput],
    audio: torch.Tensor,
    audio_lengths: torch.Tensor,
    max_samples: int,
) -> EncoderOutput:
    """Run ``encode`` on clips of any length by cutting each one into consecutive ``max_samples`` chunks.

    Every chunk of every clip becomes one row of a single ``encode`` call, and each clip's output is its
    chunks' valid frames laid end to end, so the model downstream sees the whole clip on one time axis
    (Whisper-style 30 s windows for an encoder whose positional table stops there). Frames stay uniformly
    spaced when ``max_samples`` is a whole number of the encoder's samples per frame (480000 samples =
    1500 frames for Whisper); clips that fit are passed through in one call, untouched.

    Args:
        encode: the encoder on ``[B', N']`` audio with ``[B']`` lengths, ``N' <= max_samples``.
        audio: ``[B, N]``.
        audio_lengths: ``[B]`` valid samples.
        max_samples: the longest input ``encode`` accepts.

    Returns:
        :class:`EncoderOutput` ``[B, T, D]`` (zeros past each clip's frames), lengths the sum over its chunks.
    """
    audio_lengths = audio_lengths.to(torch.long)
    if audio.shape[0] == 0 or int(audio_lengths.max()) <= max_samples:
        return encode(audio, audio_lengths)
    owner: list[int] = []
    spans: list[tuple[int, int]] = []
    for b, n in enumerate(audio_lengths.tolist()):
        for start in range(0, max(int(n), 1), max_samples):
            owner.append(b)
            spans.append((start, min(start + max_samples, int(n))))
    chunks = audio.new_zeros(len(spans), max(end - start for start, end in spans))
    for i, (b, (start, end)) in enumerate(zip(owner, spans)):
        chunks[i, : end - start] = audio[b, start:end]
    lengths = torch.tensor([end - start for start, end in spans], dtype=torch.long, device=audio.device)
    out = encode(chunks, lengths)
    per_clip: list[list[torch.Tensor]] = [[] for _ in range(audio.shape[0])]
    for i, b in enumerate(owner):
        per_clip[b].append(out.features[i, : int(out.lengths[i])])
    joined = [torch.cat(parts) for parts in per_clip]
    t = max(x.shape[0] for x in joined)
    feats = out.features.new_zeros(audio.shape[0], t, out.features.shape[-1])
    for b, x in enumerate(joined):
        feats[b, : x.shape[0]] = x
    clip_lengths = torch.tensor([x.shape[0] for x in joined], dtype=torch.long, device=out.lengths.device)
    return EncoderOutput(features=feats, lengths=clip_lengths, frame_rate=out.frame_rate)


# --------------------------------------------------------------------------------------------------
# Whisper log-mel frontend (matches openai/whisper and transformers' WhisperFeatureExtractor)
# --------------------------------------------------------------------------------------------------
_MEL_CACHE: dict[tuple[int, int, int], torch.Tensor] = {}


def _hz_to_mel_slaney(f: torch.Tensor) -> torch.Tensor:
    f_sp = 200.0 / 3
    mels = f / f_sp
    min_log_hz = 1000.0
    min_log_mel = min_log_hz / f_sp
    logstep = math.log(6.4) / 27.0
    return torch.where(
        f >= min_log_hz, min_log_mel + torch.log(f.clamp_min(1e-10) / min_log_hz) / logstep, mels
    )


def _mel_to_hz_slaney(m: torch.Tensor) -> torch.Tensor:
    f_sp = 200.0 / 3
    freqs = f_sp * m
    min_log_hz = 1000.0
    min_log_mel = min_log_hz / f_sp
    logstep = math.log(6.4) / 27.0
    return torch.where(m >= min_log_mel, min_log_hz * torch.exp(logstep * (m - min_log_mel)), freqs)


def mel_filters(n_mels: int, sample_rate: int = 16000, n_fft: int = 400) -> torch.Tensor:
    """``[n_mels, n_fft//2 + 1]`` Slaney-scale, Slaney-normalised triangular filters (librosa's default)."""
    key = (n_mels, sample_rate, n_fft)
    if key not in _MEL_CACHE:
        n_freqs = n_fft // 2 + 1
        fft_freqs = torch.linspace(0, sample_rate / 2, n_freqs, dtype=torch.float64)
        mel_pts = torch.linspace(
            _hz_to_mel_slaney(torch.tensor(0.0, dtype=torch.float64)).item(),
            _hz_to_mel_slaney(torch.tensor(sample_rate / 2, dtype=torch.float64)).item(),
            n_mels + 2,
            dtype=torch.float64,
        )
        hz = _mel_to_hz_slaney(mel_pts)
        fdiff = hz[1:] - hz[:-1]
        ramps = hz[:, None] - fft_freqs[None, :]
        lower = -ramps[:-2] / fdiff[:-1, None]
        upper = ramps[2:] / fdiff[1:, None]
        weights = torch.clamp(torch.minimum(lower, upper), min=0.0)
        enorm = 2.0 / (hz[2 : n_mels + 2] - hz[:n_mels])
        _MEL_CACHE[key] = (weights * enorm[:, None]).float()
    return _MEL_CACHE[key]


def whisper_log_mel(audio: torch.Tensor, n_mels: int = 80, n_fft: int = 400, hop: int = 160) -> torch.Tensor:
    """Whisper's log-mel spectrogram of ONE clip of its real length (no padding to 30 s).

    STFT with a periodic Hann window and reflect padding, power spectrum without the last frame,
    Slaney mel filters, ``log10(max(x, 1e-10))``, clamp to ``max - 8``, then ``(x + 4) / 4``.

    Args:
        audio: ``[N]`` float mono at 16 kHz.
        n_mels: 80 (Whisper up to v3) or 128 (large-v3).

    Returns:
        ``[n_mels, N // hop]`` (frames).
    """
    audio = audio.float()
    window = torch.hann_window(n_fft, device=audio.device)
    stft = torch.stft(audio, n_fft, hop, window=window, return_complex=True)
    power = stft[..., :-1].abs() ** 2
    mel = mel_filters(n_mels, 16000, n_fft).to(audio.device) @ power
    log_spec = torch.clamp(mel, min=1e-10).log10()
    log_spec = torch.maximum(log_spec, log_spec.max() - 8.0)
    return (log_spec + 4.0) / 4.0


def load_state_checked(
    model: nn.Module, state: dict[str, torch.Tensor], where: str, source: Any, what: str
) -> None:
    """Load ``state`` into ``model`` after checking every name and shape.

    Args:
        model: the freshly built module.
        state: the checkpoint's tensors, already renamed to the module's names.
        where: the recipe key, for errors.
        source: the weights file, for errors.
        what: what the checkpoint should match, e.g. ``CED (768-d, 12 blocks)``.

    Raises:
        ConfigError: naming missing, unexpected or mis-shaped tensors.
    """
    expected = model.state_dict()
    missing = sorted(set(expected) - set(state))
    unexpected = sorted(set(state) - set(expected))
    if missing or unexpected:
        raise ConfigError(
            f"{where}: {source} does not match {what}: missing {missing[:6]}, unexpected {unexpected[:6]}"
        )
    for k, v in state.items():
        if v.shape != expected[k].shape:
            raise ConfigError(
                f"{where}: {source}: '{k}' has shape {tuple(v.shape)}, expected {tuple(expected[k].shape)}"
            )
    model.load_state_dict(state)
