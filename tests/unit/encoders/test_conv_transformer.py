"""The ``conv_transformer`` encoder: exact lengths, rates, padding invariance, safetensors, modes."""

from __future__ import annotations

from pathlib import Path

import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("torchaudio")

from usam_plugins.encoders.conv_transformer import (
    ConvTransformerConfig,
    build_conv_transformer,
    conv_transformer_example,
    save_conv_transformer,
)

from usam_toolkit.errors import ConfigError
from usam_toolkit.interfaces import BuildContext, Encoder

TINY = {"dim": 16, "layers": 1, "heads": 2, "n_mels": 16}


def _build(**kw) -> torch.nn.Module:
    return build_conv_transformer(ConvTransformerConfig(**{**TINY, **kw}), BuildContext())


def test_lengths_worked_by_hand() -> None:
    enc = _build(strides=[2, 2])  # 16 kHz: window 400, hop 160
    # 16000 samples: 1 + (16000 - 400) // 160 = 98 frames -> ceil(98/2) = 49 -> ceil(49/2) = 25
    # 1000 samples: 1 + 600 // 160 = 4 -> 2 -> 1; 399 samples: no full window -> 0
    assert enc.output_lengths(torch.tensor([16000, 1000, 399])).tolist() == [25, 1, 0]
    out = enc(torch.randn(3, 16000), torch.tensor([16000, 1000, 399]))
    assert out.lengths.tolist() == [25, 1, 0] and out.features.shape == (3, 25, 16)
    assert torch.isfinite(out.features).all() and torch.all(out.features[2] == 0)


@pytest.mark.parametrize(
    "kw, rate",
    [
        ({}, 50.0),
        ({"strides": [2, 2]}, 25.0),
        ({"sample_rate": 24000, "hop_ms": 40 / 3, "strides": [1]}, 75.0),
    ],
)
def test_frame_rates(kw: dict, rate: float) -> None:
    enc = _build(**kw)
    assert isinstance(enc, Encoder)
    assert enc.frame_rate == pytest.approx(rate) and enc.output_dim == 16
    n = 2 * enc.sample_rate
    out = enc(torch.randn(1, n), torch.tensor([n]))
    assert out.features.shape[1] == pytest.approx(2 * rate, abs=2)  # ~2 s of frames


def test_padding_does_not_leak() -> None:
    torch.manual_seed(0)
    enc = _build(strides=[2, 3])
    a, b = torch.randn(5003), torch.randn(9000)
    batch = torch.zeros(2, 9000)
    batch[0, :5003], batch[1] = a, b
    batch[0, 5003:] = 100.0  # loud garbage in the padding
    with torch.no_grad():
        both = enc(batch, torch.tensor([5003, 9000]))
        alone = enc(a[None], torch.tensor([5003]))
    n = int(alone.lengths[0])
    assert both.lengths[0] == n
    torch.testing.assert_close(both.features[0, :n], alone.features[0], atol=1e-5, rtol=0)


def test_safetensors_round_trip_and_seed(tmp_path: Path) -> None:
    first, other = _build(seed=1), _build(seed=2)
    path = tmp_path / "enc.safetensors"
    save_conv_transformer(first, path)
    loaded = build_conv_transformer(
        ConvTransformerConfig(**TINY, path="enc.safetensors", seed=2), BuildContext(base_dir=tmp_path)
    )
    x = torch.randn(1, 8000)
    with torch.no_grad():
        torch.testing.assert_close(
            loaded(x, torch.tensor([8000])).features, first(x, torch.tensor([8000])).features
        )
    assert first.fingerprint() != other.fingerprint()
    with pytest.raises(ConfigError, match="does not match"):
        build_conv_transformer(ConvTransformerConfig(**{**TINY, "dim": 32}, path=str(path)), BuildContext())


def test_modes() -> None:
    """The core applies the slot's mode (default frozen); the plugin's build leaves the weights as built."""
    from usam_toolkit.plugins import load_registry

    reg = load_registry(entry_points=False)

    def core_build(**slot) -> torch.nn.Module:
        slot = {"name": "conv_transformer", **TINY, **slot}
        return reg.build("encoders", slot, BuildContext(), "encoders[1]")

    frozen = core_build()
    assert not any(p.requires_grad for p in frozen.parameters()) and not frozen.training
    assert all(p.requires_grad for p in core_build(mode="trainable").parameters())
    lora = core_build(mode="lora")
    names = [n for n, p in lora.named_parameters() if p.requires_grad]
    assert names and all("lora_" in n for n in names)
    with pytest.raises(ConfigError, match=r"encoders\[1\]\.mode: 'partly'"):
        core_build(mode="partly")
    with pytest.raises(ConfigError, match="heads"):
        _build(heads=3)


def test_example_builds(tmp_path: Path) -> None:
    enc = build_conv_transformer(ConvTransformerConfig(**conv_transformer_example(tmp_path)), BuildContext())
    assert enc(torch.randn(1, 4000), torch.tensor([4000])).features.shape[-1] == enc.output_dim
