"""tapm (paper Eq. 3–4): router softmax, expert-axis sum, top-k, balance loss, distinct experts, grads."""

from __future__ import annotations

import math

import pytest
import torch
from usam_plugins.projectors.configs import TAPMConfig
from usam_plugins.projectors.tapm import balance_loss, build_tapm, top_k_softmax

from usam_toolkit.errors import ConfigError
from usam_toolkit.interfaces import BuildContext, ProjectorContext


def linear_tapm(**kw) -> torch.nn.Module:  # type: ignore[no-untyped-def]
    """3 single-Linear experts (scaled identities 1, 2, 3) and a linear router W_r = I (3x3)."""
    cfg = TAPMConfig(**{"expert_layers": 1, "router_hidden": None, **kw})
    tapm = build_tapm(cfg, BuildContext(input_dim=2, output_dim=2, prompt_dim=3)).eval()
    with torch.no_grad():
        for scale, expert in zip((1.0, 2.0, 3.0), tapm.experts):
            expert[0].weight.copy_(scale * torch.eye(2))
            expert[0].bias.zero_()
        tapm.router[0].weight.copy_(torch.eye(3))
        tapm.router[0].bias.zero_()
    return tapm


PROMPT = torch.tensor([[math.log(3.0), 0.0, math.log(2.0)]])  # W_r·e = log([3, 1, 2])


def test_router_softmax_on_hand_set_weights() -> None:
    out = linear_tapm()(torch.ones(1, 2, 2), torch.tensor([2]), 10.0, ProjectorContext(PROMPT))
    w = out.extras["routing_weights"]
    assert torch.allclose(w, torch.tensor([[3 / 6, 1 / 6, 2 / 6]]))


def test_expert_sum_is_over_experts_and_preserves_time() -> None:
    z = torch.tensor([[[1.0, -2.0], [0.5, 4.0], [7.0, 7.0]]])
    out = linear_tapm()(z, torch.tensor([2]), 10.0, ProjectorContext(PROMPT))
    # φ = Σ_i w_i · s_i · z with w = (1/2, 1/6, 1/3), s = (1, 2, 3): factor 1/2 + 1/3 + 1 = 11/6.
    assert out.features.shape == (1, 3, 2) and out.lengths.tolist() == [2] and out.frame_rate == 10.0
    assert torch.allclose(out.features[0, :2], 11 / 6 * z[0, :2])
    assert out.features[0, 2].abs().sum() == 0  # padding stays zero


def test_top_k_renormalises_over_the_largest() -> None:
    out = linear_tapm(top_k=2)(torch.ones(1, 1, 2), torch.tensor([1]), 10.0, ProjectorContext(PROMPT))
    assert torch.allclose(out.extras["routing_weights"], torch.tensor([[3 / 5, 0.0, 2 / 5]]))
    assert torch.allclose(out.features, torch.full((1, 1, 2), 3 / 5 + 6 / 5))
    assert torch.allclose(top_k_softmax(torch.zeros(1, 4), None), torch.full((1, 4), 0.25))


def test_balance_loss_hand_values_and_aux_output() -> None:
    w = torch.tensor([[0.7, 0.2, 0.1], [0.1, 0.6, 0.3]])  # P = (.4, .4, .2), top-1 fractions f = (.5, .5, 0)
    assert balance_loss(w, "switch").item() == pytest.approx(3 * (0.5 * 0.4 + 0.5 * 0.4))  # 1.2
    assert balance_loss(w, "soft").item() == pytest.approx(3 * (0.16 + 0.16 + 0.04))  # 1.08
    assert balance_loss(torch.full((4, 3), 1 / 3), "soft").item() == pytest.approx(1.0)
    tapm = linear_tapm(balance_loss_weight=0.5, balance_loss_type="soft")
    out = tapm(torch.ones(1, 1, 2), torch.tensor([1]), 10.0, ProjectorContext(PROMPT))
    expected = 0.5 * 3 * ((1 / 2) ** 2 + (1 / 6) ** 2 + (1 / 3) ** 2)
    assert out.aux_losses["tapm_balance"].item() == pytest.approx(expected)
    assert (
        "tapm_balance"
        not in linear_tapm()(
            torch.ones(1, 1, 2), torch.tensor([1]), 10.0, ProjectorContext(PROMPT)
        ).aux_losses
    )


def test_prompt_audio_router_sees_audio() -> None:
    torch.manual_seed(0)
    tapm = build_tapm(
        TAPMConfig(router_input="prompt_audio", expert_hidden=4, router_hidden=4),
        BuildContext(input_dim=2, output_dim=3, prompt_dim=5),
    )
    assert tapm.router[0].in_features == 5 + 2
    e = torch.randn(1, 5)
    a = tapm(torch.randn(1, 4, 2), torch.tensor([4]), 1.0, ProjectorContext(e)).extras["routing_weights"]
    b = tapm(torch.randn(1, 4, 2), torch.tensor([4]), 1.0, ProjectorContext(e)).extras["routing_weights"]
    assert not torch.allclose(a, b)


def test_missing_prompt_embedding_is_a_clear_error() -> None:
    tapm = linear_tapm()
    with pytest.raises(ConfigError, match="prompt_embedding is None"):
        tapm(torch.ones(1, 1, 2), torch.tensor([1]), 10.0, ProjectorContext())
    with pytest.raises(ConfigError, match="prompt_dim|neither"):
        build_tapm(TAPMConfig(), BuildContext(input_dim=2, output_dim=2))


def test_experts_are_distinct_and_all_receive_gradients() -> None:
    torch.manual_seed(0)
    tapm = build_tapm(
        TAPMConfig(expert_hidden=8, router_hidden=8), BuildContext(input_dim=4, output_dim=5, prompt_dim=6)
    )
    ptrs = [p.data_ptr() for p in tapm.parameters()]
    assert len(ptrs) == len(set(ptrs))  # no parameter is shared
    z = torch.randn(2, 3, 4)
    outs = [expert(z) for expert in tapm.experts]
    assert not torch.allclose(outs[0], outs[1]) and not torch.allclose(outs[1], outs[2])
    out = tapm(z, torch.tensor([3, 2]), 50.0, ProjectorContext(torch.randn(2, 6)))
    out.features.pow(2).sum().backward()
    for name, p in tapm.named_parameters():
        assert p.grad is not None and p.grad.abs().sum() > 0, name  # every expert and the router


def test_without_routing_it_is_one_mlp_n_times_as_wide() -> None:
    """routing: false gives (1/N) Σ E_i(z): a single MLP with the experts' hidden units side by side and
    their output layers averaged, so the `w/o TAPM` rows keep TAPM's capacity and lose only the router."""
    from usam_plugins.projectors.mlp import MLPProjector

    torch.manual_seed(0)
    ctx = BuildContext(input_dim=5, output_dim=6, prompt_dim=7)
    tapm = build_tapm(TAPMConfig(expert_hidden=4, routing=False), ctx)
    assert tapm.router is None
    wide = MLPProjector(5, 12, 6, num_layers=2, activation="gelu")
    with torch.no_grad():
        first, second = wide.net[0], wide.net[2]
        first.weight.copy_(torch.cat([e[0].weight for e in tapm.experts]))
        first.bias.copy_(torch.cat([e[0].bias for e in tapm.experts]))
        second.weight.copy_(torch.cat([e[2].weight for e in tapm.experts], dim=1) / 3)
        second.bias.copy_(sum(e[2].bias for e in tapm.experts) / 3)
    z, n = torch.randn(2, 4, 5), torch.tensor([4, 3])
    out = tapm(z, n, 10.0, ProjectorContext(None))  # no prompt needed: nothing routes on it
    torch.testing.assert_close(out.features, wide(z, n, 10.0, ProjectorContext(None)).features)
    assert "routing_weights" not in out.extras
    n_tapm = sum(p.numel() for p in tapm.parameters())
    assert n_tapm - sum(p.numel() for p in wide.parameters()) == 2 * 6  # only the 2 extra output biases


def test_without_routing_top_k_or_balance_is_an_error() -> None:
    ctx = BuildContext(input_dim=2, output_dim=2, prompt_dim=3)
    with pytest.raises(ConfigError, match="routing: false has no router"):
        build_tapm(TAPMConfig(routing=False, top_k=1), ctx)
    with pytest.raises(ConfigError, match="routing: false has no router"):
        build_tapm(TAPMConfig(routing=False, balance_loss_weight=0.1), ctx)
