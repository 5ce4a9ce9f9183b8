"""The Debian packages the mini world is built from: detection, versions, file lists and installation.

Everything here shells out to ``dpkg-query`` / ``dpkg -L`` / ``apt-get`` so the builder needs no Python
package beyond the toolkit's own; a machine without dpkg simply reports every package as missing.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterable, Sequence
from functools import cache

from ..errors import DataError

#: package -> what the mini world takes from it.
PACKAGES: dict[str, str] = {
    "asterisk-core-sounds-en-wav": "English telephony prompts (human speech, 8 kHz wav) for asr and s2tt",
    "asterisk-core-sounds-fr-wav": "French telephony prompts; their ids pair the English prompts with French",
    "asterisk-core-sounds-en": "transcripts of the English prompts (core-sounds-en.txt)",
    "asterisk-core-sounds-fr": "transcripts of the French prompts (core-sounds-fr.txt), the s2tt targets",
    "pocketsphinx-testdata": "LibriVox read-speech utterances with transcripts (held-out asr speaker)",
    "espeak-ng": "synthetic English speech in several voices (training split only)",
    "sox": "listed for users who inspect the audio; the builder itself decodes with soundfile",
    "fluidsynth": "renders the procedurally composed MIDI files",
    "fluid-soundfont-gm": "the General MIDI soundfont FluidR3_GM.sf2 that fluidsynth plays",
    "sound-theme-freedesktop": "real desktop event sounds for audio captioning",
}

#: package -> what the mini world takes from it, only for scales with ``asr_text_tts`` (the speech world).
SPEECH_PACKAGES: dict[str, str] = {
    "fortunes": "thousands of distinct English sentences, rendered as synthetic asr training speech",
    "flite": "a second synthesiser with five voices for that speech (espeak-ng renders the rest)",
}

#: environment variable that allows the builder to run ``apt-get install`` (as root).
INSTALL_ENV = "USAM_MINI_INSTALL"


@cache
def package_version(name: str) -> str | None:
    """Installed version of a Debian package, or ``None`` when it is absent (or dpkg is unavailable)."""
    if shutil.which("dpkg-query") is None:
        return None
    proc = subprocess.run(
        ["dpkg-query", "-W", "-f=${Status}\t${Version}", name], capture_output=True, text=True, check=False
    )
    if proc.returncode != 0 or "\t" not in proc.stdout:
        return None
    status, version = proc.stdout.split("\t", 1)
    return version.strip() if status.strip().endswith("installed") and "not-installed" not in status else None


def missing_packages(names: Iterable[str] = PACKAGES) -> list[str]:
    """The packages of ``names`` that are not installed, in the given order."""
    return [name for name in names if package_version(name) is None]


@cache
def package_files(name: str) -> tuple[str, ...]:
    """Paths that ``dpkg -L`` lists for an installed package (empty when it is not installed)."""
    if shutil.which("dpkg") is None:
        return ()
    proc = subprocess.run(["dpkg", "-L", name], capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        return ()
    return tuple(line.strip() for line in proc.stdout.splitlines() if line.strip() not in ("", "/."))


def install_command(names: Sequence[str]) -> str:
    """The shell command a user runs to install ``names``."""
    return "sudo apt-get install -y " + " ".join(names)


def ensure_packages(names: Sequence[str] = tuple(PACKAGES), install: bool | None = None) -> dict[str, str]:
    """Make sure every package of ``names`` is installed; return ``{package: version}``.

    Args:
        names: Debian package names.
        install: run ``apt-get install -y`` for the missing ones; ``None`` reads ``$USAM_MINI_INSTALL=1``.
            Installing needs root; otherwise the error names the packages and the command to run.

    Raises:
        DataError: a package is missing and could not (or may not) be installed.
    """
    missing = missing_packages(names)
    if missing:
        if install is None:
            install = os.environ.get(INSTALL_ENV, "") == "1"
        can_install = install and hasattr(os, "geteuid") and os.geteuid() == 0 and shutil.which("apt-get")
        if not can_install:
            why = "" if not install else " (installing needs root and apt-get)"
            raise DataError(
                f"the mini world needs the Debian packages {', '.join(missing)}{why}; install them with "
                f"`{install_command(missing)}`, or run `usam mini build --install-missing` as root "
                f"(or set {INSTALL_ENV}=1)"
            )
        env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
        proc = subprocess.run(["apt-get", "install", "-y", *missing], env=env, check=False)
        package_version.cache_clear()
        package_files.cache_clear()
        still = missing_packages(missing)
        if proc.returncode != 0 or still:
            raise DataError(
                f"`apt-get install -y {' '.join(missing)}` failed (exit {proc.returncode}); still missing: "
                f"{', '.join(still) or 'none'}"
            )
    return {name: package_version(name) or "" for name in names}


def tool_version(executable: str, flag: str = "--version") -> str:
    """First line of ``executable --version``, or an empty string when the tool is not on PATH."""
    path = shutil.which(executable)
    if path is None:
        return ""
    proc = subprocess.run([path, flag], capture_output=True, text=True, check=False)
    lines = (proc.stdout or proc.stderr).strip().splitlines()
    return lines[0].strip() if lines else ""
