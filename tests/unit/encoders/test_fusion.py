"""Time-aligned fusion: streams averaged down and interpolated up, with different lengths, values worked
by hand."""

from __future__ import annotations

import warnings

import pytest

torch = pytest.importorskip("torch")

from usam_toolkit.errors import ConfigError
from usam_toolkit.interfaces import EncoderOutput
from usam_toolkit.model.config import FusionConfig
from usam_toolkit.model.fusion import Fusion, average_weights, resampled_length

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


def test_average_three_streams_by_hand() -> None:
    fusion = Fusion(FusionConfig(), [(1, 50.0), (1, 25.0), (2, 10.0)])
    assert (fusion.frame_rate, fusion.output_dim) == (10.0, 4)
    out = fusion(_streams())
    # Lengths: A ceil(10*10/50)=2 | ceil(7/5)=2; B ceil(5*10/25)=2 | ceil(1.6)=2; C 2 | 1 -> min: [2, 1].
    # Averaging down (this test once expected interpolation, which read only some frames of B):
    # A s0 (k=5): mean(0..4)=2, mean(5..9)=7.  A s1: mean(0..4)=2 (its second frame is trimmed).
    # B s0 (k=2.5): frame 2 straddles both spans, half in each: (0+1+0.5*2)/2.5=0.8, (0.5*2+3+4)/2.5=3.2.
    # B s1: 0.8 as in s0.  C s1: its one frame.
    expected = torch.tensor(
        [[[2.0, 0.8, 1.0, 2.0], [7.0, 3.2, 3.0, 4.0]], [[2.0, 0.8, 5.0, 6.0], [0.0, 0.0, 0.0, 0.0]]]
    )
    assert out.lengths.tolist() == [2, 1] and out.frame_rate == 10.0
    torch.testing.assert_close(out.features, expected)
    assert out.mask.tolist() == [[True, True], [True, False]]


def test_old_mode_names_mean_average() -> None:
    streams = _streams()[:2]
    cfg = FusionConfig(frame_rate=10.0)
    expected = Fusion(cfg, [(1, 50.0), (1, 25.0)])(streams).features
    # A s1's last window has only frames 5, 6 -> 5.5; B s1's has half of frame 2 and frame 3 -> (1+3)/1.5.
    torch.testing.assert_close(expected[1], torch.tensor([[2.0, 0.8], [5.5, 8 / 3]]))
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # pool is accepted silently
        pool = FusionConfig(frame_rate=10.0, mode="pool")
    with pytest.warns(UserWarning, match="no longer downsamples by interpolation"):
        interp = FusionConfig(frame_rate=10.0, mode="interpolate")
    for old in (pool, interp):
        torch.testing.assert_close(Fusion(old, [(1, 50.0), (1, 25.0)])(streams).features, expected)


def test_every_50hz_frame_reaches_the_6_25hz_output() -> None:
    # 16 frames at 50 Hz -> ceil(16 * 6.25 / 50) = 2 frames at 6.25 Hz, each the mean of 8 frames.
    # Channel 0 holds j: (0+..+7)/8 = 3.5, (8+..+15)/8 = 11.5.  Channel 1 holds j^2: 140/8 = 17.5,
    # (1240-140)/8 = 137.5.  Interpolation read sources 3.5 and 11.5, i.e. only frames 3, 4, 11 and 12.
    j = torch.arange(16.0)
    x = torch.stack([j, j**2], dim=-1)[None]  # [1, 16, 2]
    fusion = Fusion(FusionConfig(frame_rate=6.25), [(2, 50.0)])
    out = fusion([EncoderOutput(x, torch.tensor([16]), 50.0)])
    assert out.lengths.tolist() == [2] and out.frame_rate == 6.25
    torch.testing.assert_close(out.features[0], torch.tensor([[3.5, 17.5], [11.5, 137.5]]))
    for k in range(16):  # each input frame moves its own output frame by 1/8, and no other
        bumped = x.clone()
        bumped[0, k] += 1.0
        diff = fusion([EncoderOutput(bumped, torch.tensor([16]), 50.0)]).features[0] - out.features[0]
        want = torch.zeros(2, 2)
        want[k // 8] = 0.125
        torch.testing.assert_close(diff, want, rtol=0, atol=1e-6)
        assert torch.all(diff[1 - k // 8] == 0)


def test_non_integer_ratio_splits_straddling_frames() -> None:
    # 75 -> 50 Hz: input frames are 1/75 s, output frames 1/50 s = 1.5 input frames. Frame 1 spans
    # [1/75, 2/75), half in output 0 [0, 1.5/75) and half in output 1 [1.5/75, 3/75).
    index, weight = average_weights(3, 2, 1.5)
    dense = torch.zeros(2, 3, dtype=torch.float64).scatter_add_(1, index, weight)  # [L', L]
    torch.testing.assert_close(
        dense, torch.tensor([[2 / 3, 1 / 3, 0.0], [0.0, 1 / 3, 2 / 3]], dtype=torch.float64)
    )
    x = torch.tensor([[[1.0], [2.0], [4.0], [PAD]]])  # 3 valid frames x0, x1, x2
    fusion = Fusion(FusionConfig(frame_rate=50.0), [(1, 75.0)])
    out = fusion([EncoderOutput(x, torch.tensor([3]), 75.0)])
    # (x0 + 0.5 x1) / 1.5 = 2/1.5;  (0.5 x1 + x2) / 1.5 = 5/1.5.
    assert out.lengths.tolist() == [2]
    torch.testing.assert_close(out.features[0, :, 0], torch.tensor([4 / 3, 10 / 3]))
    # 4 frames -> ceil(8/3) = 3: the last output [3, 4.5) holds only frame 3, so it is x3
    # (weights renormalised).
    x[0, 3, 0] = 8.0
    out = fusion([EncoderOutput(x, torch.tensor([4]), 75.0)])
    torch.testing.assert_close(out.features[0, :, 0], torch.tensor([4 / 3, 10 / 3, 8.0]))


def test_padding_never_reaches_the_output() -> None:
    # NaN padding past each length, down (50 -> 10 Hz) and up (10 -> 25 Hz): NaN anywhere would show.
    a = torch.full((2, 10, 1), float("nan"))
    a[0, :, 0], a[1, :7, 0] = torch.arange(10.0), torch.arange(7.0)
    c = torch.full((2, 2, 1), float("nan"))
    c[0, :, 0], c[1, 0, 0] = torch.tensor([1.0, 3.0]), 5.0
    for rate in (10.0, 25.0):
        fusion = Fusion(FusionConfig(frame_rate=rate), [(1, 50.0), (1, 10.0)])
        out = fusion(
            [EncoderOutput(a, torch.tensor([10, 7]), 50.0), EncoderOutput(c, torch.tensor([2, 1]), 10.0)]
        )
        assert not torch.isnan(out.features).any()
        # Sample 1 fused alone, without padding, gives the same frames.
        alone = fusion(
            [
                EncoderOutput(a[1:, :7], torch.tensor([7]), 50.0),
                EncoderOutput(c[1:, :1], torch.tensor([1]), 10.0),
            ]
        )
        n = int(out.lengths[1])
        assert n == int(alone.lengths[0])
        torch.testing.assert_close(out.features[1, :n], alone.features[0])
        assert torch.all(out.features[1, n:] == 0)


def test_upsampling_still_interpolates() -> None:
    # 6.25 -> 25 Hz: 3 frames -> 12; output i reads source (i + 0.5) / 4 - 0.5, clamped to [0, 2]:
    # -0.375, -0.125 -> 0; 0.125 .. 1.875 in steps of 0.25 -> 4 * source; 2.125, 2.375 -> 2.
    x = torch.tensor([[[0.0], [4.0], [8.0]]])
    out = Fusion(FusionConfig(frame_rate=25.0), [(1, 6.25)])([EncoderOutput(x, torch.tensor([3]), 6.25)])
    expected = torch.tensor([0.0, 0.0, 0.5, 1.5, 2.5, 3.5, 4.5, 5.5, 6.5, 7.5, 8.0, 8.0])
    torch.testing.assert_close(out.features[0, :, 0], expected)


def test_paper_rates_meet_at_whisper_rate() -> None:
    # Whisper 50 Hz (copied), CED 6.25 Hz (upsampled), MERT 75 Hz (averaged) at 50 Hz, 30 s of audio:
    # 1500 | ceil(188 * 8) = 1504 | ceil(2250 / 1.5) = 1500 -> 1500 frames, 17 in a 0.33 s window.
    fusion = Fusion(FusionConfig(frame_rate=50.0), [(1, 50.0), (1, 6.25), (1, 75.0)])
    lengths = [torch.tensor([1500]), torch.tensor([188]), torch.tensor([2250])]
    assert fusion.output_lengths(lengths).tolist() == [1500]
    outs = [EncoderOutput(torch.ones(1, int(n), 1), n, r) for n, r in zip(lengths, (50.0, 6.25, 75.0))]
    out = fusion(outs)
    assert out.features.shape == (1, 1500, 3) and torch.all(out.features == 1)


def test_explicit_rate_upsamples_the_slow_stream() -> None:
    streams = _streams()
    fusion = Fusion(FusionConfig(frame_rate=25.0), [(1, 50.0), (2, 10.0)])
    out = fusion([streams[0], streams[2]])
    # A goes down (k=2): means of pairs. s0: 0.5, 2.5, 4.5, 6.5, 8.5 (interpolation happened to agree here).
    # C goes up: s0 -> ceil(2*25/10)=5 frames reading (i+0.5)*0.4-0.5 = -0.3, 0.1, 0.5, 0.9, 1.3,
    # clamped to [0, 1]: 1, 1.2, 2, 2.8, 3 (channel 0).
    # s1: A ceil(7/2)=4, C ceil(2.5)=3 -> 3 frames; C has one frame, so it is constant.
    assert out.lengths.tolist() == [5, 3]
    torch.testing.assert_close(out.features[0, :, 0], torch.tensor([0.5, 2.5, 4.5, 6.5, 8.5]))
    torch.testing.assert_close(out.features[0, :, 1], torch.tensor([1.0, 1.2, 2.0, 2.8, 3.0]))
    torch.testing.assert_close(out.features[1, :3, 1:], torch.tensor([[5.0, 6.0]] * 3))
    # 7 -> 4 by pairs (interpolation gave 0.375, 2.125, 3.875, reading between pairs).
    torch.testing.assert_close(out.features[1, :3, 0], torch.tensor([0.5, 2.5, 4.5]))
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
