"""Audio decoding (soundfile), checks and resampling (torchaudio DSP); no model code."""

from .decode import AudioProblem, DecodedAudio, audio_info, decode_audio
from .resample import resample, resample_many

__all__ = ["AudioProblem", "DecodedAudio", "audio_info", "decode_audio", "resample", "resample_many"]
