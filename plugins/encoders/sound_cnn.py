"""The pretrained sound-effects CNN of the ``aisfx`` package (Ma & Lerch, ISMIR 2022), implemented natively.

The package is never imported: its ``models/checkpoint.pth`` (a pickled ``(state_dict, datasets)``
pair, read with ``weights_only=True``) is loaded into the network below, which has the same parameter
names (``embedding_net.conv_block{1..4}.{conv1,conv2,bn1,bn2}``; the per-dataset classifier heads
``fc.*`` are not used).

Network (the package's ``EmbeddingNet``, a DCASE "CNN9"): four blocks of two 3x3 conv + batch-norm +
ReLU, 2x2 max pooling after blocks 1-3; channels 64-128-256-512. The package then averages over
frequency and takes the max over time to get one 512-d embedding per ~2.3 s block.

Frontend (the package's): 44.1 kHz, Hann window 2048, hop 1024, 96 HTK mel bands from 0 to 22050 Hz
with unit-sum filters over the power spectrum, ``log10(1e4 * x + 1)``, divided by 9.4578 (the paper's
global maximum). The audio is first peak-normalised per clip (as the package's librosa path does; its
Essentia path uses a ReplayGain loader instead).

What this encoder returns: the FRAME-LEVEL sequence before the global max, i.e. block 4's output
averaged over frequency, one 512-d vector per 8 spectrogram frames: 44100 / 1024 / 8 = 5.38 frames/s.
``window_frames > 1`` max-pools that many frames per output (the package's own pooling, over a
shorter span), dividing the frame rate accordingly.

Padding: each clip's spectrogram is computed alone; after every conv layer the frames past the clip's
length are zeroed, which is exactly the zero padding the convolution sees at the end of a lone clip, and
batch norm always uses its running statistics. Lengths: ``frames = 1 + N // 1024`` (at least 8), then
``frames // 8``, then ``ceil(/ window_frames)``.
"""

from __future__ import annotations

import importlib.util
import math
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from usam_toolkit.errors import ConfigError
from usam_toolkit.interfaces import BuildContext, EncoderOutput
from usam_toolkit.masks import lengths_to_mask, zero_padding

from .common import fingerprint
from .configs import SoundCnnConfig

SAMPLE_RATE = 44100
N_FFT, HOP, N_MELS = 2048, 1024, 96
SPEC_MAX = 9.457798957824707  # the package's 'original' min-max normalisation (min 0)
TIME_POOL = 8  # three 2x2 max-pools


class ConvBlock(nn.Module):
    """Two 3x3 conv + BN + ReLU, masked past each clip's length, then optional 2x2 max pooling."""

    def __init__(self, c_in: int, c_out: int, pool: bool) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(c_in, c_out, 3, padding=1, bias=False)
        self.conv2 = nn.Conv2d(c_out, c_out, 3, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(c_out)
        self.bn2 = nn.BatchNorm2d(c_out)
        self.pool = pool

    @staticmethod
    def _bn(x: torch.Tensor, bn: nn.BatchNorm2d) -> torch.Tensor:
        return F.batch_norm(
            x, bn.running_mean, bn.running_var, bn.weight, bn.bias, training=False, eps=bn.eps
        )

    def forward(self, x: torch.Tensor, keep: torch.Tensor) -> torch.Tensor:
        """``x`` ``[B, C, T, F]``, ``keep`` ``[B, 1, T, 1]`` (1 on valid frames)."""
        # the input is masked too: a pooled frame just past the end may hold a valid frame's maximum
        x = F.relu(self._bn(self.conv1(x * keep), self.bn1)) * keep
        x = F.relu(self._bn(self.conv2(x), self.bn2)) * keep
        return F.max_pool2d(x, 2) if self.pool else x


class EmbeddingNet(nn.Module):
    def __init__(self, width: int = 64) -> None:
        super().__init__()
        widths = [1, width, width * 2, width * 4, width * 8]
        for i in range(4):
            self.add_module(f"conv_block{i + 1}", ConvBlock(widths[i], widths[i + 1], pool=i < 3))
        self.output_dim = widths[-1]

    def forward(self, spec: torch.Tensor, frames: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``spec`` ``[B, T, F]``, ``frames`` ``[B]`` -> ``([B, T/8, D], lengths [B])``."""
        x, n = spec[:, None], frames
        for i in range(4):
            keep = lengths_to_mask(n, x.shape[2]).to(x.dtype)
            block = getattr(self, f"conv_block{i + 1}")
            x = block(x, keep[:, None, :, None])
            if block.pool:
                n = torch.div(n, 2, rounding_mode="floor")
        return x.mean(dim=3).transpose(1, 2), n


class SoundCnnBackbone(nn.Module):
    """Frontend + ``embedding_net`` (the checkpoint's names)."""

    def __init__(self, width: int = 64) -> None:
        super().__init__()
        import torchaudio.functional as AF

        self.embedding_net = EmbeddingNet(width)
        fb = AF.melscale_fbanks(N_FFT // 2 + 1, 0.0, SAMPLE_RATE / 2, N_MELS, SAMPLE_RATE, None, "htk")
        fb = fb / fb.sum(dim=0, keepdim=True).clamp_min(1e-12)  # unit-sum triangles (Essentia's 'unit_sum')
        self.register_buffer("mel_fb", fb, persistent=False)  # [freqs, mels]
        self.register_buffer("window", torch.hann_window(N_FFT), persistent=False)

    def log_mel(self, audio: torch.Tensor, peak_normalize: bool) -> torch.Tensor:
        """One clip ``[N]`` -> ``[1 + N // hop, 96]``, zero-padded centred frames."""
        audio = audio.float()
        if peak_normalize:
            audio = audio / audio.abs().max().clamp_min(1e-8)
        spec = torch.stft(
            audio, N_FFT, HOP, window=self.window, center=True, pad_mode="constant", return_complex=True
        )
        mel = spec.abs().pow(2).t() @ self.mel_fb
        return torch.log10(1e4 * mel + 1.0) / SPEC_MAX

    def forward(
        self, audio: torch.Tensor, lengths: torch.Tensor, peak_normalize: bool
    ) -> tuple[torch.Tensor, torch.Tensor]:
        specs = [self.log_mel(audio[b, : int(lengths[b])], peak_normalize) for b in range(audio.shape[0])]
        # a clip shorter than one output frame is padded with silence (a log-mel of exactly 0)
        frames = torch.tensor([max(s.shape[0], TIME_POOL) for s in specs], device=audio.device)
        t = int(frames.max())
        batch = torch.stack([F.pad(s, (0, 0, 0, t - s.shape[0])) for s in specs])
        return self.embedding_net(batch, frames)


def default_checkpoint() -> Path | None:
    """The ``checkpoint.pth`` shipped by the installed ``aisfx`` package (found, never imported)."""
    spec = importlib.util.find_spec("aisfx")
    if spec is None or not spec.submodule_search_locations:
        return None
    path = Path(next(iter(spec.submodule_search_locations))) / "models" / "checkpoint.pth"
    return path if path.is_file() else None


def read_checkpoint(path: Path) -> dict[str, torch.Tensor]:
    """The state dict of an aisfx ``checkpoint.pth`` (``(state_dict, datasets)``; numpy ints allowed)."""
    import numpy as np

    allowed: list[Any] = [np.dtype]
    core = getattr(np, "_core", None) or np.core  # numpy 2 renamed numpy.core; pickles keep the old name
    scalar = core.multiarray.scalar
    allowed += [(scalar, "numpy.core.multiarray.scalar"), (scalar, "numpy._core.multiarray.scalar")]
    allowed += [
        getattr(np.dtypes, n) for n in ("Int64DType", "Int32DType", "Float64DType") if hasattr(np, "dtypes")
    ]
    with torch.serialization.safe_globals(allowed):
        obj = torch.load(str(path), map_location="cpu", weights_only=True)
    state = obj[0] if isinstance(obj, (tuple, list)) else obj
    if not isinstance(state, dict) or "embedding_net.conv_block1.conv1.weight" not in state:
        raise ConfigError(f"{path}: not an aisfx checkpoint (no 'embedding_net.conv_block1.conv1.weight')")
    return state


def load_sound_cnn(path: Path) -> SoundCnnBackbone:
    state = {k: v for k, v in read_checkpoint(path).items() if k.startswith("embedding_net.")}
    width = int(state["embedding_net.conv_block1.conv1.weight"].shape[0])
    model = SoundCnnBackbone(width)
    expected = model.state_dict()
    for k in expected:
        if k.endswith("num_batches_tracked"):  # a counter only; some exports drop it
            state.setdefault(k, expected[k])
    missing, unexpected = sorted(set(expected) - set(state)), sorted(set(state) - set(expected))
    if missing or unexpected:
        raise ConfigError(f"sound_cnn.checkpoint: {path}: missing {missing[:6]}, unexpected {unexpected[:6]}")
    model.load_state_dict(state)
    return model


class SoundCnnEncoder(nn.Module):
    """aisfx sound-effects CNN as a U-SAM encoder: 44.1 kHz audio -> ``[B, T, 512]`` at 5.38 frames/s."""

    def __init__(self, backbone: SoundCnnBackbone, cfg: SoundCnnConfig) -> None:
        super().__init__()
        if cfg.window_frames < 1:
            raise ConfigError(f"sound_cnn.window_frames: {cfg.window_frames} must be >= 1")
        self.backbone = backbone
        self.cfg = cfg
        self.sample_rate = SAMPLE_RATE
        self.frame_rate = SAMPLE_RATE / HOP / TIME_POOL / cfg.window_frames
        self.output_dim = backbone.embedding_net.output_dim

    def forward(self, audio: torch.Tensor, audio_lengths: torch.Tensor) -> EncoderOutput:
        """Encode ``audio`` ``[B, N]`` (float, mono, 44.1 kHz) with ``audio_lengths`` ``[B]``."""
        feats, n = self.backbone(audio, audio_lengths.long(), self.cfg.peak_normalize)
        k = self.cfg.window_frames
        if k > 1:
            valid = lengths_to_mask(n, feats.shape[1])
            # masked max over windows of k frames; a partial last window keeps its valid frames
            t = math.ceil(feats.shape[1] / k) * k
            filled = feats.masked_fill(~valid[..., None], float("-inf"))
            filled = F.pad(filled, (0, 0, 0, t - feats.shape[1]), value=float("-inf"))
            feats = filled.view(feats.shape[0], t // k, k, -1).amax(dim=2)
            n = torch.div(n + k - 1, k, rounding_mode="floor")
        feats = zero_padding(feats, n)
        return EncoderOutput(features=feats, lengths=n.long(), frame_rate=self.frame_rate)

    def fingerprint(self) -> str:
        return fingerprint(self, self.cfg)


def build_sound_cnn(cfg: SoundCnnConfig, ctx: BuildContext) -> SoundCnnEncoder:
    """Pretrained sound-effects CNN (aisfx, 512-d) as a frame-level encoder."""
    if cfg.checkpoint:
        path = ctx.resolve_path(cfg.checkpoint)
    else:
        found = default_checkpoint()
        if found is None:
            raise ConfigError(
                "sound_cnn.checkpoint: not set and the 'aisfx' package is not installed; "
                "`pip install --no-deps aisfx` or give the path of its models/checkpoint.pth"
            )
        path = found
    if not path.is_file():
        raise ConfigError(f"sound_cnn.checkpoint: '{path}' does not exist (aisfx models/checkpoint.pth)")
    return SoundCnnEncoder(load_sound_cnn(path), cfg)


def write_tiny_sound_cnn_checkpoint(path: Path, width: int = 2, seed: int = 0) -> dict[str, torch.Tensor]:
    """Write a random network in the aisfx format: ``torch.save((state_dict, datasets))``, heads included."""
    import numpy as np

    g = torch.Generator().manual_seed(seed)
    widths = [1, width, width * 2, width * 4, width * 8]
    state: dict[str, torch.Tensor] = {}
    for i in range(4):
        p = f"embedding_net.conv_block{i + 1}."
        c_in, c = widths[i], widths[i + 1]
        state[p + "conv1.weight"] = torch.randn(c, c_in, 3, 3, generator=g) * (2.0 / (9 * c_in)) ** 0.5
        state[p + "conv2.weight"] = torch.randn(c, c, 3, 3, generator=g) * (2.0 / (9 * c)) ** 0.5
        for bn in ("bn1", "bn2"):
            state[p + f"{bn}.weight"] = 1.0 + 0.1 * torch.randn(c, generator=g)
            state[p + f"{bn}.bias"] = 0.1 * torch.randn(c, generator=g)
            state[p + f"{bn}.running_mean"] = 0.1 * torch.randn(c, generator=g)
            state[p + f"{bn}.running_var"] = 1.0 + 0.1 * torch.rand(c, generator=g)
            state[p + f"{bn}.num_batches_tracked"] = torch.tensor(100, dtype=torch.long)
    d = widths[-1]
    datasets = {"tiny_a": (np.int64(0), 5), "tiny_b": (np.int64(1), 3)}
    for idx, (_, (_, n_cls)) in enumerate(datasets.items()):
        for j, (o, i) in zip((0, 2, 4), ((d // 2, d), (d // 4, d // 2), (n_cls, d // 4))):
            state[f"fc.{idx}.{j}.weight"] = torch.randn(o, i, generator=g) * 0.1
            state[f"fc.{idx}.{j}.bias"] = torch.zeros(o)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save((state, datasets), str(path))
    return state


def sound_cnn_example(tmp_dir: Path) -> dict[str, Any]:
    """Config overrides for a tiny random aisfx-format CNN written under ``tmp_dir``."""
    path = Path(tmp_dir) / "sound_cnn_tiny" / "checkpoint.pth"
    write_tiny_sound_cnn_checkpoint(path)
    return {"checkpoint": str(path)}
