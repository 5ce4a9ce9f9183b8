"""Packed layout ``[BOS, prompt_left, audio, prompt_right, target, EOS]``: positions, labels, lengths."""

from __future__ import annotations

import pytest
import torch
from usam_plugins.llms.packing import IGNORE_INDEX, pack


def test_pack_left_and_right_by_hand() -> None:
    a = torch.tensor([[1.0], [2.0]])
    b = torch.tensor([[3.0]])
    c = torch.tensor([[4.0]])
    labels = [torch.tensor([-100, -100, 7]), torch.tensor([8])]
    right = pack([[a, b], [c]], labels, side="right")
    assert right.embeds[:, :, 0].tolist() == [[1.0, 2.0, 3.0], [4.0, 0.0, 0.0]]
    assert right.attention_mask.tolist() == [[1, 1, 1], [1, 0, 0]]
    assert right.labels.tolist() == [[-100, -100, 7], [8, -100, -100]]
    assert right.position_ids.tolist() == [[0, 1, 2], [0, 1, 2]]
    assert right.lengths.tolist() == [3, 1] and right.offsets.tolist() == [0, 0]
    left = pack([[a, b], [c]], labels, side="left")
    assert left.embeds[:, :, 0].tolist() == [[1.0, 2.0, 3.0], [0.0, 0.0, 4.0]]
    assert left.attention_mask.tolist() == [[1, 1, 1], [0, 0, 1]]
    assert left.labels.tolist() == [[-100, -100, 7], [-100, -100, 8]]
    # the left-padded sample's one real token sits at position 0, as it would alone
    assert left.position_ids.tolist() == [[0, 1, 2], [0, 0, 0]]
    assert left.offsets.tolist() == [0, 2]


def test_pack_rejects_misaligned_labels() -> None:
    with pytest.raises(ValueError, match="labels"):
        pack([[torch.zeros(2, 1)]], [torch.tensor([1])])


def _batch(d: int):
    g = torch.Generator().manual_seed(1)
    audio = torch.randn(2, 5, d, generator=g)
    lens = torch.tensor([3, 5])
    return (
        ["describe", "transcribe the speech"],
        audio,
        lens,
        ["</a>", "say"],
        ["a dog barks while a car passes by", "hi"],
    )


def test_layout_positions_and_labels_by_hand(tiny_llm) -> None:
    left, audio, lens, right, targets = _batch(tiny_llm.hidden_size)
    tok = tiny_llm.tokenizer
    assert tiny_llm.add_bos  # the tiny tokenizer's post-processor prepends <s>
    emb = tiny_llm.model.get_input_embeddings().weight
    with torch.no_grad():
        out = tiny_llm.forward_packed(left, audio, lens, right, targets)
        batch = tiny_llm.pack_inputs(left, audio, lens, right, targets)
    width = batch.embeds.shape[1]
    assert out.logits.shape == (2, width, emb.shape[0]) and out.labels.shape == (2, width)
    for b in range(2):
        l_ids = tok(left[b], add_special_tokens=False)["input_ids"]
        r_ids = tok(right[b], add_special_tokens=False)["input_ids"]
        t_ids = tok(targets[b], add_special_tokens=False)["input_ids"]
        n_a = int(lens[b])
        start = 1 + len(l_ids)  # BOS + left prompt
        n = start + n_a + len(r_ids) + len(t_ids) + 1
        assert int(batch.lengths[b]) == n
        assert batch.attention_mask[b].tolist() == [1] * n + [0] * (width - n)
        tokens = [tok.bos_token_id] + l_ids
        assert torch.allclose(batch.embeds[b, :start], emb[tokens])
        # exactly the valid audio rows, right after the left prompt
        assert torch.equal(batch.embeds[b, start : start + n_a], audio[b, :n_a])
        after = start + n_a
        assert torch.allclose(batch.embeds[b, after : after + len(r_ids)], emb[r_ids])
        t0 = after + len(r_ids)
        assert torch.allclose(batch.embeds[b, t0:n], emb[t_ids + [tok.eos_token_id]])
        expected = [IGNORE_INDEX] * t0 + t_ids + [tok.eos_token_id] + [IGNORE_INDEX] * (width - n)
        assert out.labels[b].tolist() == expected
        assert batch.position_ids[b, :n].tolist() == list(range(n))
        # contrastive inputs: target embeddings without EOS, audio as given
        assert int(out.text_lengths[b]) == len(t_ids)
        assert torch.allclose(out.text_embeds[b, : len(t_ids)], emb[t_ids])
        assert not out.text_embeds[b, len(t_ids) :].any()
    assert out.audio_embeds is audio and out.audio_lengths is lens
    assert out.hidden_states.shape == (2, width, tiny_llm.hidden_size)


def test_padding_and_invalid_audio_rows_do_not_leak(tiny_llm) -> None:
    left, audio, lens, right, targets = _batch(tiny_llm.hidden_size)
    noisy = audio.clone()
    noisy[0, 3:] = 100.0  # rows past audio_lengths[0] must be ignored
    with torch.no_grad():
        both = tiny_llm.forward_packed(left, noisy, lens, right, targets)
        first = tiny_llm.forward_packed(left[:1], audio[:1, :3], lens[:1], right[:1], targets[:1])
        second = tiny_llm.forward_packed(left[1:], audio[1:], lens[1:], right[1:], targets[1:])
    n0, n1 = first.logits.shape[1], second.logits.shape[1]
    assert n1 < both.logits.shape[1]  # sample 1 is really right-padded in the batch
    assert torch.allclose(both.logits[0, :n0], first.logits[0], atol=1e-5)
    assert torch.allclose(both.logits[1, :n1], second.logits[0], atol=1e-5)


def test_no_bos_when_the_tokenizer_adds_none(make_llm) -> None:
    llm = make_llm("nobos")
    assert not llm.add_bos
    batch = llm.pack_inputs(["describe"], torch.zeros(1, 2, llm.hidden_size), torch.tensor([2]), ["x"], ["y"])
    first = llm.tokenizer("describe", add_special_tokens=False)["input_ids"][0]
    emb = llm.model.get_input_embeddings().weight
    assert torch.allclose(batch.embeds[0, 0], emb[first])
    forced = make_llm("nobos", add_bos=True)
    assert forced.pack_inputs(
        ["d"], torch.zeros(1, 1, llm.hidden_size), torch.tensor([1]), [""], ["y"]
    ).lengths[0] == (1 + len(llm.tokenizer("d", add_special_tokens=False)["input_ids"]) + 1 + 1 + 1)


def test_batch_size_mismatch_is_reported(tiny_llm) -> None:
    with pytest.raises(ValueError, match="batch sizes differ"):
        tiny_llm.forward_packed(
            ["a"], torch.zeros(2, 1, tiny_llm.hidden_size), torch.tensor([1, 1]), ["b"], ["c"]
        )
