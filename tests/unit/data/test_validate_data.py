"""``usam validate-data``: strict stops at the exact location; lenient reports every bad sample."""

from __future__ import annotations

import numpy as np
import soundfile as sf

from usam_toolkit.cli import main
from usam_toolkit.data.report import BadSampleReport


def _manifest(tmp_path, write_audio, write_jsonl):
    write_audio(tmp_path / "good.wav", 0.5)
    sf.write(tmp_path / "zeros.wav", np.zeros(8000, np.float32), 16000)
    return write_jsonl(
        tmp_path / "m.jsonl",
        [
            {"id": "good", "audio": "good.wav", "task": "asr", "target": "t"},
            {"id": "silent", "audio": "zeros.wav", "task": "aac", "target": "t"},
            "{not json",
            {"id": "odd", "audio": "good.wav", "task": "weird", "target": "t"},
            {"id": "gone", "audio": "gone.flac", "task": "asr", "target": "t"},
        ],
    )


def test_strict_fails_with_location(tmp_path, write_audio, write_jsonl, capsys):
    m = _manifest(tmp_path, write_audio, write_jsonl)
    assert main(["validate-data", str(m), "--quiet"]) == 2
    err = capsys.readouterr().err
    # Problems come in line order: the silent clip of line 2 before the broken JSON of line 3.
    assert f"{m.resolve()}:2 (id=silent, audio={tmp_path / 'zeros.wav'})" in err and "silent" in err
    m2 = tmp_path / "no_silent.jsonl"
    lines = m.read_text().splitlines()
    m2.write_text("\n".join([lines[0], *lines[2:]]) + "\n")
    assert main(["validate-data", str(m2), "--quiet"]) == 2
    err = capsys.readouterr().err
    assert f"{m2.resolve()}:2" in err and "malformed JSON" in err


def test_lenient_reports_everything(tmp_path, write_audio, write_jsonl, capsys):
    m = _manifest(tmp_path, write_audio, write_jsonl)
    rep = tmp_path / "bad.jsonl"
    assert main(["validate-data", str(m), "--lenient", "--report", str(rep), "--quiet"]) == 0
    out = capsys.readouterr().out
    bad = {(b.line, b.reason) for b in BadSampleReport.read(rep)}
    assert bad == {(2, "silent"), (3, "malformed_json"), (4, "unknown_task"), (5, "missing")}
    assert "m.jsonl" in out and "TOTAL" in out and "asr:1" in out
    assert "missing=1" in out and "4 bad sample(s) skipped" in out
