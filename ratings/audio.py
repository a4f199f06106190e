"""Audio file facts the platform needs, read with soundfile (no torch in the web process)."""

import hashlib
from dataclasses import dataclass
from pathlib import Path

import soundfile

ACCEPTED_FORMATS = {"WAV", "FLAC"}


class AudioError(ValueError):
    pass


@dataclass(frozen=True)
class AudioInfo:
    duration_s: float
    sample_rate: int
    checksum: str
    format: str


def probe(path: Path) -> AudioInfo:
    """Duration, rate and SHA-256 of a WAV or FLAC file; AudioError if it is anything else."""
    try:
        info = soundfile.info(str(path))
    except (RuntimeError, soundfile.LibsndfileError) as exc:
        raise AudioError(f"{path.name}: not readable audio ({exc})") from exc
    if info.format not in ACCEPTED_FORMATS:
        raise AudioError(f"{path.name}: format {info.format} is not WAV or FLAC")
    if info.frames <= 0 or info.samplerate <= 0:
        raise AudioError(f"{path.name}: the audio is empty")
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return AudioInfo(
        duration_s=info.frames / info.samplerate,
        sample_rate=info.samplerate,
        checksum=digest.hexdigest(),
        format=info.format,
    )
