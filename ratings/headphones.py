"""The headphone check's sounds, synthesised on the spot (Woods et al. 2017, "antiphase" test).

Each trial plays three 200 Hz tones; one is 6 dB quieter, one is played in antiphase between the
ears. Through headphones the antiphase tone sounds as loud as the normal one, so the quiet tone is
easy to pick; through loudspeakers the antiphase tone partly cancels in the air and sounds quietest.
"""

import functools
import io

import numpy as np
import soundfile

# Trials per check, and how many a rater must get right to pass.
HEADPHONE_TRIALS = 6
HEADPHONE_PASS_MARK = 5
SAMPLE_RATE = 22050
TONE_S = 1.0
GAP_S = 0.5
FREQUENCY_HZ = 200.0
LEVEL = 0.4
QUIET_GAIN = 10 ** (-6 / 20)


def _tone() -> np.ndarray:
    t = np.arange(int(TONE_S * SAMPLE_RATE)) / SAMPLE_RATE
    ramp = np.minimum(1.0, np.minimum(t, TONE_S - t) / 0.1)  # 100 ms fades: no clicks
    return LEVEL * ramp * np.sin(2 * np.pi * FREQUENCY_HZ * t)


def trial_wav(quiet: int, antiphase: int) -> bytes:
    """A stereo 16-bit WAV of three tones at positions 0, 1, 2. Kept once made (per process): there are
    six (quiet and antiphase two distinct positions of three), 345 KB each, and making one took 3.9 ms of
    CPU, most of a headphone sound request's (benchmarks/rater_load.py's "headphone audio", six per rater)."""
    return _trial_wav(int(quiet), int(antiphase))


@functools.cache
def _trial_wav(quiet: int, antiphase: int) -> bytes:
    tone = _tone()
    gap = np.zeros((int(GAP_S * SAMPLE_RATE), 2))
    parts = []
    for position in range(3):
        left = tone * (QUIET_GAIN if position == quiet else 1.0)
        right = -left if position == antiphase else left
        parts.append(np.stack([left, right], axis=1))
        if position < 2:
            parts.append(gap)
    buffer = io.BytesIO()
    soundfile.write(buffer, np.concatenate(parts), SAMPLE_RATE, format="WAV", subtype="PCM_16")
    return buffer.getvalue()
