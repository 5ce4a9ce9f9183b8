"""cross_entropy: next-token CE against a hand computation."""

from __future__ import annotations

import math

import pytest
import torch
from usam_plugins.losses.configs import CrossEntropyConfig
from usam_plugins.losses.cross_entropy import build_cross_entropy

from usam_toolkit.interfaces import BuildContext, LLMOutput, LossInputs


def inputs(logits: torch.Tensor, labels: torch.Tensor) -> LossInputs:
    z = torch.zeros(logits.shape[0], 1, 2)
    one = torch.ones(logits.shape[0], dtype=torch.long)
    return LossInputs(LLMOutput(logits, labels, z, one, z, one))


def test_shifted_ce_hand_value() -> None:
    # Position 0 predicts label[1] = 0 with logits (0, ln 3): -log(1/4) = ln 4.
    # Position 1 predicts label[2] = 1 with logits (0, 0): ln 2. Position 2 has no next token.
    logits = torch.tensor([[[0.0, math.log(3.0)], [0.0, 0.0], [5.0, -5.0]]], requires_grad=True)
    labels = torch.tensor([[-100, 0, 1]])
    out = build_cross_entropy(CrossEntropyConfig(), BuildContext())(inputs(logits, labels))
    assert out.loss.item() == pytest.approx(1.5 * math.log(2.0))  # (ln 4 + ln 2) / 2
    assert out.logs["ppl"] == pytest.approx(math.exp(1.5 * math.log(2.0)))
    assert out.logs["target_tokens"] == 2.0
    out.loss.backward()
    assert logits.grad[0, 2].abs().sum() == 0  # the last position predicts nothing


def test_ignored_positions_do_not_count_and_no_target_gives_zero() -> None:
    logits = torch.randn(2, 4, 5, requires_grad=True)
    labels = torch.tensor([[-100, -100, 3, -100], [-100, -100, -100, -100]])
    loss = build_cross_entropy(CrossEntropyConfig(), BuildContext())(inputs(logits, labels)).loss
    expected = -torch.log_softmax(logits[0, 1], -1)[3]
    assert loss.item() == pytest.approx(expected.item(), rel=1e-6)
    none = build_cross_entropy(CrossEntropyConfig(), BuildContext())(inputs(logits, torch.full((2, 4), -100)))
    assert none.loss.item() == 0.0 and none.loss.requires_grad
