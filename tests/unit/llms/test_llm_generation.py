"""Generation of ``hf_causal_lm``: batched == one by one, strategies, max_new_tokens, seeding."""

from __future__ import annotations

import pytest
import torch

from usam_toolkit.errors import ConfigError
from usam_toolkit.interfaces import GenerationConfig

LEFT = ["<a>", "transcribe the speech <a>", ""]
RIGHT = ["</a>", "</a> say", "describe the sound you hear"]
LENS = torch.tensor([2, 6, 4])


def _audio(d: int) -> torch.Tensor:
    return 0.5 * torch.randn(3, 6, d, generator=torch.Generator().manual_seed(3))


def test_batched_greedy_equals_one_by_one(tiny_llm) -> None:
    audio = _audio(tiny_llm.hidden_size)
    cfg = GenerationConfig(strategy="greedy", max_new_tokens=8)
    batched = tiny_llm.generate_ids(LEFT, audio, LENS, RIGHT, cfg)
    texts = tiny_llm.generate_packed(LEFT, audio, LENS, RIGHT, cfg)
    pad = tiny_llm.tokenizer.pad_token_id
    for b in range(3):
        alone = tiny_llm.generate_ids(
            LEFT[b : b + 1], audio[b : b + 1, : int(LENS[b])], LENS[b : b + 1], RIGHT[b : b + 1], cfg
        )[0]
        row = batched[b, : alone.shape[0]]
        assert row.tolist() == alone.tolist()
        assert (batched[b, alone.shape[0] :] == pad).all()
        assert (
            texts[b]
            == tiny_llm.generate_packed(
                LEFT[b : b + 1], audio[b : b + 1], LENS[b : b + 1], RIGHT[b : b + 1], cfg
            )[0]
        )
    # the three samples really differ (different prompts and audio)
    assert len({tuple(r.tolist()) for r in batched}) == 3


def test_greedy_matches_a_manual_argmax_loop(tiny_llm) -> None:
    audio = _audio(tiny_llm.hidden_size)[:1]
    got = tiny_llm.generate_ids(LEFT[:1], audio, LENS[:1], RIGHT[:1], GenerationConfig(max_new_tokens=5))[0]
    batch = tiny_llm.pack_inputs(LEFT[:1], audio, LENS[:1], RIGHT[:1])
    embeds, emb = batch.embeds, tiny_llm.model.get_input_embeddings()
    manual = []
    with torch.no_grad():
        for _ in range(5):
            nxt = int(tiny_llm.model(inputs_embeds=embeds).logits[0, -1].argmax())
            manual.append(nxt)
            if nxt == tiny_llm.tokenizer.eos_token_id:
                break
            embeds = torch.cat([embeds, emb.weight[nxt][None, None]], dim=1)
    assert got.tolist()[: len(manual)] == manual


@pytest.mark.parametrize("strategy", ["greedy", "beam", "nucleus"])
def test_strategies_respect_max_new_tokens(tiny_llm, strategy: str) -> None:
    audio = _audio(tiny_llm.hidden_size)
    for n in (1, 4):
        cfg = GenerationConfig(
            strategy=strategy,
            max_new_tokens=n,
            num_beams=3,
            length_penalty=0.5,
            top_p=0.8,
            temperature=1.3,
            repetition_penalty=1.2,
        )
        ids = tiny_llm.generate_ids(LEFT, audio, LENS, RIGHT, cfg)
        assert ids.shape[0] == 3 and 1 <= ids.shape[1] <= n
        texts = tiny_llm.generate_packed(LEFT, audio, LENS, RIGHT, cfg)
        assert len(texts) == 3 and all(isinstance(t, str) for t in texts)


def test_no_hidden_length_cap(tiny_llm) -> None:
    audio = _audio(tiny_llm.hidden_size)
    ids = tiny_llm.generate_ids(LEFT, audio, LENS, RIGHT, GenerationConfig(max_new_tokens=40))
    eos = tiny_llm.tokenizer.eos_token_id
    # transformers' default max_length is 20: either all 40 steps ran or every row ended with EOS
    assert ids.shape[1] == 40 or all((r == eos).any() for r in ids)


def test_nucleus_is_seeded_and_leaves_global_rng_alone(tiny_llm) -> None:
    audio = _audio(tiny_llm.hidden_size)
    cfg = GenerationConfig(strategy="nucleus", max_new_tokens=6, top_p=0.95, temperature=2.0, seed=7)
    torch.manual_seed(123)
    before = torch.rand(1)
    torch.manual_seed(123)
    a = tiny_llm.generate_ids(LEFT, audio, LENS, RIGHT, cfg)
    after = torch.rand(1)
    assert torch.equal(before, after)
    b = tiny_llm.generate_ids(LEFT, audio, LENS, RIGHT, cfg)
    assert torch.equal(a, b)
    other = [
        tiny_llm.generate_ids(
            LEFT,
            audio,
            LENS,
            RIGHT,
            GenerationConfig(strategy="nucleus", max_new_tokens=6, top_p=0.95, temperature=2.0, seed=s),
        )
        for s in (8, 9)
    ]
    assert any(o.shape != a.shape or not torch.equal(o, a) for o in other)


def test_special_tokens_are_stripped(tiny_llm) -> None:
    texts = tiny_llm.generate_packed(
        LEFT, _audio(tiny_llm.hidden_size), LENS, RIGHT, GenerationConfig(max_new_tokens=6)
    )
    for t in texts:
        assert "<s>" not in t and "</s>" not in t and "<pad>" not in t


def test_generation_restores_training_mode(tiny_llm) -> None:
    tiny_llm.train()
    try:
        tiny_llm.generate_packed(
            LEFT[:1],
            _audio(tiny_llm.hidden_size)[:1],
            LENS[:1],
            RIGHT[:1],
            GenerationConfig(max_new_tokens=1),
        )
        assert tiny_llm.training
    finally:
        tiny_llm.eval()


def test_unknown_strategy_is_a_config_error(tiny_llm) -> None:
    with pytest.raises(ConfigError, match="strategy"):
        tiny_llm.generate_packed(
            LEFT, _audio(tiny_llm.hidden_size), LENS, RIGHT, GenerationConfig(strategy="contrastive")
        )
