"""A tiny Standard MIDI File writer (format 1): note on/off, program change, tempo and end-of-track.

Only what the music generator needs, so the mini world carries no MIDI dependency. Times are absolute
ticks; :meth:`MidiTrack.to_bytes` sorts the events and writes delta times as variable-length quantities.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field

#: General MIDI channel 10 (0-based 9) is the percussion channel.
DRUM_CHANNEL = 9


def vlq(value: int) -> bytes:
    """Encode a non-negative integer as a MIDI variable-length quantity (7 bits per byte, MSB = more)."""
    if value < 0:
        raise ValueError(f"variable-length quantities are non-negative, got {value}")
    out = [value & 0x7F]
    value >>= 7
    while value:
        out.append((value & 0x7F) | 0x80)
        value >>= 7
    return bytes(reversed(out))


@dataclass
class MidiTrack:
    """Events of one track as ``(tick, order, bytes)``; ``order`` puts note-offs before note-ons at a tick."""

    events: list[tuple[int, int, bytes]] = field(default_factory=list)

    def tempo(self, tick: int, bpm: float) -> None:
        """Set-tempo meta event (microseconds per quarter note)."""
        micros = round(60_000_000 / bpm)
        self.events.append((tick, 0, b"\xff\x51\x03" + micros.to_bytes(3, "big")))

    def program(self, tick: int, channel: int, program: int) -> None:
        """Program change: select General MIDI instrument ``program`` (0-127) on ``channel``."""
        self.events.append((tick, 1, bytes([0xC0 | _check(channel, 15), _check(program, 127)])))

    def note(self, start: int, duration: int, channel: int, pitch: int, velocity: int) -> None:
        """A note-on at ``start`` and a real note-off (not a zero-velocity note-on) ``duration`` later."""
        channel, pitch, velocity = _check(channel, 15), _check(pitch, 127), _check(velocity, 127)
        self.events.append((start, 3, bytes([0x90 | channel, pitch, velocity])))
        self.events.append((start + max(1, duration), 2, bytes([0x80 | channel, pitch, 0])))

    def to_bytes(self) -> bytes:
        """The ``MTrk`` chunk: sorted events with delta times, ended by an end-of-track meta event."""
        body = bytearray()
        now = 0
        for tick, _, data in sorted(self.events, key=lambda e: (e[0], e[1], e[2])):
            body += vlq(tick - now) + data
            now = tick
        body += vlq(0) + b"\xff\x2f\x00"
        return b"MTrk" + struct.pack(">I", len(body)) + bytes(body)


def write_midi(tracks: list[MidiTrack], ticks_per_beat: int = 480) -> bytes:
    """A complete format-1 Standard MIDI File (``MThd`` header followed by one ``MTrk`` per track)."""
    if not tracks:
        raise ValueError("a MIDI file needs at least one track")
    header = b"MThd" + struct.pack(">IHHH", 6, 1, len(tracks), ticks_per_beat)
    return header + b"".join(track.to_bytes() for track in tracks)


def _check(value: int, top: int) -> int:
    if not 0 <= int(value) <= top:
        raise ValueError(f"MIDI data byte out of range 0..{top}: {value}")
    return int(value)
