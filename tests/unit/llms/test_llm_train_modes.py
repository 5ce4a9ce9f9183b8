"""Train modes of ``hf_causal_lm``: LoRA only on q_proj/v_proj with the configured rank and alpha."""

from __future__ import annotations

import pytest
import torch

from usam_toolkit.errors import ConfigError
from usam_toolkit.model.train_mode import LoraSettings


def test_lora_default_only_adapters_train(tiny_llm) -> None:
    trainable = [n for n, p in tiny_llm.named_parameters() if p.requires_grad]
    assert trainable and all("lora_" in n for n in trainable)
    adapted = {n.rsplit(".lora_", 1)[0].rsplit(".", 1)[-1] for n in trainable}
    assert adapted == {"q_proj", "v_proj"}
    layers = tiny_llm.model.config.num_hidden_layers
    assert len(trainable) == layers * 2 * 2  # per layer: q and v, each with A and B
    q = tiny_llm.model.model.layers[0].self_attn.q_proj
    assert q.lora_A["default"].weight.shape == (8, tiny_llm.hidden_size)  # paper: r = 8
    assert q.scaling["default"] == pytest.approx(16 / 8)
    emb = tiny_llm.model.get_input_embeddings().weight
    assert not emb.requires_grad


def test_lora_settings_are_honoured(make_llm) -> None:
    llm = make_llm(lora=LoraSettings(rank=4, alpha=12, dropout=0.0, target_modules=["k_proj"]))
    k = llm.model.model.layers[1].self_attn.k_proj
    assert k.lora_A["default"].weight.shape[0] == 4 and k.scaling["default"] == pytest.approx(3.0)
    assert not hasattr(llm.model.model.layers[1].self_attn.q_proj, "lora_A")


def test_lora_settings_from_a_mapping(make_llm) -> None:
    llm = make_llm(lora={"rank": 2, "alpha": 2, "dropout": 0.0, "target_modules": ["v_proj"]})
    assert llm.model.model.layers[0].self_attn.v_proj.lora_A["default"].weight.shape[0] == 2


def test_frozen_and_trainable(make_llm) -> None:
    frozen = make_llm(mode="frozen")
    assert not any(p.requires_grad for p in frozen.parameters())
    full = make_llm(mode="trainable")
    assert all(p.requires_grad for p in full.parameters())


def test_bad_mode_and_target_are_config_errors(make_llm) -> None:
    with pytest.raises(ConfigError, match="mode"):
        make_llm(mode="partly")
    with pytest.raises(ConfigError, match="not found"):
        make_llm(lora=LoraSettings(target_modules=["query"]))
    with pytest.raises(ConfigError, match="dtype"):
        make_llm(dtype="float8")


@pytest.mark.parametrize("checkpointing", [False, True])
def test_backward_reaches_lora_and_audio(make_llm, checkpointing: bool) -> None:
    llm = make_llm(gradient_checkpointing=checkpointing).train()
    flag = getattr(llm.model, "is_activation_checkpointing", None)
    assert (flag if flag is not None else llm.model.is_gradient_checkpointing) == checkpointing
    audio = (0.1 * torch.randn(2, 4, llm.hidden_size)).requires_grad_(True)
    out = llm.forward_packed(["a", "b c"], audio, torch.tensor([4, 2]), ["x", ""], ["hello", "hi"])
    logits, labels = out.logits[:, :-1], out.labels[:, 1:]
    loss = torch.nn.functional.cross_entropy(logits.reshape(-1, logits.shape[-1]), labels.reshape(-1))
    loss.backward()
    assert audio.grad is not None and audio.grad[0].abs().sum() > 0
    assert not audio.grad[1, 2:].any()  # rows past audio_lengths get no gradient
    lora_b = llm.model.model.layers[0].self_attn.v_proj.lora_B["default"].weight
    assert lora_b.grad is not None and lora_b.grad.abs().sum() > 0


def test_bfloat16_dtype(make_llm) -> None:
    llm = make_llm(dtype="bfloat16", mode="frozen")
    assert llm.model.get_input_embeddings().weight.dtype == torch.bfloat16
    out = llm.forward_packed(["a"], torch.zeros(1, 2, llm.hidden_size), torch.tensor([2]), ["b"], ["c"])
    assert torch.isfinite(out.logits.float()).all()
    assert llm.prompt_embedding(["hello"]).dtype == torch.float32
