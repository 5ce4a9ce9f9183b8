"""CTranslate2 support for the ``whisper`` encoder: an index of the modules that hold it.

- :mod:`.ct2_format`: the ``model.bin`` format (read, write, int8 quantisation), model-agnostic;
- :mod:`.ct2_lookup`: finding the file or its split parts, the side files, the cache key;
- :mod:`.whisper_ct2_names`: Whisper weights between CTranslate2 and Hugging Face names, both ways;
- :mod:`.whisper_ct2_convert`: the conversion to a cached Hugging Face folder;
- :mod:`.ct2_fixtures`: a tiny random Whisper written as a real ``model.bin`` (tests, examples).

The names below are re-exported so that ``from usam_plugins.encoders.ctranslate2 import ...`` keeps
working; code in this repository imports from the modules above.
"""

from __future__ import annotations

from .ct2_fixtures import tiny_whisper_state, write_tiny_whisper_ct2
from .ct2_format import BINARY_VERSION, DTYPES, Ct2Model, quantize_int8, read_model_bin, write_model_bin
from .ct2_lookup import companion_files, find_model_parts, source_key
from .whisper_ct2_convert import convert_whisper_ct2, whisper_hf_configs, whisper_hf_folder
from .whisper_ct2_names import count_layers, whisper_ct2_to_hf_state, whisper_hf_to_ct2

__all__ = [
    "BINARY_VERSION",
    "DTYPES",
    "Ct2Model",
    "companion_files",
    "convert_whisper_ct2",
    "count_layers",
    "find_model_parts",
    "quantize_int8",
    "read_model_bin",
    "source_key",
    "tiny_whisper_state",
    "whisper_ct2_to_hf_state",
    "whisper_hf_configs",
    "whisper_hf_folder",
    "whisper_hf_to_ct2",
    "write_model_bin",
    "write_tiny_whisper_ct2",
]
