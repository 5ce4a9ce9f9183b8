"""The recipe schema: top-level keys and the typed sections; slots are validated per plugin."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ..data.config import DataConfig
from ..evaluate.config import EvalConfig
from ..model.config import AudioNormConfig, FusionConfig
from ..train.config import TrainConfig


@dataclass
class RecipeSchema:
    """A whole recipe. Slots (``encoders``, ``projectors``, ``llm``, ``losses``, ``tasks``) are
    ``{name: <plugin>, <that plugin's fields>}``; loss slots also take ``weight``.

    ``output_dir`` is relative to the current directory (where you run); every other relative path is
    relative to ``base_dir`` (default: the recipe file's folder).
    """

    experiment: str = "unnamed"
    # Free-form values for interpolation elsewhere in the recipe, e.g.
    # ``data.train: [${vars.world}/train.jsonl]``.
    vars: dict[str, Any] = field(default_factory=dict)
    description: str = ""
    seed: int = 0
    output_dir: str = "runs/${experiment}"
    # None: $USAM_CACHE_DIR, else ~/.cache/usam_toolkit
    cache_dir: str | None = None
    # Folder that relative paths resolve against (relative: from the recipe file's folder); None: the
    # recipe file's folder. Training records it, absolute, in the checkpoint's copy of the recipe, so that
    # copy still finds the data and models.
    base_dir: str | None = None
    encoders: list[Any] = field(default_factory=list)
    fusion: FusionConfig = field(default_factory=FusionConfig)
    projectors: list[Any] = field(default_factory=list)
    audio_norm: AudioNormConfig = field(default_factory=AudioNormConfig)
    llm: Any | None = None
    losses: list[Any] = field(default_factory=list)
    tasks: list[Any] = field(default_factory=list)
    data: DataConfig = field(default_factory=DataConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    evaluate: EvalConfig = field(default_factory=EvalConfig)


@dataclass(frozen=True)
class SlotSection:
    """A recipe key holding plugin slots: the registry kind, whether it is a list, extra slot keys."""

    key: str
    kind: str
    is_list: bool
    extra_keys: tuple[str, ...] = ()


SLOT_SECTIONS: tuple[SlotSection, ...] = (
    SlotSection("encoders", "encoders", True),
    SlotSection("projectors", "projectors", True),
    SlotSection("llm", "llms", False),
    SlotSection("losses", "losses", True, ("weight",)),
    SlotSection("tasks", "tasks", True),
)
