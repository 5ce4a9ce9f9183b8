"""Use a U-SAM checkpoint from Python: transcribe, translate, caption, free-form questions.

    python examples/api_example.py [CHECKPOINT_OR_RUN_DIR] [AUDIO_FILE]

Without a checkpoint, a 3-step smoke model is trained into a temporary folder first (about a minute
on a laptop CPU); its answers are noise, the point is the calls. Without an audio file, the example
makes one with soundfile.
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

import numpy as np
import soundfile as sf

import usam_toolkit
from usam_toolkit import ConfigError


def main() -> None:
    tmp = Path(tempfile.mkdtemp(prefix="usam-api-example-"))
    if len(sys.argv) > 1:
        checkpoint = Path(sys.argv[1])
    else:
        from usam_toolkit.infer.smoke import smoke_checkpoint

        print(f"no checkpoint given: training a 3-step smoke model into {tmp}")
        checkpoint = smoke_checkpoint(tmp / "smoke", steps=3)

    if len(sys.argv) > 2:
        audio_file = Path(sys.argv[2])
    else:
        sr = 22050
        t = np.arange(int(2.0 * sr)) / sr
        audio_file = tmp / "tones.wav"
        sf.write(audio_file, (0.3 * np.sin(2 * np.pi * 440 * t)).astype(np.float32), sr)

    m = usam_toolkit.load(checkpoint)  # a run folder works too (its latest checkpoint)
    print(m)
    print("tasks:", m.tasks)

    # Paths: one -> str, several -> list[str].
    print("transcribe:", m.transcribe(audio_file))
    print("translate :", m.translate(audio_file, target="fr"))
    print("caption   :", m.caption([audio_file, audio_file], kind="audio"))

    # Arrays and tensors with their sample rate: [N] or [channels, N]; resampled like files.
    samples, sr = sf.read(audio_file, dtype="float32")
    stereo = np.stack([samples, samples])
    print("music     :", m.caption(stereo, kind="music", sample_rate=sr))

    # A free-form prompt, with generation settings.
    print(
        "generate  :", m.generate(samples, "How many tones do you hear?", sample_rate=sr, max_new_tokens=16)
    )

    # Full results: per-window times and TAPM routing weights.
    (result,) = m.run(audio_file, "asr")
    print("windows   :", [(w.start, w.end, w.text) for w in result.windows])
    print("routing   :", result.routing_weights)

    # A task the model was not trained for gives a clear error naming the ones it has.
    try:
        m.run(audio_file, "question_answering")
    except ConfigError as exc:
        print("error     :", exc)


if __name__ == "__main__":
    main()
