"""The paper's chain window_qformer -> tapm built the way the core derives dims, and the conformance
checks of :mod:`usam_toolkit.testing` for every projector registered here."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from usam_plugins.projectors.configs import TAPMConfig, WindowQFormerConfig
from usam_plugins.projectors.tapm import build_tapm
from usam_plugins.projectors.window_qformer import build_window_qformer

from usam_toolkit.interfaces import BuildContext, ProjectorContext
from usam_toolkit.testing import check_component

NAMES = ("linear", "mlp", "conv_downsample", "window_qformer", "tapm")


def test_window_qformer_then_tapm_chain() -> None:
    torch.manual_seed(0)
    qf = build_window_qformer(
        WindowQFormerConfig(hidden_size=8, num_heads=2, num_layers=1),
        BuildContext(input_dim=6, frame_rate=50.0, llm_dim=12, prompt_dim=12),
    )
    assert qf.output_dim == 8  # intermediate link: its own hidden size
    tapm = build_tapm(
        TAPMConfig(expert_hidden=16, router_hidden=8),
        BuildContext(input_dim=qf.output_dim, output_dim=12, llm_dim=12, prompt_dim=12, is_last=True),
    )
    ctx = ProjectorContext(prompt_embedding=torch.randn(2, 12), task_ids=torch.tensor([0, 1]))
    z = qf(torch.randn(2, 100, 6), torch.tensor([100, 40]), 50.0, ctx)  # 0.33 s -> 17-frame windows
    assert z.lengths.tolist() == [6, 3] and z.frame_rate == pytest.approx(50 / 17)
    phi = tapm(z.features, z.lengths, z.frame_rate, ctx)
    assert tuple(phi.features.shape) == (2, 6, 12) and phi.lengths.tolist() == [6, 3]
    phi.features.sum().backward()
    assert qf.queries.grad is not None and qf.queries.grad.abs().sum() > 0


@pytest.mark.parametrize("name", NAMES)
def test_conformance(name: str, tmp_path: Path) -> None:
    check_component("projectors", name, tmp_path)
