"""Paper tables as data: rows (recipe, checkpoint, the paper's numbers) and columns (which score of which
task on which manifest). ``usam reproduce-table`` trains or loads each row, evaluates it with the one
evaluation loop, and prints ours beside the paper's with the difference (markdown and CSV).
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from omegaconf import OmegaConf
from omegaconf.errors import OmegaConfBaseException

from ..errors import ConfigError, did_you_mean


@dataclass
class Column:
    """One score of the table.

    Attributes:
        key: identifier used in ``rows[].paper``.
        label: header text.
        task: task group in ``metrics.json`` (e.g. ``asr``, ``s2tt``).
        score: ``<metric>.<field>`` inside that group, e.g. ``wer.wer`` or ``coco_caption.meteor``.
        manifest: evaluate on this manifest instead of the recipe's ``data.test`` (relative to the table
            file).
        lower_is_better: for the direction shown beside the difference.
    """

    key: str
    label: str
    task: str
    score: str
    manifest: str | None = None
    lower_is_better: bool = False


@dataclass
class Row:
    """One system of the table: its recipe, where its checkpoint is, and the paper's numbers."""

    name: str
    recipe: str | None = None
    checkpoint: str | None = None
    paper: dict[str, float | None] = field(default_factory=dict)


@dataclass
class TableSpec:
    """A whole table file."""

    title: str = ""
    source: str = ""
    vars: dict[str, Any] = field(default_factory=dict)
    columns: list[Column] = field(default_factory=list)
    rows: list[Row] = field(default_factory=list)


def load_table(path: str | Path) -> tuple[TableSpec, Path]:
    """Read and check a table file; returns the spec and its folder (for relative paths)."""
    path = Path(path).expanduser().resolve()
    if not path.is_file():
        raise ConfigError(f"table file not found: {path}")
    try:
        raw = OmegaConf.load(path)
        merged = OmegaConf.merge(OmegaConf.structured(TableSpec), raw)
        spec = OmegaConf.to_object(merged)
    except OmegaConfBaseException as exc:
        raise ConfigError(f"{path}: {str(exc).splitlines()[0]}") from None
    assert isinstance(spec, TableSpec)
    keys = [c.key for c in spec.columns]
    for row in spec.rows:
        for k in row.paper:
            if k not in keys:
                raise ConfigError(
                    f"{path}: row '{row.name}' gives a paper value for '{k}', which is not a column."
                    f"{did_you_mean(k, keys)} Columns: {', '.join(keys)}."
                )
    return spec, path.parent


def lookup(results: Mapping[str, Any], task: str, score: str) -> float | None:
    """``results[task][metric][field]`` for ``score = metric.field`` (None when absent)."""
    group = results.get(task)
    if not isinstance(group, Mapping):
        return None
    metric, _, fld = score.partition(".")
    value = group.get(metric)
    if isinstance(value, Mapping):
        value = value.get(fld or metric)
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None


def _fmt(v: float | None) -> str:
    return "–" if v is None else f"{v:.2f}"


def render(
    spec: TableSpec, ours: Mapping[str, Mapping[str, float | None]], rows: Sequence[str] | None = None
) -> tuple[str, str]:
    """Markdown and CSV of ours vs the paper's, with the difference (ours − paper)."""
    names = [r.name for r in spec.rows if rows is None or r.name in rows]
    paper = {r.name: r.paper for r in spec.rows}
    head = ["system"] + [c.label for c in spec.columns]
    md = [
        f"## {spec.title}" if spec.title else "",
        "",
        "Each cell: ours / paper (ours − paper); ↓ lower is better, ↑ higher is better.",
        "",
        "| " + " | ".join(head) + " |",
        "|" + "---|" * len(head),
    ]
    buf = io.StringIO()
    writer = csv.writer(buf)
    writer.writerow(["system", "column", "ours", "paper", "difference"])
    for name in names:
        cells = []
        for c in spec.columns:
            o, p = ours.get(name, {}).get(c.key), paper[name].get(c.key)
            diff = None if o is None or p is None else o - p
            arrow = "↓" if c.lower_is_better else "↑"
            cells.append(f"{_fmt(o)} / {_fmt(p)}" + ("" if diff is None else f" ({diff:+.2f}{arrow})"))
            writer.writerow(
                [
                    name,
                    c.label,
                    "" if o is None else f"{o:.4f}",
                    "" if p is None else p,
                    "" if diff is None else f"{diff:.4f}",
                ]
            )
        md.append(f"| {name} | " + " | ".join(cells) + " |")
    return "\n".join(md).lstrip() + "\n", buf.getvalue()


def reproduce(
    table: str | Path,
    out_dir: Path,
    *,
    rows: Sequence[str] | None = None,
    train: bool = False,
    device: str | None = None,
    overrides: Sequence[str] = (),
    progress: bool = True,
) -> dict[str, dict[str, float | None]]:
    """Train (``train=True``, when no checkpoint exists) or load each row, evaluate it, and write
    ``table.md``, ``table.csv`` and ``ours.json`` into ``out_dir``."""
    from ..pipeline import evaluate_model, load_for_evaluation, pick_device, train_recipe
    from ..train.checkpoint import find_latest

    spec, folder = load_table(table)
    names = [r.name for r in spec.rows]
    for r in rows or ():
        if r not in names:
            raise ConfigError(f"{table}: no row '{r}'.{did_you_mean(r, names)} Rows: {', '.join(names)}.")
    dev = pick_device(device)
    ours: dict[str, dict[str, float | None]] = {}
    for row in spec.rows:
        if rows and row.name not in rows:
            continue
        if row.recipe is None:
            ours[row.name] = {}  # a system quoted from the paper, not one of ours
            continue
        recipe = (folder / row.recipe).resolve()
        slug = "".join(ch if ch.isalnum() else "_" for ch in row.name).strip("_").lower()
        run_dir = Path(row.checkpoint).expanduser() if row.checkpoint else out_dir / "runs" / slug
        if not run_dir.is_absolute():
            run_dir = (folder / run_dir).resolve()
        if find_latest(run_dir) is None and not (run_dir / "model.safetensors").is_file():
            if not train:
                raise ConfigError(f"row '{row.name}': no checkpoint in {run_dir}; pass --train to train it")
            train_recipe(recipe, overrides, out=str(run_dir), device=dev, progress=progress)
        cfg, model = load_for_evaluation(run_dir, overrides, recipe=recipe, device=dev)
        values: dict[str, float | None] = {}
        by_manifest: dict[str | None, list[Column]] = {}
        for c in spec.columns:
            by_manifest.setdefault(c.manifest, []).append(c)
        for manifest, cols in by_manifest.items():
            manifests = [str((folder / manifest).resolve())] if manifest else None
            tag = Path(manifest).stem if manifest else "test"
            results = evaluate_model(
                cfg, model, out_dir / "eval" / slug / tag, manifests=manifests, device=dev, progress=progress
            )
            for c in cols:
                values[c.key] = lookup(results, c.task, c.score)
        ours[row.name] = values
    md, csv_text = render(spec, ours, rows)
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "table.md").write_text(md)
    (out_dir / "table.csv").write_text(csv_text)
    (out_dir / "ours.json").write_text(json.dumps(ours, indent=2))
    return ours
