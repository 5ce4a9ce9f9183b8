"""Inference for people: audio inputs of any length and format, windowing and stitching, batching,
output formats. Used by ``usam infer``, ``usam serve`` and the Python API (:mod:`usam_toolkit.api`).
"""

from .audio_input import AudioInput, InputProblem, find_audio_files, from_array, load_path
from .windows import Window, plan_windows, stitch_texts

__all__ = [
    "AudioInput",
    "InputProblem",
    "Window",
    "find_audio_files",
    "from_array",
    "load_path",
    "plan_windows",
    "stitch_texts",
]
