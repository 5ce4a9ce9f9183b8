"""The tiny MIDI writer: bytes parsed back by an independent reader written here from the SMF spec."""

from __future__ import annotations

import struct

import pytest

from usam_toolkit.mini.midi import DRUM_CHANNEL, MidiTrack, vlq, write_midi
from usam_toolkit.mini.music import INSTRUMENTS, MusicRecipe, compose


def _read_vlq(data: bytes, pos: int) -> tuple[int, int]:
    value = 0
    while True:
        byte = data[pos]
        pos += 1
        value = (value << 7) | (byte & 0x7F)
        if not byte & 0x80:
            return value, pos


def parse_smf(data: bytes) -> tuple[tuple[int, int, int], list[list[tuple[int, bytes]]]]:
    """``((format, ntracks, division), tracks)``; each track is ``[(absolute tick, event bytes)]``."""
    assert data[:4] == b"MThd"
    (length,) = struct.unpack(">I", data[4:8])
    assert length == 6
    header = struct.unpack(">HHH", data[8:14])
    pos, tracks = 14, []
    for _ in range(header[1]):
        assert data[pos : pos + 4] == b"MTrk"
        (size,) = struct.unpack(">I", data[pos + 4 : pos + 8])
        body, pos = data[pos + 8 : pos + 8 + size], pos + 8 + size
        events, i, tick = [], 0, 0
        while i < len(body):
            delta, i = _read_vlq(body, i)
            tick += delta
            status = body[i]
            if status == 0xFF:
                meta_len, j = _read_vlq(body, i + 2)
                end = j + meta_len
            elif status & 0xF0 == 0xC0:
                end = i + 2
            else:
                assert status & 0xF0 in (0x80, 0x90), hex(status)
                end = i + 3
            events.append((tick, body[i:end]))
            i = end
        assert events[-1][1] == b"\xff\x2f\x00", "track must end with end-of-track"
        tracks.append(events)
    assert pos == len(data), "trailing bytes after the last track"
    return header, tracks


@pytest.mark.parametrize(
    ("value", "expected"),
    # Examples from the Standard MIDI File specification.
    [
        (0, b"\x00"),
        (0x40, b"\x40"),
        (0x7F, b"\x7f"),
        (0x80, b"\x81\x00"),
        (0x2000, b"\xc0\x00"),
        (0x3FFF, b"\xff\x7f"),
        (0x4000, b"\x81\x80\x00"),
        (0x0FFFFFFF, b"\xff\xff\xff\x7f"),
    ],
)
def test_vlq_matches_the_spec(value: int, expected: bytes) -> None:
    assert vlq(value) == expected
    assert _read_vlq(expected, 0) == (value, len(expected))


def test_written_file_parses_back() -> None:
    track = MidiTrack()
    track.tempo(0, 120)  # 500000 us per quarter = 0x07A120
    track.program(0, 0, 40)
    track.note(0, 480, 0, 60, 100)
    track.note(480, 240, 0, 64, 90)  # starts on the tick the first note ends
    data = write_midi([track], ticks_per_beat=96)
    header, tracks = parse_smf(data)
    assert header == (1, 1, 96)
    # Track length: tempo 1+6, program 1+2, on 1+3, off 2+3 (delta 480 needs two VLQ bytes), on 1+3,
    # off 2+3 (delta 240), end of track 1+3.
    assert struct.unpack(">I", data[18:22])[0] == 7 + 3 + 4 + 5 + 4 + 5 + 4
    assert tracks[0] == [
        (0, b"\xff\x51\x03\x07\xa1\x20"),
        (0, b"\xc0\x28"),
        (0, b"\x90\x3c\x64"),
        (480, b"\x80\x3c\x00"),  # the note-off comes before the note-on at the same tick
        (480, b"\x90\x40\x5a"),
        (720, b"\x80\x40\x00"),
        (720, b"\xff\x2f\x00"),
    ]


def test_out_of_range_data_bytes_are_refused() -> None:
    with pytest.raises(ValueError):
        MidiTrack().note(0, 10, 0, 128, 64)
    with pytest.raises(ValueError):
        MidiTrack().program(0, 16, 0)
    with pytest.raises(ValueError):
        write_midi([])


def _recipe(**kw) -> MusicRecipe:
    base = dict(  # noqa: C408 - keyword form reads like the recipe
        instrument="violin",
        tempo="slow",
        bpm=72,
        tonic="A",
        mode="minor",
        progression=(0, 3, 4, 0),
        drums=False,
        dynamics="soft",
        seed=3,
    )
    base.update(kw)
    return MusicRecipe(**base)


def test_composed_piece_follows_its_recipe() -> None:
    recipe = _recipe()
    header, tracks = parse_smf(compose(recipe))
    assert header[0] == 1 and header[1] == len(tracks) == 3  # conductor, melody, harmony; no drums
    events = [e for t in tracks for e in t]
    tempo = [e for _, e in events if e[:2] == b"\xff\x51"]
    assert tempo == [b"\xff\x51\x03" + round(60_000_000 / 72).to_bytes(3, "big")]
    programs = {e[0] & 0x0F: e[1] for _, e in events if e[0] & 0xF0 == 0xC0}
    assert programs == {0: INSTRUMENTS["violin"], 1: INSTRUMENTS["violin"]}
    on = [e for _, e in events if e[0] & 0xF0 == 0x90]
    off = [e for _, e in events if e[0] & 0xF0 == 0x80]
    assert len(on) == len(off) > 8
    assert all(e[2] <= 60 for e in on)  # soft dynamics: low velocities
    # Every note is in A natural minor (A B C D E F G: pitch classes 9 11 0 2 4 5 7).
    assert {e[1] % 12 for e in on} <= {9, 11, 0, 2, 4, 5, 7}
    last_tick = max(tick for t in tracks for tick, _ in t)
    assert last_tick <= 4 * 2 * 480  # 4 chords of 2 beats at 480 ticks per beat


def test_drums_only_when_asked() -> None:
    _, tracks = parse_smf(compose(_recipe(drums=True, dynamics="crescendo")))
    drum_notes = [e for t in tracks for _, e in t if e[0] == 0x90 | DRUM_CHANNEL]
    assert {e[1] for e in drum_notes} == {36, 38, 42}  # kick, snare, closed hi-hat
    vel = [e[2] for e in drum_notes if e[1] == 36]
    assert vel[-1] > vel[0] + 30  # crescendo
    assert compose(_recipe(drums=True)) == compose(_recipe(drums=True))
