"""``usam mini demo`` (``make demo``): the whole U-SAM pipeline trained and scored on one CPU machine.

Steps (each skipped when its output exists and its inputs are unchanged):

1. build the small mini world if it is missing (:func:`usam_toolkit.mini.build.build_world`);
2. pretrain the music encoder and the small LM if missing (:func:`usam_toolkit.mini.pretrain.pretrain`);
3. score the untrained model (the recipe's model with its trainable parts at their initial values) on the
   test split: it also fills the feature cache of the frozen encoders for the test clips;
4. train ``recipes/mini/usam.yaml`` and score it on the test split;
5. score two text-only baselines per task with the same scoring code: "always say the most frequent
   training target" and "always say the consensus training target" (:mod:`usam_toolkit.mini.baselines`);
6. write ``<out>/metrics.json`` (per task and per system) and ``<out>/report.md``, and print the table.

Every stage records its wall-clock and CPU seconds (on a shared machine the CPU time tells the cost).
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .baselines import TEXT_BASELINES

#: the demo's recipe, relative to the repository root.
DEMO_RECIPE = Path(__file__).resolve().parents[2] / "recipes" / "mini" / "usam.yaml"
SYSTEMS: tuple[str, ...] = ("model", "untrained", *TEXT_BASELINES)


@dataclass(frozen=True)
class Score:
    """One table column: a score of a task's results."""

    task: str
    key: str  # metric.field in the results of :func:`usam_toolkit.evaluate.runner.score`
    label: str
    lower_is_better: bool = False
    primary: bool = False  # the score "beats the baselines" is judged on


CAPTION_SCORES = (
    ("coco_caption.bleu_4", "BLEU-4"),
    ("coco_caption.meteor", "METEOR"),
    ("coco_caption.rouge_l", "ROUGE-L"),
    ("coco_caption.cider_d", "CIDEr-D"),
    ("coco_caption.spider", "SPIDEr"),
)
SCORES: tuple[Score, ...] = (
    Score("asr", "wer.wer", "WER", lower_is_better=True, primary=True),
    Score("s2tt", "bleu.bleu", "BLEU", primary=True),
    *(Score("aac", k, lab, primary=lab == "CIDEr-D") for k, lab in CAPTION_SCORES),
    *(Score("mc", k, lab, primary=lab == "CIDEr-D") for k, lab in CAPTION_SCORES),
)


class Stopwatch:
    """Wall-clock and process CPU seconds per named stage."""

    def __init__(self) -> None:
        self.stages: dict[str, dict[str, float]] = {}

    def run(self, name: str, fn: Callable[[], Any]) -> Any:
        wall, cpu = time.perf_counter(), time.process_time()
        try:
            return fn()
        finally:
            self.stages[name] = {
                "wall_s": round(time.perf_counter() - wall, 1),
                "cpu_s": round(time.process_time() - cpu, 1),
            }

    def total(self) -> dict[str, float]:
        return {k: round(sum(s[k] for s in self.stages.values()), 1) for k in ("wall_s", "cpu_s")}


def _task_group(results: Mapping[str, Any], task: str) -> Mapping[str, Any] | None:
    """The results of ``task`` (a single language group such as ``s2tt:fr`` counts as the task)."""
    if task in results:
        return results[task]
    groups = [k for k in results if k.split(":", 1)[0] == task]
    return results[groups[0]] if len(groups) == 1 else None


def value(results: Mapping[str, Any], task: str, key: str) -> float | None:
    """``results[task][metric][field]`` for ``key = metric.field``, or None."""
    from ..evaluate.tables import lookup

    group = _task_group(results, task)
    return None if group is None else lookup({task: group}, task, key)


def comparison(per_system: Mapping[str, Mapping[str, Any]]) -> dict[str, dict[str, Any]]:
    """Task -> score label -> system -> value, plus ``beats_baselines`` on the primary score of each task.

    Only the tasks the model was scored on (those of its recipe) appear.
    """
    table: dict[str, dict[str, Any]] = {}
    scored = per_system.get("model", {})
    for s in SCORES:
        if _task_group(scored, s.task) is None:
            continue
        row = {name: value(per_system.get(name, {}), s.task, s.key) for name in SYSTEMS}
        task = table.setdefault(s.task, {"scores": {}})
        task["scores"][s.label] = row
        if s.primary:
            model = row["model"]
            baselines = [row[b] for b in SYSTEMS[1:] if row[b] is not None]
            if model is None:
                beats = None
            elif s.lower_is_better:
                beats = all(model < b for b in baselines)
            else:
                beats = all(model > b for b in baselines)
            task["primary"] = s.label
            task["beats_baselines"] = beats
    return table


def _fmt(v: float | None) -> str:
    return "–" if v is None else f"{v:.2f}"


def report_markdown(
    table: Mapping[str, Mapping[str, Any]], timing: Mapping[str, Any], meta: Mapping[str, Any]
) -> str:
    """The demo's report: the results table, the verdicts and the timing."""
    lines = [
        "# U-SAM mini world: demo results",
        "",
        f"Recipe `{meta.get('recipe')}`, world `{meta.get('world')}`, test split "
        f"({meta.get('test_examples')} clips). Lower is better for WER, higher for every other score.",
        "",
        "| task | score | trained model | untrained model | most frequent target | consensus target |",
        "|---|---|---|---|---|---|",
    ]
    for task, entry in table.items():
        for label, row in entry["scores"].items():
            mark = " (primary)" if label == entry.get("primary") else ""
            cells = " | ".join(_fmt(row[name]) for name in SYSTEMS)
            lines.append(f"| {task} | {label}{mark} | {cells} |")
    lines += ["", "Trained model beats every baseline on the primary score:"]
    for task, entry in table.items():
        lines.append(f"- {task} ({entry.get('primary')}): {entry.get('beats_baselines')}")
    absent = [t for t in dict.fromkeys(s.task for s in SCORES) if t not in table]
    if absent:
        lines += [
            "",
            f"Not in this recipe, so not reported: {', '.join(absent)}. Speech recognition is the separate "
            '`make speech` run, `recipes/mini/speech-stack.yaml` (docs/mini-world.md, "Speech").',
        ]
    lines += ["", "| stage | wall s | CPU s |", "|---|---|---|"]
    for stage, t in timing["stages"].items():
        lines.append(f"| {stage} | {t['wall_s']} | {t['cpu_s']} |")
    lines.append(f"| total | {timing['total']['wall_s']} | {timing['total']['cpu_s']} |")
    return "\n".join(lines) + "\n"


def print_table(table: Mapping[str, Mapping[str, Any]]) -> None:
    """The comparison as plain text on stdout."""
    print(
        f"{'task':5} {'score':8} "
        + " ".join(f"{name.replace('most_frequent', 'most-freq'):>10}" for name in SYSTEMS)
    )
    for task, entry in table.items():
        for label, row in entry["scores"].items():
            star = "*" if label == entry.get("primary") else " "
            print(f"{task:5} {label:7}{star} " + " ".join(f"{_fmt(row[name]):>10}" for name in SYSTEMS))
    print(
        "* primary score; beats every baseline: "
        + ", ".join(f"{t}={e.get('beats_baselines')}" for t, e in table.items())
    )


def text_baseline_results(
    cfg: Any, model_tasks: Mapping[str, Any], out_dir: Path, kind: str
) -> dict[str, Any]:
    """Score the text-only baseline ``kind`` (a key of :data:`TEXT_BASELINES`) on the recipe's test split."""

    from ..config.loader import recipe_base_dir, section
    from ..evaluate.config import EvalConfig
    from ..evaluate.runner import metrics_for_tasks, score, write_outputs
    from .baselines import baseline_predictions, read_records

    def paths(split: str) -> list[Path]:
        # relative manifest paths resolve against the recipe's base folder, as in the data layer
        base = recipe_base_dir(cfg) or Path.cwd()
        return [p if p.is_absolute() else base / p for p in (Path(str(x)) for x in cfg.data[split])]

    answers = TEXT_BASELINES[kind](read_records(paths("train")))
    records = baseline_predictions(read_records(paths("test")), answers)
    ev = section(cfg, "evaluate", EvalConfig)
    results = score(records, metrics_for_tasks(model_tasks, ev))
    write_outputs(out_dir, records, results, {"answers": answers})
    return results


def run_demo(
    out: Path = Path("runs/demo"),
    world: Path = Path("data/mini-small"),
    recipe: Path = DEMO_RECIPE,
    overrides: Sequence[str] = (),
    scale: str = "small",
    device: str = "cpu",
    retrain: bool = False,
    progress: bool = True,
) -> dict[str, Any]:
    """Run the demo end to end; returns what ``metrics.json`` holds.

    Args:
        out: run folder (``model/``, ``eval/<system>/``, ``metrics.json``, ``report.md``).
        world: the mini world (built with ``scale`` when it has no ``world.json``).
        recipe: the recipe to train (``USAM_MINI_DIR`` is set to ``world`` for it).
        overrides: ``key=value`` recipe overrides.
        scale: scale of the world when it must be built.
        device: torch device.
        retrain: train again even when ``out/model`` holds a finished checkpoint (an unfinished one is
            resumed: an interrupted demo continues where it stopped).
        progress: progress bars.
    """
    from omegaconf import OmegaConf

    from ..config.loader import load_recipe
    from ..pipeline import build_model, evaluate_model, load_for_evaluation, train_recipe
    from ..train.checkpoint import find_latest, read_trainer_state
    from .pretrain import pretrain

    out, world = Path(out).resolve(), Path(world).resolve()
    os.environ["USAM_MINI_DIR"] = str(world)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    clock = Stopwatch()
    if not (world / "world.json").is_file():
        from .build import build_world

        print(f"[demo] building the {scale} mini world in {world}")
        clock.run("build world", lambda: build_world(world, scale=scale, progress=progress))
    print("[demo] pretrained components (music encoder, small LM)")
    pre = clock.run("pretrain", lambda: pretrain(world))
    cfg = load_recipe(recipe, overrides)
    per_system: dict[str, Any] = {}

    untrained_dir = out / "eval" / "untrained"
    recipe_key = hashlib.sha256(
        json.dumps(OmegaConf.to_container(cfg, resolve=True), sort_keys=True, default=str).encode()
    ).hexdigest()

    def untrained() -> dict[str, Any]:
        # It depends on the resolved recipe only (seed included): reused when that is unchanged.
        saved = untrained_dir / "metrics.json"
        if not retrain and saved.is_file():
            found = json.loads(saved.read_text(encoding="utf-8"))
            if found.get("recipe_sha256") == recipe_key:
                print(f"[demo] reusing the untrained model's scores in {untrained_dir}")
                return found["results"]
        model = build_model(cfg, device)
        return evaluate_model(
            cfg, model, untrained_dir, device=device, progress=progress, extra={"recipe_sha256": recipe_key}
        )

    print("[demo] scoring the untrained model on the test split")
    per_system["untrained"] = clock.run("score untrained", untrained)
    model_dir = out / "model"
    latest = None if retrain else find_latest(model_dir)
    done = int(read_trainer_state(latest)["step"]) if latest is not None else 0
    if latest is None or done < int(cfg.train.max_steps):
        # An interrupted run continues from its last checkpoint (exactly) instead of being scored half-done.
        print(f"[demo] training {recipe}" + (f" (resuming at step {done})" if latest is not None else ""))
        clock.run(
            "train",
            lambda: train_recipe(
                recipe,
                overrides,
                out=str(model_dir),
                device=device,
                progress=progress,
                resume=str(latest) if latest is not None else False,
            ),
        )

    def trained() -> dict[str, Any]:
        tcfg, model = load_for_evaluation(model_dir, overrides, recipe=recipe, device=device)
        per_system["_tasks"] = model.tasks
        return evaluate_model(tcfg, model, out / "eval" / "model", device=device, progress=progress)

    print("[demo] scoring the trained model on the test split")
    per_system["model"] = clock.run("score model", trained)
    tasks = per_system.pop("_tasks")
    for kind in TEXT_BASELINES:
        per_system[kind] = clock.run(
            f"score {kind.replace('_', ' ')}",
            lambda k=kind: text_baseline_results(cfg, tasks, out / "eval" / k, k),
        )
    table = comparison(per_system)
    timing = {"stages": clock.stages, "total": clock.total()}
    test_n = sum(int(v.get("n", 0)) for v in per_system["model"].values() if isinstance(v, Mapping))
    meta = {"recipe": str(recipe), "world": str(world), "test_examples": test_n, "overrides": list(overrides)}
    result = {
        **meta,
        "tasks": {
            task: {
                "primary": entry.get("primary"),
                "beats_baselines": entry.get("beats_baselines"),
                "scores": entry["scores"],
                **{
                    name: per_system[name].get(task) or _task_group(per_system[name], task)
                    for name in SYSTEMS
                },
            }
            for task, entry in table.items()
        },
        "pretrained": pre,
        "timing": timing,
    }
    out.mkdir(parents=True, exist_ok=True)
    (out / "metrics.json").write_text(json.dumps(result, indent=2, ensure_ascii=False, default=str))
    (out / "report.md").write_text(report_markdown(table, timing, meta))
    print_table(table)
    print(
        f"[demo] total {timing['total']['wall_s']} s wall, {timing['total']['cpu_s']} s CPU; "
        f"wrote {out / 'metrics.json'} and {out / 'report.md'}"
    )
    return result
