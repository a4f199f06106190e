"""Ground truth for the built-in model: what a sample is, read back from its tokens, and metrics that use it.

Every token sequence decodes (leniently, as the renderer reads it) into what makes the music: the six
attributes a caption can state (genre, tempo, mood as mode, lead, bass, drums) and what no caption states
(key, tempo within its category, melody, rhythm, bass line, drum pattern). The genre is no token: it is the
one corpus genre whose style the piece follows throughout (tempo, instruments, melodic rhythm, bass figure,
drum pattern), or None when no genre (or more than one) fits.

Metrics, one value per prompt (plain numpy, like generation.metrics):
- prompt satisfaction: the share of a prompt's samples whose decoded attributes equal every attribute its
  caption states (``parse_caption`` reads them with the corpus's caption grammar);
- on-prompt diversity: over pairs of a prompt's samples, the mean difference in what the prompt leaves free:
  each caption attribute it does not state and the key (0 or 1), the melody (share of the 32 eighth-note
  steps where the sounding lead degree differs), the rhythm (Jaccard distance of the lead onsets), the bass
  line and the drums (share of steps that differ), weighted equally;
- off-prompt diversity: over the same pairs, the share of the stated attributes on which they differ.
On-prompt diversity is also given part by part (``ON_PARTS``): the unstated caption attributes together,
the key, the melody, the rhythm, the bass line and the drums; and over the pairs whose samples both satisfy
the prompt alone (a sample that leaves the prompt, a jazz tune for "rock song", also tends to change what the
prompt leaves free, its lead and drums).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from itertools import combinations

import numpy as np

from generation.corpus import (
    ATTRIBUTE_NAMES,
    BASS_PHRASES,
    GENRE_PHRASES,
    GENRES,
    KICK,
    KIT_PHRASES,
    LEAD_PHRASES,
    MOOD_WORDS,
    N_BARS,
    REST,
    RHYTHMS,
    SNARE,
    STEPS_PER_BAR,
    TEMPO_BPM,
    TEMPO_WORDS,
    Composition,
    decode,
    tempo_category,
)

SILENT = -100  # the degree of a step where a track plays nothing
LEAD_OFFSET, BASS_OFFSET = 7, 3  # token value 2 + degree + offset (see corpus.compose)
FREE_MUSIC = ("key", "melody", "rhythm", "bass_line", "drums")  # never stated by a caption
COMPONENTS = (*ATTRIBUTE_NAMES, *FREE_MUSIC)
MELODY_STYLE_OF_RHYTHM = {rhythm: style for style, rhythms in RHYTHMS.items() for rhythm in rhythms}
BASS_STYLE_OF_ONSETS = {
    (0,): "root_whole",
    (0, 4): "root_fifth",
    tuple(range(STEPS_PER_BAR)): "eighths",
    (1, 3, 5, 7): "offbeat",
    (0, 2, 4, 6): "walking",
}


@dataclass(frozen=True)
class Truth:
    """What a sample is. The first six fields are what a caption can state."""

    genre: str | None
    tempo: str
    mode: str
    lead: str
    bass: str
    kit: str
    tempo_bin: int
    key: int
    melody_style: str | None  # the corpus style whose rhythms every bar's lead onsets follow
    bass_style: str | None  # the corpus bass figure of every bar; None without a bass or with no figure
    drum_pattern: tuple[int, ...] | None  # the one-bar pattern every bar repeats; None if none
    fill: bool  # the last bar ends with the corpus's snare fill
    melody: tuple[int, ...]  # sounding lead degree at each step (SILENT when none)
    rhythm: tuple[int, ...]  # lead onset steps
    bass_line: tuple[int, ...]  # sounding bass degree at each step (all SILENT without a bass)
    drums: tuple[int, ...]  # drum mask at each step as heard (all 0 without a kit)

    def satisfies(self, spec: tuple[tuple[str, str], ...]) -> bool:
        return all(getattr(self, name) == value for name, value in spec)


def _sounding(steps: np.ndarray, offset: int) -> tuple[int, ...]:
    out, current = [], SILENT
    for token in steps:
        if token >= 2:
            current = int(token) - 2 - offset
        elif token == REST:
            current = SILENT
        out.append(current)  # a hold keeps the note (a hold after a rest stays silent, as rendered)
    return tuple(out)


def _per_bar(onsets: np.ndarray) -> list[tuple[int, ...]]:
    return [
        tuple(int(s) - bar * STEPS_PER_BAR for s in onsets if s // STEPS_PER_BAR == bar)
        for bar in range(N_BARS)
    ]


def _one(values: list[str | None]) -> str | None:
    """The value every bar agrees on, or None."""
    return values[0] if values and all(v == values[0] for v in values) else None


def _drum_pattern(drums: tuple[int, ...]) -> tuple[tuple[int, ...] | None, bool]:
    bars = [drums[b * STEPS_PER_BAR : (b + 1) * STEPS_PER_BAR] for b in range(N_BARS)]
    first, last = bars[0], bars[-1]
    filled = tuple(SNARE | (d & KICK) for d in first[-2:])
    if (
        any(bar != first for bar in bars[1:-1])
        or last[:-2] != first[:-2]
        or last[-2:] not in (first[-2:], filled)
    ):
        return None, False
    return first, last[-2:] != first[-2:]


def decode_truth(tokens: np.ndarray) -> Truth:
    """The ground truth of one token sequence."""
    piece = decode(np.asarray(tokens))
    tempo_bin = TEMPO_BPM.index(piece.bpm)
    lead_onsets = np.flatnonzero(piece.lead_steps >= 2)
    melody_style = _one([MELODY_STYLE_OF_RHYTHM.get(r) for r in _per_bar(lead_onsets)])
    has_bass, has_kit = piece.bass != "none", piece.kit != "none"
    bass_style = (
        _one([BASS_STYLE_OF_ONSETS.get(o) for o in _per_bar(np.flatnonzero(piece.bass_steps >= 2))])
        if has_bass
        else None
    )
    drums = tuple(int(d) for d in piece.drum_steps) if has_kit else (0,) * len(piece.drum_steps)
    drum_pattern, fill = _drum_pattern(drums)
    genres = [
        g.name
        for g in GENRES.values()
        if tempo_bin in g.tempo_bins
        and piece.lead in g.leads
        and piece.bass in g.basses
        and piece.kit in g.kits
        and melody_style in g.melody_styles
        and (not has_bass or bass_style in g.bass_styles)
        and (not has_kit or drum_pattern in g.drum_bars)
    ]
    return Truth(
        genre=genres[0] if len(genres) == 1 else None,
        tempo=tempo_category(piece.bpm),
        mode=piece.mode,
        lead=piece.lead,
        bass=piece.bass,
        kit=piece.kit,
        tempo_bin=tempo_bin,
        key=piece.key,
        melody_style=melody_style,
        bass_style=bass_style,
        drum_pattern=drum_pattern,
        fill=fill,
        melody=_sounding(piece.lead_steps, LEAD_OFFSET),
        rhythm=tuple(int(s) for s in lead_onsets),
        bass_line=_sounding(piece.bass_steps, BASS_OFFSET) if has_bass else (SILENT,) * len(piece.bass_steps),
        drums=drums,
    )


def _line(notes: tuple[tuple[int, int, int], ...]) -> tuple[int, ...]:
    line = [SILENT] * (N_BARS * STEPS_PER_BAR)
    for onset, length, degree in notes:
        line[onset : onset + length] = [degree] * length
    return tuple(line)


def truth_of_composition(c: Composition) -> Truth:
    """The ground truth as the corpus drew it: what ``decode_truth`` must read back from its tokens."""
    drums = list(c.drum_pattern) * N_BARS
    if c.fill:
        drums[-2:] = [SNARE | (d & KICK) for d in drums[-2:]]
    return Truth(
        genre=c.attrs.genre,
        tempo=c.attrs.tempo,
        mode=c.attrs.mode,
        lead=c.attrs.lead,
        bass=c.attrs.bass,
        kit=c.attrs.kit,
        tempo_bin=c.attrs.tempo_bin,
        key=c.attrs.key,
        melody_style=c.melody_style,
        bass_style=c.bass_style,
        drum_pattern=c.drum_pattern,
        fill=c.fill,
        melody=_line(c.lead_notes),
        rhythm=tuple(onset for onset, _, _ in c.lead_notes),
        bass_line=_line(c.bass_notes),
        drums=tuple(drums),
    )


# --- what a caption states ----------------------------------------------------------------------------


def _words(text: str) -> str:
    return " " + " ".join(re.findall(r"[a-z][a-z\-]*", text.lower())) + " "


def _phrases() -> list[tuple[str, str, str]]:
    """(phrase, attribute, value) of the caption grammar, longest phrase first."""
    tables = {
        "genre": GENRE_PHRASES,
        "tempo": TEMPO_WORDS,
        "mode": MOOD_WORDS,
        "lead": LEAD_PHRASES,
        "bass": BASS_PHRASES,
        "kit": KIT_PHRASES,
    }
    rows: dict[str, tuple[str, str]] = {}
    for attribute, table in tables.items():
        for value, phrases in table.items():
            for phrase in phrases:
                key = _words(phrase)
                if rows.setdefault(key, (attribute, value)) != (attribute, value):
                    raise ValueError(
                        f"caption phrase {phrase!r} means both {rows[key]} and {(attribute, value)}"
                    )
    return sorted(((p, a, v) for p, (a, v) in rows.items()), key=lambda row: -len(row[0]))


PHRASES = _phrases()


def parse_caption(text: str) -> tuple[tuple[str, str], ...]:
    """The attributes a caption states, as ``corpus.Prompt.spec``: sorted (attribute, value) pairs."""
    rest, stated = _words(text), {}
    for phrase, attribute, value in PHRASES:
        if phrase in rest:
            if stated.setdefault(attribute, value) != value:
                raise ValueError(
                    f"caption {text!r} states two values of {attribute}: {stated[attribute]}, {value}"
                )
            rest = rest.replace(phrase, " | ")
    return tuple(sorted(stated.items()))


# --- metrics ------------------------------------------------------------------------------------------


def differences(a: Truth, b: Truth) -> dict[str, float]:
    """How two samples differ, per component, each in [0, 1]."""
    out = {name: float(getattr(a, name) != getattr(b, name)) for name in (*ATTRIBUTE_NAMES, "key")}
    for name in ("melody", "bass_line", "drums"):
        out[name] = float(np.mean(np.array(getattr(a, name)) != np.array(getattr(b, name))))
    onsets_a, onsets_b = set(a.rhythm), set(b.rhythm)
    union = onsets_a | onsets_b
    out["rhythm"] = 1.0 - len(onsets_a & onsets_b) / len(union) if union else 0.0
    return out


def on_off_prompt(diff: dict[str, float], stated: set[str]) -> tuple[float, float]:
    """(on-prompt, off-prompt) difference of a pair: mean over free components, mean over stated ones."""
    free = [diff[c] for c in COMPONENTS if c not in stated]
    off = [diff[c] for c in COMPONENTS if c in stated]
    return float(np.mean(free)), float(np.mean(off)) if off else 0.0


ON_PARTS = ("free_attributes", *FREE_MUSIC)  # the unstated caption attributes together, then each other part


@dataclass
class GroundTruthScores:
    """Per prompt (P,) means, and the per-sample (P, K) and per-pair (P, K(K-1)/2) values behind them (pairs
    in ``itertools.combinations`` order)."""

    satisfaction: np.ndarray
    on_prompt: np.ndarray
    off_prompt: np.ndarray
    on_parts: dict[str, np.ndarray]  # ON_PARTS -> (P,): on-prompt diversity one part at a time
    sample_satisfied: np.ndarray
    pair_on: np.ndarray
    pair_off: np.ndarray

    @property
    def on_prompt_satisfied(self) -> np.ndarray:
        """(P,) on-prompt diversity over the pairs whose samples both satisfy the prompt (NaN where no such
        pair): free variation inside the prompt, apart from what leaving the prompt brings along."""
        both = np.array([[a and b for a, b in combinations(row, 2)] for row in self.sample_satisfied])
        with np.errstate(invalid="ignore"):
            return np.where(both.any(1), (self.pair_on * both).sum(1) / both.sum(1), np.nan)


def score(specs: list[tuple[tuple[str, str], ...]], truths: list[list[Truth]]) -> GroundTruthScores:
    """Ground-truth metrics of P prompts (their stated attributes) and K >= 2 decoded samples each."""
    if not truths or len(truths[0]) < 2:
        raise ValueError("ground-truth diversity needs at least 2 samples per prompt")
    satisfied = np.array(
        [[t.satisfies(spec) for t in samples] for spec, samples in zip(specs, truths, strict=True)]
    )
    pair_on, pair_off, parts = [], [], []
    for spec, samples in zip(specs, truths, strict=True):
        stated = {name for name, _ in spec}
        diffs = [differences(a, b) for a, b in combinations(samples, 2)]
        on_off = [on_off_prompt(d, stated) for d in diffs]
        pair_on.append([on for on, _ in on_off])
        pair_off.append([off for _, off in on_off])
        free = [name for name in ATTRIBUTE_NAMES if name not in stated]
        parts.append(
            [np.mean([d[n] for d in diffs for n in free]) if free else np.nan]
            + [np.mean([d[n] for d in diffs]) for n in FREE_MUSIC]
        )
    pair_on_a, pair_off_a = np.array(pair_on), np.array(pair_off)
    return GroundTruthScores(
        satisfaction=satisfied.mean(1),
        on_prompt=pair_on_a.mean(1),
        off_prompt=pair_off_a.mean(1),
        on_parts=dict(zip(ON_PARTS, np.array(parts).T, strict=True)),
        sample_satisfied=satisfied,
        pair_on=pair_on_a,
        pair_off=pair_off_a,
    )


def score_tokens(specs: list[tuple[tuple[str, str], ...]], tokens: np.ndarray) -> GroundTruthScores:
    """``score`` of token sequences (P, K, seq_len)."""
    return score(specs, [[decode_truth(t) for t in samples] for samples in np.asarray(tokens)])
