"""Time-aligned fusion: three streams at 50, 25 and 10 Hz with different lengths, values worked by hand."""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")

from usam_toolkit.errors import ConfigError
from usam_toolkit.interfaces import EncoderOutput
from usam_toolkit.model.config import FusionConfig
from usam_toolkit.model.fusion import Fusion, resampled_length

PAD = 100.0  # padding is loud so that any leak shows in the values


def _streams() -> list[EncoderOutput]:
    a = torch.full((2, 10, 1), PAD)  # 50 Hz: sample 0 has 10 frames 0..9, sample 1 has 7 frames 0..6
    a[0, :, 0] = torch.arange(10.0)
    a[1, :7, 0] = torch.arange(7.0)
    b = torch.full((2, 5, 1), PAD)  # 25 Hz: 5 frames 0..4, and 4 frames 0..3
    b[0, :, 0] = torch.arange(5.0)
    b[1, :4, 0] = torch.arange(4.0)
    c = torch.full((2, 2, 2), PAD)  # 10 Hz, two channels: 2 frames, and 1 frame
    c[0] = torch.tensor([[1.0, 2.0], [3.0, 4.0]])
    c[1, 0] = torch.tensor([5.0, 6.0])
    return [
        EncoderOutput(a, torch.tensor([10, 7]), 50.0),
        EncoderOutput(b, torch.tensor([5, 4]), 25.0),
        EncoderOutput(c, torch.tensor([2, 1]), 10.0),
    ]


def test_interpolate_three_streams_by_hand() -> None:
    fusion = Fusion(FusionConfig(), [(1, 50.0), (1, 25.0), (2, 10.0)])
    assert (fusion.frame_rate, fusion.output_dim) == (10.0, 4)
    out = fusion(_streams())
    # Lengths: A ceil(10*10/50)=2 | ceil(7/5)=2; B ceil(5*10/25)=2 | ceil(1.6)=2; C 2 | 1 -> min: [2, 1].
    # Linear, align_corners=False: output i reads source (i + 0.5) * L/L' - 0.5.
    # A s0: L/L'=5 -> sources 2, 7.   B s0: 2.5 -> 0.75, 3.25.
    # A s1: 3.5 -> 1.25 (4.75 trimmed). B s1: 2 -> 0.5 (2.5 trimmed). C s1: its one frame.
    expected = torch.tensor(
        [[[2.0, 0.75, 1.0, 2.0], [7.0, 3.25, 3.0, 4.0]], [[1.25, 0.5, 5.0, 6.0], [0.0, 0.0, 0.0, 0.0]]]
    )
    assert out.lengths.tolist() == [2, 1] and out.frame_rate == 10.0
    torch.testing.assert_close(out.features, expected)
    assert out.mask.tolist() == [[True, True], [True, False]]


def test_pool_averages_integer_ratios_and_interpolates_others() -> None:
    fusion = Fusion(FusionConfig(frame_rate=10.0, mode="pool"), [(1, 50.0), (1, 25.0)])
    out = fusion(_streams()[:2])
    # A (k=5): s0 mean(0..4)=2, mean(5..9)=7; s1 mean(0..4)=2, last window has only 5, 6 -> 5.5.
    # B (k=2.5, not an integer): linear as above: s0 0.75, 3.25; s1 0.5, 2.5.
    expected = torch.tensor([[[2.0, 0.75], [7.0, 3.25]], [[2.0, 0.5], [5.5, 2.5]]])
    assert out.lengths.tolist() == [2, 2]
    torch.testing.assert_close(out.features, expected)


def test_explicit_rate_upsamples_the_slow_stream() -> None:
    streams = _streams()
    fusion = Fusion(FusionConfig(frame_rate=25.0), [(1, 50.0), (2, 10.0)])
    out = fusion([streams[0], streams[2]])
    # A s0 -> 5 frames reading sources 0.5, 2.5, 4.5, 6.5, 8.5.  C s0 -> ceil(2*25/10)=5 frames reading
    # (i+0.5)*0.4-0.5 = -0.3, 0.1, 0.5, 0.9, 1.3, clamped to [0, 1]: 1, 1.2, 2, 2.8, 3 (channel 0).
    # s1: A ceil(7/2)=4, C ceil(2.5)=3 -> 3 frames; C has one frame, so it is constant.
    assert out.lengths.tolist() == [5, 3]
    torch.testing.assert_close(out.features[0, :, 0], torch.tensor([0.5, 2.5, 4.5, 6.5, 8.5]))
    torch.testing.assert_close(out.features[0, :, 1], torch.tensor([1.0, 1.2, 2.0, 2.8, 3.0]))
    torch.testing.assert_close(out.features[1, :3, 1:], torch.tensor([[5.0, 6.0]] * 3))
    torch.testing.assert_close(
        out.features[1, :3, 0], torch.tensor([0.375, 2.125, 3.875])
    )  # 7 -> 4: (i+0.5)*1.75-0.5
    assert torch.all(out.features[1, 3:] == 0)


def test_single_stream_is_identity() -> None:
    stream = _streams()[1]
    assert Fusion(FusionConfig(), [(1, 25.0)])([stream]) is stream


def test_lengths_rule_and_errors() -> None:
    assert [resampled_length(n, 50.0, 25.0) for n in (150, 151, 1, 0)] == [75, 76, 1, 0]
    assert resampled_length(350, 50.0, 75.0 / 2) == 263  # 262.5 -> 263
    fusion = Fusion(FusionConfig(), [(1, 50.0), (1, 25.0), (2, 10.0)])
    s = _streams()
    assert fusion.output_lengths([x.lengths for x in s]).tolist() == [2, 1]
    with pytest.raises(ConfigError, match="mode"):
        Fusion(FusionConfig(mode="nearest"), [(1, 50.0)])
    with pytest.raises(ValueError, match="stream 1"):
        fusion([s[0], s[2], s[1]])
