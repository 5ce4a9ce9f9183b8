"""CED (Dinkel et al., "CED: Consistent ensemble distillation for audio tagging"), implemented natively.

Loads the official checkpoints without remote code:

- the Hugging Face format of ``mispeech/ced-{tiny,mini,small,base}``: a folder with ``config.json`` and
  ``model.safetensors`` or ``pytorch_model.bin`` whose names come from their ``CedForAudioClassification``
  (``encoder.patch_embed.proj.weight``, ``encoder.blocks.0.attn.qkv.weight``, ``outputlayer.1.weight``...);
- the original repository's ``.pt`` state dict (RicherMans/CED; ``init_bn.1.*``, ``front_end.*``), given
  as a file path (hyper-parameters are read off the tensor shapes).

The network: log-mel (16 kHz, 64 mels, n_fft 512, window 512, hop 160, amplitude-to-dB with a 120 dB
floor) -> batch-norm over mel bins (running statistics) -> 16x16 patches -> separate time and frequency
positional embeddings -> pre-norm ViT blocks -> layer norm.

Choices that differ from the reference code on purpose:

- Tokens are TIME-MAJOR and the output is one vector per time-patch column: the mean over the frequency
  patches of that column (``freq_pooling: mean``, width D) or their concatenation (``concat``, width
  ``D * n_mels/16``). Frame rate = 16000 / hop / patch_stride = 6.25 frames/s for the official models.
- Long inputs are cut into chunks of ``(target_length // patch_stride)`` whole patch columns (63 columns
  = 1008 frames for the official models) rather than 1012 frames, so every chunk boundary falls on a
  patch boundary and the output frames stay uniformly spaced. The last chunk is not padded: the time
  positional embedding is sliced to its length, as CED does for short clips.
- Each clip's spectrogram is computed alone (its own reflect padding and dB floor), and attention masks
  hide the patch columns past a clip's length, so padding never changes valid frames.
- ``init_bn`` always uses its running statistics (also in ``trainable`` mode): batch statistics would
  mix padding into the normalisation.
- The fused ``qkv`` projection is split into ``q_proj``/``k_proj``/``v_proj`` at load time so that LoRA
  can target the query and value projections by name (the paper's LoRA targets).
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from usam_toolkit.errors import ConfigError
from usam_toolkit.interfaces import BuildContext, EncoderOutput
from usam_toolkit.masks import lengths_to_mask

from .common import fingerprint, load_state_checked
from .configs import CedConfig

FREQ_POOLINGS = ("mean", "concat")
# Official CED models keep 64-d attention heads (tiny 192/3, mini 256/4, small 384/6, base 768/12).
_HEAD_DIM = 64


@dataclass
class CedHyper:
    """Architecture and frontend hyper-parameters (those of a CED ``config.json``)."""

    embed_dim: int = 768
    depth: int = 12
    num_heads: int = 12
    mlp_ratio: float = 4.0
    qkv_bias: bool = True
    patch_size: int = 16
    patch_stride: int = 16
    target_length: int = 1012
    n_mels: int = 64
    n_fft: int = 512
    win_size: int = 512
    hop_size: int = 160
    f_min: float = 0.0
    f_max: float = 8000.0
    center: bool = True
    sample_rate: int = 16000
    top_db: float = 120.0


# --------------------------------------------------------------------------------------------------
# Network
# --------------------------------------------------------------------------------------------------
class CedAttention(nn.Module):
    """Multi-head self-attention with separate q/k/v projections and a key padding mask."""

    def __init__(self, dim: int, num_heads: int, qkv_bias: bool) -> None:
        super().__init__()
        if dim % num_heads:
            raise ConfigError(f"ced: embed_dim {dim} is not divisible by num_heads {num_heads}")
        self.num_heads = num_heads
        self.q_proj = nn.Linear(dim, dim, bias=qkv_bias)
        self.k_proj = nn.Linear(dim, dim, bias=qkv_bias)
        self.v_proj = nn.Linear(dim, dim, bias=qkv_bias)
        self.proj = nn.Linear(dim, dim)

    def forward(self, x: torch.Tensor, keep: torch.Tensor) -> torch.Tensor:
        """``x`` ``[B, N, D]``, ``keep`` ``[B, N]`` bool (True = a valid key) -> ``[B, N, D]``."""
        b, n, d = x.shape
        h = self.num_heads

        def split(t: torch.Tensor) -> torch.Tensor:
            return t.view(b, n, h, d // h).transpose(1, 2)

        q, k, v = split(self.q_proj(x)), split(self.k_proj(x)), split(self.v_proj(x))
        out = F.scaled_dot_product_attention(q, k, v, attn_mask=keep[:, None, None, :])
        return self.proj(out.transpose(1, 2).reshape(b, n, d))


class CedMlp(nn.Module):
    def __init__(self, dim: int, hidden: int) -> None:
        super().__init__()
        self.fc1 = nn.Linear(dim, hidden)
        self.fc2 = nn.Linear(hidden, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc2(F.gelu(self.fc1(x)))


class CedBlock(nn.Module):
    """Pre-norm transformer block (layer norm eps 1e-6, as timm's ViT)."""

    def __init__(self, dim: int, num_heads: int, mlp_ratio: float, qkv_bias: bool) -> None:
        super().__init__()
        self.norm1 = nn.LayerNorm(dim, eps=1e-6)
        self.attn = CedAttention(dim, num_heads, qkv_bias)
        self.norm2 = nn.LayerNorm(dim, eps=1e-6)
        self.mlp = CedMlp(dim, int(dim * mlp_ratio))

    def forward(self, x: torch.Tensor, keep: torch.Tensor) -> torch.Tensor:
        x = x + self.attn(self.norm1(x), keep)
        return x + self.mlp(self.norm2(x))


class CedPatchEmbed(nn.Module):
    def __init__(self, dim: int, patch_size: int, patch_stride: int) -> None:
        super().__init__()
        self.proj = nn.Conv2d(1, dim, kernel_size=patch_size, stride=patch_stride)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``[B, 1, F, T]`` -> ``[B, D, F', T']``."""
        return self.proj(x)


class CedBackbone(nn.Module):
    """The CED audio transformer without its classifier head; parameter names follow the checkpoints."""

    def __init__(self, hp: CedHyper) -> None:
        super().__init__()
        self.hp = hp
        if hp.patch_size != hp.patch_stride:
            raise ConfigError(
                f"ced: patch_size {hp.patch_size} != patch_stride {hp.patch_stride}; only non-overlapping "
                "patches (all official CED models) keep frames aligned to time"
            )
        self.freq_patches = (hp.n_mels - hp.patch_size) // hp.patch_stride + 1
        self.time_patches = (hp.target_length - hp.patch_size) // hp.patch_stride + 1
        self.init_bn = nn.BatchNorm2d(hp.n_mels, momentum=0.01)
        self.patch_embed = CedPatchEmbed(hp.embed_dim, hp.patch_size, hp.patch_stride)
        self.time_pos_embed = nn.Parameter(torch.randn(1, hp.embed_dim, 1, self.time_patches) * 0.02)
        self.freq_pos_embed = nn.Parameter(torch.randn(1, hp.embed_dim, self.freq_patches, 1) * 0.02)
        self.blocks = nn.ModuleList(
            CedBlock(hp.embed_dim, hp.num_heads, hp.mlp_ratio, hp.qkv_bias) for _ in range(hp.depth)
        )
        self.norm = nn.LayerNorm(hp.embed_dim, eps=1e-6)
        fb = _mel_filterbank(hp)
        self.register_buffer("mel_fb", fb, persistent=False)
        self.register_buffer("window", torch.hann_window(hp.win_size), persistent=False)

    # ---------------------------------------------------------------- frontend
    def frames_for(self, num_samples: torch.Tensor) -> torch.Tensor:
        """Spectrogram frames of clips of ``num_samples`` ``[B]`` (centred STFT: ``1 + N // hop``)."""
        if self.hp.center:
            return torch.div(num_samples, self.hp.hop_size, rounding_mode="floor") + 1
        return torch.div(num_samples - self.hp.n_fft, self.hp.hop_size, rounding_mode="floor") + 1

    def log_mel(self, audio: torch.Tensor) -> torch.Tensor:
        """Log-mel of ONE clip ``[N]`` -> ``[n_mels, frames]`` in dB, floored at ``max - top_db``."""
        hp = self.hp
        if hp.center and audio.numel() <= hp.n_fft // 2:
            # reflect padding needs more samples than half a window; a clip this short is padded with silence
            audio = F.pad(audio, (0, hp.n_fft // 2 + 1 - audio.numel()))
        spec = torch.stft(
            audio.float(),
            hp.n_fft,
            hp.hop_size,
            win_length=hp.win_size,
            window=self.window,
            center=hp.center,
            pad_mode="reflect",
            return_complex=True,
        )
        mel = self.mel_fb @ spec.abs().pow(2)
        db = 10.0 * torch.log10(mel.clamp_min(1e-10))
        return torch.maximum(db, db.max() - hp.top_db)

    def spectrogram(
        self, audio: torch.Tensor, audio_lengths: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Per-clip log-mel, padded: ``([B, n_mels, T], frames [B])``; each clip has >= one patch column."""
        frames = self.frames_for(audio_lengths.long())
        frames = frames.clamp_min(self.hp.patch_size)
        specs = []
        for b in range(audio.shape[0]):
            n = int(audio_lengths[b])
            s = self.log_mel(audio[b, :n])[:, : int(frames[b])]
            if s.shape[1] < int(frames[b]):
                # shorter than one patch: the missing frames are silence (the dB floor)
                s = F.pad(s, (0, int(frames[b]) - s.shape[1]), value=-100.0)
                s = torch.maximum(s, s.max() - self.hp.top_db)
            specs.append(s)
        t = max(s.shape[1] for s in specs)
        out = torch.stack([F.pad(s, (0, t - s.shape[1])) for s in specs])
        return out, frames

    # ---------------------------------------------------------------- transformer
    def forward(self, audio: torch.Tensor, audio_lengths: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Encode ``audio`` ``[B, N]`` -> ``(tokens [B, T', F', D], columns [B])`` (time-major patch grid)."""
        hp = self.hp
        spec, frames = self.spectrogram(audio, audio_lengths)
        bn = self.init_bn
        spec = F.batch_norm(
            spec, bn.running_mean, bn.running_var, bn.weight, bn.bias, training=False, eps=bn.eps
        )
        cols = torch.div(frames - hp.patch_size, hp.patch_stride, rounding_mode="floor") + 1
        x = self.patch_embed(spec.unsqueeze(1))  # [B, D, F', T']
        x = x[..., : int(cols.max())]
        b, d, fp, tp = x.shape
        chunk = self.time_patches
        n_chunks = math.ceil(tp / chunk)
        pad_t = n_chunks * chunk - tp
        x = F.pad(x, (0, pad_t))
        # [B, D, F', K, C] -> [B*K, C, F', D]: each chunk of C columns is its own sequence
        x = x.view(b, d, fp, n_chunks, chunk).permute(0, 3, 4, 2, 1).reshape(b * n_chunks, chunk, fp, d)
        chunk_cols = (cols[:, None] - torch.arange(n_chunks, device=cols.device)[None, :] * chunk).clamp(
            0, chunk
        )
        chunk_cols = chunk_cols.reshape(-1)
        # sequences are only as long as their longest chunk: short clips use a slice of the time embedding
        c = int(chunk_cols.max()) if n_chunks == 1 else chunk
        x = x[:, :c]
        time_pos = self.time_pos_embed[0, :, 0, :c].t()  # [c, D]
        freq_pos = self.freq_pos_embed[0, :, :, 0].t()  # [F', D]
        x = x + time_pos[None, :, None, :] + freq_pos[None, None, :, :]
        # chunks past the end of a shorter clip are not computed at all
        busy = (chunk_cols > 0).nonzero().squeeze(1)
        keep_cols = lengths_to_mask(chunk_cols[busy], c)  # [K', c]
        keep = keep_cols[:, :, None].expand(-1, c, fp).reshape(-1, c * fp)
        h = x[busy].reshape(-1, c * fp, d)
        for block in self.blocks:
            h = block(h, keep)
        out = h.new_zeros(b * n_chunks, c * fp, d)
        out[busy] = self.norm(h)
        return out.view(b, n_chunks * c, fp, d)[:, :tp], cols


def _mel_filterbank(hp: CedHyper) -> torch.Tensor:
    """``[n_mels, n_fft//2 + 1]`` HTK-scale triangular filters without normalisation
    (torchaudio's default)."""
    import torchaudio.functional as AF

    fb = AF.melscale_fbanks(hp.n_fft // 2 + 1, hp.f_min, hp.f_max, hp.n_mels, hp.sample_rate, None, "htk")
    return fb.t().contiguous()


# --------------------------------------------------------------------------------------------------
# Checkpoint reading
# --------------------------------------------------------------------------------------------------
def _read_state_dict(path: Path) -> dict[str, torch.Tensor]:
    if path.suffix == ".safetensors":
        from safetensors.torch import load_file

        return load_file(str(path))
    obj = torch.load(str(path), map_location="cpu", weights_only=True)
    if isinstance(obj, dict) and "model" in obj and isinstance(obj["model"], dict):
        obj = obj["model"]
    if not isinstance(obj, dict):
        raise ConfigError(f"{path}: expected a state dict (name -> tensor), found {type(obj).__name__}")
    return obj


def _locate(path: Path, where: str) -> tuple[Path, dict[str, Any]]:
    """Weights file and the ``config.json`` dict (empty for a bare ``.pt``)."""
    if path.is_dir():
        cfg_file = path / "config.json"
        config = json.loads(cfg_file.read_text()) if cfg_file.is_file() else {}
        for name in ("model.safetensors", "pytorch_model.bin"):
            if (path / name).is_file():
                return path / name, config
        raise ConfigError(f"{where}: {path} holds neither model.safetensors nor pytorch_model.bin")
    if path.is_file():
        cfg_file = path.parent / "config.json"
        config = json.loads(cfg_file.read_text()) if path.suffix != ".pt" and cfg_file.is_file() else {}
        return path, config
    raise ConfigError(
        f"{where}: checkpoint '{path}' does not exist (a folder of mispeech/ced-* or a CED .pt file)"
    )


def _canonical(state: dict[str, torch.Tensor], embed_dim: int) -> dict[str, torch.Tensor]:
    """Map HF (``encoder.*``) and original (``init_bn.1.*``) names onto :class:`CedBackbone`'s names."""
    out: dict[str, torch.Tensor] = {}
    for key, value in state.items():
        k = key.removeprefix("encoder.")
        if k.startswith(("front_end.", "outputlayer.")) or k in ("cls_token", "token_pos_embed"):
            continue  # the frontend is recomputed; the classifier head is not part of the encoder
        k = k.replace("init_bn.1.", "init_bn.")
        if k.endswith(("attn.qkv.weight", "attn.qkv.bias")):
            stem, kind = k.rsplit(".qkv.", 1)
            for name, part in zip(("q_proj", "k_proj", "v_proj"), value.split(embed_dim, dim=0)):
                out[f"{stem}.{name}.{kind}"] = part.contiguous()
            continue
        out[k] = value
    return out


def _hyper(state: dict[str, torch.Tensor], config: dict[str, Any], num_heads: int) -> CedHyper:
    """Hyper-parameters: shapes from the weights, frontend and heads from ``config.json``."""
    hp = CedHyper()
    for key in ("mlp_ratio", "qkv_bias", "n_mels", "n_fft", "win_size", "hop_size", "f_min", "center"):
        if key in config and config[key] is not None:
            setattr(hp, key, type(getattr(hp, key))(config[key]))
    if config.get("f_max") is not None:
        hp.f_max = float(config["f_max"])
    proj = state["patch_embed.proj.weight"]  # [D, 1, patch, patch]
    hp.embed_dim, hp.patch_size = int(proj.shape[0]), int(proj.shape[-1])
    hp.patch_stride = int(config.get("patch_stride", hp.patch_size))
    hp.depth = len({k.split(".")[1] for k in state if k.startswith("blocks.")})
    hp.mlp_ratio = state["blocks.0.mlp.fc1.weight"].shape[0] / hp.embed_dim
    hp.qkv_bias = "blocks.0.attn.q_proj.bias" in state
    t_grid = int(state["time_pos_embed"].shape[-1])
    hp.target_length = int(config.get("target_length", (t_grid - 1) * hp.patch_stride + hp.patch_size))
    hp.num_heads = num_heads or int(config.get("num_heads") or hp.embed_dim // _HEAD_DIM)
    return hp


def load_ced(path: Path, num_heads: int = 0, where: str = "ced.checkpoint") -> CedBackbone:
    """Build a :class:`CedBackbone` from an official checkpoint (HF folder/file or original ``.pt``)."""
    weights, config = _locate(path, where)
    raw = _read_state_dict(weights)
    d = next((v.shape[0] for k, v in raw.items() if k.endswith("patch_embed.proj.weight")), None)
    if d is None:
        raise ConfigError(f"{where}: {weights} has no 'patch_embed.proj.weight'; is it a CED checkpoint?")
    state = _canonical(raw, int(d))
    hp = _hyper(state, config, num_heads)
    model = CedBackbone(hp)
    state.setdefault("init_bn.num_batches_tracked", model.state_dict()["init_bn.num_batches_tracked"])
    load_state_checked(model, state, where, weights, f"CED ({hp.embed_dim}-d, {hp.depth} blocks)")
    return model


# --------------------------------------------------------------------------------------------------
# The encoder component
# --------------------------------------------------------------------------------------------------
class CedEncoder(nn.Module):
    """CED as a U-SAM encoder: ``[B, N]`` 16 kHz audio -> ``[B, T, D]`` at 6.25 frames/s (official models)."""

    def __init__(self, backbone: CedBackbone, cfg: CedConfig) -> None:
        super().__init__()
        if cfg.freq_pooling not in FREQ_POOLINGS:
            raise ConfigError(
                f"ced.freq_pooling: '{cfg.freq_pooling}' is not valid; choose one of {FREQ_POOLINGS}"
            )
        self.backbone = backbone
        self.cfg = cfg
        hp = backbone.hp
        self.sample_rate = hp.sample_rate
        self.frame_rate = hp.sample_rate / hp.hop_size / hp.patch_stride
        factor = backbone.freq_patches if cfg.freq_pooling == "concat" else 1
        self.output_dim = hp.embed_dim * factor

    def forward(self, audio: torch.Tensor, audio_lengths: torch.Tensor) -> EncoderOutput:
        """Encode ``audio`` ``[B, N]`` (float, mono, 16 kHz) with ``audio_lengths`` ``[B]``."""
        tokens, cols = self.backbone(audio, audio_lengths)  # [B, T, F', D]
        if self.cfg.freq_pooling == "mean":
            feats = tokens.mean(dim=2)
        else:
            feats = tokens.flatten(2)
        valid = lengths_to_mask(cols, feats.shape[1])
        feats = feats * valid[..., None].to(feats.dtype)
        return EncoderOutput(features=feats, lengths=cols.long(), frame_rate=self.frame_rate)

    def fingerprint(self) -> str:
        return fingerprint(self, self.cfg)


def build_ced(cfg: CedConfig, ctx: BuildContext) -> CedEncoder:
    """CED audio-tagging transformer (mispeech/ced-*) as a time-major encoder."""
    if not cfg.checkpoint:
        raise ConfigError(
            "ced.checkpoint: not set; give a folder with config.json + model.safetensors (mispeech/ced-base) "
            "or the original CED .pt file"
        )
    backbone = load_ced(ctx.resolve_path(cfg.checkpoint), cfg.num_heads)
    return CedEncoder(backbone, cfg)


# --------------------------------------------------------------------------------------------------
# Tiny checkpoints in the real format (tests and the conformance example)
# --------------------------------------------------------------------------------------------------
def write_tiny_ced_checkpoint(
    folder: Path,
    embed_dim: int = 32,
    depth: int = 2,
    num_heads: int = 2,
    target_length: int = 64,
    seed: int = 0,
) -> dict[str, torch.Tensor]:
    """Write a random CED in the ``mispeech/ced-*`` format (``config.json`` + ``model.safetensors``).

    Returns:
        the tensors written, by their checkpoint names.
    """
    from safetensors.torch import save_file

    g = torch.Generator().manual_seed(seed)
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    n_mels, patch, outputdim = 64, 16, 527
    hidden = embed_dim * 4

    def rnd(*shape: int, scale: float = 0.05) -> torch.Tensor:
        return torch.randn(*shape, generator=g) * scale

    t: dict[str, torch.Tensor] = {
        "encoder.init_bn.weight": 1.0 + rnd(n_mels),
        "encoder.init_bn.bias": rnd(n_mels),
        "encoder.init_bn.running_mean": -40.0 + rnd(n_mels, scale=5.0),
        "encoder.init_bn.running_var": 300.0 + rnd(n_mels, scale=10.0).abs(),
        "encoder.init_bn.num_batches_tracked": torch.tensor(1000, dtype=torch.long),
        "encoder.patch_embed.proj.weight": rnd(embed_dim, 1, patch, patch),
        "encoder.patch_embed.proj.bias": rnd(embed_dim),
        "encoder.time_pos_embed": rnd(1, embed_dim, 1, target_length // patch, scale=0.02),
        "encoder.freq_pos_embed": rnd(1, embed_dim, n_mels // patch, 1, scale=0.02),
        "encoder.norm.weight": 1.0 + rnd(embed_dim),
        "encoder.norm.bias": rnd(embed_dim),
        "outputlayer.0.weight": 1.0 + rnd(embed_dim),
        "outputlayer.0.bias": rnd(embed_dim),
        "outputlayer.1.weight": rnd(outputdim, embed_dim),
        "outputlayer.1.bias": rnd(outputdim),
    }
    for i in range(depth):
        p = f"encoder.blocks.{i}."
        t.update(
            {
                p + "norm1.weight": 1.0 + rnd(embed_dim),
                p + "norm1.bias": rnd(embed_dim),
                p + "attn.qkv.weight": rnd(3 * embed_dim, embed_dim, scale=0.2),
                p + "attn.qkv.bias": rnd(3 * embed_dim),
                p + "attn.proj.weight": rnd(embed_dim, embed_dim, scale=0.2),
                p + "attn.proj.bias": rnd(embed_dim),
                p + "norm2.weight": 1.0 + rnd(embed_dim),
                p + "norm2.bias": rnd(embed_dim),
                p + "mlp.fc1.weight": rnd(hidden, embed_dim, scale=0.2),
                p + "mlp.fc1.bias": rnd(hidden),
                p + "mlp.fc2.weight": rnd(embed_dim, hidden, scale=0.2),
                p + "mlp.fc2.bias": rnd(embed_dim),
            }
        )
    save_file(t, str(folder / "model.safetensors"), metadata={"format": "pt"})
    config = {
        "architectures": ["CedForAudioClassification"],
        "auto_map": {
            "AutoConfig": "configuration_ced.CedConfig",
            "AutoModelForAudioClassification": "modeling_ced.CedForAudioClassification",
        },
        "model_type": "ced",
        "name": None,
        "attn_drop_rate": 0.0,
        "center": True,
        "depth": depth,
        "drop_path_rate": 0.0,
        "drop_rate": 0.0,
        "embed_dim": embed_dim,
        "eval_avg": "mean",
        "f_max": 8000,
        "f_min": 0,
        "hop_size": 160,
        "loss": "BCE",
        "mlp_ratio": 4.0,
        "n_fft": 512,
        "n_mels": n_mels,
        "num_heads": num_heads,
        "outputdim": outputdim,
        "pad_last": True,
        "patch_size": patch,
        "patch_stride": patch,
        "pooling": "mean",
        "qkv_bias": True,
        "target_length": target_length,
        "torch_dtype": "float32",
        "transformers_version": "4.34.0",
        "win_size": 512,
    }
    (folder / "config.json").write_text(json.dumps(config, indent=2))
    return t


def ced_example(tmp_dir: Path) -> dict[str, Any]:
    """Config overrides for a tiny random CED written under ``tmp_dir``."""
    write_tiny_ced_checkpoint(Path(tmp_dir) / "ced_tiny")
    return {"checkpoint": str(Path(tmp_dir) / "ced_tiny")}
