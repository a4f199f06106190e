"""A small synthesizer: token sequences to mono audio (numpy), loudness-normalised, fixed length.

Each lead instrument and voice has its own additive timbre (harmonic profile, envelope, vibrato, formants,
drive); bass and a drum kit (acoustic or electronic) join it. The four bars loop to fill the clip.

Rendering is batched: every distinct note of a batch is synthesised once, and a pitch's oscillators once for
all its lengths (their first n samples do not depend on the length), with harmonics as powers of a complex
exponential instead of one sine each. Notes (float32, like the output) and oscillators are cached across
batches; scratch buffers are reused, since a fresh large temporary costs a page fault every 4 KiB. The output
equals the former one-sine-per-harmonic, note-by-note synthesizer's to float32 precision (about 1e-7;
tests/generation/test_render_and_corpus.py holds its fingerprints).
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Hashable
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


class PrefixCache:
    """Arrays whose first n samples do not depend on how long they are computed (oscillators, envelopes),
    kept per key at the longest length asked for, so one computation serves every note length; the least
    recently used key is dropped past ``max_keys``."""

    def __init__(self, make: Callable[[Hashable, int], np.ndarray], max_keys: int) -> None:
        self.make, self.max_keys = make, max_keys
        self.arrays: OrderedDict[Hashable, np.ndarray] = OrderedDict()

    def get(self, key: Hashable, n: int) -> np.ndarray:
        array = self.arrays.get(key)
        if array is None or len(array) < n:
            array = self.make(key, n)
            array.setflags(write=False)
            self.arrays[key] = array
            if len(self.arrays) > self.max_keys:
                self.arrays.popitem(last=False)
        self.arrays.move_to_end(key)
        return array[:n]


def _oscillators(key: Hashable, n: int) -> np.ndarray:
    """A note's harmonics (with formants, vibrato, a power chord's fifth) and breath noise, before drive and
    envelope. Harmonic k is the imaginary part of exp(i * phase)**k: one complex product per harmonic
    instead of a sine, several times cheaper and equal to float precision."""
    instrument, midi, sr = key  # type: ignore[misc]
    tb = TIMBRES[instrument]
    t = np.arange(n) / sr
    f0 = midi_hz(midi)
    freq = f0 * (1 + tb.vibrato_depth * np.sin(2 * np.pi * tb.vibrato_hz * t)) if tb.vibrato_hz else f0
    phase = 2 * np.pi * (np.cumsum(np.broadcast_to(freq, t.shape)) / sr)
    wave = np.zeros(n)
    for f_mult in (1.0, 1.5) if tb.fifth else (1.0,):
        angle = f_mult * phase
        step = np.empty(n, np.complex128)  # exp(i * angle): cos and sin are twice as fast as a complex exp
        np.cos(angle, out=step.real)
        np.sin(angle, out=step.imag)
        amps = []
        for k, amp in enumerate(tb.harmonics, start=1):
            fk = f0 * k * f_mult
            if fk > 0.45 * sr:
                break
            if amp != 0.0 and tb.formants:
                amp *= sum(np.exp(-0.5 * ((fk - c) / bw) ** 2) for c, bw in tb.formants) + 0.02
            amps.append(amp)
        if not amps:
            continue
        # sum_k amp_k z^k by Horner's rule: one in-place complex product and one scalar add per harmonic
        total = np.full(n, amps[-1], np.complex128)
        for amp in amps[-2::-1]:
            total *= step
            if amp != 0.0:
                total.real += amp
        total *= step
        wave += total.imag
    if tb.noise:
        wave += tb.noise * np.random.default_rng(midi).standard_normal(n) * np.abs(np.sin(phase / 2))
    return wave


def _attack_decay(key: Hashable, n: int) -> np.ndarray:
    instrument, sr = key  # type: ignore[misc]
    tb = TIMBRES[instrument]
    t = np.arange(n) / sr
    env = np.minimum(1.0, t / max(tb.attack, 1e-4))
    if tb.decay:
        env *= np.exp(-np.maximum(t - tb.attack, 0) / tb.decay)
    return env


OSCILLATORS = PrefixCache(_oscillators, max_keys=512)
ENVELOPES = PrefixCache(_attack_decay, max_keys=64)


def clear_caches() -> None:
    """Forget every synthesised note, oscillator and drum (for cold-cache measurements and tests)."""
    for cache in (OSCILLATORS, ENVELOPES):
        cache.arrays.clear()
    note_wave.cache_clear()
    drum_wave.cache_clear()


@lru_cache(maxsize=8192)
def note_wave(instrument: str, midi: int, n_samples: int, sr: int = SAMPLE_RATE) -> np.ndarray:
    """One note, ``n_samples`` long plus its release, peak about 1."""
    tb = TIMBRES[instrument]
    rel = int(tb.release * sr)
    n = n_samples + rel
    wave = OSCILLATORS.get((instrument, midi, sr), n)
    if tb.drive:
        driven = np.multiply(wave, tb.drive)
        driven /= _peak(wave) + 1e-9
        wave = np.tanh(driven, out=driven)
    note = np.multiply(wave, ENVELOPES.get((instrument, sr), n), out=np.empty(n, np.float32))
    note[n_samples:] *= _ramp(rel, down=True)
    note /= _peak(note) + 1e-9
    note.setflags(write=False)
    return note


@lru_cache(maxsize=64)
def _ramp(n: int, down: bool) -> np.ndarray:
    """``np.linspace(1, 0, n)`` (down) or ``np.linspace(0, 1, n)``, made once per length."""
    ramp = np.linspace(1.0, 0.0, n) if down else np.linspace(0.0, 1.0, n)
    ramp.setflags(write=False)
    return ramp


def _peak(x: np.ndarray) -> float:
    """max |x| without a temporary array."""
    return float(max(x.max(), -x.min()))


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


@dataclass(frozen=True)
class Score:
    """What one loop of a piece plays: notes (instrument, MIDI pitch, samples before the release) and drum
    hits (kit, bit), each at a sample offset with a gain."""

    loop_samples: int
    notes: list[tuple[int, float, tuple[str, int, int]]]
    hits: list[tuple[int, float, tuple[str, int]]]


def score(piece: Piece, sr: int = SAMPLE_RATE) -> Score:
    step_samples = int(round(30.0 / piece.bpm * sr))
    key = piece.key if piece.key < 6 else piece.key - 12
    tracks = [(piece.lead, piece.lead_steps, LEAD_BASE_MIDI[piece.lead], 7, 0.55)]
    if piece.bass != "none":
        tracks.append((piece.bass, piece.bass_steps, BASS_BASE_MIDI, 3, 0.45))
    notes = [
        (
            onset * step_samples,
            gain,
            (
                instrument,
                int(base + key + _scale_semitones(piece.mode, degree - offset)),
                length * step_samples,
            ),
        )
        for instrument, steps, base, offset, gain in tracks
        for onset, length, degree in _notes(steps)
    ]
    hits = []
    if piece.kit != "none":
        hits = [
            (s * step_samples, 0.5 * DRUM_GAIN[bit], (piece.kit, bit))
            for s in range(N_STEPS)
            for bit in (1, 2, 4, 8)
            if int(piece.drum_steps[s]) & bit
        ]
    return Score(step_samples * N_STEPS, notes, hits)


def mix(sc: Score, out: np.ndarray, sr: int = SAMPLE_RATE, scratch: np.ndarray | None = None) -> np.ndarray:
    """The score's loop played into ``out`` (float64, overwritten) as many times as it fits; ``scratch``
    (float64, as long as ``out``) spares a temporary per sound."""
    out.fill(0.0)
    n_out = len(out)
    scratch = np.empty(n_out) if scratch is None else scratch
    sounds = [(start, gain, note_wave(*note, sr)) for start, gain, note in sc.notes]
    sounds += [(start, gain, drum_wave(*hit, sr)) for start, gain, hit in sc.hits]
    for onset, gain, wave in sounds:
        for start in range(onset, n_out, sc.loop_samples):
            part = wave[: n_out - start]
            out[start : start + len(part)] += np.multiply(part, gain, out=scratch[: len(part)])
    return out


def normalise(audio: np.ndarray, sr: int = SAMPLE_RATE, out: np.ndarray | None = None) -> np.ndarray:
    """RMS to -20 dBFS, then scaled down if the peak would pass PEAK_LIMIT; short fades at both ends. The
    result is float32, written into ``out`` when given; ``audio`` (float64) is centred in place."""
    audio -= audio.mean()
    rms = np.sqrt(np.einsum("i,i->", audio, audio) / len(audio))  # einsum: no temporary, no BLAS threads
    gain = TARGET_RMS / rms if rms > 1e-8 else 1.0
    peak = gain * _peak(audio)
    if peak > PEAK_LIMIT:
        gain *= PEAK_LIMIT / peak
    out = np.multiply(audio, gain, out=np.empty(len(audio), np.float32) if out is None else out)
    fade_in, fade_out = int(0.01 * sr), int(0.05 * sr)
    out[:fade_in] *= _ramp(fade_in, down=False)
    out[-fade_out:] *= _ramp(fade_out, down=True)
    return out


def render(tokens: np.ndarray, sr: int = SAMPLE_RATE, seconds: float = CLIP_SECONDS) -> np.ndarray:
    """A token sequence (read leniently) to a float32 clip of ``seconds`` at ``sr``."""
    return render_batch(np.asarray(tokens)[None], sr, seconds)[0]


def render_batch(tokens: np.ndarray, sr: int = SAMPLE_RATE, seconds: float = CLIP_SECONDS) -> np.ndarray:
    """Token sequences (B, seq_len) to float32 clips (B, samples). Every distinct note of the batch is
    synthesised once, longest first, so each pitch's oscillators are computed once for all its lengths;
    a clip comes out the same whatever else is in its batch."""
    scores = [score(decode(t), sr) for t in np.asarray(tokens)]
    distinct = {note for sc in scores for _, _, note in sc.notes}
    for note in sorted(distinct, key=lambda note: -note[2]):
        note_wave(*note, sr)
    n_out = int(round(seconds * sr))
    out = np.empty((len(scores), n_out), dtype=np.float32)
    mixed, scratch = np.empty(n_out), np.empty(n_out)
    for i, sc in enumerate(scores):
        normalise(mix(sc, mixed, sr, scratch), sr, out=out[i])
    return out


def write_wav(path: str | Path, audio: np.ndarray, sr: int = SAMPLE_RATE) -> Path:
    import soundfile

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    soundfile.write(str(path), audio, sr, subtype="PCM_16")
    return path
