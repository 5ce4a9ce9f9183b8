"""Recipe section ``evaluate``: decoding and scoring."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class EvalConfig:
    """Decoding settings; ``max_new_tokens`` is either fixed or derived from the audio length."""

    strategy: str = "greedy"  # greedy | beam | nucleus
    num_beams: int = 4
    length_penalty: float = 1.0
    top_p: float = 0.9
    temperature: float = 1.0
    repetition_penalty: float = 1.0
    # Fixed limit, or None to derive it: base + per_second * audio seconds.
    max_new_tokens: int | None = None
    max_new_tokens_base: int = 32
    max_new_tokens_per_second: float = 8.0
    batch_size: int = 8
    # Per task, metric names overriding the task's defaults.
    metrics: dict[str, list[str]] = field(default_factory=dict)
