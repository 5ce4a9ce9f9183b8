"""infonce and aux / tapm_balance losses."""

from __future__ import annotations

import math

import pytest
import torch
from usam_plugins.losses.aux import build_aux
from usam_plugins.losses.configs import AuxConfig, InfoNCEConfig, TAPMBalanceConfig
from usam_plugins.losses.infonce import build_infonce

from usam_toolkit.interfaces import BuildContext, LLMOutput, LossInputs


def pair_inputs(audio: torch.Tensor, text: torch.Tensor, aux=None) -> LossInputs:  # type: ignore[no-untyped-def]
    b = audio.shape[0]
    lens = torch.full((b,), audio.shape[1])
    llm = LLMOutput(
        torch.zeros(b, 2, 3), torch.full((b, 2), -100), audio, lens, text, torch.full((b,), text.shape[1])
    )
    return LossInputs(llm, aux_losses=aux or {})


def test_infonce_hand_value() -> None:
    a = torch.eye(2)[:, None, :]  # pooled audio (1,0), (0,1)
    t = torch.eye(2)[:, None, :]  # pooled text equal -> logits = I / τ
    out = build_infonce(InfoNCEConfig(temperature=1.0), BuildContext())(pair_inputs(a, t))
    assert out.loss.item() == pytest.approx(math.log(1 + math.exp(-1)))  # −log(e / (e + 1)), both directions
    assert out.logs["retrieval_acc"] == 1.0


def test_infonce_skips_a_batch_of_one() -> None:
    loss = build_infonce(InfoNCEConfig(), BuildContext())
    with pytest.warns(UserWarning, match="skipped"):
        out = loss(pair_inputs(torch.ones(1, 2, 3), torch.ones(1, 2, 3)))
    assert out.loss.item() == 0.0 and out.logs["skipped"] == 1.0


def test_aux_sums_named_entries() -> None:
    aux = {"tapm_balance": torch.tensor(1.5, requires_grad=True), "other": torch.tensor(0.25)}
    inputs = pair_inputs(torch.ones(2, 1, 2), torch.ones(2, 1, 2), aux)
    assert build_aux(AuxConfig(), BuildContext())(inputs).loss.item() == pytest.approx(1.75)
    out = build_aux(TAPMBalanceConfig(), BuildContext())(inputs)
    assert out.loss.item() == pytest.approx(1.5) and out.loss.requires_grad


def test_missing_aux_entry_warns_and_contributes_zero() -> None:
    inputs = pair_inputs(torch.ones(2, 1, 2), torch.ones(2, 1, 2))
    with pytest.warns(UserWarning, match="tapm_balance"):
        out = build_aux(TAPMBalanceConfig(), BuildContext())(inputs)
    assert out.loss.item() == 0.0
