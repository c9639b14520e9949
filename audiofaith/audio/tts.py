"""Speech for spoken answer injection: ``espeak-ng`` (a Debian package, run as a subprocess) or a
directory of clips made by any TTS system. Both give 16 kHz mono float32 through
``audiofaith.audio.io.load_audio``. No torch here.

Directory layout (``--tts_dir DIR``): one WAV (any rate / channel count) per text, named
``<sha1 of the UTF-8 text, 40 lowercase hex digits>.wav``; ``tts_file_name(text)`` gives the name
and ``python -m audiofaith.audio.tts --list_texts MANIFEST`` prints every text a manifest needs with
its file name.
"""

from __future__ import annotations

import argparse
import hashlib
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Dict, Iterable, List, Optional

import numpy as np

from audiofaith.audio.io import AudioError, load_audio
from audiofaith.errors import UserError

ESPEAK = "espeak-ng"
INSTALL_HINT = ("espeak-ng is not installed (it is a system package, not a Python one): install it with "
                "`apt-get install espeak-ng` (Debian/Ubuntu; `brew install espeak-ng` on macOS), or give "
                "pre-made clips with --tts_dir DIR (see docs/audio_interventions.md)")


class TTSError(UserError):
    """Speech that cannot be produced; the message says what to install or which files are missing."""


def answer_text(option: str) -> str:
    """The spoken sentence for an option: ``The answer is <option text>.`` (text stripped; no
    second full stop if the option already ends with one)."""
    option = " ".join(option.split())
    return f"The answer is {option}" + ("" if option.endswith((".", "!", "?")) else ".")


def tts_file_name(text: str) -> str:
    return hashlib.sha1(text.encode("utf-8")).hexdigest() + ".wav"


def espeak_available(executable: str = ESPEAK) -> bool:
    return shutil.which(executable) is not None


class EspeakTTS:
    """``espeak-ng -v VOICE -w out.wav`` per text (text on stdin), resampled to 16 kHz."""

    def __init__(self, voice: str = "en-us", executable: Optional[str] = None) -> None:
        self.voice = voice
        self.executable = shutil.which(executable or ESPEAK)  # ESPEAK read per call: tests point it elsewhere
        if self.executable is None:
            raise TTSError(INSTALL_HINT)
        done = subprocess.run([self.executable, "--version"], capture_output=True, text=True)
        self.version = (done.stdout.strip().splitlines() or ["espeak-ng (unknown version)"])[0]

    def describe(self) -> str:
        return f"{self.version.split('Data at')[0].strip()}; voice {self.voice}"

    def synthesize(self, texts: Iterable[str]) -> Dict[str, np.ndarray]:
        out: Dict[str, np.ndarray] = {}
        with tempfile.TemporaryDirectory(prefix="audiofaith-tts-") as tmp:
            for index, text in enumerate(dict.fromkeys(texts)):
                path = Path(tmp) / f"{index}.wav"
                done = subprocess.run([self.executable, "-v", self.voice, "-w", str(path), "--stdin"], input=text,
                                      capture_output=True, text=True)
                if done.returncode != 0 or not path.exists():
                    raise TTSError(f"espeak-ng failed on {text!r} (voice {self.voice}): {done.stderr.strip()}")
                try:
                    out[text] = load_audio(path).samples
                except AudioError as exc:
                    raise TTSError(f"espeak-ng wrote unusable audio for {text!r}: {exc}") from None
        return out


class DirectoryTTS:
    """Pre-made clips: ``DIR/<sha1 of the text>.wav``."""

    def __init__(self, directory: "str | Path") -> None:
        self.directory = Path(directory)
        if not self.directory.is_dir():
            raise TTSError(f"--tts_dir {self.directory}: not a directory")

    def describe(self) -> str:
        return f"clips from {self.directory}"

    def synthesize(self, texts: Iterable[str]) -> Dict[str, np.ndarray]:
        wanted = list(dict.fromkeys(texts))
        missing = [t for t in wanted if not (self.directory / tts_file_name(t)).is_file()]
        if missing:
            shown = "\n".join(f"  {tts_file_name(t)}  {t}" for t in missing[:20])
            more = f"\n  … and {len(missing) - 20} more" if len(missing) > 20 else ""
            raise TTSError(f"--tts_dir {self.directory}: {len(missing)} of {len(wanted)} speech clip(s) missing "
                           f"(file name = sha1 of the text + .wav):\n{shown}{more}")
        out: Dict[str, np.ndarray] = {}
        for text in wanted:
            try:
                out[text] = load_audio(self.directory / tts_file_name(text)).samples
            except AudioError as exc:
                raise TTSError(f"--tts_dir clip for {text!r}: {exc}") from None
        return out


def make_tts(tts_dir: Optional[str], voice: str = "en-us"):
    return DirectoryTTS(tts_dir) if tts_dir else EspeakTTS(voice)


def main(argv: Optional[List[str]] = None) -> int:
    """``python -m audiofaith.audio.tts --list_texts MANIFEST``: the injection texts and their file names."""
    from audiofaith.store.manifest import load_manifest

    parser = argparse.ArgumentParser(prog="python -m audiofaith.audio.tts", description=main.__doc__)
    parser.add_argument("--list_texts", nargs="+", required=True, metavar="MANIFEST",
                        help="manifest(s); prints '<file name>\\t<text>' for every option text")
    args = parser.parse_args(argv)
    texts = [answer_text(choice) for path in args.list_texts for item in load_manifest(path) for choice in item.choices]
    for text in dict.fromkeys(texts):
        print(f"{tts_file_name(text)}\t{text}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
