"""Built-in llms."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from usam_toolkit.hookspecs import RegisterFn, hookimpl


def build_hf_causal_lm(cfg: Any, ctx: Any) -> Any:
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
    from .config import HFCausalLMConfig

    register(
        "hf_causal_lm",
        build_hf_causal_lm,
        HFCausalLMConfig,
        requires=("transformers", "peft"),
        example=hf_causal_lm_example,
    )
