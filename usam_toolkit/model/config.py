"""Recipe section ``fusion``: how several encoder streams meet on one time axis."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional


@dataclass
class FusionConfig:
    """Time-aligned concatenation (paper Eq. 1).

    ``frame_rate``: the shared rate in frames/s; None takes the lowest rate among the encoders.
    ``mode``: how a stream reaches that rate on its time axis: ``interpolate`` (linear) or ``pool``
    (average pooling, for integer ratios; falls back to interpolation otherwise).
    """

    frame_rate: Optional[float] = None
    mode: str = "interpolate"
