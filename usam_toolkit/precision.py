"""Numeric precision of training and inference: what ``auto`` picks (and why), and the autocast context.

``fp32`` runs everything in float32. ``bf16`` / ``fp16`` run the forward pass under
``torch.autocast``: matmuls, convolutions and attention in the low-precision dtype, while parameters
(the master weights), gradients and optimizer state stay float32. The model's losses and its frozen
encoders are kept out of autocast (:func:`fp32_modules`): losses are computed and reduced in float32,
and frozen encoders' features stay what the feature cache and the checks measured (the cache can opt
in to bf16 per recipe: ``data.feature_cache_precision``).

``auto`` is bf16 on a CUDA device that supports it (fp16 otherwise) and, on CPU, bf16 only where the
CPU computes bf16 natively (x86 ``avx512_bf16`` or ``amx_bf16``, Arm ``bf16``); elsewhere bf16 autocast is
emulated and slower than fp32 (measured ~3x slower on an Icelake Xeon without ``avx512_bf16``), so
``auto`` picks fp32 there. ``torch.backends.cpu.get_cpu_capability()`` only says ``AVX512`` for both kinds
of CPU, so the CPU's own flags decide.
"""

from __future__ import annotations

import dataclasses
import os
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from .errors import ConfigError

PRECISIONS = ("auto", "fp32", "bf16", "fp16")
#: Environment variable that fixes what ``auto`` resolves to (``fp32``, ``bf16`` or ``fp16``) on any machine.
AUTO_ENV = "USAM_AUTO_PRECISION"
#: x86 CPU flags (``/proc/cpuinfo``) of native bf16 arithmetic.
CPU_BF16_FLAGS = ("avx512_bf16", "amx_bf16")
_DTYPES = {"fp32": None, "bf16": torch.bfloat16, "fp16": torch.float16}


def _cpu_flags(cpuinfo: str | Path = "/proc/cpuinfo") -> set[str] | None:
    """The CPU feature flags (x86 ``flags``, Arm ``Features``) of the first core, or None if unreadable."""
    try:
        text = Path(cpuinfo).read_text(encoding="utf-8", errors="replace")
    except OSError:
        return None
    for line in text.splitlines():
        key, _, value = line.partition(":")
        if key.strip().lower() in ("flags", "features"):
            return set(value.split())
    return None


def _darwin_bf16() -> bool | None:
    """Apple silicon: ``sysctl hw.optional.arm.FEAT_BF16`` (M2 and later), None when unknown."""
    import subprocess

    try:
        out = subprocess.run(
            ["sysctl", "-n", "hw.optional.arm.FEAT_BF16"],
            capture_output=True,
            text=True,
            timeout=5,
            check=False,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return None
    return out == "1" if out in ("0", "1") else None


def cpu_bf16_support() -> tuple[bool, str]:
    """Whether this CPU computes bf16 natively, and the evidence in words (the probe ``auto`` asks).

    Returns:
        ``(native, reason)``; ``reason`` completes "this CPU ...", e.g. ``has avx512_bf16, amx_bf16``.
    """
    cap = torch.backends.cpu.get_cpu_capability()
    flags = _cpu_flags()
    if flags is not None:
        found = [f for f in CPU_BF16_FLAGS if f in flags]
        if found:
            return True, f"has {', '.join(found)}"
        if "bf16" in flags:  # Arm (Linux): FEAT_BF16
            return True, "has bf16 (Arm FEAT_BF16)"
        return False, (
            f"has no {'/'.join(CPU_BF16_FLAGS)} (torch CPU capability {cap}); "
            "bf16 autocast would be emulated and slower than fp32"
        )
    if sys.platform == "darwin":
        native = _darwin_bf16()
        if native is not None:
            return (
                native,
                "has FEAT_BF16" if native else "has no FEAT_BF16; bf16 autocast would be slower than fp32",
            )
    return (
        False,
        f"does not say whether it has native bf16 (torch CPU capability {cap}); fp32 is the safe choice",
    )


@dataclass
class Precision:
    """A resolved precision.

    Attributes:
        name: ``fp32``, ``bf16`` or ``fp16``.
        dtype: the autocast dtype (None = fp32, no autocast).
        device_type: ``cpu``, ``cuda`` ...
        reason: why this one (shown in the log line).
    """

    name: str
    dtype: torch.dtype | None
    device_type: str
    reason: str = ""

    @property
    def use_scaler(self) -> bool:
        return self.dtype is torch.float16

    def describe(self) -> str:
        """One line for the log: ``precision: fp32 (auto: this CPU has no avx512_bf16/amx_bf16; ...)``."""
        return f"precision: {self.name}" + (f" ({self.reason})" if self.reason else "")

    def autocast(self, model: nn.Module | None = None) -> Autocast:
        """A reusable context: autocast in :attr:`dtype` (nothing for fp32); with ``model``, its frozen
        encoders and its losses run in float32 inside it (see :func:`fp32_modules`)."""
        return Autocast(self, model)


class Autocast:
    """``torch.autocast`` plus float32 islands: the modules :func:`fp32_modules` names in ``model`` (found
    anew at each entry, so swapped encoders are followed) run with autocast disabled.

    Re-enterable one use after another (like ``torch.autocast``), so one instance serves every
    micro-step. The islands are forward hooks that exist only while the context is open.
    """

    def __init__(self, precision: Precision, model: nn.Module | None = None) -> None:
        self.precision = precision
        self.model = model
        self._stack: list[tuple[Any, list[Any]]] = []

    def __enter__(self) -> Autocast:  # noqa: PYI034 (Self needs Python 3.11)
        p = self.precision
        if p.dtype is None:
            self._stack.append((None, []))
            return self
        ctx = torch.autocast(device_type=p.device_type, dtype=p.dtype)
        islands = fp32_modules(self.model) if self.model is not None else []
        handles = [h for m in islands for h in _fp32_island(m, p.device_type)]
        try:
            ctx.__enter__()
        except BaseException:
            for h in handles:
                h.remove()
            raise
        self._stack.append((ctx, handles))
        return self

    def __exit__(self, *exc: object) -> None:
        ctx, handles = self._stack.pop()
        for h in handles:
            h.remove()
        if ctx is not None:
            ctx.__exit__(*exc)  # type: ignore[arg-type]


def _to_fp32(x: Any) -> Any:
    """``x`` with every bf16/fp16 tensor in it cast to float32 (through dataclasses, dicts, lists, tuples)."""
    if isinstance(x, torch.Tensor):
        return x.float() if x.dtype in (torch.bfloat16, torch.float16) else x
    if dataclasses.is_dataclass(x) and not isinstance(x, type):
        changes = {f.name: _to_fp32(getattr(x, f.name)) for f in dataclasses.fields(x) if f.init}
        return dataclasses.replace(x, **changes)
    if isinstance(x, dict):
        return {k: _to_fp32(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return (
            type(x)(_to_fp32(v) for v in x)
            if not hasattr(x, "_fields")
            else type(x)(*(_to_fp32(v) for v in x))
        )
    return x


def _fp32_island(module: nn.Module, device_type: str) -> list[Any]:
    """Hooks that run ``module``'s forward with autocast disabled (also when it raises) and its
    low-precision tensor inputs cast to float32."""
    open_ctx: list[Any] = []

    def pre(_m: nn.Module, args: Any, kwargs: Any) -> Any:
        ctx = torch.autocast(device_type=device_type, enabled=False)
        ctx.__enter__()
        open_ctx.append(ctx)
        return _to_fp32(args), _to_fp32(kwargs)

    def post(_m: nn.Module, _args: Any, _out: Any) -> None:
        if open_ctx:
            open_ctx.pop().__exit__(None, None, None)

    return [
        module.register_forward_pre_hook(pre, with_kwargs=True),
        module.register_forward_hook(post, always_call=True),
    ]


def fp32_modules(model: nn.Module) -> list[nn.Module]:
    """The modules kept in float32 under autocast: the model's frozen encoders (no trainable parameter)
    and its losses (``model.encoders`` / ``model.losses`` of an AudioLLM; none for other modules).

    Frozen encoders: their features are what the feature cache stores and what the model trained on, and
    inference (which has no cache) must see the same ones. For one wrapped in a
    :class:`~usam_toolkit.data.cache.CachedEncoder` the island is the encoder inside (so a direct call of
    it is covered too), and none when the cache's precision is bf16: the recipe asked for bf16 features
    there (``data.feature_cache_precision``). The price: a large frozen encoder without a bf16 cache runs
    in fp32 on a GPU too. Losses: computed and
    reduced in float32 from float32 copies of their inputs. Trainable (LoRA) encoders, fusion,
    projectors and the LLM run under autocast.
    """
    from .data.cache import CachedEncoder

    model = getattr(model, "module", model)  # DDP
    out: list[nn.Module] = []
    for enc in getattr(model, "encoders", None) or []:
        if not isinstance(enc, nn.Module) or any(p.requires_grad for p in enc.parameters()):
            continue
        if isinstance(enc, CachedEncoder):
            if enc.precision == "fp32":
                out.append(enc.encoder)
        else:
            out.append(enc)
    out += [m for m in getattr(model, "losses", None) or [] if isinstance(m, nn.Module)]
    return out


def resolve_precision(name: str, device: torch.device | str, what: str = "train.precision") -> Precision:
    """``auto``: bf16 on a CUDA device with bf16 (else fp16), bf16 on a CPU with native bf16, else fp32.

    Args:
        name: ``auto``, ``fp32``, ``bf16`` or ``fp16``.
        device: where the model runs.
        what: the option's name for messages (``train.precision``, ``--precision``).

    Raises:
        ConfigError: an unknown name, or fp16 off CUDA.
    """
    device = torch.device(device)
    if name not in PRECISIONS:
        raise ConfigError(f"{what}: '{name}' is not one of {', '.join(PRECISIONS)}")
    reason = f"{what}: {name}"
    pinned = os.environ.get(AUTO_ENV, "")
    if name == "auto" and pinned:
        # Same numbers on every machine (the test suite, a comparison across CPU types): auto is what it says.
        if pinned not in PRECISIONS[1:]:
            raise ConfigError(f"{AUTO_ENV}={pinned!r} is not one of {', '.join(PRECISIONS[1:])}")
        name, reason = pinned, f"auto: {AUTO_ENV}={pinned}"
    if device.type == "cuda":
        if name == "auto":
            gpu = torch.cuda.get_device_name(device)
            if torch.cuda.is_bf16_supported():
                name, reason = "bf16", f"auto: {gpu} supports bf16"
            else:
                name, reason = "fp16", f"auto: {gpu} has no bf16; fp16 with a gradient scaler"
    elif device.type == "cpu":
        if name == "fp16":
            raise ConfigError(f"{what}: fp16 needs a CUDA device; use fp32 or bf16 on CPU")
        if name in ("auto", "bf16"):
            native, evidence = cpu_bf16_support()
            if name == "auto":
                name = "bf16" if native else "fp32"
                reason = f"auto: this CPU {evidence}"
            elif not native:
                reason += f"; this CPU {evidence}"
    else:  # mps and others: autocast support varies; auto stays in fp32
        if name == "fp16":
            raise ConfigError(f"{what}: fp16 needs a CUDA device; use fp32 or bf16 on {device.type}")
        if name == "auto":
            name, reason = "fp32", f"auto: fp32 on {device.type}"
    return Precision(name, _DTYPES[name], device.type, reason)
