"""Built-in losses: cross_entropy, saclm, infonce, aux, tapm_balance, embedding_ctc.

Only light imports here: :mod:`.configs` holds the config dataclasses and build functions, which
import torch and the loss modules lazily.
"""

from __future__ import annotations

from usam_toolkit.hookspecs import RegisterFn, hookimpl


@hookimpl
def usam_register_losses(register: RegisterFn) -> None:
    """Register the built-in losses."""
    from . import configs as c

    register("cross_entropy", c.build_cross_entropy, c.CrossEntropyConfig, requires=("torch",), example=c.empty_example)
    register("saclm", c.build_saclm, c.SACLMConfig, requires=("torch",), example=c.saclm_example)
    register("infonce", c.build_infonce, c.InfoNCEConfig, requires=("torch",), example=c.empty_example)
    register("aux", c.build_aux, c.AuxConfig, requires=("torch",), example=c.empty_example)
    register("embedding_ctc", c.build_embedding_ctc, c.EmbeddingCTCConfig, requires=("torch",), example=c.empty_example)
    register("tapm_balance", c.build_tapm_balance, c.TAPMBalanceConfig, requires=("torch",), example=c.empty_example)
