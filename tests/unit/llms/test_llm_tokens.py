"""Pad/BOS handling and the prompt embedding of ``hf_causal_lm``."""

from __future__ import annotations

import torch


def test_own_pad_token_is_kept(tiny_llm) -> None:
    tok = tiny_llm.tokenizer
    assert tiny_llm.pad_source == "own" and tok.pad_token == "<pad>" and tok.pad_token_id != tok.eos_token_id


def test_missing_pad_uses_eos(make_llm) -> None:
    llm = make_llm("nopad")
    tok = llm.tokenizer
    assert llm.pad_source == "eos" and tok.pad_token_id == tok.eos_token_id
    # padding with EOS must not turn padded positions into targets
    out = llm.forward_packed(
        ["a", "a b c d e"], torch.zeros(2, 1, llm.hidden_size), torch.tensor([1, 1]), ["", ""], ["hi", "hi"]
    )
    n_targets = (out.labels != -100).sum(dim=1)
    assert n_targets[0] == n_targets[1] == len(tok("hi", add_special_tokens=False)["input_ids"]) + 1


def test_prompt_embedding_is_the_mean_of_token_embeddings(tiny_llm) -> None:
    prompts = ["transcribe the speech", "describe", ""]
    got = tiny_llm.prompt_embedding(prompts)
    emb = tiny_llm.model.get_input_embeddings().weight
    assert got.shape == (3, tiny_llm.hidden_size)
    for b, p in enumerate(prompts[:2]):
        ids = tiny_llm.tokenizer(p, add_special_tokens=False)["input_ids"]
        manual = sum(emb[i] for i in ids) / len(ids)
        assert torch.allclose(got[b], manual, atol=1e-6)
    assert not got[2].any()  # an empty prompt gives zeros


def test_prompt_embedding_detach_option(make_llm) -> None:
    full = make_llm(mode="trainable")
    assert full.prompt_embedding(["hello"]).requires_grad
    detached = make_llm(mode="trainable", detach_prompt_embedding=True)
    assert not detached.prompt_embedding(["hello"]).requires_grad
