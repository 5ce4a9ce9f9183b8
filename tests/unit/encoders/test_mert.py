"""MERT-v1 encoder: tiny random checkpoints in the real m-a-p/MERT-v1-* format."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from usam_plugins.encoders.mert import MertConfig, build_mert, write_tiny_mert_checkpoint

from usam_toolkit.errors import ConfigError
from usam_toolkit.interfaces import BuildContext
from usam_toolkit.testing import build_example, check_encoder

SR = 24000


def _audio(n: int, seed: int = 0) -> torch.Tensor:
    return 0.1 * torch.randn(n, generator=torch.Generator().manual_seed(seed))


def _build(folder: Path, **kw) -> torch.nn.Module:
    kw.setdefault("return_hidden_states", True)
    return build_mert(MertConfig(checkpoint=str(folder), **kw), BuildContext()).eval()


def test_loads_the_written_weights_and_rates(tmp_path: Path) -> None:
    written = write_tiny_mert_checkpoint(tmp_path / "m")
    enc = _build(tmp_path / "m")
    bb = enc.backbone
    assert torch.equal(
        bb.encoder.layers[1].attention.v_proj.weight, written["encoder.layers.1.attention.v_proj.weight"]
    )
    assert torch.equal(
        bb.encoder.pos_conv_embed.conv.weight_g, written["encoder.pos_conv_embed.conv.weight_g"]
    )
    assert torch.equal(
        bb.feature_extractor.conv_layers[0].layer_norm.weight,
        written["feature_extractor.conv_layers.0.layer_norm.weight"],
    )
    assert (enc.sample_rate, enc.frame_rate, enc.output_dim, enc.num_states) == (24000, 75.0, 16, 3)


def test_lengths_follow_the_conv_arithmetic(tmp_path: Path) -> None:
    write_tiny_mert_checkpoint(tmp_path / "m")
    enc = _build(tmp_path / "m")
    lens = torch.tensor([SR, 12345, 400])
    audio = torch.zeros(3, SR)
    for i, n in enumerate(lens.tolist()):
        audio[i, :n] = _audio(n, i)
    with torch.no_grad():
        out = enc(audio, lens)

    def frames(n: int) -> int:
        for k, s in zip([10, 3, 3, 3, 3, 2, 2], [5, 2, 2, 2, 2, 2, 2]):
            n = (n - k) // s + 1
        return n

    assert out.lengths.tolist() == [frames(SR), frames(12345), frames(400)] == [74, 38, 1]
    assert out.features.shape == (3, 74, 16) and out.hidden_states.shape == (3, 3, 74, 16)
    assert torch.all(out.features[1, 38:] == 0)
    plain = build_mert(MertConfig(checkpoint=str(tmp_path / "m")), BuildContext()).eval()
    with torch.no_grad():
        assert plain(audio, lens).hidden_states is None  # only returned on request


@pytest.mark.parametrize("stable", [False, True])
def test_padding_invariance(tmp_path: Path, stable: bool) -> None:
    write_tiny_mert_checkpoint(tmp_path / "m", stable_layer_norm=stable)
    enc = _build(tmp_path / "m")
    short, long_ = _audio(15000, 1), _audio(SR, 2) * 3.0
    batch = torch.zeros(2, SR)
    batch[0, :15000], batch[1] = short, long_
    with torch.no_grad():
        both = enc(batch, torch.tensor([15000, SR]))
        alone = enc(short[None], torch.tensor([15000]))
    n = int(alone.lengths[0])
    assert n == int(both.lengths[0])
    torch.testing.assert_close(both.hidden_states[:, 0, :n], alone.hidden_states[:, 0], atol=1e-4, rtol=0)


def test_weighted_sum_with_hand_set_weights(tmp_path: Path) -> None:
    write_tiny_mert_checkpoint(tmp_path / "m")
    enc = _build(tmp_path / "m")
    a = _audio(SR // 2)[None]
    n = torch.tensor([a.shape[1]])
    with torch.no_grad():
        enc.layer_weights.copy_(torch.tensor([0.0, 1e4, 0.0]))  # softmax -> one-hot on hidden state 1
        picked = enc(a, n)
        enc.layer_weights.zero_()  # softmax(0) -> uniform average
        uniform = enc(a, n)
    torch.testing.assert_close(picked.features, picked.hidden_states[1])
    torch.testing.assert_close(uniform.features, uniform.hidden_states.mean(0))
    layer1 = _build(tmp_path / "m", weighted_sum=False, layer=1)
    with torch.no_grad():
        torch.testing.assert_close(layer1(a, n).features, picked.features)


def _core_build(**slot) -> torch.nn.Module:
    """Built as a recipe slot is: the core applies ``mode`` (default frozen) after the plugin's build."""
    from usam_toolkit.plugins import load_registry

    reg = load_registry(entry_points=False)
    return reg.build("encoders", {"name": "mert", **slot}, BuildContext(), "encoders[0]")


def test_layer_weights_train_when_frozen(tmp_path: Path) -> None:
    write_tiny_mert_checkpoint(tmp_path / "m")
    enc = _core_build(checkpoint=str(tmp_path / "m"))
    assert not enc.backbone.training  # a frozen backbone is in eval mode
    trainable = [n for n, p in enc.named_parameters() if p.requires_grad]
    assert trainable == ["layer_weights"]
    enc(_audio(4000)[None], torch.tensor([4000])).features.sum().backward()
    assert enc.layer_weights.grad is not None and enc.layer_weights.grad.abs().sum() > 0


def test_audio_is_normalised_over_the_valid_part(tmp_path: Path) -> None:
    write_tiny_mert_checkpoint(tmp_path / "m")
    enc = _build(tmp_path / "m")
    x = torch.tensor([[1.0, 2.0, 3.0, 0.0], [4.0, 4.0, 4.0, 8.0]])
    y = enc.normalize(x, torch.tensor([3, 4]))
    s = (2.0 / 3.0 + 1e-7) ** 0.5  # population std of (1, 2, 3)
    torch.testing.assert_close(y[0], torch.tensor([-1 / s, 0.0, 1 / s, 0.0]))
    s2 = (3.0 + 1e-7) ** 0.5  # mean 5, variance 3
    torch.testing.assert_close(y[1], torch.tensor([-1 / s2, -1 / s2, -1 / s2, 3 / s2]))


@pytest.mark.slow  # importing transformers' Hubert takes seconds
@pytest.mark.parametrize("stable", [False, True])
def test_matches_transformers_hubert(tmp_path: Path, stable: bool) -> None:
    """The same numbers as transformers' HubertModel (which MERTModel subclasses) on one clip."""
    transformers = pytest.importorskip("transformers")
    written = write_tiny_mert_checkpoint(
        tmp_path / "m", stable_layer_norm=stable, weight_norm_names="parametrizations"
    )
    cfg = json.loads((tmp_path / "m" / "config.json").read_text())
    hub_cfg = {k: v for k, v in cfg.items() if k not in ("architectures", "auto_map", "model_type")}
    ref = transformers.HubertModel(transformers.HubertConfig(**hub_cfg)).eval()
    result = ref.load_state_dict(written, strict=False)
    assert not result.missing_keys
    enc = _build(tmp_path / "m", weighted_sum=False, layer=-1)
    a = _audio(SR, 5)
    with torch.no_grad():
        expected = ref((a - a.mean())[None] / torch.sqrt(a.var(unbiased=False) + 1e-7)).last_hidden_state
        got = enc(a[None], torch.tensor([SR])).features
    torch.testing.assert_close(got, expected, atol=1e-4, rtol=1e-4)


def test_both_weight_norm_namings_and_safetensors(tmp_path: Path) -> None:
    write_tiny_mert_checkpoint(tmp_path / "legacy")
    write_tiny_mert_checkpoint(tmp_path / "new", weight_norm_names="parametrizations", safetensors=True)
    assert (tmp_path / "new" / "model.safetensors").is_file()
    a, b = _build(tmp_path / "legacy"), _build(tmp_path / "new")
    for (ka, va), (kb, vb) in zip(a.state_dict().items(), b.state_dict().items()):
        assert ka == kb and torch.equal(va, vb)

    # same path, different weights: the fingerprint must change
    write_tiny_mert_checkpoint(tmp_path / "legacy", seed=1)
    assert _build(tmp_path / "legacy").fingerprint() != a.fingerprint()


def test_errors(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="mert.checkpoint"):
        build_mert(MertConfig(), BuildContext())
    write_tiny_mert_checkpoint(tmp_path / "m")
    with pytest.raises(ConfigError, match="mert.layer"):
        build_mert(MertConfig(checkpoint=str(tmp_path / "m"), weighted_sum=False, layer=7), BuildContext())
    cfg = json.loads((tmp_path / "m" / "config.json").read_text())
    cfg["feature_extractor_cqt"] = True
    (tmp_path / "m" / "config.json").write_text(json.dumps(cfg))
    with pytest.raises(ConfigError, match="CQT"):
        build_mert(MertConfig(checkpoint=str(tmp_path / "m")), BuildContext())


def test_lora_targets_query_and_value(tmp_path: Path) -> None:
    write_tiny_mert_checkpoint(tmp_path / "m")
    enc = _core_build(checkpoint=str(tmp_path / "m"), mode="lora")
    names = [n for n, p in enc.named_parameters() if p.requires_grad]
    assert "layer_weights" in names and any("q_proj.lora_" in n for n in names)
    assert all("lora_" in n or n == "layer_weights" for n in names)


def test_conformance(tmp_path: Path) -> None:
    check_encoder(build_example("encoders", "mert", tmp_path))
