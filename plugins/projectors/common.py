"""Helpers shared by the projector modules: dimension resolution and MLP construction.

Masks and masked pooling live in :mod:`usam_toolkit.masks` (``zero_padding``, ``masked_mean``, ...).

This module imports torch; the registration module (:mod:`usam_plugins.projectors.configs`) only
imports it lazily inside build functions.
"""

from __future__ import annotations

from collections.abc import Callable

from torch import nn

from usam_toolkit.errors import ConfigError
from usam_toolkit.interfaces import BuildContext

#: Activation names accepted by ``activation`` config fields.
ACTIVATIONS: dict[str, Callable[[], nn.Module]] = {
    "gelu": nn.GELU,
    "relu": nn.ReLU,
    "silu": nn.SiLU,
    "tanh": nn.Tanh,
}


def require_input_dim(ctx: BuildContext, where: str) -> int:
    """``ctx.input_dim`` or a :class:`ConfigError` naming the projector."""
    if ctx.input_dim is None:
        raise ConfigError(f"{where}: the build context gives no input_dim (width of the stream feeding it)")
    return int(ctx.input_dim)


def resolve_output_dim(ctx: BuildContext, forced: int | None, default: int, where: str) -> int:
    """The projector's output width: the chain's demand, else the config's, else ``default``.

    Args:
        ctx: build context; ``ctx.output_dim`` is set for the last projector (the LLM width).
        forced: the config's ``output_dim`` field (None = choose).
        default: width used when neither the chain nor the config fixes one.
        where: projector name for error messages.

    Raises:
        ConfigError: the config forces a width that contradicts the one the chain requires.
    """
    if ctx.output_dim is not None:
        if forced is not None and int(forced) != int(ctx.output_dim):
            raise ConfigError(
                f"{where}: output_dim={forced} but the chain needs {ctx.output_dim} here (the LLM width); "
                "remove output_dim from this slot"
            )
        return int(ctx.output_dim)
    return int(forced) if forced is not None else int(default)


def activation(name: str, where: str) -> nn.Module:
    """An activation module by name."""
    try:
        return ACTIVATIONS[name]()
    except KeyError:
        raise ConfigError(
            f"{where}: activation '{name}' is unknown; valid: {', '.join(sorted(ACTIVATIONS))}"
        ) from None


def build_mlp(
    in_dim: int, hidden_dim: int, out_dim: int, num_layers: int, act: str, dropout: float, where: str
) -> nn.Sequential:
    """``num_layers`` Linear layers ``in -> hidden -> ... -> out`` with ``act`` (and dropout) between.

    ``num_layers == 1`` is a single Linear ``in -> out`` (no activation).
    """
    if num_layers < 1:
        raise ConfigError(f"{where}: num_layers must be >= 1, got {num_layers}")
    dims = [in_dim] + [hidden_dim] * (num_layers - 1) + [out_dim]
    layers: list[nn.Module] = []
    for i in range(num_layers):
        layers.append(nn.Linear(dims[i], dims[i + 1]))
        if i < num_layers - 1:
            layers.append(activation(act, where))
            if dropout > 0:
                layers.append(nn.Dropout(dropout))
    return nn.Sequential(*layers)
