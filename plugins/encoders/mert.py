"""MERT-v1 (m-a-p/MERT-v1-95M and -330M), implemented natively; loads the official checkpoints.

MERT-v1 is HuBERT-shaped: a 7-layer convolutional feature encoder (total stride 320: 75 frames/s at
24 kHz), a feature projection, a weight-normalised convolutional positional embedding and a transformer
encoder, post-norm (95M, ``do_stable_layer_norm: false``) or pre-norm "stable layer norm" (330M).
Parameter names follow the checkpoints' ``MERTModel`` (a ``HubertModel`` subclass), so
``config.json`` + ``pytorch_model.bin`` (read with ``weights_only=True``) or ``model.safetensors`` load
without remote code. The weight-norm names of both eras are accepted: ``weight_g``/``weight_v`` (the
official files) and ``parametrizations.weight.original0/1`` (newer transformers).

Features not used by the released MERT-v1 models are refused with a clear error rather than ignored:
the CQT branch (``feature_extractor_cqt: true``) and a batch-normalised positional convolution. The
``deepnorm`` residual scaling and ``attention_relax`` of the MERT code are supported (the latter is a
softmax-invariant shift, so it needs no code).

Input: 24 kHz mono; each clip is normalised to zero mean and unit variance over its valid samples (the
``Wav2Vec2FeatureExtractor`` with ``do_normalize``), padding stays zero. The first conv layer's group
norm (95M) is computed over each clip's valid frames only, and padded frames are zeroed before the
positional convolution and masked in attention, so padding never changes valid frames.

Output: a learned softmax-weighted sum of all hidden states (13 for 95M, 25 for 330M; the weights stay
trainable when the backbone is frozen), or one selected hidden state (``weighted_sum: false``).
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from usam_toolkit.errors import ConfigError
from usam_toolkit.interfaces import BuildContext, EncoderOutput
from usam_toolkit.masks import lengths_to_mask, masked_mean

from .common import conv_out_length, fingerprint, load_state_checked
from .configs import MertConfig


@dataclass
class MertHyper:
    """The ``config.json`` keys the network needs (defaults: MERT-v1-95M)."""

    hidden_size: int = 768
    num_hidden_layers: int = 12
    num_attention_heads: int = 12
    intermediate_size: int = 3072
    hidden_act: str = "gelu"
    layer_norm_eps: float = 1e-5
    feat_extract_norm: str = "group"
    feat_extract_activation: str = "gelu"
    conv_dim: list[int] = field(default_factory=lambda: [512] * 7)
    conv_kernel: list[int] = field(default_factory=lambda: [10, 3, 3, 3, 3, 2, 2])
    conv_stride: list[int] = field(default_factory=lambda: [5, 2, 2, 2, 2, 2, 2])
    conv_bias: bool = False
    num_conv_pos_embeddings: int = 128
    num_conv_pos_embedding_groups: int = 16
    conv_pos_batch_norm: bool = False
    do_stable_layer_norm: bool = False
    feat_proj_layer_norm: bool = True
    deepnorm: bool = False
    feature_extractor_cqt: bool = False
    sample_rate: int = 24000

    @classmethod
    def from_json(cls, config: dict[str, Any], where: str) -> MertHyper:
        hp = cls()
        for f in hp.__dataclass_fields__:
            if f in config and config[f] is not None:
                setattr(hp, f, config[f])
        if hp.feature_extractor_cqt:
            raise ConfigError(
                f"{where}: feature_extractor_cqt is true; the CQT branch of MERT is not supported"
            )
        if hp.conv_pos_batch_norm:
            raise ConfigError(
                f"{where}: conv_pos_batch_norm is true; only weight-normalised conv is supported"
            )
        if hp.feat_extract_norm not in ("group", "layer"):
            raise ConfigError(
                f"{where}: feat_extract_norm '{hp.feat_extract_norm}' is not 'group' or 'layer'"
            )
        return hp


_ACTS = {"gelu": F.gelu, "relu": F.relu, "gelu_new": lambda x: F.gelu(x, approximate="tanh")}


def _act(name: str) -> Any:
    if name not in _ACTS:
        raise ConfigError(f"mert: activation '{name}' is not supported; choose one of {sorted(_ACTS)}")
    return _ACTS[name]


# --------------------------------------------------------------------------------------------------
# Network (names follow transformers' Hubert modules, which MERT's checkpoints use)
# --------------------------------------------------------------------------------------------------
class ConvLayer(nn.Module):
    """One feature-encoder layer: conv, optional norm (``layer_norm``: GroupNorm or LayerNorm), activation."""

    def __init__(self, hp: MertHyper, i: int) -> None:
        super().__init__()
        c_in = hp.conv_dim[i - 1] if i > 0 else 1
        c_out = hp.conv_dim[i]
        self.conv = nn.Conv1d(c_in, c_out, hp.conv_kernel[i], hp.conv_stride[i], bias=hp.conv_bias)
        self.norm_kind = "layer" if hp.feat_extract_norm == "layer" else ("group" if i == 0 else "none")
        if self.norm_kind == "layer":
            self.layer_norm: nn.Module = nn.LayerNorm(c_out)
        elif self.norm_kind == "group":
            self.layer_norm = nn.GroupNorm(c_out, c_out)
        self.act = _act(hp.feat_extract_activation)

    def forward(self, x: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        """``x`` ``[B, C, T]``, ``lengths`` ``[B]`` valid output frames of this layer."""
        x = self.conv(x)
        if self.norm_kind == "layer":
            x = self.layer_norm(x.transpose(1, 2)).transpose(1, 2)
        elif self.norm_kind == "group":
            x = _masked_instance_norm(x, lengths, self.layer_norm)
        return self.act(x)


def _masked_instance_norm(x: torch.Tensor, lengths: torch.Tensor, gn: nn.GroupNorm) -> torch.Tensor:
    """GroupNorm with one group per channel, statistics over each clip's valid frames only."""
    valid = lengths_to_mask(lengths, x.shape[-1])
    mean = masked_mean(x, valid, dim=-1, keepdim=True)
    var = masked_mean((x - mean).pow(2), valid, dim=-1, keepdim=True)
    y = (x - mean) / torch.sqrt(var + gn.eps)
    return y * gn.weight[None, :, None] + gn.bias[None, :, None]


class FeatureEncoder(nn.Module):
    def __init__(self, hp: MertHyper) -> None:
        super().__init__()
        self.hp = hp
        self.conv_layers = nn.ModuleList(ConvLayer(hp, i) for i in range(len(hp.conv_dim)))

    def lengths(self, num_samples: torch.Tensor) -> list[torch.Tensor]:
        """Valid frames after each layer, ``[B]`` each (exact conv arithmetic)."""
        out, cur = [], num_samples
        for k, s in zip(self.hp.conv_kernel, self.hp.conv_stride):
            cur = conv_out_length(cur, k, s).clamp_min(0)
            out.append(cur)
        return out

    def forward(self, audio: torch.Tensor, num_samples: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``[B, N]`` -> ``([B, T, C], frames [B])``."""
        lens = self.lengths(num_samples)
        x = audio[:, None, :]
        for layer, n in zip(self.conv_layers, lens):
            x = layer(x, n)
        return x.transpose(1, 2), lens[-1]


class FeatureProjection(nn.Module):
    def __init__(self, hp: MertHyper) -> None:
        super().__init__()
        self.use_norm = hp.feat_proj_layer_norm
        if self.use_norm:
            self.layer_norm = nn.LayerNorm(hp.conv_dim[-1], eps=hp.layer_norm_eps)
        self.projection = nn.Linear(hp.conv_dim[-1], hp.hidden_size)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.projection(self.layer_norm(x) if self.use_norm else x)


class WeightNormConv(nn.Module):
    """``Conv1d`` whose weight is ``g * v / ||v||`` (norm over all dims but the kernel axis, dim=2)."""

    def __init__(self, channels: int, kernel: int, groups: int) -> None:
        super().__init__()
        self.padding, self.groups = kernel // 2, groups
        self.weight_g = nn.Parameter(torch.ones(1, 1, kernel))
        self.weight_v = nn.Parameter(torch.randn(channels, channels // groups, kernel) * 0.02)
        self.bias = nn.Parameter(torch.zeros(channels))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        weight = torch._weight_norm(self.weight_v, self.weight_g, 2)
        return F.conv1d(x, weight, self.bias, padding=self.padding, groups=self.groups)


class PositionalConvEmbedding(nn.Module):
    def __init__(self, hp: MertHyper) -> None:
        super().__init__()
        self.conv = WeightNormConv(
            hp.hidden_size, hp.num_conv_pos_embeddings, hp.num_conv_pos_embedding_groups
        )
        self.trim = 1 if hp.num_conv_pos_embeddings % 2 == 0 else 0
        self.act = _act(hp.feat_extract_activation)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``[B, T, D]`` -> ``[B, T, D]``."""
        y = self.conv(x.transpose(1, 2))
        if self.trim:
            y = y[..., : -self.trim]
        return self.act(y).transpose(1, 2)


class Attention(nn.Module):
    def __init__(self, dim: int, heads: int) -> None:
        super().__init__()
        self.heads = heads
        self.q_proj = nn.Linear(dim, dim)
        self.k_proj = nn.Linear(dim, dim)
        self.v_proj = nn.Linear(dim, dim)
        self.out_proj = nn.Linear(dim, dim)

    def forward(self, x: torch.Tensor, keep: torch.Tensor) -> torch.Tensor:
        b, t, d = x.shape

        def split(y: torch.Tensor) -> torch.Tensor:
            return y.view(b, t, self.heads, d // self.heads).transpose(1, 2)

        out = F.scaled_dot_product_attention(
            split(self.q_proj(x)),
            split(self.k_proj(x)),
            split(self.v_proj(x)),
            attn_mask=keep[:, None, None, :],
        )
        return self.out_proj(out.transpose(1, 2).reshape(b, t, d))


class FeedForward(nn.Module):
    def __init__(self, hp: MertHyper) -> None:
        super().__init__()
        self.intermediate_dense = nn.Linear(hp.hidden_size, hp.intermediate_size)
        self.output_dense = nn.Linear(hp.intermediate_size, hp.hidden_size)
        self.act = _act(hp.hidden_act)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.output_dense(self.act(self.intermediate_dense(x)))


class EncoderLayer(nn.Module):
    """Post-norm (``pre_norm=False``) or pre-norm transformer layer with HuBERT's parameter names."""

    def __init__(self, hp: MertHyper) -> None:
        super().__init__()
        self.pre_norm = hp.do_stable_layer_norm
        # MERT's deepnorm scales the residual branch input by (2L)^(1/4) in post-norm layers
        self.alpha = math.pow(2.0 * hp.num_hidden_layers, 0.25) if hp.deepnorm and not self.pre_norm else 1.0
        self.attention = Attention(hp.hidden_size, hp.num_attention_heads)
        self.layer_norm = nn.LayerNorm(hp.hidden_size, eps=hp.layer_norm_eps)
        self.feed_forward = FeedForward(hp)
        self.final_layer_norm = nn.LayerNorm(hp.hidden_size, eps=hp.layer_norm_eps)

    def forward(self, x: torch.Tensor, keep: torch.Tensor) -> torch.Tensor:
        if self.pre_norm:
            x = x + self.attention(self.layer_norm(x), keep)
            return x + self.feed_forward(self.final_layer_norm(x))
        x = self.layer_norm(self.alpha * x + self.attention(x, keep))
        return self.final_layer_norm(self.alpha * x + self.feed_forward(x))


class TransformerEncoder(nn.Module):
    def __init__(self, hp: MertHyper) -> None:
        super().__init__()
        self.pre_norm = hp.do_stable_layer_norm
        self.pos_conv_embed = PositionalConvEmbedding(hp)
        self.layer_norm = nn.LayerNorm(hp.hidden_size, eps=hp.layer_norm_eps)
        self.layers = nn.ModuleList(EncoderLayer(hp) for _ in range(hp.num_hidden_layers))

    def forward(self, x: torch.Tensor, keep: torch.Tensor) -> list[torch.Tensor]:
        """``x`` ``[B, T, D]``, ``keep`` ``[B, T]`` -> all hidden states (L + 1), HF's convention."""
        x = x * keep[..., None].to(x.dtype)
        x = x + self.pos_conv_embed(x)
        if not self.pre_norm:
            x = self.layer_norm(x)
        states = [x]
        for layer in self.layers:
            x = layer(x, keep)
            states.append(x)
        if self.pre_norm:
            states[-1] = self.layer_norm(x)
        return states


class MertBackbone(nn.Module):
    """MERT-v1 without heads: audio -> all hidden states."""

    def __init__(self, hp: MertHyper) -> None:
        super().__init__()
        self.hp = hp
        self.feature_extractor = FeatureEncoder(hp)
        self.feature_projection = FeatureProjection(hp)
        self.encoder = TransformerEncoder(hp)
        span, jump = 1, 1
        for k, s in zip(hp.conv_kernel, hp.conv_stride):
            span, jump = span + (k - 1) * jump, jump * s
        self.receptive_field = span

    def forward(
        self, audio: torch.Tensor, num_samples: torch.Tensor
    ) -> tuple[list[torch.Tensor], torch.Tensor]:
        feats, frames = self.feature_extractor(audio, num_samples)
        keep = lengths_to_mask(frames, feats.shape[1])
        # a clip shorter than one frame still needs one key to attend to; its frames are dropped anyway
        keep = keep | (frames[:, None] == 0)
        return self.encoder(self.feature_projection(feats), keep), frames


# --------------------------------------------------------------------------------------------------
# Checkpoint reading
# --------------------------------------------------------------------------------------------------
_RENAMES = (
    (".conv.parametrizations.weight.original0", ".conv.weight_g"),
    (".conv.parametrizations.weight.original1", ".conv.weight_v"),
)


def _canonical(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Checkpoint names -> :class:`MertBackbone` names (weight-norm eras unified, heads dropped)."""
    prefixes = ("mert_model.", "hubert.", "model.")
    out: dict[str, torch.Tensor] = {}
    for key, value in state.items():
        k = key
        for p in prefixes:
            k = k.removeprefix(p)
        if k == "masked_spec_embed" or not k.startswith(
            ("feature_extractor.", "feature_projection.", "encoder.")
        ):
            continue  # pre-training extras (mask embedding, label heads) are not part of the encoder
        for old, new in _RENAMES:
            k = k.replace(old, new)
        out[k] = value
    w = out.pop("encoder.pos_conv_embed.conv.weight", None)
    if w is not None:  # weight norm already folded in: v = w, g = ||w|| per kernel tap
        out["encoder.pos_conv_embed.conv.weight_v"] = w
        out["encoder.pos_conv_embed.conv.weight_g"] = w.norm(dim=(0, 1), keepdim=True)
    return out


def load_mert(folder: Path, where: str = "mert.checkpoint") -> MertBackbone:
    """Build a :class:`MertBackbone` from an official MERT-v1 folder (``config.json`` + weights)."""
    if not folder.is_dir():
        raise ConfigError(
            f"{where}: '{folder}' is not a folder with config.json + pytorch_model.bin (m-a-p/MERT-v1-*)"
        )
    cfg_file = folder / "config.json"
    if not cfg_file.is_file():
        raise ConfigError(f"{where}: {cfg_file} is missing")
    hp = MertHyper.from_json(json.loads(cfg_file.read_text()), f"{where}: {cfg_file}")
    if (folder / "model.safetensors").is_file():
        from safetensors.torch import load_file

        weights = folder / "model.safetensors"
        raw = load_file(str(weights))
    elif (folder / "pytorch_model.bin").is_file():
        weights = folder / "pytorch_model.bin"
        raw = torch.load(str(weights), map_location="cpu", weights_only=True)
    else:
        raise ConfigError(f"{where}: {folder} holds neither model.safetensors nor pytorch_model.bin")
    state = _canonical(raw)
    model = MertBackbone(hp)
    load_state_checked(model, state, where, weights, str(cfg_file))
    return model


# --------------------------------------------------------------------------------------------------
# The encoder component
# --------------------------------------------------------------------------------------------------
class MertEncoder(nn.Module):
    """MERT-v1 as a U-SAM encoder: ``[B, N]`` 24 kHz audio -> ``[B, T, D]`` at 75 frames/s."""

    def __init__(self, backbone: MertBackbone, cfg: MertConfig) -> None:
        super().__init__()
        self.backbone = backbone
        self.cfg = cfg
        hp = backbone.hp
        self.num_states = hp.num_hidden_layers + 1
        if not cfg.weighted_sum and not -self.num_states <= cfg.layer < self.num_states:
            raise ConfigError(
                f"mert.layer: {cfg.layer} is out of range; this model has {self.num_states} hidden states"
            )
        self.sample_rate = int(hp.sample_rate)
        self.frame_rate = hp.sample_rate / math.prod(hp.conv_stride)
        self.output_dim = hp.hidden_size
        # the slot's mode applies to the backbone only (see mode_target), so the layer weights train even
        # when it is frozen; softmax(0) = uniform average at the start
        self.layer_weights = nn.Parameter(torch.zeros(self.num_states)) if cfg.weighted_sum else None

    @property
    def mode_target(self) -> nn.Module:
        """What the slot's ``mode`` applies to: the backbone, not the layer weights (they always train)."""
        return self.backbone

    def normalize(self, audio: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        """Zero mean, unit variance over each clip's valid samples (``Wav2Vec2FeatureExtractor``);
        padding 0."""
        valid = lengths_to_mask(lengths, audio.shape[1])
        mean = masked_mean(audio, valid, keepdim=True)
        var = masked_mean((audio - mean).pow(2), valid, keepdim=True)
        return (audio - mean) / torch.sqrt(var + 1e-7) * valid.to(audio.dtype)

    def forward(self, audio: torch.Tensor, audio_lengths: torch.Tensor) -> EncoderOutput:
        """Encode ``audio`` ``[B, N]`` (float, mono, 24 kHz) with ``audio_lengths`` ``[B]``."""
        lengths = audio_lengths.long().to(audio.device)
        x = audio.float()
        span = self.backbone.receptive_field
        if x.shape[1] < span:
            # the conv stack needs one receptive field (400 samples); shorter clips get 0 frames
            x = F.pad(x, (0, span - x.shape[1]))
        if self.cfg.normalize_audio:
            x = self.normalize(x, lengths)
        states, frames = self.backbone(x, lengths)
        stacked = torch.stack(states)  # [L+1, B, T, D]
        if self.layer_weights is not None:
            w = torch.softmax(self.layer_weights, dim=0).to(stacked.dtype)
            feats = torch.einsum("l,lbtd->btd", w, stacked)
        else:
            feats = stacked[self.cfg.layer]
        t = int(frames.max()) if frames.numel() else 0
        feats, stacked = feats[:, :t], stacked[:, :, :t]  # only a padded-up too-short batch has more
        valid = lengths_to_mask(frames, t)
        feats = feats * valid[..., None].to(feats.dtype)
        hidden = stacked if self.cfg.return_hidden_states else None
        return EncoderOutput(
            features=feats, lengths=frames.long(), frame_rate=self.frame_rate, hidden_states=hidden
        )

    def fingerprint(self) -> str:
        return fingerprint(self, self.cfg)


def build_mert(cfg: MertConfig, ctx: BuildContext) -> MertEncoder:
    """MERT-v1 music encoder (m-a-p/MERT-v1-95M / -330M) with a learned weighted sum of layers."""
    if not cfg.checkpoint:
        raise ConfigError(
            "mert.checkpoint: not set; give a folder with config.json + pytorch_model.bin "
            "(m-a-p/MERT-v1-330M)"
        )
    return MertEncoder(load_mert(ctx.resolve_path(cfg.checkpoint)), cfg)


# --------------------------------------------------------------------------------------------------
# Tiny checkpoints in the real format (tests and the conformance example)
# --------------------------------------------------------------------------------------------------
def write_tiny_mert_checkpoint(
    folder: Path,
    hidden: int = 16,
    layers: int = 2,
    stable_layer_norm: bool = False,
    weight_norm_names: str = "legacy",
    safetensors: bool = False,
    seed: int = 0,
) -> dict[str, torch.Tensor]:
    """Write a random MERT-v1 in the ``m-a-p/MERT-v1-*`` format: ``config.json`` + ``pytorch_model.bin``.

    The conv stack keeps MERT's 7 kernels and strides (75 frames/s at 24 kHz) with 8 channels.

    Args:
        folder: destination.
        hidden: transformer width.
        layers: transformer layers.
        stable_layer_norm: the 330M layout (pre-norm, layer-norm conv stack, conv bias).
        weight_norm_names: ``legacy`` (``weight_g``/``weight_v``, the official files) or
            ``parametrizations`` (newer transformers).
        safetensors: write ``model.safetensors`` instead of ``pytorch_model.bin``.

    Returns:
        the tensors written, by their checkpoint names.
    """
    g = torch.Generator().manual_seed(seed)
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    conv_dim, kernels, strides = [8] * 7, [10, 3, 3, 3, 3, 2, 2], [5, 2, 2, 2, 2, 2, 2]
    pos_k, pos_groups, inter, heads = 16, 2, hidden * 2, 2

    def rnd(*shape: int, scale: float = 0.2) -> torch.Tensor:
        return torch.randn(*shape, generator=g) * scale

    t: dict[str, torch.Tensor] = {}
    for i, c in enumerate(conv_dim):
        c_in = conv_dim[i - 1] if i else 1
        p = f"feature_extractor.conv_layers.{i}."
        t[p + "conv.weight"] = rnd(c, c_in, kernels[i], scale=0.5)
        if stable_layer_norm:
            t[p + "conv.bias"] = rnd(c)
        if stable_layer_norm or i == 0:
            t[p + "layer_norm.weight"] = 1.0 + rnd(c, scale=0.1)
            t[p + "layer_norm.bias"] = rnd(c, scale=0.1)
    t["feature_projection.layer_norm.weight"] = 1.0 + rnd(conv_dim[-1], scale=0.1)
    t["feature_projection.layer_norm.bias"] = rnd(conv_dim[-1], scale=0.1)
    t["feature_projection.projection.weight"] = rnd(hidden, conv_dim[-1])
    t["feature_projection.projection.bias"] = rnd(hidden)
    g_name, v_name = (
        ("weight_g", "weight_v")
        if weight_norm_names == "legacy"
        else ("parametrizations.weight.original0", "parametrizations.weight.original1")
    )
    t[f"encoder.pos_conv_embed.conv.{g_name}"] = 1.0 + rnd(1, 1, pos_k, scale=0.1).abs()
    t[f"encoder.pos_conv_embed.conv.{v_name}"] = rnd(hidden, hidden // pos_groups, pos_k)
    t["encoder.pos_conv_embed.conv.bias"] = rnd(hidden)
    t["encoder.layer_norm.weight"] = 1.0 + rnd(hidden, scale=0.1)
    t["encoder.layer_norm.bias"] = rnd(hidden, scale=0.1)
    t["masked_spec_embed"] = rnd(hidden)
    for i in range(layers):
        p = f"encoder.layers.{i}."
        for name in ("q_proj", "k_proj", "v_proj", "out_proj"):
            t[p + f"attention.{name}.weight"] = rnd(hidden, hidden, scale=0.3)
            t[p + f"attention.{name}.bias"] = rnd(hidden)
        for name in ("layer_norm", "final_layer_norm"):
            t[p + f"{name}.weight"] = 1.0 + rnd(hidden, scale=0.1)
            t[p + f"{name}.bias"] = rnd(hidden, scale=0.1)
        t[p + "feed_forward.intermediate_dense.weight"] = rnd(inter, hidden, scale=0.3)
        t[p + "feed_forward.intermediate_dense.bias"] = rnd(inter)
        t[p + "feed_forward.output_dense.weight"] = rnd(hidden, inter, scale=0.3)
        t[p + "feed_forward.output_dense.bias"] = rnd(hidden)
    if safetensors:
        from safetensors.torch import save_file

        save_file(t, str(folder / "model.safetensors"), metadata={"format": "pt"})
    else:
        torch.save(t, str(folder / "pytorch_model.bin"))
    config = {
        "architectures": ["MERTModel"],
        "auto_map": {"AutoConfig": "configuration_MERT.MERTConfig", "AutoModel": "modeling_MERT.MERTModel"},
        "model_type": "mert_model",
        "activation_dropout": 0.0,
        "apply_spec_augment": True,
        "attention_dropout": 0.1,
        "attention_relax": -1.0,
        "conv_bias": stable_layer_norm,
        "conv_dim": conv_dim,
        "conv_kernel": kernels,
        "conv_pos_batch_norm": False,
        "conv_stride": strides,
        "deepnorm": False,
        "do_stable_layer_norm": stable_layer_norm,
        "feat_extract_activation": "gelu",
        "feat_extract_norm": "layer" if stable_layer_norm else "group",
        "feat_proj_dropout": 0.0,
        "feat_proj_layer_norm": True,
        "feature_extractor_cqt": False,
        "feature_extractor_cqt_bins": 336,
        "hidden_act": "gelu",
        "hidden_dropout": 0.1,
        "hidden_size": hidden,
        "intermediate_size": inter,
        "layer_norm_eps": 1e-5,
        "layerdrop": 0.1,
        "mask_time_prob": 0.05,
        "num_attention_heads": heads,
        "num_conv_pos_embedding_groups": pos_groups,
        "num_conv_pos_embeddings": pos_k,
        "num_feat_extract_layers": 7,
        "num_hidden_layers": layers,
        "sample_rate": 24000,
        "torch_dtype": "float32",
        "transformers_version": "4.25.1",
    }
    (folder / "config.json").write_text(json.dumps(config, indent=2))
    (folder / "preprocessor_config.json").write_text(
        json.dumps(
            {
                "do_normalize": True,
                "feature_extractor_type": "Wav2Vec2FeatureExtractor",
                "feature_size": 1,
                "padding_side": "right",
                "padding_value": 0.0,
                "return_attention_mask": True,
                "sampling_rate": 24000,
            },
            indent=2,
        )
    )
    return t


def mert_example(tmp_dir: Path) -> dict[str, Any]:
    """Config overrides for a tiny random MERT-v1 written under ``tmp_dir``."""
    write_tiny_mert_checkpoint(Path(tmp_dir) / "mert_tiny")
    return {"checkpoint": str(Path(tmp_dir) / "mert_tiny")}
