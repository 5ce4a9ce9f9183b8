"""saclm: alignment, straight-through selection, triplet value, L1 term, negatives, skip, gradients."""

from __future__ import annotations

import math
import warnings

import pytest
import torch
from torch import nn
from usam_plugins.losses.configs import SACLMConfig
from usam_plugins.losses.saclm import (
    SACLMLoss,
    align_text_to_audio,
    build_saclm,
    cosine_distance,
    negative_distances,
    random_derangement,
    straight_through_mask,
    triplet,
)

from usam_toolkit.interfaces import BuildContext, LLMOutput, LossInputs
from usam_toolkit.testing import fake_loss_inputs


def make_inputs(audio, a_len, text, t_len) -> LossInputs:  # type: ignore[no-untyped-def]
    b = audio.shape[0]
    return LossInputs(
        LLMOutput(
            torch.zeros(b, 2, 3),
            torch.full((b, 2), -100),
            audio,
            torch.tensor(a_len),
            text,
            torch.tensor(t_len),
        )
    )


def test_text_interpolated_onto_audio_frames() -> None:
    text = torch.tensor([[[0.0], [4.0], [99.0]]])  # third token is padding
    out = align_text_to_audio(text, torch.tensor([2]), torch.tensor([4]), 5)
    # centre-aligned positions (t + .5)·2/4 − .5 = −.25, .25, .75, 1.25 -> clamped 0, .25, .75, 1
    assert out[0, :, 0].tolist() == [0.0, 1.0, 3.0, 4.0, 0.0]
    single = align_text_to_audio(torch.tensor([[[2.0]]]), torch.tensor([1]), torch.tensor([3]), 3)
    assert single[0, :, 0].tolist() == [2.0, 2.0, 2.0]


def test_threshold_with_straight_through_gradient() -> None:
    s = torch.tensor([0.2, 0.6, 0.5, 0.9], requires_grad=True)
    d = straight_through_mask(s, 0.5)
    assert d.tolist() == [0.0, 1.0, 0.0, 1.0]  # strictly greater than 0.5
    (d * torch.tensor([1.0, 2.0, 3.0, 4.0])).sum().backward()
    assert s.grad.tolist() == [1.0, 2.0, 3.0, 4.0]  # gradient of S passes straight through


def test_cosine_triplet_hand_values() -> None:
    anchor = torch.tensor([[1.0, 0.0], [1.0, 0.0]])
    pos = torch.tensor([[1.0, 1.0], [1.0, 1.0]])
    neg = torch.tensor([[0.0, 1.0], [2.0, 0.0]])
    d_pos, d_neg = cosine_distance(anchor, pos), cosine_distance(anchor, neg)
    assert d_pos.tolist() == pytest.approx([1 - 1 / math.sqrt(2)] * 2)
    assert d_neg.tolist() == pytest.approx([1.0, 0.0])
    # sample 0: max(0.2929 − 1 + 0.2, 0) = 0; sample 1: 0.2929 − 0 + 0.2 = 0.4929
    assert triplet(d_pos, d_neg, 0.2).item() == pytest.approx((1 - 1 / math.sqrt(2) + 0.2) / 2)


def hand_module(score: float, margin: float = 1.0, negatives: str = "mean") -> nn.Module:
    """SACLM on D = 2 with a constant score network and an identity aggregation network."""
    loss = build_saclm(SACLMConfig(hidden_dim=4, margin=margin, negatives=negatives), BuildContext(llm_dim=2))
    with torch.no_grad():
        loss.score_net[2].weight.zero_()
        loss.score_net[2].bias.fill_(math.log(score / (1 - score)))
    loss.aggregator = nn.Identity()
    return loss


def hand_inputs() -> LossInputs:
    audio = torch.tensor(
        [[[1.0, 0.0], [1.0, 0.0]], [[0.0, 1.0], [100.0, -7.0]]]
    )  # sample 1: 1 frame + padding
    text = torch.tensor([[[1.0, 1.0], [5.0, 5.0]], [[0.0, 1.0], [0.0, 3.0]]])  # sample 0: 1 token + padding
    return make_inputs(audio, [2, 1], text, [1, 2])


def test_full_loss_hand_value_with_l1_term() -> None:
    # All scores 0.8 > 0.5: every valid frame kept, φ' = mean of valid frames: (1,0) and (0,1).
    # Pooled texts: T0 = (1,1), T1 = (0,2). Negatives of a batch of 2 are the other sample.
    # d(φ'0,T0) = 1 − 1/√2, d(φ'0,T1) = 1; d(φ'1,T1) = 0, d(φ'1,T0) = 1 − 1/√2; margin 1:
    # triplet = ((1 − 1/√2) − 1 + 1 + 0 − (1 − 1/√2) + 1) / 2 = 1/2; L1 = mean S = 0.8.
    out = hand_module(0.8)(hand_inputs())
    assert out.logs["triplet"] == pytest.approx(0.5, abs=1e-6)
    assert out.logs["l1"] == pytest.approx(0.8, abs=1e-6)
    assert out.loss.item() == pytest.approx(0.5 + 0.01 * 0.8, abs=1e-6)
    assert out.logs["kept_fraction"] == 1.0 and out.logs["skipped"] == 0.0


def test_no_kept_frame_falls_back_to_soft_weights() -> None:
    out = hand_module(0.3)(hand_inputs())  # nothing above 0.5: soft (equal) weights, same φ'
    assert out.logs["kept_fraction"] == 0.0
    assert out.loss.item() == pytest.approx(0.5 + 0.01 * 0.3, abs=1e-6)
    assert torch.isfinite(out.loss)


def test_selection_changes_the_aggregate() -> None:
    loss = hand_module(0.8)
    with torch.no_grad():  # score = sigmoid(10·(LN(x)_0 − 0.5)): LN maps (a, 0) to (1, −1), (0, a) to (−1, 1)
        loss.score_net[0].weight.zero_()
        loss.score_net[0].weight[0, 0] = 1.0
        loss.score_net[0].bias.fill_(-0.5)
        loss.score_net[2].weight.zero_()
        loss.score_net[2].weight[0, 0] = 10.0
        loss.score_net[2].bias.zero_()
    audio = torch.tensor([[[1.0, 0.0], [0.0, 1.0]], [[0.0, 3.0], [2.0, 0.0]]])
    s = loss.scores(audio, torch.zeros_like(audio))
    assert (s > 0.5).tolist() == [[True, False], [False, True]]
    pooled, kept = loss.aggregate(audio, s, torch.ones(2, 2, dtype=torch.bool))
    assert kept.tolist() == [1.0, 1.0]
    assert torch.allclose(pooled, torch.tensor([[1.0, 0.0], [2.0, 0.0]]))  # only the kept frame


def test_scores_stay_trainable_when_audio_tokens_are_far_larger_than_text() -> None:
    # Projector outputs 100x the text embeddings' norm once saturated the sigmoid (S ~ 1e-31, no gradient).
    torch.manual_seed(0)
    loss = SACLMLoss(dim=16, hidden_dim=8)
    audio = 100.0 * torch.randn(2, 5, 16) + 300.0
    text = 0.05 * torch.randn(2, 5, 16)
    s = loss.scores(audio, text)
    assert ((s > 0.05) & (s < 0.95)).all()
    s.sum().backward()
    assert loss.score_net[0].weight.grad.abs().sum() > 0


def test_negatives_are_never_the_sample_itself() -> None:
    g = torch.Generator().manual_seed(0)
    for n in range(2, 9):
        for _ in range(20):
            perm = random_derangement(n, g)
            assert sorted(perm.tolist()) == list(range(n))
            assert (perm != torch.arange(n)).all()
    # Anchors equal to their own text: a self-negative would give distance 0.
    text = torch.eye(3)
    for mode in ("derangement", "hardest", "mean"):
        d_neg, _ = negative_distances(text.clone(), text, mode, g)
        assert d_neg.tolist() == pytest.approx([1.0, 1.0, 1.0]), mode


def test_derangements_are_reproducible_from_the_seed() -> None:
    a = build_saclm(SACLMConfig(hidden_dim=4, seed=3), BuildContext(llm_dim=2))
    b = build_saclm(SACLMConfig(hidden_dim=4, seed=3), BuildContext(llm_dim=2))
    assert [random_derangement(5, a.generator).tolist() for _ in range(3)] == [
        random_derangement(5, b.generator).tolist() for _ in range(3)
    ]


def test_batch_of_one_is_skipped_with_one_warning_and_zero_loss() -> None:
    loss = hand_module(0.8)
    one = make_inputs(torch.ones(1, 2, 2, requires_grad=True), [2], torch.ones(1, 1, 2), [1])
    with pytest.warns(UserWarning, match="skipped"):
        out = loss(one)
    assert out.loss.item() == 0.0 and out.logs == {"skipped": 1.0}
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        again = loss(one)  # no second warning
    again.loss.backward()  # still a valid graph (connected to the heads)


def test_gradients_reach_score_and_aggregation_networks_through_the_triplet() -> None:
    torch.manual_seed(0)
    # λ = 0: any score-network gradient comes from the triplet through the straight-through mask;
    # margin 2 keeps every triplet term active (d ∈ [0, 2]).
    loss = build_saclm(SACLMConfig(hidden_dim=8, l1_weight=0.0, margin=2.0), BuildContext(llm_dim=24))
    inputs = fake_loss_inputs(24, batch=4)
    out = loss(inputs)
    assert out.logs["kept_fraction"] > 0
    out.loss.backward()
    for name, p in loss.named_parameters():
        assert p.grad is not None and p.grad.abs().sum() > 0, name
    assert inputs.llm.audio_embeds.grad.abs().sum() > 0  # and the projector's tokens
