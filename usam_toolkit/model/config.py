"""Recipe section ``fusion``: how several encoder streams meet on one time axis."""

from __future__ import annotations

import warnings
from dataclasses import dataclass

#: ``fusion.mode`` values: ``average``, and two older names kept for old recipes and checkpoints.
FUSION_MODES = ("average", "interpolate", "pool")


@dataclass
class FusionConfig:
    """Time-aligned concatenation (paper Eq. 1).

    ``frame_rate``: the shared rate in frames/s; None takes the lowest rate among the encoders.
    ``mode``: how a stream reaches that rate on its time axis. ``average`` (the default): a stream brought
    down is averaged over each output frame's time span, every input frame weighted by its overlap, so no
    frame is dropped; a stream brought up is linearly interpolated (the only place interpolation remains);
    a stream already at the rate is copied. ``interpolate`` and ``pool`` are older names, still accepted for
    old recipes and checkpoints, and now mean ``average``: ``interpolate`` warns (UserWarning) that it no
    longer downsamples by interpolation.
    """

    frame_rate: float | None = None
    mode: str = "average"

    def __post_init__(self) -> None:
        if self.mode == "interpolate":
            # Old recipes chose it when downsampling read only some frames (2 of 8 at 50 -> 6.25 Hz);
            # their results change, so say so once per build.
            warnings.warn(
                "fusion.mode 'interpolate' no longer downsamples by interpolation: streams brought down are "
                "averaged over each output frame's span (as 'average'); interpolation only upsamples",
                UserWarning,
                stacklevel=3,  # the caller of FusionConfig(...), past the generated __init__
            )


#: ``audio_norm.kind`` values.
AUDIO_NORM_KINDS = ("none", "layer_norm")


@dataclass
class AudioNormConfig:
    """How the projector chain's output is scaled before it enters the LLM (beyond the paper).

    ``kind``: ``none`` hands the last projector's tokens to the LLM as they are (the paper's Eq. 4);
    ``layer_norm`` normalises each token (LayerNorm without affine: zero mean, unit RMS over its width) and
    multiplies it by one learnt scalar gain, initialised to the RMS of the LLM's input embeddings, so that
    audio tokens start on the scale of the text tokens beside them (docs/training.md, "Projector health").
    """

    kind: str = "none"
