"""End-of-run figures: the loss curve, the projector-health figures and the mean TAPM routing weights per
task (matplotlib, Agg)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np


def _pyplot() -> Any:
    """matplotlib.pyplot on the Agg backend (no display needed), imported only when a plot is drawn."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _save(fig: object, out_png: str | Path) -> Path:
    """Write ``fig`` as a PNG (its folder made as needed), close it and return the path."""
    import matplotlib.pyplot as plt

    out = Path(out_png)
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=120)  # type: ignore[attr-defined]
    plt.close(fig)  # type: ignore[arg-type]
    return out


def read_train_log(path: str | Path, kind: str = "train") -> list[dict]:
    """The ``type == kind`` records of a ``train_log.jsonl`` (``train``: step logs; ``eval``: evaluations)."""
    p = Path(path)
    if not p.is_file():
        return []
    rows = [json.loads(line) for line in p.read_text(encoding="utf-8").splitlines() if line.strip()]
    return [r for r in rows if r.get("type", "train") == kind]


#: evaluation fields that are counts behind a score (WER's edit counts, sentence counts), not scores to plot.
COUNT_FIELDS = frozenset(
    {
        "substitutions",
        "deletions",
        "insertions",
        "hits",
        "ref_words",
        "hyp_words",
        "num_sentences",
        "num_empty_references",
        "n",
    }
)


def plot_eval_curve(log_path: str | Path, out_png: str | Path) -> Path | None:
    """Every evaluation score against the step, one panel per score (e.g. dev WER: when listening
    starts; counts such as WER's edit counts are left out); None when the run logged no evaluation."""
    rows = read_train_log(log_path, "eval")
    names = sorted(
        {
            k
            for r in rows
            for k in r.get("metrics", {})
            if k.rsplit(".", 1)[-1].rsplit("/", 1)[-1] not in COUNT_FIELDS
        }
    )
    if not names:
        return None
    plt = _pyplot()

    fig, axes = plt.subplots(1, len(names), figsize=(4.5 * len(names), 3.6), squeeze=False)
    for ax, name in zip(axes[0], names):
        pts = sorted(
            (int(r["step"]), float(r["metrics"][name])) for r in rows if name in r.get("metrics", {})
        )
        ax.plot([s for s, _ in pts], [v for _, v in pts], marker="o", linewidth=1.5)
        for s, v in pts:
            ax.annotate(
                f"{v:.3g}", (s, v), textcoords="offset points", xytext=(0, 5), ha="center", fontsize=7
            )
        ax.set_xlabel("optimizer step")
        ax.set_title(name, fontsize=9)
        ax.grid(alpha=0.3)
    fig.tight_layout()
    return _save(fig, out_png)


def plot_loss_curve(log_path: str | Path, out_png: str | Path) -> Path | None:
    """Training loss (and every ``loss/...`` term) against the step; None when nothing was logged."""
    rows = read_train_log(log_path)
    if not rows:
        return None
    plt = _pyplot()

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
    return _save(fig, out_png)


def plot_projector_health(log_path: str | Path, out_png: str | Path) -> Path | None:
    """``rms_ratio`` and ``between_clip`` of every stage against the step (the ``health/...`` logs).

    Two panels, one line per stage (:mod:`usam_toolkit.model.health`); None when the log holds no
    health figure (a model that records no stage).
    """
    from ..model.health import split_log_key

    rows = read_train_log(log_path)
    series: dict[tuple[str, str], list[tuple[int, float]]] = {}
    for r in rows:
        for k, v in (r.get("logs") or {}).items():
            parsed = split_log_key(k)
            if parsed is not None and isinstance(v, (int, float)):
                series.setdefault(parsed, []).append((int(r["step"]), float(v)))
    if not series:
        return None
    plt = _pyplot()

    stages = list(dict.fromkeys(label for label, _ in series))
    panels = (
        ("rms_ratio", "RMS / text-embedding RMS", "log"),
        ("between_clip", "between-clip spread", "linear"),
    )
    fig, axes = plt.subplots(1, 2, figsize=(11, 4))
    for ax, (figure, ylabel, scale) in zip(axes, panels):
        for label in stages:
            pts = series.get((label, figure))
            if pts:
                ax.plot([s for s, _ in pts], [v for _, v in pts], label=label, linewidth=1.5, marker=".")
        if figure == "rms_ratio":
            ax.axhline(1.0, color="grey", linestyle="--", linewidth=1)
        values = [v for (_, f), pts in series.items() if f == figure for _, v in pts]
        if scale == "log" and values and min(values) > 0:
            ax.set_yscale("log")
        ax.set_xlabel("optimizer step")
        ax.set_ylabel(ylabel)
        ax.set_title(figure)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
    fig.suptitle("Projector health (training batches)")
    fig.tight_layout()
    return _save(fig, out_png)


def plot_routing_weights(mean_weights: np.ndarray, task_names: Sequence[str], out_png: str | Path) -> Path:
    """Grouped bars: for each task, the mean routing weight of each expert.

    Args:
        mean_weights: ``[T, N]`` mean weight of expert n over the samples of task t.
        task_names: T labels.
        out_png: where to write the figure.
    """
    plt = _pyplot()

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
    return _save(fig, out_png)


def plot_eval_comparison(
    logs: dict[str, str | Path],
    metric: str,
    out_png: str | Path,
    references: dict[str, float] | None = None,
) -> dict[str, list[tuple[int, float]]]:
    """One evaluation score of several runs against the step, on one axis (e.g. dev WER of recipe variants),
    with horizontal lines for ``references`` (baselines, a probe's figure). Returns the plotted points per run
    (runs that never logged ``metric`` are left out)."""
    series = {}
    for label, path in logs.items():
        rows = read_train_log(path, "eval")
        pts = sorted(
            (int(r["step"]), float(r["metrics"][metric])) for r in rows if metric in r.get("metrics", {})
        )
        if pts:
            series[label] = pts
    plt = _pyplot()

    fig, ax = plt.subplots(figsize=(7.5, 4.2))
    for label, pts in series.items():
        ax.plot([s for s, _ in pts], [v for _, v in pts], marker="o", linewidth=1.5, label=label)
    for i, (label, value) in enumerate((references or {}).items()):
        ax.axhline(value, linestyle="--", linewidth=1, color=f"C{(len(series) + i) % 10}", label=label)
    ax.set_xlabel("optimizer step")
    ax.set_ylabel(metric)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7)
    fig.tight_layout()
    _save(fig, out_png)
    return series
