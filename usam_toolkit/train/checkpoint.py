"""Checkpoint folders: atomic writes, a ``latest`` pointer, rotation, and strict trainable-weight loading.

Layout of ``<out_dir>/checkpoint-<step>/``:

- ``model.safetensors``: only the trainable parameters (names as in ``named_parameters`` of the
  unwrapped model) plus the buffers the model lists in ``trainable_buffer_names``.
- ``optimizer.pt`` / ``scheduler.pt``: ``torch.save`` of state dicts made of tensors and primitive
  containers only, so they load with ``torch.load(weights_only=True)``.
- ``trainer_state.json``: step, epoch, batch index in the epoch, consumed samples, best metric, bad-step
  counters, per-rank RNG states (plain lists).
- ``recipe.yaml``: the resolved recipe; ``provenance.json``: component -> distribution and version.

A checkpoint is written into ``checkpoint-<step>.tmp-<pid>-<random>/``, every file and the folder are
fsynced, and only then renamed (:func:`usam_toolkit.atomic.atomic_folder`); the ``latest`` pointer file
is replaced atomically afterwards. A kill at any moment therefore leaves the previous checkpoint
complete, and the stale temporary folder is removed by :func:`clean_stale_tmp` when the next run starts.
"""

from __future__ import annotations

import json
import os
import re
import shutil
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import torch

from ..atomic import atomic_folder, write_text_atomic
from ..errors import UsamError

MODEL_FILE = "model.safetensors"
OPTIMIZER_FILE = "optimizer.pt"
SCHEDULER_FILE = "scheduler.pt"
STATE_FILE = "trainer_state.json"
RECIPE_FILE = "recipe.yaml"
PROVENANCE_FILE = "provenance.json"
LATEST_FILE = "latest"
BEST_FILE = "best"

_CKPT_RE = re.compile(r"^checkpoint-(\d+)$")
# temporaries of atomic_folder (``<name>.tmp-<pid>-<random>``) and of versions before it (``.tmp-<pid>``)
_TMP_RE = re.compile(r"^checkpoint-\d+\.(tmp|old)-\d+(-[0-9a-f]+)?$")

# A recipe check receives (saved recipe, current recipe) as plain dicts and returns the reasons they
# are incompatible (empty or None when the checkpoint may be used).
RecipeCheck = Callable[[dict, dict], Sequence[str] | None]


class CheckpointError(UsamError):
    """A checkpoint is missing, incomplete or incompatible with the current model or recipe."""


# --------------------------------------------------------------------------------------------------
# What goes into model.safetensors
# --------------------------------------------------------------------------------------------------
def trainable_names(model: torch.nn.Module) -> list[str]:
    """Names of the trainable parameters plus the buffers the model declares as trainable state.

    A model declares extra state buffers (e.g. running statistics of a trainable norm) with an
    attribute ``trainable_buffer_names`` holding names as in ``named_buffers()``.
    """
    names = [n for n, p in model.named_parameters() if p.requires_grad]
    names += list(getattr(model, "trainable_buffer_names", ()) or ())
    return names


def trainable_state_dict(model: torch.nn.Module) -> dict[str, torch.Tensor]:
    """Detached CPU copies of the trainable parameters and declared buffers of an unwrapped model."""
    params = dict(model.named_parameters())
    buffers = dict(model.named_buffers())
    out: dict[str, torch.Tensor] = {}
    for name in trainable_names(model):
        t = params[name] if name in params else buffers.get(name)
        if t is None:
            raise CheckpointError(
                f"trainable_buffer_names lists '{name}', which is not a buffer of the model"
            )
        out[name] = t.detach().to("cpu").contiguous().clone()
    return out


# --------------------------------------------------------------------------------------------------
# Writing
# --------------------------------------------------------------------------------------------------
def recipe_to_yaml(recipe: Any) -> str:
    """The recipe as YAML text: a YAML string as is, a DictConfig or a mapping dumped."""
    if recipe is None:
        return ""
    if isinstance(recipe, str):
        return recipe
    try:
        from omegaconf import DictConfig, OmegaConf

        if isinstance(recipe, DictConfig):
            return OmegaConf.to_yaml(recipe, resolve=True)
    except ImportError:  # pragma: no cover
        pass
    import yaml

    return yaml.safe_dump(dict(recipe), sort_keys=False)


def _test_pause_in_save(step: int) -> None:
    # Test hook of tests/reliability: USAM_TEST_PAUSE_IN_SAVE="<step>:<seconds>" sleeps while the
    # checkpoint of that step is half written (model.safetensors only), so a test can SIGKILL the run
    # mid-write. Unset in normal use; no other code reads it.
    spec = os.environ.get("USAM_TEST_PAUSE_IN_SAVE")
    if spec:
        at, _, seconds = spec.partition(":")
        if int(at) == step:
            import time

            time.sleep(float(seconds or 60))


def save_checkpoint(
    out_dir: str | Path,
    step: int,
    *,
    model_state: Mapping[str, torch.Tensor],
    optimizer_state: Mapping[str, Any],
    scheduler_state: Mapping[str, Any],
    trainer_state: Mapping[str, Any],
    recipe: Any = None,
    provenance: Mapping[str, Any] | None = None,
) -> Path:
    """Write ``<out_dir>/checkpoint-<step>/`` atomically and point ``latest`` at it.

    Args:
        out_dir: the run folder.
        step: optimizer step the checkpoint represents.
        model_state: trainable tensors by name (see :func:`trainable_state_dict`).
        optimizer_state: optimizer state dict (tensors and primitive containers only).
        scheduler_state: LR scheduler state dict (tensors and primitives only).
        trainer_state: JSON-serialisable loop state.
        recipe: the resolved recipe (YAML string, DictConfig or mapping).
        provenance: component -> {distribution, version}.

    Returns:
        The final checkpoint folder.
    """
    from safetensors.torch import save_file

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    final = out / f"checkpoint-{step}"
    # replace: re-saving the same step (e.g. a stop right after a periodic save) swaps the folder.
    # keep_on_error: a failed save leaves its temporary folder, as a kill would; clean_stale_tmp removes it.
    with atomic_folder(final, replace=True, keep_on_error=True) as tmp:
        tensors = {k: v.contiguous() for k, v in model_state.items()}
        save_file(tensors, str(tmp / MODEL_FILE), metadata={"step": str(step)})
        _test_pause_in_save(step)
        torch.save(dict(optimizer_state), tmp / OPTIMIZER_FILE)
        torch.save(dict(scheduler_state), tmp / SCHEDULER_FILE)
        (tmp / RECIPE_FILE).write_text(recipe_to_yaml(recipe), encoding="utf-8")
        (tmp / PROVENANCE_FILE).write_text(
            json.dumps(dict(provenance or {}), indent=2, sort_keys=True), encoding="utf-8"
        )
        # trainer_state.json last: a folder holding it is complete.
        (tmp / STATE_FILE).write_text(json.dumps(dict(trainer_state)), encoding="utf-8")
    write_text_atomic(out / LATEST_FILE, final.name + "\n")
    return final


def mark_best(out_dir: str | Path, ckpt: str | Path) -> None:
    """Point the ``best`` file at ``ckpt`` (atomically)."""
    write_text_atomic(Path(out_dir) / BEST_FILE, Path(ckpt).name + "\n")


def clean_stale_tmp(out_dir: str | Path) -> list[Path]:
    """Remove half-written checkpoint folders left by killed runs; returns what was removed."""
    out = Path(out_dir)
    removed = []
    if out.is_dir():
        for p in out.iterdir():
            if p.is_dir() and _TMP_RE.match(p.name):
                shutil.rmtree(p, ignore_errors=True)
                removed.append(p)
    return removed


# --------------------------------------------------------------------------------------------------
# Finding and rotating
# --------------------------------------------------------------------------------------------------
def list_checkpoints(out_dir: str | Path) -> list[Path]:
    """Complete checkpoint folders of a run, by increasing step."""
    out = Path(out_dir)
    if not out.is_dir():
        return []
    found = []
    for p in out.iterdir():
        m = _CKPT_RE.match(p.name)
        if m and p.is_dir() and (p / STATE_FILE).is_file():
            found.append((int(m.group(1)), p))
    return [p for _, p in sorted(found)]


def find_latest(out_dir: str | Path) -> Path | None:
    """The newest complete checkpoint of a run: the ``latest`` pointer, else the highest step."""
    out = Path(out_dir)
    pointer = out / LATEST_FILE
    if pointer.is_file():
        target = out / pointer.read_text(encoding="utf-8").strip()
        if target.is_dir() and (target / STATE_FILE).is_file():
            return target
    ckpts = list_checkpoints(out)
    return ckpts[-1] if ckpts else None


def find_best(out_dir: str | Path) -> Path | None:
    """The checkpoint the ``best`` pointer names, if it still exists."""
    pointer = Path(out_dir) / BEST_FILE
    if pointer.is_file():
        target = Path(out_dir) / pointer.read_text(encoding="utf-8").strip()
        if (target / STATE_FILE).is_file():
            return target
    return None


def resolve_checkpoint(path: str | Path) -> Path:
    """A checkpoint folder itself, or the latest checkpoint of a run folder."""
    p = Path(path)
    if (p / STATE_FILE).is_file():
        return p
    latest = find_latest(p)
    if latest is None:
        raise CheckpointError(
            f"{p}: not a checkpoint folder (no {STATE_FILE}) and no checkpoint-<step>/ inside it"
        )
    return latest


def rotate_checkpoints(out_dir: str | Path, keep_last: int, protect: Iterable[str | Path] = ()) -> list[Path]:
    """Delete all but the newest ``keep_last`` checkpoints, never those in ``protect`` (e.g. the best)."""
    if keep_last <= 0:
        return []
    keep = {Path(p).name for p in protect if p}
    ckpts = list_checkpoints(out_dir)
    removed = []
    for p in ckpts[: max(0, len(ckpts) - keep_last)]:
        if p.name not in keep:
            shutil.rmtree(p, ignore_errors=True)
            removed.append(p)
    return removed


# --------------------------------------------------------------------------------------------------
# Reading
# --------------------------------------------------------------------------------------------------
def read_trainer_state(ckpt: str | Path) -> dict[str, Any]:
    """``trainer_state.json`` of a checkpoint."""
    return json.loads((Path(ckpt) / STATE_FILE).read_text(encoding="utf-8"))


def read_recipe(ckpt: str | Path) -> dict[str, Any]:
    """``recipe.yaml`` of a checkpoint as a dict (empty when none was saved)."""
    import yaml

    path = Path(ckpt) / RECIPE_FILE
    if not path.is_file():
        return {}
    return yaml.safe_load(path.read_text(encoding="utf-8")) or {}


def load_state_file(ckpt: str | Path, name: str) -> dict[str, Any]:
    """``optimizer.pt`` or ``scheduler.pt``, loaded with ``weights_only=True`` (no pickled code).

    Raises:
        CheckpointError: the file holds objects other than tensors and primitive containers (a pickle
            that could run code is refused, never executed) or is not a torch file.
    """
    import pickle

    path = Path(ckpt) / name
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except (pickle.UnpicklingError, RuntimeError, EOFError, ValueError) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise CheckpointError(
            f"{path}: refused: it cannot be loaded with torch.load(weights_only=True), which only accepts "
            f"tensors and plain containers ({first}); the file is corrupt or was not written by usam train"
        ) from None


def load_model_state(ckpt: str | Path) -> dict[str, torch.Tensor]:
    """The tensors of ``model.safetensors`` on CPU."""
    from safetensors.torch import load_file

    path = Path(ckpt) / MODEL_FILE
    if not path.is_file():
        raise CheckpointError(f"{path}: missing; the checkpoint is incomplete")
    return load_file(str(path), device="cpu")


def check_recipe(ckpt: str | Path, current: Any, recipe_check: RecipeCheck | None) -> None:
    """Run the caller's compatibility hook on the saved and current recipes; raise with its reasons."""
    if recipe_check is None:
        return
    import yaml

    saved = read_recipe(ckpt)
    cur = yaml.safe_load(recipe_to_yaml(current)) or {} if current is not None else {}
    problems = list(recipe_check(saved, cur) or [])
    if problems:
        raise CheckpointError(
            f"{ckpt}: checkpoint comes from an incompatible recipe:\n  - " + "\n  - ".join(problems)
        )


def compare_state(
    model: torch.nn.Module, state: Mapping[str, torch.Tensor], strict: bool = True
) -> tuple[list[str], list[str], list[str]]:
    """Names missing from ``state``, unexpected in it, and with mismatched shapes, versus the model."""
    tensors = dict(model.named_parameters())
    tensors.update(dict(model.named_buffers()))
    expected = set(trainable_names(model))
    missing = sorted(expected - set(state)) if strict else []
    unexpected = sorted(k for k in state if k not in tensors)
    mismatched = sorted(
        f"{k}: checkpoint {tuple(v.shape)} vs model {tuple(tensors[k].shape)}"
        for k, v in state.items()
        if k in tensors and tuple(v.shape) != tuple(tensors[k].shape)
    )
    return missing, unexpected, mismatched


def load_trainable(model: torch.nn.Module, ckpt_dir: str | Path, strict: bool = True) -> Path:
    """Load ``model.safetensors`` of a checkpoint (or of a run's latest) into an unwrapped model.

    Args:
        model: the model as built from the recipe (not wrapped by DDP/FSDP).
        ckpt_dir: a checkpoint folder or a run folder.
        strict: also refuse when a trainable parameter of the model is absent from the checkpoint.

    Returns:
        The checkpoint folder used.

    Raises:
        CheckpointError: listing missing, unexpected and shape-mismatched names.
    """
    ckpt = resolve_checkpoint(ckpt_dir)
    state = load_model_state(ckpt)
    missing, unexpected, mismatched = compare_state(model, state, strict)
    if missing or unexpected or mismatched:
        parts = []
        for title, items in (
            ("missing", missing),
            ("unexpected", unexpected),
            ("shape mismatch", mismatched),
        ):
            if items:
                shown = ", ".join(items[:20]) + (f", ... ({len(items)} in all)" if len(items) > 20 else "")
                parts.append(f"{title}: {shown}")
        raise CheckpointError(
            f"{ckpt / MODEL_FILE}: does not fit this model (was it trained with another recipe?); "
            + "; ".join(parts)
        )
    tensors = dict(model.named_parameters())
    tensors.update(dict(model.named_buffers()))
    with torch.no_grad():
        for name, value in state.items():
            tensors[name].copy_(value.to(device=tensors[name].device, dtype=tensors[name].dtype))
    return ckpt
