"""``tapm``: the Task-Aware Projection Module of U-SAM (paper Eq. 3–4).

N *distinct* MLP experts ``E_i`` (separate parameters) map every token of Z_q to the output width;
an MLP router reads the pooled text-prompt embedding ``e_text`` and gives mixture weights
``w = softmax(W_r · e_text)`` ``[B, N]``; the output is ``φ = Σ_i w_i · E_i(Z_q)``: a sum over the
*expert* axis, so time is preserved (one output token per input token, lengths unchanged).

Options beyond the paper:

- ``router_input = "prompt_audio"``: the router sees ``[e_text; mean of the valid audio tokens]``.
- ``top_k``: keep the k largest router logits and renormalise the softmax over them.
- ``balance_loss_weight > 0`` adds ``aux_losses["tapm_balance"]``, a Switch-Transformer load-balancing
  term over the batch (the routing unit is a sample, not a token):

  * ``"switch"``: ``N · Σ_i f_i · P_i`` with ``f_i`` the fraction of samples whose largest weight is
    expert i (no gradient) and ``P_i`` the mean routing weight of expert i (gradient);
  * ``"soft"``: ``N · Σ_i P_i²`` — the same value at a uniform router (1.0), differentiable in both
    factors.

  Both equal 1 when the batch's routing is uniform and N when every sample picks the same expert.

``routing = False`` (the ``w/o TAPM`` rows of Table 3): no router, fixed weights ``w_i = 1/N``. Then
``φ = (1/N) Σ_i E_i(Z)`` is one MLP whose hidden layer is the N experts' side by side (N × expert_hidden
wide) and whose output layer is theirs scaled by 1/N: the same capacity, without the task-aware routing,
so such a row differs from U-SAM in the routing alone.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from torch import nn

from usam_toolkit.errors import ConfigError
from usam_toolkit.interfaces import BuildContext, ProjectorContext, ProjectorOutput
from usam_toolkit.masks import masked_mean, zero_padding

from .common import build_mlp, require_input_dim, resolve_output_dim
from .configs import TAPMConfig

ROUTER_INPUTS = ("prompt", "prompt_audio")
BALANCE_TYPES = ("switch", "soft")


def top_k_softmax(logits: torch.Tensor, k: int | None) -> torch.Tensor:
    """Softmax over the last axis, restricted to the ``k`` largest logits (None = all)."""
    if k is None or k >= logits.shape[-1]:
        return torch.softmax(logits, dim=-1)
    kth = logits.topk(k, dim=-1).indices
    keep = torch.zeros_like(logits, dtype=torch.bool).scatter(-1, kth, True)
    return torch.softmax(logits.masked_fill(~keep, float("-inf")), dim=-1)


def balance_loss(weights: torch.Tensor, kind: str) -> torch.Tensor:
    """Load-balancing term over a batch of routing weights ``[B, N]`` (see module docstring)."""
    n = weights.shape[-1]
    mean_weight = weights.mean(dim=0)  # P_i
    if kind == "soft":
        return n * (mean_weight * mean_weight).sum()
    top1 = nn.functional.one_hot(weights.argmax(dim=-1), n).to(weights.dtype)
    return n * (top1.mean(dim=0) * mean_weight).sum()


class TAPM(nn.Module):
    """Task-aware soft mixture of N distinct MLP experts routed by the prompt embedding.

    Args:
        input_dim: D_in of Z_q.
        output_dim: D_out (the LLM width when TAPM ends the chain).
        prompt_dim: D_prompt of ``context.prompt_embedding``.
        num_experts: N.
        expert_hidden: hidden width of each expert MLP.
        expert_layers: Linear layers per expert (2 = D_in -> hidden -> D_out).
        router_hidden: hidden width of the router MLP; None or 0 = a single Linear ``W_r``.
        activation: activation inside experts and router.
        router_input: "prompt" or "prompt_audio".
        top_k: None for the soft mixture over all experts, else the number of experts kept.
        balance_loss_weight: factor of ``aux_losses["tapm_balance"]`` (0 = not computed).
        balance_loss_type: "switch" or "soft".
        dropout: dropout inside the experts.
        routing: False = no router, every expert weighs 1/N whatever the prompt (see module docstring).
    """

    def __init__(
        self,
        input_dim: int,
        output_dim: int,
        prompt_dim: int,
        num_experts: int = 3,
        expert_hidden: int = 2048,
        expert_layers: int = 2,
        router_hidden: int | None = 512,
        activation: str = "gelu",
        router_input: str = "prompt",
        top_k: int | None = None,
        balance_loss_weight: float = 0.0,
        balance_loss_type: str = "switch",
        dropout: float = 0.0,
        routing: bool = True,
    ) -> None:
        super().__init__()
        if not routing and (top_k is not None or balance_loss_weight > 0):
            raise ConfigError(
                "tapm: routing: false has no router to restrict or balance; "
                f"set top_k to null and balance_loss_weight to 0 (got {top_k}, {balance_loss_weight})"
            )
        if num_experts < 1:
            raise ConfigError(f"tapm: num_experts must be >= 1, got {num_experts}")
        if router_input not in ROUTER_INPUTS:
            raise ConfigError(
                f"tapm: router_input '{router_input}' is unknown; valid: {', '.join(ROUTER_INPUTS)}"
            )
        if balance_loss_type not in BALANCE_TYPES:
            raise ConfigError(
                f"tapm: balance_loss_type '{balance_loss_type}' is unknown; valid: {', '.join(BALANCE_TYPES)}"
            )
        if top_k is not None and not 1 <= top_k <= num_experts:
            raise ConfigError(f"tapm: top_k must be in 1..num_experts={num_experts} or None, got {top_k}")
        self.input_dim = input_dim
        self.output_dim = output_dim
        self.prompt_dim = prompt_dim
        self.num_experts = num_experts
        self.router_input = router_input
        self.top_k = top_k
        self.balance_loss_weight = float(balance_loss_weight)
        self.balance_loss_type = balance_loss_type
        self.routing = routing
        # One module per expert, each with its own parameters (the reference code's `[mlp] * 3`
        # shared a single module between the three "experts").
        self.experts = nn.ModuleList(
            build_mlp(input_dim, expert_hidden, output_dim, expert_layers, activation, dropout, "tapm expert")
            for _ in range(num_experts)
        )
        router_in = prompt_dim + (input_dim if router_input == "prompt_audio" else 0)
        router_layers = 2 if router_hidden else 1
        self.router = (
            build_mlp(
                router_in, router_hidden or 0, num_experts, router_layers, activation, 0.0, "tapm router"
            )
            if routing
            else None
        )

    def output_frame_rate(self, frame_rate: float) -> float:
        """Frames per second out for ``frame_rate`` in: unchanged (one output per input frame)."""
        return float(frame_rate)

    def routing_weights(
        self, features: torch.Tensor, lengths: torch.Tensor, prompt: torch.Tensor
    ) -> torch.Tensor:
        """``w = softmax(router(e_text))`` ``[B, N]`` (restricted to ``top_k`` if set); 1/N unrouted."""
        if self.router is None:
            return features.new_full((features.shape[0], self.num_experts), 1.0 / self.num_experts)
        router_in = prompt
        if self.router_input == "prompt_audio":
            router_in = torch.cat([prompt, masked_mean(features, lengths)], dim=-1)
        return top_k_softmax(self.router(router_in), self.top_k)

    def forward(
        self, features: torch.Tensor, lengths: torch.Tensor, frame_rate: float, context: ProjectorContext
    ) -> ProjectorOutput:
        """Map ``features`` ``[B, T, D_in]`` to ``φ`` ``[B, T, D_out]``.

        Raises:
            ConfigError: ``context.prompt_embedding`` is None (TAPM is driven by the prompt).
        """
        prompt = context.prompt_embedding
        if not self.routing:
            return self._mix(features, lengths, frame_rate, None)
        if prompt is None:
            raise ConfigError(
                "tapm: context.prompt_embedding is None; TAPM routes on the pooled prompt embedding "
                "[B, D_prompt], so the model must pass ProjectorContext(prompt_embedding=...) "
                "(or use a projector without routing, e.g. mlp)"
            )
        if prompt.shape != (features.shape[0], self.prompt_dim):
            raise ConfigError(
                f"tapm: prompt_embedding has shape {tuple(prompt.shape)}, expected "
                f"[{features.shape[0]}, {self.prompt_dim}] (batch, prompt_dim)"
            )
        return self._mix(features, lengths, frame_rate, prompt)

    def _mix(
        self, features: torch.Tensor, lengths: torch.Tensor, frame_rate: float, prompt: torch.Tensor | None
    ) -> ProjectorOutput:
        x = zero_padding(features, lengths)
        weights = self.routing_weights(x, lengths, None if prompt is None else prompt.to(x.dtype))  # [B, N]
        # Σ_i w_i · E_i(Z): sum over the expert axis; the time axis is untouched.
        out = torch.zeros(*x.shape[:2], self.output_dim, dtype=x.dtype, device=x.device)
        for i, expert in enumerate(self.experts):
            if self.top_k is not None and not bool((weights[:, i] > 0).any()):
                continue  # an expert nobody selected adds exactly zero
            out = out + weights[:, i, None, None] * expert(x)
        aux = {}
        if self.balance_loss_weight > 0:
            aux["tapm_balance"] = self.balance_loss_weight * balance_loss(weights, self.balance_loss_type)
        return ProjectorOutput(
            zero_padding(out, lengths),
            lengths,
            float(frame_rate),
            aux_losses=aux,
            extras={"routing_weights": weights.detach()} if self.routing else {},
        )


def build_tapm(cfg: TAPMConfig, ctx: BuildContext) -> TAPM:
    """Task-Aware Projection Module: Σ_i softmax(W_r·e_text)_i · E_i(Z), time preserved."""
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
