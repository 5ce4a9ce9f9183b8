"""``window_qformer``: a window-level Q-Former (BERT-style) that turns each time window into tokens.

The fused features Z ``[B, T, D_in]`` are cut into fixed windows of ``window_frames`` frames
(``window_seconds`` converted with the input frame rate). In every window, ``queries_per_window``
learned queries self-attend, cross-attend to the frames of *their* window only (padding frames are
masked), then pass an FFN; each sub-block is post-LayerNorm with a residual, as in BERT.

A clip of ``n`` valid frames gives ``ceil(n / window_frames)`` windows and
``ceil(n / window_frames) · queries_per_window`` tokens at ``queries / (window_frames / rate)``
tokens per second. Windows are processed as one batch ``[N_windows, window_frames, D_in]``:
only the windows that hold valid frames are gathered, so no query ever attends to nothing.

``input_residual`` (beyond the paper and BLIP-2): each query starts as ``LN(q + W_in · mean(window))``
(``"mean"``) or ``LN(q + W_in · [f_1; ...; f_W])`` (``"stack"``, the window's frames concatenated in time
order) instead of ``LN(q)``.
The paper's queries are the same for every window, so the window's content enters only
through the cross-attention branch of a post-LN residual whose other term is the (LayerNorm-ed, unit-RMS)
query: at initialisation the outputs of different windows differed by ~19 % of their norm, ~10 % after the
demo's training, while the frames they read differed by 67 % (docs/mini-world.md). Starting the residual
stream from the window's own mean lets the input through from step 0; the learnt query and the
cross-attention then refine it (docs/training.md, "Projector health"). ``"stack"`` also keeps the order of
the frames within a window, which a mean and a cross-attention without positions both discard: the residual
stream starts from exactly what a frame-stacking projector (SLAM-LLM's) reads.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import torch
from torch import nn
from torch.nn import functional as F

from usam_toolkit.errors import ConfigError
from usam_toolkit.interfaces import BuildContext, ProjectorContext, ProjectorOutput
from usam_toolkit.masks import lengths_to_mask, masked_mean, zero_padding

from .common import activation, require_input_dim, resolve_output_dim
from .configs import WindowQFormerConfig

RESIDUAL_MODES = ("none", "mean", "stack")


def window_frames_for(window_seconds: float, frame_rate: float) -> int:
    """Frames per window: ``window_seconds · frame_rate`` rounded half up, at least 1."""
    return max(1, int(math.floor(window_seconds * frame_rate + 0.5)))


def residual_mode(value: bool | str, where: str) -> str:
    """``input_residual`` as one of :data:`RESIDUAL_MODES` (``false`` = "none", ``true`` = "mean")."""
    if isinstance(value, bool):
        return "mean" if value else "none"
    if value not in RESIDUAL_MODES:
        raise ConfigError(
            f"{where}.input_residual: '{value}' is not valid; use one of {', '.join(RESIDUAL_MODES)} "
            "(or true = mean, false = none)"
        )
    return str(value)


class BertAttention(nn.Module):
    """Multi-head attention with BERT's post-LayerNorm residual: ``LN(x + dense(attn(x, kv)))``.

    Args:
        hidden: query/output width H.
        kv_dim: width of the keys/values source (H for self-attention, D_in for cross-attention).
        num_heads: attention heads (must divide H).
        dropout: dropout on attention probabilities and on the output.
        eps: LayerNorm epsilon.
    """

    def __init__(self, hidden: int, kv_dim: int, num_heads: int, dropout: float, eps: float) -> None:
        super().__init__()
        self.num_heads = num_heads
        self.query = nn.Linear(hidden, hidden)
        self.key = nn.Linear(kv_dim, hidden)
        self.value = nn.Linear(kv_dim, hidden)
        self.dense = nn.Linear(hidden, hidden)
        self.norm = nn.LayerNorm(hidden, eps=eps)
        self.dropout = dropout

    def forward(self, x: torch.Tensor, kv: torch.Tensor, kv_mask: torch.Tensor | None = None) -> torch.Tensor:
        """Attend from ``x`` ``[N, Q, H]`` to ``kv`` ``[N, S, D_kv]``; ``kv_mask`` ``[N, S]``
        True = visible."""
        n, q_len, hidden = x.shape
        heads, dh = self.num_heads, hidden // self.num_heads

        def split(t: torch.Tensor) -> torch.Tensor:
            return t.view(n, -1, heads, dh).transpose(1, 2)

        q, k, v = split(self.query(x)), split(self.key(kv)), split(self.value(kv))
        mask = kv_mask[:, None, None, :] if kv_mask is not None else None
        p = self.dropout if self.training else 0.0
        att = F.scaled_dot_product_attention(q, k, v, attn_mask=mask, dropout_p=p)
        att = att.transpose(1, 2).reshape(n, q_len, hidden)
        return self.norm(x + F.dropout(self.dense(att), p, self.training))


class BertFFN(nn.Module):
    """BERT's feed-forward block: ``LN(x + output(act(intermediate(x))))``."""

    def __init__(self, hidden: int, intermediate: int, act: str, dropout: float, eps: float) -> None:
        super().__init__()
        self.intermediate = nn.Linear(hidden, intermediate)
        self.act = activation(act, "window_qformer")
        self.output = nn.Linear(intermediate, hidden)
        self.norm = nn.LayerNorm(hidden, eps=eps)
        self.dropout = dropout

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``x`` ``[N, Q, H]`` -> ``[N, Q, H]``."""
        y = self.output(self.act(self.intermediate(x)))
        return self.norm(x + F.dropout(y, self.dropout, self.training))


class QFormerLayer(nn.Module):
    """Self-attention among the queries, cross-attention to the window's frames, FFN."""

    def __init__(
        self,
        hidden: int,
        input_dim: int,
        num_heads: int,
        intermediate: int,
        act: str,
        dropout: float,
        eps: float,
    ) -> None:
        super().__init__()
        self.self_attn = BertAttention(hidden, hidden, num_heads, dropout, eps)
        self.cross_attn = BertAttention(hidden, input_dim, num_heads, dropout, eps)
        self.ffn = BertFFN(hidden, intermediate, act, dropout, eps)

    def forward(self, queries: torch.Tensor, frames: torch.Tensor, frame_mask: torch.Tensor) -> torch.Tensor:
        """``queries`` ``[N, Q, H]``, ``frames`` ``[N, W_f, D_in]``, ``frame_mask`` ``[N, W_f]``."""
        h = self.self_attn(queries, queries)
        h = self.cross_attn(h, frames, frame_mask)
        return self.ffn(h)


class WindowQFormer(nn.Module):
    """Window-level Q-Former: ``queries_per_window`` tokens per ``window_seconds`` of audio.

    Args:
        input_dim: D_in of the fused features.
        output_dim: D_out of the tokens (a Linear maps H to it when they differ).
        window_seconds: window length in seconds (converted to frames with the input frame rate).
        queries_per_window: learned queries per window (tokens per window).
        num_layers: Q-Former layers.
        hidden_size: H.
        num_heads: attention heads.
        intermediate_size: FFN width.
        dropout: dropout (attention probabilities and residual branches), as BERT.
        act: FFN activation.
        eps: LayerNorm epsilon.
        input_residual: "none", "mean" or "stack": what each query starts from besides its learnt value
            (see the module docstring).
        stack_frames: frames per window at the input's frame rate; required for ``input_residual="stack"``,
            whose projection reads ``stack_frames · input_dim`` values.
    """

    def __init__(
        self,
        input_dim: int,
        output_dim: int,
        window_seconds: float = 0.33,
        queries_per_window: int = 1,
        num_layers: int = 2,
        hidden_size: int = 768,
        num_heads: int = 12,
        intermediate_size: int = 3072,
        dropout: float = 0.1,
        act: str = "gelu",
        eps: float = 1e-12,
        input_residual: str = "none",
        stack_frames: int | None = None,
    ) -> None:
        super().__init__()
        if hidden_size % num_heads:
            raise ConfigError(
                f"window_qformer: hidden_size {hidden_size} is not divisible by num_heads {num_heads}"
            )
        input_residual = residual_mode(input_residual, "window_qformer")
        if input_residual == "stack" and not stack_frames:
            raise ConfigError(
                "window_qformer: input_residual 'stack' needs stack_frames (from the input frame rate)"
            )
        if window_seconds <= 0 or queries_per_window < 1 or num_layers < 1:
            raise ConfigError(
                "window_qformer: window_seconds must be > 0, queries_per_window >= 1 and num_layers >= 1"
            )
        self.input_dim = input_dim
        self.output_dim = output_dim
        self.hidden_size = hidden_size
        self.window_seconds = float(window_seconds)
        self.queries_per_window = int(queries_per_window)
        self.queries = nn.Parameter(0.02 * torch.randn(1, queries_per_window, hidden_size))
        # The BERT embedding LayerNorm that BLIP-2-style Q-Formers apply to their query tokens.
        self.query_norm = nn.LayerNorm(hidden_size, eps=eps)
        # Fused encoder outputs have very different scales per encoder; normalising them first (as
        # SALMONN does before its Q-Former) keeps cross-attention logits sane.
        self.frame_norm = nn.LayerNorm(input_dim)
        self.input_residual = input_residual
        self.stack_frames = int(stack_frames) if input_residual == "stack" else None
        residual_in = {"none": 0, "mean": input_dim, "stack": input_dim * (self.stack_frames or 0)}
        self.input_proj: nn.Module | None = (
            nn.Linear(residual_in[input_residual], hidden_size) if input_residual != "none" else None
        )
        self.layers = nn.ModuleList(
            QFormerLayer(hidden_size, input_dim, num_heads, intermediate_size, act, dropout, eps)
            for _ in range(num_layers)
        )
        self.out_proj: nn.Module = (
            nn.Identity() if output_dim == hidden_size else nn.Linear(hidden_size, output_dim)
        )

    def window_frames(self, frame_rate: float) -> int:
        """Frames per window at ``frame_rate``."""
        return window_frames_for(self.window_seconds, frame_rate)

    def output_frame_rate(self, frame_rate: float) -> float:
        """Tokens per second out for ``frame_rate`` frames per second in."""
        return self.queries_per_window * float(frame_rate) / self.window_frames(frame_rate)

    def forward(
        self, features: torch.Tensor, lengths: torch.Tensor, frame_rate: float, context: ProjectorContext
    ) -> ProjectorOutput:
        """Map ``features`` ``[B, T, D_in]`` to ``[B, max(n_windows)·Q, D_out]``.

        Returns:
            tokens with ``lengths' = ceil(lengths / window_frames) · Q`` and
            ``frame_rate' = Q · frame_rate / window_frames``.
        """
        b, t, d = features.shape
        wf = self.window_frames(frame_rate)
        if self.stack_frames is not None and wf != self.stack_frames:
            raise ConfigError(
                f"window_qformer: built to stack {self.stack_frames} frames per window, but a "
                f"{frame_rate:g} Hz input gives {wf}; input_residual 'stack' needs the build-time rate"
            )
        q = self.queries_per_window
        lengths = lengths.to(device=features.device, dtype=torch.long)
        n_windows = torch.div(lengths + (wf - 1), wf, rounding_mode="floor")  # [B]
        w = -(-t // wf)
        x = F.pad(zero_padding(features, lengths), (0, 0, 0, w * wf - t)).view(b, w, wf, d)
        frame_mask = lengths_to_mask(lengths, w * wf).view(b, w, wf)
        window_valid = lengths_to_mask(n_windows, w)  # [B, W]

        frames = self.frame_norm(x[window_valid])  # [N, wf, D_in], only windows with valid frames
        mask = frame_mask[window_valid]  # [N, wf]
        if self.input_proj is None:
            h = self.query_norm(self.queries).expand(frames.shape[0], q, self.hidden_size)
        else:
            if self.input_residual == "mean":
                window_in = masked_mean(frames, mask)  # [N, D_in]
            else:  # stack: padding frames (normalised, so not zero) are zeroed before the concatenation
                window_in = (frames * mask[..., None].to(frames.dtype)).flatten(1)  # [N, wf·D_in]
            h = self.query_norm(self.queries + self.input_proj(window_in)[:, None, :])  # [N, Q, H]
        for layer in self.layers:
            h = layer(h, frames, mask)
        tokens = self.out_proj(h)  # [N, Q, D_out]

        out = tokens.new_zeros(b, w, q, self.output_dim)
        out[window_valid] = tokens
        t_out = int(n_windows.max().item()) * q if b else 0
        out = out.view(b, w * q, self.output_dim)[:, :t_out]
        return ProjectorOutput(out, n_windows * q, self.output_frame_rate(frame_rate))

    def load_bert(self, config: dict[str, Any], state: dict[str, torch.Tensor], where: str) -> list[str]:
        """Copy a BERT checkpoint's embedding LayerNorm and the self-attention and FFN weights of its
        first ``num_layers`` layers into this Q-Former; cross-attention stays freshly initialised.

        Returns:
            The names of the parameters that were copied.
        """
        n_src = int(config.get("num_hidden_layers", 0))
        if len(self.layers) > n_src:
            raise ConfigError(
                f"{where}: num_layers={len(self.layers)} but the checkpoint has only {n_src} layers"
            )
        mapping = {"query_norm": "embeddings.LayerNorm"}
        for i in range(len(self.layers)):
            src, dst = f"encoder.layer.{i}.", f"layers.{i}."
            mapping.update(
                {
                    dst + "self_attn.query": src + "attention.self.query",
                    dst + "self_attn.key": src + "attention.self.key",
                    dst + "self_attn.value": src + "attention.self.value",
                    dst + "self_attn.dense": src + "attention.output.dense",
                    dst + "self_attn.norm": src + "attention.output.LayerNorm",
                    dst + "ffn.intermediate": src + "intermediate.dense",
                    dst + "ffn.output": src + "output.dense",
                    dst + "ffn.norm": src + "output.LayerNorm",
                }
            )
        own = dict(self.named_parameters())
        copied = []
        with torch.no_grad():
            for dst, src in mapping.items():
                for suffix in ("weight", "bias"):
                    key = f"{src}.{suffix}"
                    if key not in state:
                        # Older BERT checkpoints name LayerNorm parameters gamma/beta.
                        key = f"{src}.{'gamma' if suffix == 'weight' else 'beta'}"
                    if key not in state:
                        raise ConfigError(f"{where}: the checkpoint lacks '{src}.{suffix}'")
                    param = own[f"{dst}.{suffix}"]
                    if tuple(state[key].shape) != tuple(param.shape):
                        raise ConfigError(
                            f"{where}: shape of '{key}' {tuple(state[key].shape)} != {tuple(param.shape)}"
                        )
                    param.copy_(state[key].to(param.dtype))
                    copied.append(f"{dst}.{suffix}")
        return copied


def _from_checkpoint(value: int | None, ckpt: dict[str, Any], key: str, field: str) -> int | None:
    if key not in ckpt:
        return value
    if value is not None and int(value) != int(ckpt[key]):
        raise ConfigError(
            f"window_qformer: {field}={value} contradicts the init_from checkpoint ({key}={ckpt[key]}); "
            f"remove {field} or set it to {ckpt[key]}"
        )
    return int(ckpt[key])


def _stack_frames(cfg: WindowQFormerConfig, ctx: BuildContext, mode: str, where: str) -> int | None:
    if mode != "stack":
        return None
    if not ctx.frame_rate:
        raise ConfigError(
            f"{where}.input_residual: 'stack' needs the input's frame rate at build time, and this "
            "projector's input has none; use 'mean'"
        )
    return window_frames_for(cfg.window_seconds, ctx.frame_rate)


def build_window_qformer(cfg: WindowQFormerConfig, ctx: BuildContext) -> WindowQFormer:
    """A window-level Q-Former: queries_per_window tokens per window_seconds of audio."""
    where = "window_qformer"
    d_in = require_input_dim(ctx, where)
    ckpt_cfg: dict[str, Any] = {}
    state = None
    if cfg.init_from:
        from .bert_checkpoint import load_bert_checkpoint, resolve_checkpoint_dir

        ckpt_cfg, state = load_bert_checkpoint(resolve_checkpoint_dir(cfg.init_from, ctx, where), where)
    hidden = _from_checkpoint(cfg.hidden_size, ckpt_cfg, "hidden_size", "hidden_size") or 768
    heads = _from_checkpoint(cfg.num_heads, ckpt_cfg, "num_attention_heads", "num_heads") or 12
    inter = (
        _from_checkpoint(cfg.intermediate_size, ckpt_cfg, "intermediate_size", "intermediate_size")
        or 4 * hidden
    )
    mode = residual_mode(cfg.input_residual, where)
    model = WindowQFormer(
        input_dim=d_in,
        output_dim=resolve_output_dim(ctx, cfg.output_dim, hidden, where),
        window_seconds=cfg.window_seconds,
        queries_per_window=cfg.queries_per_window,
        num_layers=cfg.num_layers,
        hidden_size=hidden,
        num_heads=heads,
        intermediate_size=inter,
        dropout=cfg.dropout,
        act=str(ckpt_cfg.get("hidden_act", "gelu")),
        eps=float(ckpt_cfg.get("layer_norm_eps", 1e-12)),
        input_residual=mode,
        stack_frames=_stack_frames(cfg, ctx, mode, where),
    )
    if state is not None:
        model.load_bert(ckpt_cfg, state, f"{where}.init_from")
    return model


def window_qformer_example(tmp_dir: Path) -> dict[str, Any]:
    """Tiny Q-Former initialised from a tiny random BERT checkpoint written in the HF format."""
    from .bert_checkpoint import write_tiny_bert

    write_tiny_bert(Path(tmp_dir) / "tiny_bert", hidden=16, heads=2, layers=2, intermediate=32)
    return {
        "init_from": "tiny_bert",
        "num_layers": 1,
        "window_seconds": 0.1,
        "queries_per_window": 2,
        "input_residual": True,
    }
