"""encode_in_chunks: a clip longer than an encoder's limit is encoded window by window and joined."""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")

from usam_plugins.encoders.common import encode_in_chunks

from usam_toolkit.interfaces import EncoderOutput


class PairSum:
    """One frame per 2 samples, the frame being their sum; refuses more than ``limit`` samples."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.calls: list[list[int]] = []

    def __call__(self, audio: torch.Tensor, lengths: torch.Tensor) -> EncoderOutput:
        assert int(lengths.max()) <= self.limit, "the encoder was given more than it accepts"
        self.calls.append(lengths.tolist())
        frames = torch.div(lengths, 2, rounding_mode="floor")
        t = int(frames.max())
        feats = audio.new_zeros(audio.shape[0], t, 1)
        for b, n in enumerate(frames.tolist()):
            feats[b, :n, 0] = audio[b, : 2 * n].view(n, 2).sum(dim=1)
        return EncoderOutput(features=feats, lengths=frames, frame_rate=8.0)


def test_long_clip_is_encoded_in_windows_and_joined_in_order() -> None:
    audio = torch.zeros(2, 9)
    audio[0] = torch.arange(1.0, 10.0)  # 1..9
    audio[1, :3] = torch.tensor([10.0, 20.0, 30.0])
    enc = PairSum(limit=4)
    out = encode_in_chunks(enc, audio, torch.tensor([9, 3]), max_samples=4)
    # clip 0: windows [1 2 3 4] [5 6 7 8] [9] -> frames 3 7 | 11 15 | (none); clip 1: [10 20 30] -> 30
    assert enc.calls == [[4, 4, 1, 3]]  # every window of every clip in one call
    assert out.lengths.tolist() == [4, 1]
    assert out.features[..., 0].tolist() == [[3.0, 7.0, 11.0, 15.0], [30.0, 0.0, 0.0, 0.0]]
    assert out.frame_rate == 8.0


def test_clips_within_the_limit_pass_through_in_one_call() -> None:
    enc = PairSum(limit=4)
    audio = torch.tensor([[1.0, 2.0, 3.0, 4.0]])
    out = encode_in_chunks(enc, audio, torch.tensor([4]), max_samples=4)
    assert enc.calls == [[4]] and out.features[0, :, 0].tolist() == [3.0, 7.0]
