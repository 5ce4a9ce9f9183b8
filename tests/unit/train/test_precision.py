"""Precision: what ``auto`` picks (probe monkeypatched both ways), the log line, fp32 islands under bf16
autocast, fp32 weights and optimizer state, and an exact resume of a bf16 run."""

from __future__ import annotations

import json

import pytest
import torch
from safetensors.torch import load_file
from torch import nn
from train_fakes import run_tiny_trainer

import usam_toolkit.precision as prec
from usam_toolkit.errors import ConfigError
from usam_toolkit.interfaces import EncoderOutput
from usam_toolkit.precision import Precision, resolve_precision
from usam_toolkit.train.checkpoint import find_latest

CPU = torch.device("cpu")


def _probe(monkeypatch, native: bool) -> None:
    evidence = (
        "has avx512_bf16, amx_bf16"
        if native
        else "has no avx512_bf16/amx_bf16; bf16 autocast would be emulated"
    )
    monkeypatch.setattr(prec, "cpu_bf16_support", lambda: (native, evidence))
    monkeypatch.delenv(prec.AUTO_ENV, raising=False)  # the suite pins auto to fp32 (tests/conftest.py)


def test_auto_on_a_cpu_with_native_bf16_is_bf16(monkeypatch):
    _probe(monkeypatch, True)
    p = resolve_precision("auto", CPU)
    assert (p.name, p.dtype, p.device_type) == ("bf16", torch.bfloat16, "cpu")
    assert p.describe() == "precision: bf16 (auto: this CPU has avx512_bf16, amx_bf16)"


def test_the_environment_can_fix_what_auto_means_on_any_cpu(monkeypatch):
    _probe(monkeypatch, True)
    monkeypatch.setenv(prec.AUTO_ENV, "fp32")
    p = resolve_precision("auto", CPU)
    assert p.name == "fp32" and p.describe() == "precision: fp32 (auto: USAM_AUTO_PRECISION=fp32)"
    assert resolve_precision("bf16", CPU).name == "bf16"  # an explicit choice is never overridden
    monkeypatch.setenv(prec.AUTO_ENV, "fp8")
    with pytest.raises(ConfigError, match="USAM_AUTO_PRECISION='fp8' is not one of fp32, bf16, fp16"):
        resolve_precision("auto", CPU)


def test_auto_on_a_cpu_without_native_bf16_is_fp32_and_says_why(monkeypatch):
    _probe(monkeypatch, False)
    p = resolve_precision("auto", CPU)
    assert (p.name, p.dtype) == ("fp32", None) and not p.use_scaler
    assert p.describe().startswith("precision: fp32 (auto: this CPU has no avx512_bf16/amx_bf16")


def test_explicit_bf16_still_works_on_such_a_cpu_and_warns(monkeypatch):
    _probe(monkeypatch, False)
    p = resolve_precision("bf16", CPU)
    assert p.dtype is torch.bfloat16
    assert "train.precision: bf16; this CPU has no avx512_bf16" in p.reason
    assert resolve_precision("fp32", CPU).reason == "train.precision: fp32"


def test_bad_names_and_fp16_on_cpu(monkeypatch):
    _probe(monkeypatch, True)
    with pytest.raises(ConfigError, match="--precision: fp16 needs a CUDA device"):
        resolve_precision("fp16", CPU, what="--precision")
    with pytest.raises(ConfigError, match="'fp8' is not one of auto, fp32, bf16, fp16"):
        resolve_precision("fp8", CPU)


@pytest.mark.parametrize(
    ("flags", "native"),
    [
        ("fpu sse avx512f avx512bw avx512_vnni", False),  # Icelake: AVX512 without bf16
        ("fpu sse avx512f avx512_bf16 avx512_vnni", True),  # Cooper Lake / Zen 4
        ("fpu sse avx512f amx_bf16 amx_tile", True),  # Sapphire Rapids
    ],
)
def test_the_probe_reads_the_cpu_flags(tmp_path, monkeypatch, flags, native):
    info = tmp_path / "cpuinfo"
    info.write_text(f"processor\t: 0\nmodel name\t: Some CPU\nflags\t\t: {flags}\n\n")
    real = prec._cpu_flags
    monkeypatch.setattr(prec, "_cpu_flags", lambda: real(info))
    got, reason = prec.cpu_bf16_support()
    assert got is native
    assert ("has no avx512_bf16/amx_bf16" in reason) is not native


def test_the_probe_on_this_machine_is_consistent_with_proc_cpuinfo():
    flags = prec._cpu_flags()
    native, _ = prec.cpu_bf16_support()
    if flags is not None:
        assert native == bool({"avx512_bf16", "amx_bf16", "bf16"} & flags)


# ------------------------------------------------------------------------------------------ islands
class _Enc(nn.Module):
    sample_rate, frame_rate, output_dim = 16000, 100.0, 4

    def __init__(self) -> None:
        super().__init__()
        self.lin = nn.Linear(4, 4)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.lin(x)


class _Loss(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.head = nn.Linear(4, 1)
        self.seen: list[torch.dtype] = []

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        self.seen.append(h.dtype)
        return self.head(h).mean()  # fp32 weights on an fp32 input: fine only outside autocast if cast


class _Model(nn.Module):
    """A cached frozen, a trainable and an uncached frozen encoder, a projector, a loss with parameters."""

    def __init__(self) -> None:
        super().__init__()
        from usam_toolkit.data.cache import CachedEncoder, FeatureCache

        torch.manual_seed(0)
        self.encoders = nn.ModuleList([CachedEncoder(_Enc(), FeatureCache("unused")), _Enc(), _Enc()])
        self.encoders[0].requires_grad_(False)
        self.encoders[2].requires_grad_(False)
        self.proj = nn.Linear(4, 4)
        self.losses = nn.ModuleList([_Loss()])

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        # the cached encoder's inner module, called directly (what a cache miss runs)
        frozen, trained, plain = self.encoders[0].encoder(x), self.encoders[1](x), self.encoders[2](x)
        h = self.proj(frozen + trained + plain)
        return {"frozen": frozen, "trained": trained, "plain": plain, "proj": h, "loss": self.losses[0](h)}


def test_frozen_encoders_and_losses_stay_fp32_under_bf16_autocast():
    model = _Model()
    ctx = Precision("bf16", torch.bfloat16, "cpu").autocast(model)
    for _ in range(2):  # one context, entered once per micro-step
        with ctx:
            out = model(torch.randn(3, 4))
        assert out["frozen"].dtype == torch.float32  # features the fp32 cache stores: outside autocast
        assert out["trained"].dtype == torch.bfloat16  # trainable encoder, projector: autocast
        assert out["plain"].dtype == torch.float32  # a frozen encoder without a cache: what inference sees
        assert out["proj"].dtype == torch.bfloat16
        assert out["loss"].dtype == torch.float32 and model.losses[0].seen[-1] == torch.float32  # cast in
        out["loss"].backward()
    assert all(p.dtype == torch.float32 for p in model.parameters())
    assert all(p.grad is None or p.grad.dtype == torch.float32 for p in model.parameters())
    # the hooks exist only inside the context
    assert not any(m._forward_pre_hooks or m._forward_hooks for m in model.modules())
    assert model(torch.randn(3, 4))["proj"].dtype == torch.float32


def test_an_island_that_raises_leaves_autocast_as_it_was():
    model = _Model()

    def boom(x: torch.Tensor) -> EncoderOutput:
        raise RuntimeError("boom")

    model.encoders[0].encoder.forward = boom  # type: ignore[method-assign]
    with pytest.raises(RuntimeError, match="boom"), Precision("bf16", torch.bfloat16, "cpu").autocast(model):
        model(torch.randn(2, 4))
    assert not torch.is_autocast_enabled("cpu")
    assert not any(m._forward_pre_hooks or m._forward_hooks for m in model.modules())


def test_fp32_autocast_is_a_no_op():
    model = _Model()
    with Precision("fp32", None, "cpu").autocast(model):
        out = model(torch.randn(2, 4))
        assert not torch.is_autocast_enabled("cpu")
    assert out["proj"].dtype == torch.float32


# ------------------------------------------------------------------------------------------ trainer
def _run(out_dir, cfg, stop_at=None, resume=False):
    return run_tiny_trainer(out_dir, cfg, stop_at=stop_at, resume=resume)


def _losses(out_dir):
    rows = [json.loads(line) for line in (out_dir / "train_log.jsonl").read_text().splitlines()]
    return {r["step"]: r["loss"] for r in rows if r["type"] == "train"}


def test_the_trainer_says_which_precision_and_why(tmp_path, fast_cfg, monkeypatch, capsys):
    _probe(monkeypatch, False)
    trainer, _ = _run(tmp_path, fast_cfg(max_steps=1, precision="auto"))
    err = capsys.readouterr().err
    assert "[train] precision: fp32 (auto: this CPU has no avx512_bf16/amx_bf16" in err
    assert trainer.precision.name == "fp32"


def test_bf16_keeps_fp32_weights_and_optimizer_state(tmp_path, fast_cfg):
    trainer, res = _run(tmp_path, fast_cfg(max_steps=3, precision="bf16"))
    assert res.step == 3 and trainer.precision.dtype is torch.bfloat16
    assert all(p.dtype == torch.float32 for p in trainer.raw_model.parameters())
    states = [
        v for s in trainer.optimizer.state.values() for v in s.values() if torch.is_tensor(v) and v.dim() > 0
    ]
    assert states and all(v.dtype == torch.float32 for v in states)  # exp_avg, exp_avg_sq


def test_bf16_resume_is_exact(tmp_path, fast_cfg):
    """Stopped at step 5 and resumed, a bf16 run reproduces the uninterrupted one bit for bit."""
    cfg = fast_cfg(max_steps=12, grad_accum=2, save_every=4, precision="bf16")
    _run(tmp_path / "full", cfg)
    _, first = _run(tmp_path / "split", cfg, stop_at=5)
    assert first.step == 5 and find_latest(tmp_path / "split").name == "checkpoint-5"
    _, second = _run(tmp_path / "split", cfg, resume=True)
    assert second.step == 12

    a, b = _losses(tmp_path / "full"), _losses(tmp_path / "split")
    assert sorted(a) == sorted(b) == list(range(1, 13))
    assert all(b[s] == a[s] for s in a), {s: (a[s], b[s]) for s in a if a[s] != b[s]}
    wa = load_file(str(tmp_path / "full" / "checkpoint-12" / "model.safetensors"))
    wb = load_file(str(tmp_path / "split" / "checkpoint-12" / "model.safetensors"))
    assert wa.keys() == wb.keys()
    for k in wa:
        assert torch.equal(wa[k], wb[k]), k
