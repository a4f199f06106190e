"""A small synthesizer: token sequences to mono audio (numpy), loudness-normalised, fixed length.

Each lead instrument and voice has its own additive timbre (harmonic profile, envelope, vibrato, formants,
drive); bass and a drum kit (acoustic or electronic) join it. The four bars loop to fill the clip. Note
waveforms are cached, so rendering a batch costs a few milliseconds per clip once the cache is warm.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np

from generation.corpus import (
    HOLD,
    KICK,
    LEAD_BASE_MIDI,
    N_STEPS,
    RIDE,
    SNARE,
    Piece,
    _scale_semitones,
    decode,
)

SAMPLE_RATE = 16_000
CLIP_SECONDS = 8.0
TARGET_RMS = 10 ** (-20 / 20)  # -20 dBFS
PEAK_LIMIT = 0.95
BASS_BASE_MIDI = 36


@dataclass(frozen=True)
class Timbre:
    harmonics: tuple[float, ...]  # amplitude of harmonic n = 1, 2, ...
    attack: float
    decay: float  # seconds for exp(-1) after the attack; 0 = sustained
    release: float = 0.05
    vibrato_hz: float = 0.0
    vibrato_depth: float = 0.0  # fraction of frequency
    drive: float = 0.0  # tanh distortion
    formants: tuple[tuple[float, float], ...] = ()  # (centre Hz, bandwidth Hz)
    noise: float = 0.0
    fifth: bool = False  # power chord


def _saw(n: int, p: float = 1.0) -> tuple[float, ...]:
    return tuple(1.0 / k**p for k in range(1, n + 1))


TIMBRES = {
    "distorted_guitar": Timbre(_saw(12), 0.005, 0.0, 0.05, drive=5.0, fifth=True),
    "acoustic_guitar": Timbre(_saw(10, 1.6), 0.003, 0.5, 0.08),
    "piano": Timbre(_saw(10, 2.0), 0.002, 0.8, 0.1),
    "strings": Timbre(_saw(14), 0.09, 0.0, 0.15, vibrato_hz=5.0, vibrato_depth=0.004),
    "flute": Timbre((1.0, 0.25, 0.1, 0.04), 0.05, 0.0, 0.06, vibrato_hz=4.5, vibrato_depth=0.003, noise=0.06),
    "saxophone": Timbre(
        (0.6, 1.0, 0.8, 0.6, 0.5, 0.3, 0.2, 0.15, 0.1), 0.03, 0.0, 0.06, 5.0, 0.003, drive=0.8
    ),
    "synth_lead": Timbre(tuple(1.0 / k if k % 2 else 0.0 for k in range(1, 16)), 0.01, 0.0, 0.04),
    "organ": Timbre((1.0, 0.8, 0.6, 0.5, 0.0, 0.4, 0.0, 0.3), 0.01, 0.0, 0.03),
    "soprano_voice": Timbre(
        _saw(24, 1.2), 0.08, 0.0, 0.12, 5.5, 0.022, formants=((800, 90), (1150, 110), (2900, 160))
    ),
    "baritone_voice": Timbre(
        _saw(30, 1.2), 0.06, 0.0, 0.1, 5.0, 0.012, formants=((450, 80), (800, 90), (2830, 150))
    ),
    "electric_bass": Timbre(_saw(8, 1.5), 0.005, 0.6, 0.05),
    "upright_bass": Timbre(_saw(6, 1.8), 0.004, 0.3, 0.05),
    "synth_bass": Timbre(_saw(10, 1.0), 0.005, 0.25, 0.03),
    "cello": Timbre(_saw(12, 1.1), 0.1, 0.0, 0.15, 4.5, 0.004),
}


def midi_hz(midi: float) -> float:
    return 440.0 * 2 ** ((midi - 69) / 12)


@lru_cache(maxsize=8192)
def note_wave(instrument: str, midi: int, n_samples: int, sr: int = SAMPLE_RATE) -> np.ndarray:
    """One note, ``n_samples`` long plus its release, peak about 1."""
    tb = TIMBRES[instrument]
    rel = int(tb.release * sr)
    n = n_samples + rel
    t = np.arange(n) / sr
    f0 = midi_hz(midi)
    freq = f0 * (1 + tb.vibrato_depth * np.sin(2 * np.pi * tb.vibrato_hz * t)) if tb.vibrato_hz else f0
    phase = 2 * np.pi * (np.cumsum(np.broadcast_to(freq, t.shape)) / sr)
    wave = np.zeros(n)
    for f_mult in (1.0, 1.5) if tb.fifth else (1.0,):
        for k, amp in enumerate(tb.harmonics, start=1):
            fk = f0 * k * f_mult
            if amp == 0.0 or fk > 0.45 * sr:
                continue
            if tb.formants:
                amp *= sum(np.exp(-0.5 * ((fk - c) / bw) ** 2) for c, bw in tb.formants) + 0.02
            wave += amp * np.sin(k * f_mult * phase)
    if tb.noise:
        wave += tb.noise * np.random.default_rng(midi).standard_normal(n) * np.abs(np.sin(phase / 2))
    if tb.drive:
        wave = np.tanh(tb.drive * wave / (np.abs(wave).max() + 1e-9))
    env = np.minimum(1.0, t / max(tb.attack, 1e-4))
    if tb.decay:
        env *= np.exp(-np.maximum(t - tb.attack, 0) / tb.decay)
    env[n_samples:] *= np.linspace(1.0, 0.0, rel)
    wave *= env
    wave /= np.abs(wave).max() + 1e-9
    wave.setflags(write=False)
    return wave


@lru_cache(maxsize=16)
def drum_wave(kit: str, bit: int, sr: int = SAMPLE_RATE) -> np.ndarray:
    rng = np.random.default_rng(bit)
    electronic = kit == "electronic"
    if bit == KICK:
        n = int((0.45 if electronic else 0.25) * sr)
        t = np.arange(n) / sr
        f = 45 + (110 if electronic else 160) * np.exp(-t / 0.04)
        wave = np.sin(2 * np.pi * np.cumsum(f) / sr) * np.exp(-t / (0.2 if electronic else 0.08))
    elif bit == SNARE:
        n = int(0.18 * sr)
        t = np.arange(n) / sr
        noise = rng.standard_normal(n)
        if electronic:  # a clap: three quick bursts
            bursts = sum(np.exp(-np.maximum(t - d, 0) / 0.01) * (t >= d) for d in (0.0, 0.012, 0.024))
            wave = noise * (bursts + np.exp(-t / 0.06)) * 0.5
        else:
            wave = 0.7 * noise * np.exp(-t / 0.05) + 0.5 * np.sin(2 * np.pi * 190 * t) * np.exp(-t / 0.03)
    else:
        n = int((0.05 if bit != RIDE else 0.35) * sr)
        t = np.arange(n) / sr
        noise = np.diff(rng.standard_normal(n + 1))  # high-passed
        if bit == RIDE:
            metal = sum(np.sin(2 * np.pi * f * t) for f in (3150, 4270, 5350))
            wave = (0.6 * noise + 0.3 * metal) * np.exp(-t / 0.12)
        else:
            wave = noise * np.exp(-t / (0.012 if electronic else 0.02))
    wave = wave / (np.abs(wave).max() + 1e-9)
    wave.setflags(write=False)
    return wave


DRUM_GAIN = {KICK: 1.0, SNARE: 0.7, 4: 0.25, RIDE: 0.25}


def _notes(steps: np.ndarray) -> list[tuple[int, int, int]]:
    """(onset step, length in steps, degree index) of a track's notes."""
    notes = []
    for s in range(N_STEPS):
        if steps[s] >= 2:
            length = 1
            while s + length < N_STEPS and steps[s + length] == HOLD:
                length += 1
            notes.append((s, length, int(steps[s]) - 2))
    return notes


def render_piece(piece: Piece, sr: int = SAMPLE_RATE, seconds: float = CLIP_SECONDS) -> np.ndarray:
    n_out = int(round(seconds * sr))
    step_samples = int(round(30.0 / piece.bpm * sr))
    loop = step_samples * N_STEPS
    n_loops = int(np.ceil(n_out / loop))
    buf = np.zeros(n_loops * loop + sr, dtype=np.float64)
    key = piece.key if piece.key < 6 else piece.key - 12
    tracks = [(piece.lead, piece.lead_steps, LEAD_BASE_MIDI[piece.lead], 7, 0.55)]
    if piece.bass != "none":
        tracks.append((piece.bass, piece.bass_steps, BASS_BASE_MIDI, 3, 0.45))
    for instrument, steps, base, offset, gain in tracks:
        for onset, length, degree in _notes(steps):
            midi = base + key + _scale_semitones(piece.mode, degree - offset)
            wave = note_wave(instrument, int(midi), length * step_samples, sr)
            for rep in range(n_loops):
                start = rep * loop + onset * step_samples
                buf[start : start + len(wave)] += gain * wave
    if piece.kit != "none":
        for s in range(N_STEPS):
            mask = int(piece.drum_steps[s])
            for bit in (1, 2, 4, 8):
                if mask & bit:
                    wave = drum_wave(piece.kit, bit, sr)
                    for rep in range(n_loops):
                        start = rep * loop + s * step_samples
                        buf[start : start + len(wave)] += 0.5 * DRUM_GAIN[bit] * wave
    return normalise(buf[:n_out], sr)


def normalise(audio: np.ndarray, sr: int = SAMPLE_RATE) -> np.ndarray:
    """RMS to -20 dBFS, then scaled down if the peak would pass PEAK_LIMIT; short fades at both ends."""
    audio = audio - audio.mean()
    rms = np.sqrt(np.mean(audio**2))
    if rms > 1e-8:
        audio = audio * (TARGET_RMS / rms)
    peak = np.abs(audio).max()
    if peak > PEAK_LIMIT:
        audio = audio * (PEAK_LIMIT / peak)
    fade_in, fade_out = int(0.01 * sr), int(0.05 * sr)
    audio[:fade_in] *= np.linspace(0, 1, fade_in)
    audio[-fade_out:] *= np.linspace(1, 0, fade_out)
    return audio.astype(np.float32)


def render(tokens: np.ndarray, sr: int = SAMPLE_RATE, seconds: float = CLIP_SECONDS) -> np.ndarray:
    """A token sequence (read leniently) to a float32 clip of ``seconds`` at ``sr``."""
    return render_piece(decode(np.asarray(tokens)), sr, seconds)


def render_batch(tokens: np.ndarray, sr: int = SAMPLE_RATE, seconds: float = CLIP_SECONDS) -> np.ndarray:
    return np.stack([render(t, sr, seconds) for t in np.asarray(tokens)])


def write_wav(path: str | Path, audio: np.ndarray, sr: int = SAMPLE_RATE) -> Path:
    import soundfile

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    soundfile.write(str(path), audio, sr, subtype="PCM_16")
    return path
