"""Built-in llms: hf_causal_lm (any transformers causal LM).

Package shape (as for every built-in kind): this file holds the hook and lazy trampolines, so listing
plugins imports no transformers; :mod:`.configs` the config dataclasses; ``hf_causal_lm.py`` the model
with its ``build_hf_causal_lm`` and ``hf_causal_lm_example`` (``loading.py``, ``packing.py`` and
``tiny.py`` are its helpers).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from usam_toolkit.hookspecs import RegisterFn, hookimpl
from usam_toolkit.interfaces import BuildContext


def build_hf_causal_lm(cfg: Any, ctx: BuildContext) -> Any:
    """Any transformers causal LM (HF folder, GGUF file or packaged model), frozen / LoRA / trainable."""
    from .hf_causal_lm import build_hf_causal_lm as build

    return build(cfg, ctx)


def hf_causal_lm_example(tmp_dir: Path) -> dict[str, Any]:
    """Overrides building a tiny random Llama (hidden 32, 2 layers) written under ``tmp_dir``."""
    from .hf_causal_lm import hf_causal_lm_example as example

    return example(tmp_dir)


@hookimpl
def usam_register_llms(register: RegisterFn) -> None:
    """Register the built-in llms."""
    from . import configs as c

    register(
        "hf_causal_lm",
        build_hf_causal_lm,
        c.HFCausalLMConfig,
        requires=("transformers", "peft"),
        example=hf_causal_lm_example,
    )
