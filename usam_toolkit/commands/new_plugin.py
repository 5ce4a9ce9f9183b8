"""``usam new-plugin KIND NAME [--dir DIR]``: write a third-party plugin package that installs and passes its
own conformance test as generated.

The package has the one shape every plugin has (CONTRIBUTING.md): ``__init__.py`` holds the hookimpl and
lazy builders, ``configs.py`` only the config dataclass, ``<name>.py`` the module with its ``build_<name>``
and ``<name>_example``; ``pyproject.toml`` declares the entry point the toolkit loads, and
``tests/test_conformance.py`` runs :func:`usam_toolkit.testing.check_component` on it.
"""

from __future__ import annotations

import argparse
import keyword
import re
from dataclasses import dataclass
from pathlib import Path
from string import Template
from typing import Any

from ..errors import UsamError

_NAME_RE = re.compile(r"^[a-z][a-z0-9_]*$")  # the registry's rule for component names


@dataclass(frozen=True)
class KindTemplate:
    """What differs between kinds: registry kind, class suffix, the two module texts, imports, summary."""

    kind: str  # registry kind (plural), e.g. "encoders"
    noun: str  # "encoder"
    class_suffix: str  # MyEnc + "Encoder"
    configs: Template
    module: Template
    doc: str  # first line of the builder's docstring: the description in `usam list-plugins`
    requires: tuple[str, ...] = ("torch",)  # checked by the registry before a build
    deps: tuple[str, ...] = ("torch",)  # the package's dependencies besides usam-toolkit


# --------------------------------------------------------------------------------------------------
# Files shared by every kind
# --------------------------------------------------------------------------------------------------
_PYPROJECT = Template("""\
# A usam_toolkit plugin package: `pip install -e .` registers it through the entry point below.
[build-system]
requires = ["setuptools>=68"]
build-backend = "setuptools.build_meta"

[project]
name = "$dist"
version = "0.1.0"
description = "The '$name' $noun for usam_toolkit"
requires-python = ">=3.10"
dependencies = ["usam-toolkit", $deps]

[project.optional-dependencies]
test = ["pytest"]

# The toolkit loads every module named in this group and calls its @hookimpl functions.
[project.entry-points.$group]
$name = "$pkg"

[tool.setuptools]
packages = ["$pkg"]
""")

_INIT = Template('''\
"""$dist: the '$name' $noun for usam_toolkit.

The toolkit imports this module through the entry point in pyproject.toml, also for `usam list-plugins`
and `usam validate`: keep it light. torch and the model code load only inside the builders below, when a
recipe builds the $noun.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from usam_toolkit import hookimpl
from usam_toolkit.interfaces import BuildContext

from .configs import $config


def build_$name(cfg: $config, ctx: BuildContext) -> Any:
    """$doc"""
    from .$name import build_$name as build

    return build(cfg, ctx)


def ${name}_example(tmp_dir: Path) -> dict[str, Any]:
    """Config overrides that build a tiny instance (the conformance checks use it)."""
    from .$name import ${name}_example as example

    return example(tmp_dir)


@hookimpl
def usam_register_$kind(register: Callable[..., None]) -> None:
    """Register '$name' (the name is stored in checkpoints and tables: keep it forever)."""
    register(
        "$name",
        build_$name,
        $config,
        requires=$requires,
        example=${name}_example,
    )
''')

_TEST = Template('''\
"""The toolkit's own conformance checks for '$name' (usam_toolkit.testing.check_component).

Run them after `pip install -e .`: the toolkit then finds '$name' through the entry point, exactly as
`usam train` will.
"""

from __future__ import annotations

from pathlib import Path

from usam_toolkit import UnknownComponentError, get_registry
from usam_toolkit.testing import check_component

KIND, NAME, PACKAGE = "$kind", "$name", "$pkg"


def test_registered() -> None:
    registry = get_registry()
    for failure in registry.failures:
        assert failure.plugin != NAME, f"'{NAME}' failed to load at {failure.stage}: {failure.error}"
    try:
        entry = registry.get(KIND, NAME)
    except UnknownComponentError as exc:
        hint = "Is the package installed? Run `pip install -e .` in its folder."
        raise AssertionError(f"{exc} {hint}") from None
    assert entry.build_fn.__module__.split(".")[0] == PACKAGE, f"'{NAME}' comes from {entry.provider}"


def test_conformance(tmp_path: Path) -> None:
    check_component(KIND, NAME, tmp_path)
''')

_README = Template("""\
# $dist

The `$name` $noun for usam_toolkit, written by `usam new-plugin $noun $name`.

## Three commands

```bash
pip install -e .                  # registers the entry point `$group: $name = $pkg`
python -m pytest -q               # the toolkit's conformance checks for a $noun (tests/test_conformance.py)
usam list-plugins --kind $kind    # lists '$name', provided by $dist 0.1.0
```

If '$name' is missing from the list, the same list shows the plugin as `failed` with the reason
(set `USAM_STRICT_PLUGINS=1` to turn that into an error).

## Use it in a recipe

$usage

## Files

- `pyproject.toml`: the entry point in the group `$group`.
- `$pkg/__init__.py`: the `@hookimpl` that registers '$name', and lazy builders (torch loads only when a
  recipe builds it).
- `$pkg/configs.py`: `$config`, the recipe fields and their defaults (no torch here).
- `$pkg/$name.py`: the module, `build_$name(cfg, ctx)` and `${name}_example(tmp_dir)`.
- `tests/test_conformance.py`: `check_component("$kind", "$name", tmp_path)`.

What $kind receive and return, with shapes, is in the toolkit's CONTRIBUTING.md.
""")

_USAGE = {
    "encoders": Template("""\
```yaml
encoders:
  - {name: $name, dim: 256}   # the toolkit freezes it (mode: frozen) unless the slot says lora or trainable
```

Or try it on a shipped recipe without editing it:
`usam validate recipes/mini/smoke.yaml encoders.0.name=$name`."""),
    "projectors": Template("""\
```yaml
projectors:
  - {name: $name, stride: 2}  # last in the chain: its output width is the LLM's
```

Or try it on a shipped recipe without editing it:
`usam validate recipes/mini/smoke.yaml projectors.1.name=$name`."""),
    "losses": Template("""\
```yaml
losses:
  - {name: cross_entropy, weight: 1.0}
  - {name: $name, weight: 0.1}  # the toolkit multiplies by weight and sums
```

Or try it on a shipped recipe without editing it:
`usam validate recipes/mini/smoke.yaml losses.1.name=$name`."""),
}

# --------------------------------------------------------------------------------------------------
# encoder
# --------------------------------------------------------------------------------------------------
_ENCODER_CONFIGS = Template('''\
"""Config dataclasses of '$name' only: no torch, so listing and validating recipes stay instant."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class $config:
    """Recipe fields of the '$name' encoder; the defaults are what a recipe gets when it omits a field.

    No `mode` / `lora` fields: the toolkit freezes, LoRA-adapts or trains every encoder as the recipe's
    slot says (`mode: frozen | lora | trainable`, frozen by default).

    Attributes:
        checkpoint: optional safetensors file of this module's state dict (relative paths resolve
            against the recipe's folder); random initialisation otherwise.
        sample_rate: the audio rate the encoder expects; the data layer resamples to it.
        n_mels: mel bands of the log-mel frontend.
        win_ms: analysis window in ms.
        hop_ms: hop in ms; the frontend gives 1000 / hop_ms frames/s.
        strides: one 1-D convolution (kernel 3) per entry; frame rate = 1000 / hop_ms / prod(strides).
        dim: output width (``output_dim``).
    """

    checkpoint: str | None = None
    sample_rate: int = 16000
    n_mels: int = 64
    win_ms: float = 25.0
    hop_ms: float = 10.0
    strides: list[int] = field(default_factory=lambda: [2])
    dim: int = 128
''')

_ENCODER_MODULE = Template('''\
"""The '$name' encoder: log-mel frames -> strided 1-D convolutions -> ``[B, T, dim]``.

The contract (usam_toolkit.interfaces.Encoder, checked by usam_toolkit.testing.check_encoder):
``forward(audio [B, N] float mono at sample_rate, audio_lengths [B] long)`` returns
``EncoderOutput(features [B, T, output_dim], lengths [B] long with max(lengths) == T, frame_rate)``;
frames at or past ``lengths[b]`` are padding, and padding in the batch never changes a clip's valid frames.
Attributes ``output_dim``, ``frame_rate`` (frames/s), ``sample_rate`` (Hz) and ``fingerprint()``.

Frames: frame i covers samples ``[i * hop, i * hop + win)`` (no centring), so a clip of N samples has
``1 + (max(N, win) - win) // hop`` frames; each stride-s convolution (kernel 3, padding 1) keeps
``ceil(L / s)``, with frames past each clip zeroed before it (what its own padding does to a lone clip).
"""

from __future__ import annotations

import hashlib
import math
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn
from usam_toolkit.errors import ConfigError
from usam_toolkit.interfaces import BuildContext, EncoderOutput
from usam_toolkit.masks import zero_padding

from .configs import $config


def mel_filterbank(n_freqs: int, n_mels: int, sample_rate: int) -> torch.Tensor:
    """Triangular filters on the HTK mel scale, ``[n_freqs, n_mels]``."""

    def to_mel(hz: float) -> float:
        return 2595.0 * math.log10(1.0 + hz / 700.0)

    hz = 700.0 * (10.0 ** (torch.linspace(0.0, to_mel(sample_rate / 2), n_mels + 2) / 2595.0) - 1.0)
    freqs = torch.linspace(0.0, sample_rate / 2, n_freqs)[:, None]
    lower, center, upper = hz[:-2], hz[1:-1], hz[2:]
    rising = (freqs - lower) / (center - lower)
    falling = (upper - freqs) / (upper - center)
    return torch.minimum(rising, falling).clamp_min(0.0)


class $cls(nn.Module):
    """Log-mel -> LayerNorm -> strided convs (GELU) -> Linear; see the module docstring."""

    def __init__(self, cfg: $config) -> None:
        super().__init__()
        if not cfg.strides or any(int(s) < 1 for s in cfg.strides):
            raise ConfigError(f"$name.strides: {cfg.strides} must be a non-empty list of integers >= 1")
        if cfg.dim < 1 or cfg.n_mels < 1:
            raise ConfigError(f"$name: dim ({cfg.dim}) and n_mels ({cfg.n_mels}) must be >= 1")
        self.cfg = cfg
        self.sample_rate = int(cfg.sample_rate)
        self.win = max(1, round(self.sample_rate * cfg.win_ms / 1000))
        self.hop = max(1, round(self.sample_rate * cfg.hop_ms / 1000))
        self.n_fft = 1 << (self.win - 1).bit_length()
        self.strides = [int(s) for s in cfg.strides]
        self.output_dim = int(cfg.dim)
        self.frame_rate = self.sample_rate / self.hop / math.prod(self.strides)
        self.register_buffer("window", torch.hann_window(self.win), persistent=False)
        fb = mel_filterbank(self.n_fft // 2 + 1, cfg.n_mels, self.sample_rate)
        self.register_buffer("mel_fb", fb, persistent=False)
        self.norm = nn.LayerNorm(cfg.n_mels)
        widths = [cfg.n_mels] + [cfg.dim] * len(self.strides)
        self.convs = nn.ModuleList(
            nn.Conv1d(widths[i], widths[i + 1], kernel_size=3, stride=s, padding=1)
            for i, s in enumerate(self.strides)
        )
        self.out = nn.Linear(cfg.dim, cfg.dim)

    def frontend_lengths(self, audio_lengths: torch.Tensor) -> torch.Tensor:
        """``[B]`` log-mel frames for ``[B]`` sample counts (a clip shorter than a window gives one)."""
        return torch.div(audio_lengths.clamp_min(self.win) - self.win, self.hop, rounding_mode="floor") + 1

    def log_mel(self, audio: torch.Tensor) -> torch.Tensor:
        """``[B, N]`` -> ``[B, F, n_mels]``, one frame per hop, each from its own window only."""
        if audio.shape[1] < self.win:
            audio = F.pad(audio, (0, self.win - audio.shape[1]))
        frames = audio.float().unfold(1, self.win, self.hop) * self.window  # [B, F, win]
        power = torch.fft.rfft(frames, n=self.n_fft).abs().pow(2)  # [B, F, n_fft // 2 + 1]
        return torch.log(power @ self.mel_fb + 1e-6)

    def forward(self, audio: torch.Tensor, audio_lengths: torch.Tensor) -> EncoderOutput:
        """Encode ``audio`` ``[B, N]`` with ``audio_lengths`` ``[B]`` -> features ``[B, T, dim]``."""
        audio_lengths = audio_lengths.long()
        audio = audio[:, : max(int(audio_lengths.max()), 1)]  # so that max(lengths) == T
        x = self.norm(self.log_mel(audio)).transpose(1, 2)  # [B, n_mels, F]
        n = self.frontend_lengths(audio_lengths)
        for conv, s in zip(self.convs, self.strides):
            x = F.gelu(conv(zero_padding(x, n, dim=2)))  # time is axis 2 of [B, C, T]
            n = torch.div(n + s - 1, s, rounding_mode="floor")  # ceil(L / s)
        feats = zero_padding(self.out(x.transpose(1, 2)), n)
        return EncoderOutput(features=feats, lengths=n, frame_rate=self.frame_rate)

    def fingerprint(self) -> str:
        """sha256 of the class, the config and every weight: it changes whenever the outputs could
        (the feature cache of a frozen encoder is keyed by it)."""
        h = hashlib.sha256(f"{type(self).__qualname__}|{self.cfg!r}".encode())
        for key, value in self.state_dict().items():
            h.update(key.encode())
            h.update(value.detach().to("cpu", torch.float32).contiguous().numpy().tobytes())
        return h.hexdigest()


def build_$name(cfg: $config, ctx: BuildContext) -> $cls:
    """$doc"""
    module = $cls(cfg)
    if cfg.checkpoint:
        from safetensors.torch import load_file

        path = ctx.resolve_path(cfg.checkpoint)
        if not path.is_file():
            raise ConfigError(f"$name.checkpoint: '{path}' does not exist")
        module.load_state_dict(load_file(str(path)))
    return module  # the toolkit applies the slot's mode (frozen / lora / trainable)


def ${name}_example(tmp_dir: Path) -> dict[str, Any]:
    """A tiny random instance (no files needed)."""
    return {"n_mels": 16, "dim": 16}
''')

# --------------------------------------------------------------------------------------------------
# projector
# --------------------------------------------------------------------------------------------------
_PROJECTOR_CONFIGS = Template('''\
"""Config dataclasses of '$name' only: no torch, so listing and validating recipes stay instant."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class $config:
    """Recipe fields of the '$name' projector.

    Attributes:
        stride: frames averaged into one token (1 keeps the rate); the token rate is divided by it.
        hidden_dim: width of the MLP's hidden layer.
        output_dim: None takes the chain's demand (the LLM width when last), else the input width.
    """

    stride: int = 2
    hidden_dim: int = 256
    output_dim: int | None = None
''')

_PROJECTOR_MODULE = Template('''\
"""The '$name' projector: masked mean over ``stride`` frames, then a two-layer MLP.

The contract (usam_toolkit.interfaces.Projector, checked by usam_toolkit.testing.check_projector):
``forward(features [B, T, D_in], lengths [B] long, frame_rate float, context ProjectorContext)`` returns
``ProjectorOutput(features [B, T', output_dim], lengths [B] with max(lengths) == T', frame_rate)``; padding
never changes valid tokens. A projector that changes the token rate also defines
``output_frame_rate(frame_rate)`` so the next link is built knowing its input rate. ``context`` holds the
pooled prompt embedding ``[B, D_prompt]`` and the task ids ``[B]`` for task-aware projectors.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn
from usam_toolkit.errors import ConfigError
from usam_toolkit.interfaces import BuildContext, ProjectorContext, ProjectorOutput
from usam_toolkit.masks import lengths_to_mask, zero_padding

from .configs import $config


class $cls(nn.Module):
    """``[B, T, D_in]`` -> ``[B, ceil(T / stride), output_dim]``; padding tokens are zero."""

    def __init__(self, input_dim: int, output_dim: int, cfg: $config) -> None:
        super().__init__()
        if cfg.stride < 1:
            raise ConfigError(f"$name.stride: {cfg.stride} must be >= 1")
        self.stride = int(cfg.stride)
        self.input_dim, self.output_dim = int(input_dim), int(output_dim)
        self.net = nn.Sequential(
            nn.Linear(input_dim, cfg.hidden_dim), nn.GELU(), nn.Linear(cfg.hidden_dim, output_dim)
        )

    def output_frame_rate(self, frame_rate: float) -> float:
        return float(frame_rate) / self.stride

    def forward(
        self, features: torch.Tensor, lengths: torch.Tensor, frame_rate: float, context: ProjectorContext
    ) -> ProjectorOutput:
        b, t, d = features.shape
        k = self.stride
        pad = math.ceil(t / k) * k - t
        x = F.pad(zero_padding(features, lengths), (0, 0, 0, pad)).view(b, -1, k, d).sum(2)
        keep = lengths_to_mask(lengths, t + pad).to(features.dtype)  # [B, T + pad]
        counts = keep.view(b, -1, k).sum(2, keepdim=True).clamp_min(1.0)  # valid frames per window
        n = torch.div(lengths + k - 1, k, rounding_mode="floor")
        out = zero_padding(self.net(x / counts), n)
        return ProjectorOutput(out, n, self.output_frame_rate(frame_rate))


def build_$name(cfg: $config, ctx: BuildContext) -> $cls:
    """$doc"""
    if ctx.input_dim is None:
        raise ConfigError("$name: the build context gives no input width (a projector follows fusion)")
    if ctx.output_dim is not None and cfg.output_dim is not None and cfg.output_dim != ctx.output_dim:
        raise ConfigError(f"$name.output_dim: {cfg.output_dim}; the chain needs {ctx.output_dim}")
    output_dim = ctx.output_dim or cfg.output_dim or ctx.input_dim
    return $cls(int(ctx.input_dim), int(output_dim), cfg)


def ${name}_example(tmp_dir: Path) -> dict[str, Any]:
    """A tiny instance (the input and output widths come from the build context)."""
    return {"hidden_dim": 16}
''')

# --------------------------------------------------------------------------------------------------
# loss
# --------------------------------------------------------------------------------------------------
_LOSS_CONFIGS = Template('''\
"""Config dataclasses of '$name' only: no torch, so listing and validating recipes stay instant."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class $config:
    """Recipe fields of the '$name' loss (its weight is the slot's ``weight``, applied by the toolkit).

    Attributes:
        detach_text: pull the audio towards the text embeddings without moving the text side.
    """

    detach_text: bool = True
''')

_LOSS_MODULE = Template('''\
"""The '$name' loss: 1 - cosine similarity of each sample's mean audio token and mean target-text embedding.

The contract (usam_toolkit.interfaces.Loss, checked by usam_toolkit.testing.check_loss):
``forward(inputs: LossInputs)`` returns ``LossOutput(loss, logs)``: an unweighted finite scalar (the toolkit
multiplies it by the slot's ``weight`` and sums) and plain floats to log. ``inputs.llm`` holds ``logits``
``[B, L, V]``, ``labels`` ``[B, L]`` (-100 outside the target), ``audio_embeds`` ``[B, T_a, D]`` with
``audio_lengths`` ``[B]``, ``text_embeds`` ``[B, T_t, D]`` with ``text_lengths`` ``[B]``;
``inputs.aux_losses`` the projectors' named scalars; ``inputs.task_ids`` ``[B]``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch.nn.functional as F
from torch import nn
from usam_toolkit.interfaces import BuildContext, LossInputs, LossOutput
from usam_toolkit.masks import masked_mean

from .configs import $config


class $cls(nn.Module):
    """Mean-pooled audio/text cosine alignment; logs ``cosine``."""

    def __init__(self, cfg: $config) -> None:
        super().__init__()
        self.detach_text = bool(cfg.detach_text)

    def forward(self, inputs: LossInputs) -> LossOutput:
        llm = inputs.llm
        audio = masked_mean(llm.audio_embeds.float(), llm.audio_lengths)
        text = masked_mean(llm.text_embeds.float(), llm.text_lengths)
        if self.detach_text:
            text = text.detach()
        cosine = F.cosine_similarity(audio, text, dim=-1)  # [B]
        return LossOutput((1.0 - cosine).mean(), {"cosine": float(cosine.mean().detach())})


def build_$name(cfg: $config, ctx: BuildContext) -> $cls:
    """$doc"""
    return $cls(cfg)


def ${name}_example(tmp_dir: Path) -> dict[str, Any]:
    """The defaults build a tiny instance."""
    return {}
''')

TEMPLATES: dict[str, KindTemplate] = {
    "encoder": KindTemplate(
        "encoders",
        "encoder",
        "Encoder",
        _ENCODER_CONFIGS,
        _ENCODER_MODULE,
        "A small learnable log-mel + strided-conv encoder (the usam new-plugin skeleton).",
        requires=("torch", "numpy"),
        deps=("torch", "numpy", "safetensors"),
    ),
    "projector": KindTemplate(
        "projectors",
        "projector",
        "Projector",
        _PROJECTOR_CONFIGS,
        _PROJECTOR_MODULE,
        "Masked mean over stride frames, then an MLP (the usam new-plugin skeleton).",
    ),
    "loss": KindTemplate(
        "losses",
        "loss",
        "Loss",
        _LOSS_CONFIGS,
        _LOSS_MODULE,
        "1 - cosine of mean audio and mean text embeddings (the usam new-plugin skeleton).",
    ),
}


def add_parser(sub: Any) -> None:
    p = sub.add_parser(
        "new-plugin",
        help="write a plugin package skeleton (pyproject entry point, config, module, conformance test)",
        description="Write a third-party plugin package that installs with `pip install -e .` and passes "
        "its own conformance test as generated.",
    )
    kinds = sorted(TEMPLATES) + sorted(t.kind for t in TEMPLATES.values())
    p.add_argument(
        "kind", choices=kinds, metavar="KIND", help=f"one of: {', '.join(TEMPLATES)} (plural accepted)"
    )
    p.add_argument(
        "name",
        metavar="NAME",
        help="the component's name in recipes: a lower_snake Python identifier, e.g. my_enc",
    )
    p.add_argument(
        "--dir", help="the package folder to create (default: ./NAME); must not exist, or be empty"
    )
    p.set_defaults(run=run)


def _singular(kind: str) -> str:
    for key, tpl in TEMPLATES.items():
        if kind in (key, tpl.kind):
            return key
    raise UsamError(f"new-plugin: unknown kind '{kind}'; valid kinds: {', '.join(TEMPLATES)}")


def check_name(name: str) -> None:
    """A component name is a lower_snake Python identifier: it names the module and the registry entry."""
    if not (name.isidentifier() and _NAME_RE.match(name)) or keyword.iskeyword(name):
        raise UsamError(
            f"new-plugin: '{name}' is not a valid name; use a lower_snake Python identifier that is not "
            "a keyword ([a-z][a-z0-9_]*, e.g. my_enc)"
        )


def package_name(name: str) -> str:
    """The import package: ``usam_<name>`` (so it cannot shadow another project's top-level module)."""
    return name if name.startswith("usam_") else f"usam_{name}"


def _tuple_literal(items: tuple[str, ...]) -> str:
    inner = ", ".join(f'"{x}"' for x in items)
    return f"({inner},)" if len(items) == 1 else f"({inner})"


def render(kind: str, name: str) -> dict[str, str]:
    """The package's files, relative path -> text."""
    from ..plugins import ENTRY_POINT_GROUP

    singular = _singular(kind)
    check_name(name)
    tpl = TEMPLATES[singular]
    camel = "".join(part.capitalize() for part in name.split("_") if part)
    pkg = package_name(name)
    values = {
        "name": name,
        "noun": tpl.noun,
        "kind": tpl.kind,
        "pkg": pkg,
        "dist": pkg.replace("_", "-"),
        "group": ENTRY_POINT_GROUP,
        "config": f"{camel}Config",
        "cls": f"{camel}{tpl.class_suffix}",
        "doc": tpl.doc,
        "requires": _tuple_literal(tpl.requires),
        "deps": ", ".join(f'"{d}"' for d in tpl.deps),
    }
    values["usage"] = _USAGE[tpl.kind].substitute(values)
    return {
        "pyproject.toml": _PYPROJECT.substitute(values),
        "README.md": _README.substitute(values),
        f"{pkg}/__init__.py": _INIT.substitute(values),
        f"{pkg}/configs.py": tpl.configs.substitute(values),
        f"{pkg}/{name}.py": tpl.module.substitute(values),
        "tests/test_conformance.py": _TEST.substitute(values),
    }


def write_package(kind: str, name: str, folder: str | Path | None = None) -> Path:
    """Write the package of ``name`` into ``folder`` (default ``./<name>``); refuse a non-empty folder.

    Returns:
        The package folder.

    Raises:
        UsamError: bad kind or name, or ``folder`` exists and is not an empty folder.
    """
    files = render(kind, name)
    root = Path(folder if folder is not None else name).expanduser().resolve()
    if root.exists() and (not root.is_dir() or any(root.iterdir())):
        raise UsamError(
            f"new-plugin: '{root}' already exists and is not empty; nothing written "
            "(choose another --dir, or remove it)"
        )
    for rel, text in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    return root


def run(args: argparse.Namespace) -> int:
    root = write_package(args.kind, args.name, args.dir)
    tpl = TEMPLATES[_singular(args.kind)]
    print(f"wrote the {tpl.noun} plugin '{args.name}' into {root}:")
    for rel in render(args.kind, args.name):
        print(f"  {rel}")
    print("next steps:")
    print(f"  cd {root}")
    print("  pip install -e .                  # registers the entry point")
    print("  python -m pytest -q               # the toolkit's conformance checks, as generated")
    print(f"  usam list-plugins --kind {tpl.kind}")
    print(
        f"then edit {package_name(args.name)}/{args.name}.py; CONTRIBUTING.md says what {tpl.kind} "
        "receive and return"
    )
    return 0
