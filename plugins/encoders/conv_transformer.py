"""The ``conv_transformer`` encoder: a small configurable encoder for tests and the mini world.

Log-mel frontend (``torchaudio.transforms.MelSpectrogram``, no centring, so frame ``i`` covers samples
``[i*hop, i*hop + win)`` and a clip of ``N`` samples has exactly ``1 + (N - win) // hop`` frames), a stack
of stride-``s`` convolutions (kernel 3, padding 1: ``ceil(L / s)`` frames each, with frames past each clip
zeroed before every convolution so padding never leaks), sinusoidal positions, and pre-norm transformer
layers with a key padding mask. Its sample rate and frame rate are configurable so it can stand in for
any real encoder (Whisper 16 kHz/50 Hz, MERT 24 kHz/75 Hz, a sound-event CNN ...).
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from usam_toolkit.errors import ConfigError
from usam_toolkit.interfaces import BuildContext, EncoderOutput
from usam_toolkit.masks import lengths_to_mask

from .common import conv_out_length, fingerprint
from .configs import ConvTransformerConfig


class _Layer(nn.Module):
    """Pre-norm transformer layer with named projections (so LoRA can target ``q_proj``/``v_proj``)."""

    def __init__(self, dim: int, heads: int, ffn_dim: int, dropout: float):
        super().__init__()
        self.heads = heads
        self.norm1 = nn.LayerNorm(dim)
        self.q_proj = nn.Linear(dim, dim)
        self.k_proj = nn.Linear(dim, dim)
        self.v_proj = nn.Linear(dim, dim)
        self.out_proj = nn.Linear(dim, dim)
        self.norm2 = nn.LayerNorm(dim)
        self.fc1 = nn.Linear(dim, ffn_dim)
        self.fc2 = nn.Linear(ffn_dim, dim)
        self.dropout = dropout

    def forward(self, x: torch.Tensor, key_valid: torch.Tensor) -> torch.Tensor:
        """``x`` ``[B, T, D]``; ``key_valid`` ``[B, T]`` bool, True where a key may be attended."""
        b, t, d = x.shape
        h = self.norm1(x)

        def split(y: torch.Tensor) -> torch.Tensor:
            return y.view(b, t, self.heads, d // self.heads).transpose(1, 2)

        p = self.dropout if self.training else 0.0
        att = F.scaled_dot_product_attention(
            split(self.q_proj(h)),
            split(self.k_proj(h)),
            split(self.v_proj(h)),
            attn_mask=key_valid[:, None, None, :],
            dropout_p=p,
        )
        x = x + F.dropout(self.out_proj(att.transpose(1, 2).reshape(b, t, d)), p, self.training)
        return x + F.dropout(self.fc2(F.gelu(self.fc1(self.norm2(x)))), p, self.training)


class ConvTransformerEncoder(nn.Module):
    """Log-mel -> strided convs -> transformer; see the module docstring.

    Attributes:
        output_dim: ``dim``.
        frame_rate: ``sample_rate / hop / prod(strides)`` frames/s.
        sample_rate: from the config.
    """

    def __init__(self, cfg: ConvTransformerConfig):
        super().__init__()
        import torchaudio

        if cfg.dim % cfg.heads:
            raise ConfigError(f"heads: {cfg.heads} does not divide dim {cfg.dim}")
        if not cfg.strides or any(int(s) < 1 for s in cfg.strides):
            raise ConfigError(f"strides: {cfg.strides} must be a non-empty list of integers >= 1")
        self.cfg = cfg
        self.sample_rate = int(cfg.sample_rate)
        self.win = round(cfg.sample_rate * cfg.win_ms / 1000)
        self.hop = round(cfg.sample_rate * cfg.hop_ms / 1000)
        self.strides = [int(s) for s in cfg.strides]
        self.frame_rate = self.sample_rate / self.hop / math.prod(self.strides)
        self.output_dim = int(cfg.dim)
        self.mel = torchaudio.transforms.MelSpectrogram(
            sample_rate=self.sample_rate,
            n_fft=self.win,
            win_length=self.win,
            hop_length=self.hop,
            n_mels=cfg.n_mels,
            center=False,
            power=2.0,
        )
        dims = [cfg.n_mels] + [cfg.dim] * len(self.strides)
        self.convs = nn.ModuleList(
            nn.Conv1d(dims[i], dims[i + 1], kernel_size=3, stride=s, padding=1)
            for i, s in enumerate(self.strides)
        )
        self.layers = nn.ModuleList(
            _Layer(cfg.dim, cfg.heads, cfg.ffn_dim or 4 * cfg.dim, cfg.dropout) for _ in range(cfg.layers)
        )
        self.norm = nn.LayerNorm(cfg.dim)

    def output_lengths(self, audio_lengths: torch.Tensor) -> torch.Tensor:
        """``[B]`` valid frames for ``[B]`` sample counts (frontend, then each conv)."""
        lengths = torch.div(audio_lengths - self.win, self.hop, rounding_mode="floor") + 1
        lengths = lengths.clamp_min(0)
        for s in self.strides:
            lengths = torch.where(lengths > 0, conv_out_length(lengths, 3, s, 1), lengths)
        return lengths

    def _positions(self, t: int, device: torch.device) -> torch.Tensor:
        pos = torch.arange(t, device=device, dtype=torch.float32)[:, None]
        freq = torch.exp(
            torch.arange(0, self.output_dim, 2, device=device) * (-math.log(10000.0) / self.output_dim)
        )
        pe = torch.zeros(t, self.output_dim, device=device)
        pe[:, 0::2] = torch.sin(pos * freq)
        pe[:, 1::2] = torch.cos(pos * freq[: self.output_dim // 2])
        return pe

    def forward(self, audio: torch.Tensor, audio_lengths: torch.Tensor) -> EncoderOutput:
        """Encode ``audio`` ``[B, N]`` with ``audio_lengths`` ``[B]`` -> features ``[B, T, dim]``."""
        audio_lengths = audio_lengths.to(torch.long)
        if audio.shape[1] < self.win:
            audio = F.pad(audio, (0, self.win - audio.shape[1]))
        x = torch.log(self.mel(audio.float()) + 1e-6)  # [B, n_mels, F]
        lengths = torch.div(audio_lengths - self.win, self.hop, rounding_mode="floor").clamp_min(-1) + 1
        for conv, s in zip(self.convs, self.strides):
            # Zero frames past each clip: the conv's window at the last valid frame must see zeros,
            # exactly like its own padding does for a clip alone.
            valid = lengths_to_mask(lengths, x.shape[-1])
            x = F.gelu(conv(x * valid[:, None, :].to(x.dtype)))
            lengths = torch.where(lengths > 0, conv_out_length(lengths, 3, s, 1), lengths)
        h = x.transpose(1, 2)
        t = h.shape[1]
        h = h + self._positions(t, h.device).to(h.dtype)
        valid = lengths_to_mask(lengths, t)
        # A clip without frames would mask every key (NaN); let it see frame 0 and zero it afterwards.
        key_valid = valid.clone()
        key_valid[:, 0] = True
        for layer in self.layers:
            h = layer(h, key_valid)
        h = self.norm(h) * valid[..., None].to(h.dtype)
        return EncoderOutput(features=h, lengths=lengths, frame_rate=self.frame_rate)

    def fingerprint(self) -> str:
        """sha256 over the config and weights (cached)."""
        return fingerprint(self, self.cfg)


def build_conv_transformer(cfg: ConvTransformerConfig, ctx: BuildContext) -> ConvTransformerEncoder:
    """Small log-mel + conv + transformer encoder (random or from safetensors), any sample/frame rate."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(cfg.seed)
        module = ConvTransformerEncoder(cfg)
    if cfg.path:
        from safetensors.torch import load_file

        path = ctx.resolve_path(cfg.path)
        if not path.is_file():
            raise ConfigError(f"path: safetensors file '{path}' does not exist")
        state = load_file(str(path))
        own = module.state_dict()
        bad = [k for k in own if k not in state and not k.startswith("mel.")] + [
            k for k in state if k not in own
        ]
        bad += [
            f"{k} {tuple(v.shape)} != {tuple(own[k].shape)}"
            for k, v in state.items()
            if k in own and v.shape != own[k].shape
        ]
        if bad:
            raise ConfigError(f"path: '{path}' does not match this conv_transformer config: {bad[:8]}")
        module.load_state_dict(state, strict=False)
    return module


def save_conv_transformer(module: ConvTransformerEncoder, path: Path) -> None:
    """Write ``module``'s weights (without the fixed mel filters) as safetensors, loadable with ``path:``."""
    from safetensors.torch import save_file

    state = {k: v.detach().contiguous() for k, v in module.state_dict().items() if not k.startswith("mel.")}
    save_file(state, str(path))


def conv_transformer_example(tmp_dir: Path) -> dict[str, Any]:
    """A tiny random instance (no files needed)."""
    return {"dim": 16, "layers": 1, "heads": 2, "n_mels": 16, "strides": [2]}
