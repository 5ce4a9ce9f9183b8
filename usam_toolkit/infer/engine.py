"""Run a model on clips of any length: window, batch across clips and windows, decode, stitch.

Every window becomes one sample built exactly like the data layer builds one (the task plugin's
prompt template, one decode resampled to each encoder rate, the collator's padding), so what the
model sees at inference is what it saw in training. Windows of all clips are sorted by length and
decoded ``batch_size`` at a time (less padding); results come back in input order.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from ..errors import ConfigError
from ..interfaces import GenerationConfig
from .audio_input import AudioInput, InputProblem
from .windows import Window, plan_windows, stitch_texts


@dataclass
class Request:
    """What to ask about every clip.

    Attributes:
        task: a task of the model (its prompt template and task id).
        prompt: free-form instruction replacing the template's (same ``<Audio>...</Audio>`` frame).
        target_lang: language code for translation tasks (e.g. ``fr``); the recipe's default if None.
    """

    task: str
    prompt: str | None = None
    target_lang: str | None = None


@dataclass
class WindowResult:
    """The answer for one window; times in seconds from the start of the clip."""

    start: float
    end: float
    text: str
    routing_weights: list[float] | None = None


@dataclass
class Result:
    """The answer for one clip.

    Attributes:
        name: file path or in-memory label.
        task: the task asked.
        text: stitched transcript/translation, or the caption (per-window captions with their time
            ranges, ``[0:00-0:30] ... | [0:30-1:00] ...``, when a non-time-stamped task had several windows).
        windows: one entry per window.
        duration: seconds.
        timestamps: whether the task's windows are time-stamped segments (SRT makes sense).
        routing_weights: TAPM routing weights ``[N]`` averaged over windows (by duration), or None.
        error: why the clip could not be used (then everything else is empty).
    """

    name: str
    task: str
    text: str = ""
    windows: list[WindowResult] = field(default_factory=list)
    duration: float = 0.0
    timestamps: bool = False
    routing_weights: list[float] | None = None
    error: InputProblem | None = None

    @property
    def ok(self) -> bool:
        return self.error is None

    def to_dict(self) -> dict[str, Any]:
        if self.error is not None:
            return {
                "file": self.name,
                "task": self.task,
                "error": self.error.reason,
                "detail": self.error.detail,
            }
        return {
            "file": self.name,
            "task": self.task,
            "text": self.text,
            "duration": round(self.duration, 3),
            "windows": [dataclasses.asdict(w) for w in self.windows],
            "routing_weights": self.routing_weights,
        }


def drop_feature_cache(model: Any) -> int:
    """Unwrap every :class:`~usam_toolkit.data.cache.CachedEncoder` of ``model``; returns how many.

    The recipe's feature cache lives in the training corpus's folder and writes a file per new
    clip: at inference time that would store every user's audio (and let anyone who can reach a
    server fill its disk), so inference encodes afresh instead.
    """
    from ..data.cache import CachedEncoder

    encoders = getattr(model, "encoders", None)
    if encoders is None:
        return 0
    dropped = 0
    for i, enc in enumerate(encoders):
        if isinstance(enc, CachedEncoder):
            encoders[i] = enc.encoder
            dropped += 1
    return dropped


def clock(seconds: float) -> str:
    """``m:ss`` (or ``h:mm:ss``) for caption time ranges."""
    s = round(seconds)
    h, rem = divmod(s, 3600)
    m, sec = divmod(rem, 60)
    return f"{h}:{m:02d}:{sec:02d}" if h else f"{m}:{sec:02d}"


class Engine:
    """A loaded model plus the recipe's decoding settings.

    Args:
        model: an :class:`~usam_toolkit.model.audio_llm.AudioLLM` (eval mode is set here).
        cfg: its recipe (``evaluate`` gives the decoding settings).
        device: where the model lives.
        batch_size: windows per forward pass (default: the recipe's ``evaluate.batch_size``).
        window_seconds: window length; None or 0 decodes each clip whole.
        overlap_seconds: overlap between consecutive windows.
        precision: ``auto`` (default: bf16 where the device computes it natively, else fp32), ``fp32``,
            ``bf16`` or ``fp16`` (CUDA); resolved as ``train.precision`` is
            (:func:`usam_toolkit.precision.resolve_precision`), and ``self.precision.describe()`` says
            which and why. Frozen encoders stay fp32 under bf16 (the features the model was trained on).
    """

    def __init__(
        self,
        model: Any,
        cfg: Any,
        device: str = "cpu",
        batch_size: int | None = None,
        window_seconds: float | None = 30.0,
        overlap_seconds: float = 0.0,
        precision: str = "auto",
    ) -> None:
        from ..config.loader import section
        from ..evaluate.config import EvalConfig

        self.model = model.eval()
        self.cfg = cfg
        self.device = device
        self.eval_cfg = section(cfg, "evaluate", EvalConfig)
        self.batch_size = max(1, int(batch_size or self.eval_cfg.batch_size))
        self.window_seconds = window_seconds
        self.overlap_seconds = float(overlap_seconds)
        from ..precision import resolve_precision

        self.precision = resolve_precision(precision, device, what="precision")
        self._autocast = self.precision.autocast(self.model)

    # ------------------------------------------------------------------ what the model can do
    @property
    def task_names(self) -> list[str]:
        return list(self.model.task_names)

    @property
    def has_routing(self) -> bool:
        """Whether a projector routes between experts (TAPM: it has a ``routing_weights`` method)."""
        return any(hasattr(p, "routing_weights") for p in self.model.projectors)

    def check_task(self, task: str) -> Any:
        """The model's task object named ``task``; a clear error listing the model's tasks otherwise."""
        if task not in self.model.tasks:
            raise ConfigError(
                f"this model was not trained for task '{task}'; "
                f"its recipe has tasks: {', '.join(self.task_names)}"
            )
        return self.model.tasks[task]

    def timestamped(self, task: str) -> bool:
        """Whether the task gives time-aligned outputs (:attr:`usam_toolkit.interfaces.Task.timestamps`)."""
        return bool(self.check_task(task).timestamps)

    def generation(self, seconds: float, overrides: Mapping[str, Any] | None = None) -> GenerationConfig:
        """The recipe's decoding settings for ``seconds`` of audio, with the caller's overrides."""
        from ..evaluate.runner import generation_config

        gen = generation_config(self.eval_cfg, seconds)
        if overrides:
            valid = {f.name for f in dataclasses.fields(GenerationConfig)}
            unknown = sorted(set(overrides) - valid)
            if unknown:
                raise ConfigError(
                    f"unknown generation setting(s) {unknown}; valid: {', '.join(sorted(valid))}"
                )
            gen = dataclasses.replace(gen, **dict(overrides))
        return gen

    # ------------------------------------------------------------------ running
    def _sample(self, clip: AudioInput, win: Window, request: Request, task_obj: Any) -> dict[str, Any]:
        import torch

        from ..audio.resample import resample_many
        from ..data.dataset import audio_hash
        from ..data.manifest import Example

        seg = clip.samples[win.start : win.end]
        ex = Example(
            id=f"{clip.name}#{win.index}",
            audio=clip.name,
            task=request.task,
            target="",
            target_lang=request.target_lang,
            prompt=request.prompt,
        )
        left, right = task_obj.prompt(ex, 0)
        return {
            "example": ex,
            "audio": resample_many(torch.from_numpy(seg), clip.sample_rate, self.model.sample_rates),
            "hash": audio_hash(seg, clip.sample_rate),
            "duration": len(seg) / clip.sample_rate,
            "prompt_left": left,
            "prompt_right": right,
            "target": "",
            "references": [""],
        }

    def _decode(
        self, samples: list[dict[str, Any]], overrides: Mapping[str, Any] | None
    ) -> tuple[list[str], Any]:
        import torch

        from ..data.dataset import Collator

        batch = Collator(self.task_names)(samples).to(self.device)
        gen = self.generation(max(s["duration"] for s in samples), overrides)
        with torch.no_grad(), self._autocast:
            # AudioLLM.generate's two steps, kept apart so the routing weights can be reported.
            projected = self.model.project(self.model.encode(batch), batch)
            texts = self.model.llm.generate_packed(
                batch.prompts_left, projected.features, projected.lengths, batch.prompts_right, gen
            )
        weights = projected.extras.get("routing_weights")
        return [t.strip() for t in texts], (weights.float().cpu() if weights is not None else None)

    def run(
        self,
        clips: Sequence[AudioInput | InputProblem],
        request: Request,
        generation: Mapping[str, Any] | None = None,
        progress: bool = False,
    ) -> list[Result]:
        """Answer ``request`` for every clip; an :class:`InputProblem` in ``clips`` becomes a failed result.

        Raises:
            ConfigError: the task is not one of the model's, or a bad generation setting.
        """
        from tqdm import tqdm

        task_obj = self.check_task(request.task)
        self.generation(1.0, generation)  # fail on bad settings before any work
        stamped = self.timestamped(request.task)
        results: list[Result] = []
        jobs: list[tuple[int, int, AudioInput, Window]] = []
        for i, clip in enumerate(clips):
            if isinstance(clip, InputProblem):
                results.append(Result(clip.name, request.task, error=clip))
                continue
            results.append(Result(clip.name, request.task, duration=clip.seconds, timestamps=stamped))
            for win in plan_windows(
                len(clip.samples), clip.sample_rate, self.window_seconds, self.overlap_seconds
            ):
                jobs.append((i, win.index, clip, win))
        # Longest first: similar lengths share a batch, and the bar's first estimate is pessimistic.
        jobs.sort(key=lambda j: -(j[3].end - j[3].start) / j[2].sample_rate)
        done: dict[tuple[int, int], WindowResult] = {}
        bar = tqdm(total=len(jobs), desc="infer", unit="window", disable=not progress, dynamic_ncols=True)
        for k in range(0, len(jobs), self.batch_size):
            chunk = jobs[k : k + self.batch_size]
            texts, weights = self._decode(
                [self._sample(c, w, request, task_obj) for _, _, c, w in chunk], generation
            )
            for row, ((i, wi, clip, win), text) in enumerate(zip(chunk, texts)):
                start, end = win.seconds(clip.sample_rate)
                rw = [round(float(v), 6) for v in weights[row]] if weights is not None else None
                done[(i, wi)] = WindowResult(round(start, 3), round(end, 3), text, rw)
            bar.update(len(chunk))
        bar.close()
        for i, res in enumerate(results):
            if not res.ok:
                continue
            wins = [done[key] for key in sorted(k for k in done if k[0] == i)]
            res.windows = wins
            if stamped or len(wins) == 1:
                res.text = (
                    stitch_texts([w.text for w in wins], overlap=self.overlap_seconds > 0)
                    if stamped
                    else wins[0].text
                )
            else:
                res.text = " | ".join(f"[{clock(w.start)}-{clock(w.end)}] {w.text}" for w in wins)
            res.routing_weights = _mean_weights(wins)
        return results


def _mean_weights(wins: Sequence[WindowResult]) -> list[float] | None:
    rows = [(w.end - w.start, w.routing_weights) for w in wins if w.routing_weights is not None]
    if not rows:
        return None
    total = sum(d for d, _ in rows) or 1.0
    n = len(rows[0][1])
    return [round(sum(d * r[j] for d, r in rows) / total, 6) for j in range(n)]
