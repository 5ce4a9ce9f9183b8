"""Recipe section ``train``: optimiser, schedule, precision, checkpoints (paper defaults)."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class TrainConfig:
    """The one training loop's settings; defaults are the paper's optimiser.

    ``best_metric`` names a key returned by the evaluation callback. Keys are compared "lower is
    better" when they end in ``loss``, ``wer``, ``cer`` or ``ter`` (error rates), "higher is better"
    otherwise; a leading ``-`` forces lower-is-better, a leading ``+`` forces higher-is-better.
    """

    lr: float = 5e-5
    weight_decay: float = 1e-6
    betas: list[float] = field(default_factory=lambda: [0.9, 0.999])
    eps: float = 1e-8
    warmup_ratio: float = 0.13
    max_steps: int = 1000
    grad_accum: int = 1
    grad_clip: float = 1.0  # max global grad norm; 0 disables clipping
    # auto (bf16 on a GPU that has it, else fp16; on CPU bf16 only with native avx512_bf16/amx_bf16, else
    # fp32) | fp32 | bf16 | fp16; see usam_toolkit.precision
    precision: str = "auto"
    log_every: int = 10
    eval_every: int = 0  # steps; 0 = only at the end
    eval_decode: bool = False  # also decode the valid manifests and score them with the tasks' metrics
    save_every: int = 0  # steps; 0 = only at the end
    keep_last: int = 2
    best_metric: str | None = None  # e.g. "valid/loss" (lower is better) or "-asr/wer"
    max_bad_steps: int = 10  # consecutive NaN/inf losses before the run stops
    distributed: str = "none"  # none | ddp | fsdp (used only when launched with torchrun)
    find_unused_parameters: bool = False  # DDP: set when some trainable parameters skip some batches
    progress: bool = True  # tqdm bar on rank 0
    tensorboard: bool = True  # scalars under <output_dir>/tensorboard when tensorboard is importable
    plots: bool = True  # loss curve (and routing weights) PNGs under <output_dir>/plots at the end
