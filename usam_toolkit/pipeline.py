"""Recipe-level glue shared by ``usam train``, ``usam evaluate`` and the tables: build the model and the
data of a recipe, train it, evaluate a checkpoint. The commands stay thin; every behaviour difference is a
recipe value.
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf

from .config.loader import load_recipe, recipe_base_dir, recipe_path, section
from .errors import ConfigError


def output_dir(cfg: DictConfig, override: str | None = None) -> Path:
    """The run folder: ``--out`` if given, else the recipe's ``output_dir`` (relative to where you run)."""
    return Path(override or cfg.output_dir).expanduser().resolve()


def pick_device(request: str | None = None) -> str:
    """``request`` if given, else CUDA when available, else CPU."""
    import torch

    if request:
        return request
    return "cuda" if torch.cuda.is_available() else "cpu"


def build_model(cfg: DictConfig, device: str = "cpu") -> Any:
    """The recipe's :class:`~usam_toolkit.model.audio_llm.AudioLLM`, with the feature cache applied to
    frozen encoders when ``data.feature_cache`` is set."""
    from .model.audio_llm import AudioLLM

    model = AudioLLM.from_recipe(cfg, device=device)
    if cfg.data.feature_cache:
        from .data.cache import CachedEncoder, FeatureCache

        root, base = Path(cfg.data.feature_cache).expanduser(), recipe_base_dir(cfg)
        if not root.is_absolute() and base is not None:
            root = base / root
        cache = FeatureCache(root)
        precision = str(cfg.data.get("feature_cache_precision", "fp32"))  # part of the cache key
        for i, enc in enumerate(model.encoders):
            if not any(p.requires_grad for p in enc.parameters()):
                model.encoders[i] = CachedEncoder(enc, cache, precision)
    return model


def build_data(
    cfg: DictConfig, model: Any, split: str, *, train: bool, manifests: Sequence[str] | None = None
) -> tuple[Any, Any]:
    """DataLoader and batch sampler over the recipe's ``data.<split>`` manifests (or ``manifests``)."""
    from .data.config import DataConfig
    from .data.loader import build_dataloader

    paths = list(manifests) if manifests else list(cfg.data[split])
    if not paths:
        raise ConfigError(f"{recipe_path(cfg)}: data.{split} lists no manifest")
    data_cfg = section(cfg, "data", DataConfig)
    if not train:
        data_cfg.max_batch_size = int(cfg.evaluate.batch_size)
    return build_dataloader(
        paths,
        model.sample_rates,
        model.tasks,
        data_cfg,
        train=train,
        seed=int(cfg.seed),
        base_dir=recipe_base_dir(cfg),
        task_names=model.task_names,
    )


MODEL_KEYS = ("encoders", "fusion", "projectors", "llm", "losses", "tasks")


def _leaves(value: Any, prefix: str) -> dict[str, Any]:
    if isinstance(value, Mapping):
        return {k: v for key, sub in value.items() for k, v in _leaves(sub, f"{prefix}.{key}").items()}
    if isinstance(value, list) and any(isinstance(v, Mapping) for v in value):
        return {k: v for i, sub in enumerate(value) for k, v in _leaves(sub, f"{prefix}.{i}").items()}
    return {prefix: value}


def recipe_check(saved: Mapping[str, Any], current: Mapping[str, Any]) -> list[str]:
    """Reasons a checkpoint of recipe ``saved`` does not fit recipe ``current``.

    Plugin names and every non-text field of the model's slots must match; text fields (paths, modes)
    may differ, since the checkpoint may move between machines — a mode change still fails later,
    when the trainable weights' names and shapes are checked.
    """
    reasons = []
    for key in MODEL_KEYS:
        a, b = _leaves(saved.get(key), key), _leaves(current.get(key), key)
        for name in sorted(set(a) | set(b)):
            va, vb = a.get(name, "<absent>"), b.get(name, "<absent>")
            textual = isinstance(va, str) and isinstance(vb, str) and not name.endswith(".name")
            if va != vb and not textual:
                reasons.append(
                    f"'{name}' is {json.dumps(va)} in the checkpoint's recipe, {json.dumps(vb)} here"
                )
    return reasons


def validation_fn(cfg: DictConfig, model: Any, device: str, decode: bool, out_dir: Path | None = None) -> Any:
    """``(model, step) -> metrics`` for periodic evaluation: mean valid loss, and scores when ``decode``.

    When decoding with ``out_dir``, rank 0 also writes what the model said, as ``usam evaluate`` does,
    into ``out_dir/valid/step-<N>/`` (``predictions.jsonl``, ``metrics.json``, ``summary.md``): the answers
    behind each point of the dev curve."""
    if not cfg.data.valid:
        return None
    loader, _ = build_data(cfg, model, "valid", train=False)

    def evaluate_fn(m: Any, step: int) -> dict[str, float]:
        import torch

        from .evaluate.runner import decode as run_decode
        from .evaluate.runner import metrics_for_tasks, score

        inner = getattr(m, "module", m)
        inner.eval()
        total, count = 0.0, 0
        with torch.no_grad():
            for batch in loader:
                if len(batch) == 0:
                    continue
                out = inner(batch.to(device))
                total += float(out.loss) * len(batch)
                count += len(batch)
        result = {"valid/loss": total / max(1, count)}
        if decode:
            from .evaluate.config import EvalConfig

            ev = section(cfg, "evaluate", EvalConfig)
            records = run_decode(inner, loader, ev, device, progress=False)
            results = score(records, metrics_for_tasks(inner.tasks, ev))
            if out_dir is not None and int(os.environ.get("RANK", "0")) == 0:
                from .evaluate.runner import write_outputs

                write_outputs(out_dir / "valid" / f"step-{step}", records, results, {"step": step})
            for group, res in results.items():
                for metric, values in res.items():
                    if isinstance(values, Mapping):
                        for k, v in values.items():
                            if isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v):
                                result[f"valid/{group}/{metric}.{k}"] = float(v)
        return result

    return evaluate_fn


def train_recipe(
    path: str | Path,
    overrides: Sequence[str] = (),
    *,
    resume: bool | str = False,
    device: str | None = None,
    out: str | None = None,
    progress: bool = True,
) -> Any:
    """Train a recipe end to end (single process or under torchrun); returns the TrainResult."""
    from .train.config import TrainConfig
    from .train.trainer import Trainer

    cfg = load_recipe(path, overrides)
    OmegaConf.update(cfg, "base_dir", str(recipe_base_dir(cfg)))  # the checkpoint's recipe copy needs it
    dev = pick_device(device)
    from .train.rng import seed_everything

    # The recipe's seed fixes the initial weights too, not just the loop (else they depend on whatever
    # drew random numbers earlier in this process).
    seed_everything(int(cfg.seed))
    model = build_model(cfg, dev)
    out_dir = output_dir(cfg, out)
    print(model.format_parameter_summary())
    if cfg.data.on_bad_sample == "skip" and not cfg.data.bad_sample_report:
        # DataConfig documents this default: lenient runs list their skips in the run folder.
        OmegaConf.update(cfg, "data.bad_sample_report", str(out_dir / "bad_samples.jsonl"))
        if not resume and int(os.environ.get("WORLD_SIZE", "1")) == 1:
            # A fresh run starts a fresh list (a resumed one keeps its own: each line is listed once).
            (out_dir / "bad_samples.jsonl").unlink(missing_ok=True)
    loader, sampler = build_data(cfg, model, "train", train=True)
    _print_skips(cfg, "data read")
    train_cfg = section(cfg, "train", TrainConfig)
    if not progress:  # --no-progress wins over the recipe's train.progress
        train_cfg = dataclasses.replace(train_cfg, progress=False)
    trainer = Trainer(
        model,
        loader.dataset,
        sampler,
        train_cfg,
        out_dir,
        collate_fn=loader.collate_fn,
        num_workers=int(cfg.data.num_workers),
        evaluate_fn=validation_fn(cfg, model, dev, decode=train_cfg.eval_decode, out_dir=out_dir),
        seed=int(cfg.seed),
        recipe=cfg,
        provenance={c["slot"]: c for c in model.provenance()},
        recipe_check=recipe_check,
        resume=resume,
        task_names=model.task_names,
        device=dev,
    )
    result = trainer.fit()
    _print_skips(cfg, "run ended")
    return result


def _print_skips(cfg: DictConfig, when: str) -> None:
    """One console line (rank 0) with how many manifest lines a lenient run skipped, and where they are."""
    from .data.report import BadSampleReport

    path = cfg.data.get("bad_sample_report")
    if not path or int(os.environ.get("RANK", "0")) != 0:
        return
    line = BadSampleReport.summary(path)
    if line:
        print(f"[train] {when}: {line}", file=sys.stderr, flush=True)


def load_for_evaluation(
    checkpoint: str | Path,
    overrides: Sequence[str] = (),
    recipe: str | Path | None = None,
    device: str | None = None,
) -> tuple[DictConfig, Any]:
    """Rebuild the model of a checkpoint from its own recorded recipe (or ``recipe``) and load its weights."""
    from .train import checkpoint as ckpt_io

    ckpt = ckpt_io.resolve_checkpoint(checkpoint)
    source = Path(recipe) if recipe else ckpt / "recipe.yaml"
    cfg = load_recipe(source, overrides)
    if recipe:
        reasons = recipe_check(ckpt_io.read_recipe(ckpt), OmegaConf.to_container(cfg, resolve=True))  # type: ignore[arg-type]
        if reasons:
            raise ConfigError(f"checkpoint {ckpt} does not fit recipe {recipe}: " + "; ".join(reasons))
    dev = pick_device(device)
    model = build_model(cfg, dev)
    ckpt_io.load_trainable(model, ckpt, strict=True)
    return cfg, model


def evaluate_model(
    cfg: DictConfig,
    model: Any,
    out_dir: Path,
    *,
    manifests: Sequence[str] | None = None,
    split: str = "test",
    device: str = "cpu",
    paper_scoring: bool = False,
    progress: bool = True,
    extra: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """Decode ``data.<split>`` (or ``manifests``), score per task and write the outputs into ``out_dir``."""
    from .evaluate.config import EvalConfig
    from .evaluate.runner import decode, metrics_for_tasks, score, write_outputs

    ev = section(cfg, "evaluate", EvalConfig)
    loader, sampler = build_data(cfg, model, split, train=False, manifests=manifests)
    records = decode(model, loader, ev, device, progress=progress, total=len(sampler))
    results = score(records, metrics_for_tasks(model.tasks, ev), paper_scoring=paper_scoring)
    write_outputs(out_dir, records, results, extra)
    return results
