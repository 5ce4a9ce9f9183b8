"""End-of-run figures: the loss curve and the mean TAPM routing weights per task (matplotlib, Agg)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Sequence

import numpy as np


def read_train_log(path: str | Path) -> list[dict]:
    """The ``type == "train"`` records of a ``train_log.jsonl``."""
    p = Path(path)
    if not p.is_file():
        return []
    rows = [json.loads(line) for line in p.read_text(encoding="utf-8").splitlines() if line.strip()]
    return [r for r in rows if r.get("type", "train") == "train"]


def plot_loss_curve(log_path: str | Path, out_png: str | Path) -> Path | None:
    """Training loss (and every ``loss/...`` term) against the step; None when nothing was logged."""
    rows = read_train_log(log_path)
    if not rows:
        return None
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    steps = [r["step"] for r in rows]
    fig, ax = plt.subplots(figsize=(7, 4))
    ax.plot(steps, [r["loss"] for r in rows], label="loss", linewidth=2)
    terms = sorted({k for r in rows for k in r.get("logs", {}) if k.startswith("loss/")})
    for k in terms:
        pts = [(r["step"], r["logs"][k]) for r in rows if k in r.get("logs", {})]
        ax.plot([s for s, _ in pts], [v for _, v in pts], label=k, linewidth=1, alpha=0.8)
    ax.set_xlabel("optimizer step")
    ax.set_ylabel("loss")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    out = Path(out_png)
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=120)
    plt.close(fig)
    return out


def plot_routing_weights(mean_weights: np.ndarray, task_names: Sequence[str], out_png: str | Path) -> Path:
    """Grouped bars: for each task, the mean routing weight of each expert.

    Args:
        mean_weights: ``[T, N]`` mean weight of expert n over the samples of task t.
        task_names: T labels.
        out_png: where to write the figure.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    w = np.asarray(mean_weights, dtype=float)
    n_tasks, n_experts = w.shape
    width = 0.8 / max(1, n_experts)
    x = np.arange(n_tasks)
    fig, ax = plt.subplots(figsize=(max(5, 1.5 * n_tasks), 4))
    for e in range(n_experts):
        ax.bar(x + (e - (n_experts - 1) / 2) * width, w[:, e], width, label=f"expert {e}")
    ax.set_xticks(x)
    ax.set_xticklabels(list(task_names))
    ax.set_ylabel("mean routing weight")
    ax.set_title("TAPM routing weights per task (training)")
    ax.legend(fontsize=8)
    fig.tight_layout()
    out = Path(out_png)
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=120)
    plt.close(fig)
    return out
