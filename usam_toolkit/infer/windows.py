"""Cut long audio into windows and stitch the texts decoded per window.

Windows are ``window_seconds`` long and start every ``window_seconds - overlap_seconds``. A tail
shorter than ``min_tail_seconds`` is added to the previous window instead of becoming a window of its
own (a 0.2 s scrap decodes to noise). With the default ``overlap_seconds=0`` windows are disjoint and
stitching is a plain join; with an overlap, the longest run of words repeated at a junction (the end
of one window and the start of the next) is kept once.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class Window:
    """One span of one input, in samples of the input's rate (``[start, end)``)."""

    index: int
    start: int
    end: int

    def seconds(self, sample_rate: int) -> tuple[float, float]:
        return self.start / sample_rate, self.end / sample_rate


def plan_windows(
    n_samples: int,
    sample_rate: int,
    window_seconds: float | None = 30.0,
    overlap_seconds: float = 0.0,
    min_tail_seconds: float = 1.0,
) -> list[Window]:
    """Windows covering ``[0, n_samples)``; one window when the clip fits or ``window_seconds`` is None/<=0.

    Example: 70 s at 30 s windows, no overlap -> [0, 30), [30, 60), [60, 70).
    """
    if not window_seconds or window_seconds <= 0 or n_samples <= round(window_seconds * sample_rate):
        return [Window(0, 0, n_samples)]
    if not 0 <= overlap_seconds < window_seconds:
        raise ValueError(
            f"overlap_seconds={overlap_seconds} must be >= 0 and below window_seconds={window_seconds}"
        )
    size = round(window_seconds * sample_rate)
    hop = round((window_seconds - overlap_seconds) * sample_rate)
    min_tail = round(min_tail_seconds * sample_rate)
    spans: list[list[int]] = []
    start = 0
    while True:
        end = min(start + size, n_samples)
        spans.append([start, end])
        if end >= n_samples:
            break
        start += hop
    if len(spans) > 1 and spans[-1][1] - spans[-1][0] < min_tail and spans[-1][0] > spans[-2][0]:
        # The scrap's samples past the previous window's end join that window.
        spans[-2][1] = spans[-1][1]
        spans.pop()
    # With an overlap, a last window lying entirely inside the previous one adds nothing.
    if len(spans) > 1 and spans[-1][1] <= spans[-2][1]:
        spans.pop()
    return [Window(i, s, e) for i, (s, e) in enumerate(spans)]


def _merge(left: list[str], right: list[str], max_words: int = 20) -> list[str]:
    def norm(w: str) -> str:
        return w.lower().strip(".,;:!?\"'")

    for k in range(min(len(left), len(right), max_words), 0, -1):
        if [norm(w) for w in left[-k:]] == [norm(w) for w in right[:k]]:
            return left + right[k:]
    return left + right


def stitch_texts(texts: Sequence[str], overlap: bool = False) -> str:
    """Join per-window texts in order; with ``overlap`` drop words repeated across each junction."""
    words: list[str] = []
    for t in texts:
        part = t.split()
        words = _merge(words, part) if overlap else words + part
    return " ".join(words)
