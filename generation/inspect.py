"""Listening aids: spectrogram PNGs of generated clips, with tempo, pitch range and brightness measured from
the audio (not read from the tokens), next to what the tokens say, so a person can check the prompt is heard."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from generation.backend import Backend
from generation.corpus import decode, is_valid, lead_midi
from generation.render import SAMPLE_RATE, render
from generation.sampling import SamplingConfig, generate_for_prompts


def _stft_mag(audio: np.ndarray, n_fft: int = 2048, hop: int = 256) -> np.ndarray:
    frames = np.lib.stride_tricks.sliding_window_view(audio, n_fft)[::hop] * np.hanning(n_fft)
    return np.abs(np.fft.rfft(frames, axis=1))  # (frames, bins)


def measure_tempo(audio: np.ndarray, sr: int = SAMPLE_RATE, hop: int = 256) -> float:
    """Beats per minute from the autocorrelation of the spectral-flux onset envelope (60-180 bpm)."""
    mag = np.log1p(_stft_mag(audio, 1024, hop))
    flux = np.maximum(np.diff(mag, axis=0), 0).sum(1)
    flux = flux - flux.mean()
    ac = np.correlate(flux, flux, "full")[len(flux) - 1 :]
    lags = np.arange(len(ac)) * hop / sr
    ok = (lags >= 60 / 180) & (lags <= 60 / 60)
    best = int(np.flatnonzero(ok)[np.argmax(ac[ok])])
    # octave correction: prefer the beat over the half-bar when the beat's peak is nearly as strong
    while lags[best // 2] >= 60 / 180 and ac[best // 2 - 1 : best // 2 + 2].max() > 0.6 * ac[best]:
        best //= 2
    return float(60 / lags[best])


def measure_pitch(audio: np.ndarray, sr: int = SAMPLE_RATE) -> dict[str, float]:
    """Dominant pitch per frame (harmonic product spectrum, 70-1400 Hz, and 250-1400 Hz for the voice above
    the bass) on the louder frames: 5th, 50th and 95th percentiles as MIDI notes; mean spectral centroid."""
    n_fft = 4096
    mag = _stft_mag(audio, n_fft, 512)
    freqs = np.fft.rfftfreq(n_fft, 1 / sr)
    energy = mag.sum(1)
    loud = mag[energy > np.percentile(energy, 40)]
    hps = loud.copy()
    for h in (2, 3):
        dec = loud[:, ::h]
        hps[:, : dec.shape[1]] *= dec
        hps[:, dec.shape[1] :] = 0
    out = {}
    for name, lo in (("pitch", 70), ("upper_pitch", 250)):  # upper: the voice above the bass line
        band = (freqs >= lo) & (freqs <= 1400)
        midi = 69 + 12 * np.log2(freqs[band][np.argmax(hps[:, band], axis=1)] / 440)
        out[f"{name}_p5_midi"] = float(np.percentile(midi, 5))
        out[f"{name}_p95_midi"] = float(np.percentile(midi, 95))
        out[f"{name}_median_midi"] = float(np.median(midi))
    out["spectral_centroid_hz"] = float(np.mean((mag * freqs).sum(1) / (mag.sum(1) + 1e-9)))
    return out


def describe(tokens: np.ndarray) -> dict[str, Any]:
    audio = render(tokens)
    piece = decode(tokens)
    midis = lead_midi(piece)
    return {
        "valid": bool(is_valid(tokens)),
        "tokens": {
            "bpm": piece.bpm,
            "mode": piece.mode,
            "lead": piece.lead,
            "bass": piece.bass,
            "drums": piece.kit,
            "lead_notes": int(len(midis)),
            "lead_midi_range": [int(midis.min()), int(midis.max())] if len(midis) else None,
        },
        "measured": {
            "tempo_bpm": round(measure_tempo(audio), 1),
            **{k: round(v, 1) for k, v in measure_pitch(audio).items()},
        },
    }


def inspect_prompts(
    model: Backend,
    prompts: list[str],
    out: str | Path,
    *,
    samples: int = 3,
    gamma: float = 1.0,
    seed: int = 0,
) -> dict[str, Any]:
    """For each prompt: ``samples`` clips as WAV, one PNG of their spectrograms, and a description (the
    built-in model only: the description reads its tokens)."""
    if not model.symbolic_tokens:
        raise ValueError(f"inspect reads the built-in model's tokens; the {model.name} backend has none")
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from generation.render import write_wav

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    tokens, _ = generate_for_prompts(model, prompts, samples, SamplingConfig(gamma=gamma), seed)
    report: dict[str, Any] = {}
    for i, text in enumerate(prompts):
        fig, axes = plt.subplots(samples, 1, figsize=(10, 2.2 * samples), squeeze=False)
        clips = []
        for k, seq in enumerate(tokens[i]):
            audio = render(seq)
            write_wav(out / f"prompt{i}_{k}.wav", audio)
            d = describe(seq)
            clips.append(d)
            mag = _stft_mag(audio, 1024, 256)
            ax = axes[k, 0]
            ax.imshow(
                20 * np.log10(mag.T[:256] + 1e-4),
                origin="lower",
                aspect="auto",
                cmap="magma",
                extent=(0, len(audio) / SAMPLE_RATE, 0, 256 * SAMPLE_RATE / 1024),
                vmin=-40,
                vmax=50,
            )
            t, m = d["tokens"], d["measured"]
            ax.set_title(
                f"{t['lead']} / {t['bass']} / drums {t['drums']}, {t['bpm']} bpm {t['mode']} | measured "
                f"{m['tempo_bpm']} bpm, upper pitch {m['upper_pitch_p5_midi']:.0f}-{m['upper_pitch_p95_midi']:.0f}, "
                f"centroid {m['spectral_centroid_hz']:.0f} Hz",
                fontsize=8,
            )
            ax.set_ylabel("Hz")
        axes[-1, 0].set_xlabel("seconds")
        fig.suptitle(f"{text!r} (gamma={gamma:g})")
        fig.tight_layout()
        png = out / f"prompt{i}.png"
        fig.savefig(png, dpi=80)
        plt.close(fig)
        report[text] = {"png": str(png), "clips": clips}
    return report
