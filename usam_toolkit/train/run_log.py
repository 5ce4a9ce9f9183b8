"""What a person sees while training: ``train_log.jsonl``, TensorBoard scalars and a tqdm bar (rank 0)."""

from __future__ import annotations

import json
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from ..atomic import write_text_atomic

LOG_FILE = "train_log.jsonl"


class RunLog:
    """Append-only JSONL log plus optional TensorBoard; every method is a no-op when ``enabled`` is False."""

    def __init__(
        self, out_dir: Path, enabled: bool, tensorboard: bool, resume_step: int | None = None
    ) -> None:
        """``resume_step``: the checkpoint's step when resuming (later records are dropped); None for a
        run from step 0, which starts the log afresh (else an attempt killed before its first
        checkpoint would leave its steps in the log twice)."""
        self.enabled = enabled
        self.path = out_dir / LOG_FILE
        self.writer = None
        if not enabled:
            return
        out_dir.mkdir(parents=True, exist_ok=True)
        if resume_step is not None:
            self._truncate_after(resume_step)
        else:
            self.path.unlink(missing_ok=True)
        if tensorboard:
            try:
                from torch.utils.tensorboard import SummaryWriter
            except ImportError:  # tensorboard is an optional extra (usam-toolkit[plots])
                print(
                    "[train] tensorboard is not installed; scalars go to train_log.jsonl only",
                    file=sys.stderr,
                )
            else:
                # TensorBoard drops earlier files' events from purge_step on: a fresh run purges them all.
                kw = {"purge_step": resume_step + 1 if resume_step is not None else 0}
                self.writer = SummaryWriter(str(out_dir / "tensorboard"), **kw)

    def _truncate_after(self, step: int) -> None:
        """Drop records a killed run wrote after the checkpoint we resume from."""
        if not self.path.is_file():
            return
        keep = []
        for line in self.path.read_text(encoding="utf-8").splitlines():
            if line.strip():
                try:
                    if int(json.loads(line).get("step", 0)) <= step:
                        keep.append(line)
                except ValueError:  # a line cut by the kill
                    continue
        write_text_atomic(self.path, "".join(k + "\n" for k in keep))

    def write(self, record: Mapping[str, Any]) -> None:
        """Append one JSON line and mirror its numbers to TensorBoard under ``<type>/<key>``."""
        if not self.enabled:
            return
        with open(self.path, "a", encoding="utf-8") as f:
            f.write(json.dumps(record, sort_keys=False) + "\n")
        if self.writer is not None:
            kind = record.get("type", "train")
            step = int(record["step"])
            flat = dict(record)
            flat.update(record.get("logs", {}) or {})
            flat.update(record.get("metrics", {}) or {})
            for k, v in flat.items():
                if k in ("step", "type", "time", "logs", "metrics") or isinstance(v, bool):
                    continue
                if isinstance(v, (int, float)):
                    self.writer.add_scalar(f"{kind}/{k}", v, step)

    def close(self) -> None:
        if self.writer is not None:
            self.writer.flush()
            self.writer.close()
            self.writer = None


def make_progress(total: int, initial: int, enabled: bool) -> Any:
    """A tqdm bar over optimizer steps (ETA from tqdm), or None when disabled."""
    if not enabled:
        return None
    from tqdm.auto import tqdm

    return tqdm(total=total, initial=initial, desc="train", unit="step", dynamic_ncols=True)
