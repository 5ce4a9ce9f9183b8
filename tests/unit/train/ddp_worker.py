"""Run by ``torchrun --nproc-per-node 2`` in test_train_distributed.py: trains the tiny model per mode."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from train_fakes import run_tiny_trainer  # noqa: E402

from usam_toolkit.train.config import TrainConfig  # noqa: E402


def run(out_dir: Path, mode: str, resume: bool | Path = False) -> None:
    cfg = TrainConfig(
        lr=1e-2,
        max_steps=6,
        grad_accum=2,
        log_every=1,
        progress=False,
        tensorboard=False,
        plots=False,
        distributed=mode,
        save_every=3,
        keep_last=5,
    )
    run_tiny_trainer(out_dir, cfg, resume=resume, dropout=0.0, device="cpu")


if __name__ == "__main__":
    root = Path(sys.argv[1])
    for mode in sys.argv[2:]:
        run(root / mode, mode)
    if "fsdp" in sys.argv[2:]:  # resume the sharded run from its step-3 checkpoint
        run(root / "fsdp_resumed", "fsdp", resume=root / "fsdp" / "checkpoint-3")
