"""Built-in losses: cross_entropy, saclm, infonce, aux, tapm_balance, embedding_ctc.

Package shape (as for every built-in kind): this file holds the hook and lazy trampolines, so listing
plugins imports no torch; :mod:`.configs` the config dataclasses; ``<name>.py`` the loss with its
``build_<name>`` and ``<name>_example``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from usam_toolkit.hookspecs import RegisterFn, hookimpl
from usam_toolkit.interfaces import BuildContext


def build_cross_entropy(cfg: Any, ctx: BuildContext) -> Any:
    """Next-token cross-entropy over the target tokens (mean over tokens); logs perplexity."""
    from .cross_entropy import build_cross_entropy as build

    return build(cfg, ctx)


def cross_entropy_example(tmp_dir: Path) -> dict[str, Any]:
    from .cross_entropy import cross_entropy_example as example

    return example(tmp_dir)


def build_saclm(cfg: Any, ctx: BuildContext) -> Any:
    """Semantic-aware contrastive loss: score net + STE selection + aggregation + cosine triplet + λ·|S|."""
    from .saclm import build_saclm as build

    return build(cfg, ctx)


def saclm_example(tmp_dir: Path) -> dict[str, Any]:
    from .saclm import saclm_example as example

    return example(tmp_dir)


def build_infonce(cfg: Any, ctx: BuildContext) -> Any:
    """Symmetric InfoNCE between pooled audio tokens and pooled target-text embeddings."""
    from .infonce import build_infonce as build

    return build(cfg, ctx)


def infonce_example(tmp_dir: Path) -> dict[str, Any]:
    from .infonce import infonce_example as example

    return example(tmp_dir)


def build_aux(cfg: Any, ctx: BuildContext) -> Any:
    """Sum of the named projector auxiliary losses, so the recipe can weight them."""
    from .aux import build_aux as build

    return build(cfg, ctx)


def aux_example(tmp_dir: Path) -> dict[str, Any]:
    from .aux import aux_example as example

    return example(tmp_dir)


def build_tapm_balance(cfg: Any, ctx: BuildContext) -> Any:
    """TAPM's load-balancing loss (aux_losses["tapm_balance"]), so the recipe can weight it."""
    from .aux import build_tapm_balance as build

    return build(cfg, ctx)


def tapm_balance_example(tmp_dir: Path) -> dict[str, Any]:
    from .aux import tapm_balance_example as example

    return example(tmp_dir)


def build_embedding_ctc(cfg: Any, ctx: BuildContext) -> Any:
    """CTC between audio tokens and the target tokens' LLM input embeddings, on the chosen tasks."""
    from .embedding_ctc import build_embedding_ctc as build

    return build(cfg, ctx)


def embedding_ctc_example(tmp_dir: Path) -> dict[str, Any]:
    from .embedding_ctc import embedding_ctc_example as example

    return example(tmp_dir)


@hookimpl
def usam_register_losses(register: RegisterFn) -> None:
    """Register the built-in losses."""
    from . import configs as c

    torch = ("torch",)
    register(
        "cross_entropy",
        build_cross_entropy,
        c.CrossEntropyConfig,
        requires=torch,
        example=cross_entropy_example,
    )
    register("saclm", build_saclm, c.SACLMConfig, requires=torch, example=saclm_example)
    register("infonce", build_infonce, c.InfoNCEConfig, requires=torch, example=infonce_example)
    register("aux", build_aux, c.AuxConfig, requires=torch, example=aux_example)
    register(
        "embedding_ctc",
        build_embedding_ctc,
        c.EmbeddingCTCConfig,
        requires=torch,
        example=embedding_ctc_example,
    )
    register(
        "tapm_balance", build_tapm_balance, c.TAPMBalanceConfig, requires=torch, example=tapm_balance_example
    )
