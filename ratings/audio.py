"""Audio the platform reads and writes, with soundfile and numpy (no torch in the web process).

Clips are normalised at import to one format (16-bit PCM WAV), one sample rate, one channel count, one
length and one loudness for the whole study, so that nothing about a file tells its variant; each
position of each task then plays its own copy with an inaudible dither (`dithered`), so that no two
addresses a rater can reach serve the same bytes.
"""

import hashlib
import io
import math
import struct
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import soundfile

ACCEPTED_FORMATS = {"WAV", "FLAC"}
# Every clip's loudness after import: its RMS level in dB relative to full scale.
TARGET_RMS_DBFS = -23.0
# How a clip whose length differs from the study's is fitted: cut at the end, or silence added after it.
FIT_CHOICES = ("trim", "pad")
# Resampling rounds a length to whole frames: lengths this close count as equal.
LENGTH_TOLERANCE_S = 0.002
_PEAK = 32767


class AudioError(ValueError):
    pass


@dataclass(frozen=True)
class AudioInfo:
    duration_s: float
    sample_rate: int
    checksum: str
    format: str
    frames: int = 0
    channels: int = 1


@dataclass(frozen=True)
class ClipFormat:
    """What every clip of a study is made into: sample rate, channels and length in frames."""

    sample_rate: int
    channels: int
    frames: int

    @property
    def duration_s(self) -> float:
        return self.frames / self.sample_rate


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def probe(path: Path) -> AudioInfo:
    """Duration, rate, length, channels and SHA-256 of a WAV or FLAC file; AudioError if it is anything else."""
    try:
        info = soundfile.info(str(path))
    except (RuntimeError, soundfile.LibsndfileError) as exc:
        raise AudioError(f"{path.name}: not readable audio ({exc})") from exc
    if info.format not in ACCEPTED_FORMATS:
        raise AudioError(f"{path.name}: format {info.format} is not WAV or FLAC")
    if info.frames <= 0 or info.samplerate <= 0:
        raise AudioError(f"{path.name}: the audio is empty")
    return AudioInfo(
        duration_s=info.frames / info.samplerate,
        sample_rate=info.samplerate,
        checksum=sha256_of(path),
        format=info.format,
        frames=info.frames,
        channels=info.channels,
    )


def frames_at(info: AudioInfo, sample_rate: int) -> int:
    """The clip's length in frames once resampled to `sample_rate`."""
    return round(info.frames * sample_rate / info.sample_rate)


def normalised_wav(path: Path, target: ClipFormat) -> bytes:
    """The clip as 16-bit PCM WAV in the study's format: resampled, its channels mixed down or copied,
    cut or padded with silence to the study's length (the caller checked the difference is allowed),
    and scaled to TARGET_RMS_DBFS (a silent clip stays silent; a clip whose peaks would pass full scale is refused, never clipped)."""
    audio, rate = soundfile.read(str(path), dtype="float64", always_2d=True)
    if rate != target.sample_rate:
        from scipy.signal import resample_poly

        gcd = math.gcd(rate, target.sample_rate)
        audio = resample_poly(audio, target.sample_rate // gcd, rate // gcd, axis=0)
    if audio.shape[1] != target.channels:
        mono = audio.mean(axis=1, keepdims=True)
        audio = np.repeat(mono, target.channels, axis=1)
    if len(audio) >= target.frames:
        audio = audio[: target.frames]
    else:
        audio = np.vstack([audio, np.zeros((target.frames - len(audio), target.channels))])
    rms = float(np.sqrt(np.mean(audio**2)))
    if rms > 0:
        audio = audio * (10 ** (TARGET_RMS_DBFS / 20) / rms)
    clipped = int(np.count_nonzero(np.abs(np.round(audio * _PEAK)) > _PEAK))
    if clipped:
        raise AudioError(
            f"{path.name}: at the study's level ({TARGET_RMS_DBFS} dBFS RMS) {clipped} samples would clip "
            "(its peaks stand too far above its average level); limit or compress it, then import again"
        )
    samples = np.round(audio * _PEAK).astype(np.int16)
    return _wav_bytes(samples, target.sample_rate)


def dithered(wav: bytes, seed: bytes) -> bytes:
    """The same 16-bit WAV with ±1 LSB of triangular (TPDF) noise added, drawn from `seed`: about
    -93 dBFS RMS, far below hearing, yet every seed gives other bytes. Same format, size and header.

    The clips the import writes are 16-bit PCM WAV, whose samples are changed in place in their data
    chunk (every audio request's first visit to a position does this: decoding and encoding the file
    cost more than the rest of the request); any other file is decoded and written again."""
    span = _pcm16_data(wav)
    if span is None:
        samples, rate = soundfile.read(io.BytesIO(wav), dtype="int16", always_2d=True)
        return _wav_bytes(_with_dither(samples, seed), rate)
    start, end = span
    samples = np.frombuffer(wav, dtype="<i2", count=(end - start) // 2, offset=start)
    return wav[:start] + _with_dither(samples, seed).astype("<i2").tobytes() + wav[start + samples.nbytes :]


def _with_dither(samples: np.ndarray, seed: bytes) -> np.ndarray:
    """The samples plus triangular noise of -1, 0 or +1 (probabilities 1/4, 1/2, 1/4): the difference of
    two random bits, both taken from one random byte per sample. The bytes are SHAKE-256's output for the
    seed: a third of the CPU of seeding numpy's generator and drawing from it (8,000 samples: 33-37 µs
    against 91-93 µs here)."""
    bits = np.frombuffer(hashlib.shake_256(seed).digest(samples.size), dtype=np.uint8).reshape(samples.shape)
    noise = (bits & 1).astype(np.int32) - ((bits >> 1) & 1)
    return np.clip(samples.astype(np.int32) + noise, -_PEAK - 1, _PEAK).astype(np.int16)


def _pcm16_data(wav: bytes) -> tuple[int, int] | None:
    """Where the samples of a plain 16-bit PCM RIFF/WAVE file lie (start, end of its data chunk), or
    None for any other file."""
    if len(wav) < 12 or wav[:4] != b"RIFF" or wav[8:12] != b"WAVE":
        return None
    position, pcm16 = 12, False
    while position + 8 <= len(wav):
        chunk, size = wav[position : position + 4], struct.unpack_from("<I", wav, position + 4)[0]
        body = position + 8
        if chunk == b"fmt " and size >= 16:
            audio_format, _channels, _rate, _rate_bytes, _align, bits = struct.unpack_from(
                "<HHIIHH", wav, body
            )
            pcm16 = audio_format == 1 and bits == 16
        elif chunk == b"data":
            return (body, min(body + size, len(wav))) if pcm16 else None
        position = body + size + (size & 1)
    return None


def rms_dbfs(wav: bytes) -> float:
    """The RMS level of a 16-bit WAV in dB relative to full scale (-inf when silent)."""
    samples, _ = soundfile.read(io.BytesIO(wav), dtype="float64")
    rms = float(np.sqrt(np.mean(np.square(samples)))) * 32768 / _PEAK
    return 20 * math.log10(rms) if rms > 0 else -math.inf


def _wav_bytes(samples: np.ndarray, sample_rate: int) -> bytes:
    out = io.BytesIO()
    soundfile.write(out, samples, sample_rate, format="WAV", subtype="PCM_16")
    return out.getvalue()
