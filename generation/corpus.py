"""A procedural corpus that ties text to symbolic music.

Each example is a caption (natural, varied wording over genre, tempo, mood, lead instrument or voice, bass
and drums, with attributes dropped at random) and a four-bar piece drawn from the genre's style: tempo,
key, mode, instruments, a chord progression, a melodic motif arranged in a form (AABA, ABAB, ...), a bass
line and a drum pattern. Pieces are encoded as a fixed-length token sequence (see ``MusicVocab``).

Like web-scraped captions, a fraction ``caption_noise`` of the pairs carries a caption written for another
piece: that looseness between text and music is what classifier-free guidance corrects (on a corpus with
exact captions the conditional model already matched the corpus's text adherence and CFG added nothing
measurable; see docs/generation.md).

Splits are reproducible from a seed: captions whose hash falls in the held-out bucket (and the paper's
"Rock song" and "Opera singer") never occur in training; validation examples are separate draws.
"""

from __future__ import annotations

import hashlib
import re
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

CORPUS_VERSION = "v3"  # v2: caption noise; v3: free choices weighted per genre, genre keys and hooks

# --- musical vocabulary -------------------------------------------------------------------------------

TEMPO_BPM = (70, 78, 86, 94, 102, 110, 118, 126, 134, 142, 150, 160)
LEADS = (
    "distorted_guitar",
    "acoustic_guitar",
    "piano",
    "strings",
    "flute",
    "saxophone",
    "synth_lead",
    "organ",
    "soprano_voice",
    "baritone_voice",
)
BASSES = ("none", "electric_bass", "upright_bass", "synth_bass", "cello")
KITS = ("none", "acoustic", "electronic")
MODES = ("major", "minor")
N_KEYS = 12
N_BARS = 4
STEPS_PER_BAR = 8  # eighth notes in 4/4
N_STEPS = N_BARS * STEPS_PER_BAR
N_LEAD_DEGREES = 22  # diatonic degrees -7..14 around the tonic
N_BASS_DEGREES = 15  # diatonic degrees -3..11 around the (low) tonic
KICK, SNARE, HAT, RIDE = 1, 2, 4, 8  # drum token = bit mask


@dataclass(frozen=True)
class MusicVocab:
    """Token layout: BOS, six header tokens (tempo, key, mode, lead, bass, kit), then per eighth-note step
    a lead token (rest, hold or a degree), a bass token (rest, hold or a degree) and a drum token."""

    bos: int = 0
    tempo: int = 1
    key: int = tempo + len(TEMPO_BPM)
    mode: int = key + N_KEYS
    lead_instrument: int = mode + len(MODES)
    bass_instrument: int = lead_instrument + len(LEADS)
    kit: int = bass_instrument + len(BASSES)
    lead: int = kit + len(KITS)  # lead + 0 = rest, + 1 = hold, + 2 + d = degree d
    bass: int = lead + 2 + N_LEAD_DEGREES
    drum: int = bass + 2 + N_BASS_DEGREES
    size: int = drum + 16
    header_len: int = 7
    seq_len: int = 7 + 3 * N_STEPS

    def slot_ranges(self) -> list[tuple[int, int]]:
        """The valid [start, stop) token range of every position in a sequence."""
        header = [
            (self.bos, self.bos + 1),
            (self.tempo, self.key),
            (self.key, self.mode),
            (self.mode, self.lead_instrument),
            (self.lead_instrument, self.bass_instrument),
            (self.bass_instrument, self.kit),
            (self.kit, self.lead),
        ]
        step = [(self.lead, self.bass), (self.bass, self.drum), (self.drum, self.size)]
        return header + step * N_STEPS


VOCAB = MusicVocab()
REST, HOLD = 0, 1


# --- styles -----------------------------------------------------------------------------------------

K, S, H, R = KICK, SNARE, HAT, RIDE


@dataclass(frozen=True)
class Genre:
    name: str
    tempo_bins: tuple[int, ...]
    leads: tuple[str, ...]
    basses: tuple[str, ...]
    kits: tuple[str, ...]
    drum_bars: tuple[tuple[int, ...], ...]
    bass_styles: tuple[str, ...]
    melody_styles: tuple[str, ...]
    minor_prob: float
    progressions: tuple[tuple[int, ...], ...] = ((0, 3, 4, 0), (0, 5, 3, 4), (0, 4, 5, 3), (5, 3, 0, 4))
    keys: tuple[int, ...] = (0, 7, 2)  # the genre's favourite keys (0 = C), most favoured first


# Every free choice of a genre (tempo bin, lead, bass, kit, drum pattern, bass figure, melodic style, chord
# progression, its favourite keys) is listed most typical first and drawn with weights 2^-i: each genre has
# a signature and a tail of choices it shares with other genres, as real genres do. The tail is the room for
# diversity inside a caption; the signature is what guidance (CFG) pulls a sample towards.
KEY_FAVOUR = 0.8  # share of pieces in one of their genre's favourite keys (else any of the 12)
HOOK_PROB = 0.5  # share of a piece's motifs that are one of its genre's hooks (else composed afresh)


def weights(n: int) -> np.ndarray:
    """The draw weights of n choices listed most typical first: proportional to 2^-i."""
    w = 0.5 ** np.arange(n)
    return w / w.sum()


def pick(options: tuple, rng: np.random.Generator):
    """One of ``options`` (most typical first), drawn with ``weights``."""
    return options[int(rng.choice(len(options), p=weights(len(options))))]


GENRES: dict[str, Genre] = {
    g.name: g
    for g in (
        Genre(
            "rock",
            (9, 10, 8, 11, 7),
            ("distorted_guitar", "baritone_voice", "organ"),
            ("electric_bass",),
            ("acoustic",),
            (
                (K | H, H, S | H, H, K | H, K | H, S | H, H),
                (K | H, H, S | H, K | H, K | H, H, S | H, H),
                (K | R, R, S | R, R, K | R, K | R, S | R, R),
                (K | H, H, S | H, H, H, K | H, S | H, K | H),
            ),
            ("eighths", "root_fifth", "root_whole"),
            ("riff", "syncopated", "stepwise", "long"),
            0.5,
            ((0, 3, 4, 0), (0, 6, 3, 0), (0, 4, 5, 3), (0, 0, 3, 4)),
            (4, 9, 2, 7),
        ),
        Genre(
            "opera",
            (1, 0, 2, 3),
            ("soprano_voice", "baritone_voice"),
            ("cello", "none"),
            ("none",),
            ((0,) * 8,),
            ("root_whole", "root_fifth"),
            ("long", "stepwise", "arpeggio"),
            0.5,
            keys=(10, 3, 5, 8),
        ),
        Genre(
            "jazz",
            (5, 4, 6, 3, 7),
            ("saxophone", "piano", "organ"),
            ("upright_bass",),
            ("acoustic",),
            (
                (R, 0, R | H, R, R, 0, R | H, R),
                (R | K, 0, R | H, 0, R, R, R | H, 0),
                (R, R, R | H | S, 0, R, R, R | H, S),
            ),
            ("walking", "root_fifth"),
            ("syncopated", "stepwise", "arpeggio", "riff"),
            0.4,
            ((1, 4, 0, 0), (0, 5, 1, 4), (1, 4, 0, 5)),
            (5, 10, 3, 0),
        ),
        Genre(
            "techno",
            (8, 9, 7, 10),
            ("synth_lead", "organ"),
            ("synth_bass",),
            ("electronic",),
            (
                (K, H, K | S, H, K, H, K | S, H),
                (K, R, K | S, R, K, R, K | S, R),
                (K, 0, K, H, K, 0, K, H),
                (K | H, H, K | S | H, H, K | H, H, K | S | H, R),
            ),
            ("offbeat", "eighths"),
            ("arpeggio", "riff", "syncopated"),
            0.7,
            ((0, 0, 5, 5), (0, 5, 3, 4), (0, 0, 0, 0)),
            (9, 5, 7, 2),
        ),
        Genre(
            "folk",
            (4, 3, 5, 2, 6),
            ("acoustic_guitar", "flute"),
            ("none", "upright_bass"),
            ("none", "acoustic"),
            ((K, 0, 0, 0, S, 0, 0, 0), (K, 0, H, 0, K | S, 0, H, 0), (K, 0, 0, S, K, 0, 0, S)),
            ("root_fifth", "root_whole", "walking"),
            ("stepwise", "arpeggio", "long"),
            0.35,
            keys=(7, 2, 0, 9),
        ),
        Genre(
            "classical",
            (3, 2, 4, 1, 5),
            ("piano", "strings"),
            ("cello", "none"),
            ("none",),
            ((0,) * 8,),
            ("root_whole", "root_fifth"),
            ("arpeggio", "stepwise", "long"),
            0.4,
            keys=(0, 7, 2, 5),
        ),
        Genre(
            "hip_hop",
            (3, 2, 4),
            ("piano", "synth_lead", "organ"),
            ("synth_bass",),
            ("electronic",),
            (
                (K | H, H, S | H, K | H, H, K | H, S | H, H),
                (K | H, 0, S | H, 0, K | H, K, S | H, H),
                (K | H, H, S | H, H, 0, K | H, S | H, K),
            ),
            ("root_fifth", "offbeat", "root_whole"),
            ("syncopated", "long", "riff"),
            0.7,
            keys=(1, 6, 8, 11),
        ),
        Genre(
            "reggae",
            (1, 0, 2, 3),
            ("organ", "acoustic_guitar"),
            ("electric_bass",),
            ("acoustic",),
            (
                (H, H, H, H, K | S | H, H, H, H),
                (H, 0, H, 0, K | S | H, 0, H, H),
                (0, H, 0, H, K | S, H, 0, H),
            ),
            ("root_fifth", "walking", "offbeat"),
            ("syncopated", "riff", "stepwise"),
            0.3,
            keys=(7, 9, 0, 2),
        ),
    )
}

RHYTHMS = {  # onset steps within a bar, per melodic style
    "long": ((0,), (0, 4), (0, 6), (0, 2, 4), (0, 3), (0, 4, 6)),
    "stepwise": (
        (0, 2, 4, 6),
        (0, 2, 3, 4, 6),
        (0, 1, 2, 4, 6),
        (0, 2, 4, 5, 6),
        (0, 2, 4, 6, 7),
        (0, 1, 2, 3, 4),
    ),
    "riff": ((0, 1, 3, 4, 6), (0, 2, 3, 5, 6), (0, 1, 2, 3, 4, 6), (0, 3, 4, 6, 7), (0, 1, 3, 5, 6, 7)),
    "arpeggio": ((0, 1, 2, 3, 4, 5, 6, 7), (0, 1, 2, 4, 5, 6), (0, 2, 3, 4, 6, 7), (0, 1, 2, 3, 5, 6, 7)),
    "syncopated": ((0, 3, 6), (1, 3, 4, 6), (0, 3, 5, 7), (0, 2, 5), (1, 4, 6), (0, 3, 4, 7)),
}
CENTER_DEGREE = {"long": 5, "stepwise": 3, "riff": 1, "arpeggio": 2, "syncopated": 3}
FORMS = ("AABA", "ABAB", "AAAB", "ABAC", "AABB")
CENTER_SHIFTS = (0, -1, 1)  # the melody's centre around its style's, most typical first


# --- captions ---------------------------------------------------------------------------------------

GENRE_PHRASES = {
    "rock": ("rock song", "rock track", "rock tune", "rock music", "rock anthem"),
    "opera": ("opera aria", "operatic aria", "opera piece", "opera music"),
    "jazz": ("jazz tune", "jazz piece", "jazz track", "jazz music"),
    "techno": ("techno track", "techno tune", "techno music", "club techno track"),
    "folk": ("folk song", "folk tune", "folk music", "acoustic folk song"),
    "classical": ("classical piece", "classical music", "chamber piece"),
    "hip_hop": ("hip hop beat", "hip hop track", "hip hop instrumental"),
    "reggae": ("reggae song", "reggae tune", "reggae track"),
}
TEMPO_WORDS = {
    "slow": ("slow", "laid-back", "gentle", "relaxed"),
    "moderate": ("mid-tempo", "moderate", "steady"),
    "fast": ("fast", "upbeat", "driving", "lively"),
    "very_fast": ("very fast", "frantic", "high-energy"),
}
MOOD_WORDS = {
    "major": ("happy", "bright", "cheerful", "uplifting", "joyful"),
    "minor": ("sad", "melancholic", "dark", "moody", "sombre"),
}
LEAD_PHRASES = {
    "distorted_guitar": ("distorted electric guitar", "overdriven guitar", "heavy guitar riffs"),
    "acoustic_guitar": ("acoustic guitar", "fingerpicked guitar", "strummed acoustic guitar"),
    "piano": ("piano", "grand piano", "solo piano"),
    "strings": ("strings", "string ensemble", "violins"),
    "flute": ("flute", "wooden flute", "airy flute"),
    "saxophone": ("saxophone", "tenor sax", "smooth saxophone"),
    "synth_lead": ("synth lead", "analog synthesizer", "buzzing synth"),
    "organ": ("organ", "hammond organ", "electric organ"),
    "soprano_voice": ("opera singer", "soprano voice", "operatic soprano", "female opera singer"),
    "baritone_voice": ("male singer", "baritone voice", "deep male vocals"),
}
BASS_PHRASES = {
    "electric_bass": ("electric bass", "bass guitar"),
    "upright_bass": ("upright bass", "walking double bass"),
    "synth_bass": ("synth bass", "deep sub bass"),
    "cello": ("cello", "low cello"),
}
KIT_PHRASES = {
    "none": ("without drums", "no percussion"),
    "acoustic": ("live drums", "acoustic drum kit"),
    "electronic": ("drum machine", "electronic beats"),
}
STOPWORDS = frozenset(("a", "an", "the", "with", "and", "of", "by", "in", "on", "some", "its", "that"))
TEXT_LEN = 10
TEXT_SPECIALS = ("<pad>", "<null>", "<unk>")
PAD_WORD, NULL_WORD, UNK_WORD = 0, 1, 2
PAPER_PROMPTS = ("Rock song", "Opera singer")


def tempo_category(bpm: int) -> str:
    if bpm < 90:
        return "slow"
    if bpm < 118:
        return "moderate"
    if bpm < 142:
        return "fast"
    return "very_fast"


def _templates() -> tuple[str, ...]:
    return (
        "{mood} {tempo} {genre}",
        "{tempo} {genre} with {lead}",
        "{mood} {genre} featuring {lead}",
        "a {mood} {tempo} {genre} with {lead} and {bass}",
        "{genre} with {lead}, {bass} and {drums}",
        "{lead} playing a {mood} {tempo} melody",
        "{mood} melody on {lead} over {drums}",
        "{genre}",
        "{lead}",
        "{tempo} {genre}, {drums}",
        "a {genre} led by {lead}",
        "{mood} {lead} with {bass}",
    )


TEMPLATES = _templates()


def words(text: str) -> list[str]:
    return [w for w in re.findall(r"[a-z][a-z\-]*", text.lower()) if w not in STOPWORDS]


def _text_vocab() -> dict[str, int]:
    bank: list[str] = []
    for table in (GENRE_PHRASES, TEMPO_WORDS, MOOD_WORDS, LEAD_PHRASES, BASS_PHRASES, KIT_PHRASES):
        for phrases in table.values():
            for p in phrases:
                bank.extend(words(p))
    for t in TEMPLATES:
        bank.extend(words(re.sub(r"\{\w+\}", " ", t)))
    vocab = {w: i for i, w in enumerate(TEXT_SPECIALS)}
    for w in sorted(set(bank)):
        vocab.setdefault(w, len(vocab))
    return vocab


TEXT_VOCAB = _text_vocab()


def encode_text(texts: list[str] | tuple[str, ...], null: bool = False) -> np.ndarray:
    """Captions to left-padded word ids, shape (len(texts), TEXT_LEN). The null prompt is a lone <null>."""
    out = np.full((len(texts), TEXT_LEN), PAD_WORD, dtype=np.int64)
    for i, text in enumerate(texts):
        ids = [NULL_WORD] if null else [TEXT_VOCAB.get(w, UNK_WORD) for w in words(text)][:TEXT_LEN]
        ids = ids or [NULL_WORD]
        out[i, TEXT_LEN - len(ids) :] = ids
    return out


# --- pieces -----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Attributes:
    genre: str
    tempo_bin: int
    key: int
    mode: str
    lead: str
    bass: str
    kit: str

    @property
    def tempo(self) -> str:
        return tempo_category(TEMPO_BPM[self.tempo_bin])


ATTRIBUTE_NAMES = ("genre", "tempo", "mode", "lead", "bass", "kit")


@dataclass(frozen=True)
class Prompt:
    """A caption and the attributes it states (the rest are free)."""

    text: str
    spec: tuple[tuple[str, str], ...]
    prompt_id: str = field(default="")

    def matches(self, attrs: Attributes) -> bool:
        return all(getattr(attrs, name) == value for name, value in self.spec)


def sample_attributes(rng: np.random.Generator) -> Attributes:
    genre = GENRES[list(GENRES)[rng.integers(len(GENRES))]]
    tempo_bin = int(pick(genre.tempo_bins, rng))
    key = int(pick(genre.keys, rng)) if rng.random() < KEY_FAVOUR else int(rng.integers(N_KEYS))
    return Attributes(
        genre=genre.name,
        tempo_bin=tempo_bin,
        key=key,
        mode="minor" if rng.random() < genre.minor_prob else "major",
        lead=str(pick(genre.leads, rng)),
        bass=str(pick(genre.basses, rng)),
        kit=str(pick(genre.kits, rng)),
    )


def sample_prompt(attrs: Attributes, rng: np.random.Generator) -> Prompt:
    """A caption for ``attrs``: a random template, random synonyms; attributes it leaves out are free."""
    while True:
        template = TEMPLATES[rng.integers(len(TEMPLATES))]
        slots = set(re.findall(r"\{(\w+)\}", template))
        if "bass" in slots and attrs.bass == "none":
            continue
        break
    values = {
        "genre": GENRE_PHRASES[attrs.genre][rng.integers(len(GENRE_PHRASES[attrs.genre]))],
        "tempo": TEMPO_WORDS[attrs.tempo][rng.integers(len(TEMPO_WORDS[attrs.tempo]))],
        "mood": MOOD_WORDS[attrs.mode][rng.integers(len(MOOD_WORDS[attrs.mode]))],
        "lead": LEAD_PHRASES[attrs.lead][rng.integers(len(LEAD_PHRASES[attrs.lead]))],
        "bass": BASS_PHRASES.get(attrs.bass, ("",))[rng.integers(len(BASS_PHRASES.get(attrs.bass, ("",))))],
        "drums": KIT_PHRASES[attrs.kit][rng.integers(len(KIT_PHRASES[attrs.kit]))],
    }
    text = template.format(**values)
    text = text[0].upper() + text[1:]
    slot_attr = {
        "genre": "genre",
        "tempo": "tempo",
        "mood": "mode",
        "lead": "lead",
        "bass": "bass",
        "drums": "kit",
    }
    spec = tuple(sorted((slot_attr[s], getattr(attrs, slot_attr[s])) for s in slots))
    return Prompt(text=text, spec=spec)


def attributes_for(prompt: Prompt, rng: np.random.Generator, max_tries: int = 10_000) -> Attributes:
    """Attributes drawn from the corpus prior, conditioned on what the prompt states (rejection sampling)."""
    for _ in range(max_tries):
        attrs = sample_attributes(rng)
        if prompt.matches(attrs):
            return attrs
    raise ValueError(f"no attributes match prompt {prompt.text!r}; check its spec {prompt.spec}")


def _scale_semitones(mode: str, degree: int) -> int:
    scale = (0, 2, 4, 5, 7, 9, 11) if mode == "major" else (0, 2, 3, 5, 7, 8, 10)
    return 12 * (degree // 7) + scale[degree % 7]


def _motif(style: str, rng: np.random.Generator) -> list[tuple[int, int, int]]:
    """One bar: (onset step, length in steps, degree offset from the chord root)."""
    onsets = list(RHYTHMS[style][rng.integers(len(RHYTHMS[style]))])
    notes = []
    degree = int(rng.choice((0, 2, 4)))
    arp = (0, 2, 4, 7, 4, 2, 0, 2)
    for i, onset in enumerate(onsets):
        end = onsets[i + 1] if i + 1 < len(onsets) else STEPS_PER_BAR
        length = end - onset
        if length > 1 and style in ("riff", "syncopated") and rng.random() < 0.35:
            length -= 1  # a rest before the next note
        if style == "arpeggio":
            degree = arp[(i + int(rng.integers(2))) % len(arp)]
        elif i > 0:
            step = int(rng.choice((-2, -1, 1, 2) if style != "riff" else (-3, 0, 0, 2, 3)))
            degree = int(np.clip(degree + step, -3, 7))
        notes.append((onset, length, degree))
    return notes


def _hooks() -> dict[tuple[str, str], tuple[tuple[tuple[int, int, int], ...], ...]]:
    """Two signature motifs per genre and melodic style (its "hooks"), fixed for the corpus version."""
    out = {}
    for genre in GENRES.values():
        for style in genre.melody_styles:
            seed = zlib.crc32(f"hook:{genre.name}:{style}".encode())
            rng = np.random.default_rng(seed)
            out[genre.name, style] = tuple(tuple(_motif(style, rng)) for _ in range(2))
    return out


def _bass_bar(style: str, root: int, rng: np.random.Generator) -> list[tuple[int, int, int]]:
    if style == "root_whole":
        return [(0, 8, root)]
    if style == "root_fifth":
        return [(0, 4, root), (4, 4, root + 4)]
    if style == "eighths":
        return [(s, 1, root) for s in range(8)]
    if style == "offbeat":
        return [(s, 1, root + (7 if rng.random() < 0.2 else 0)) for s in (1, 3, 5, 7)]
    walk = (root, root + int(rng.choice((1, 2))), root + 4, root + int(rng.choice((3, 5))))
    return [(2 * i, 2, d) for i, d in enumerate(walk)]


@dataclass(frozen=True)
class Composition:
    """Everything ``compose`` drew for a piece beyond its attributes: the ground truth of a corpus item."""

    attrs: Attributes
    progression: tuple[int, ...]
    form: str
    melody_style: str
    lead_notes: tuple[tuple[int, int, int], ...]  # (onset step, length in steps, degree -7..14)
    bass_style: str | None  # None without a bass
    bass_notes: tuple[tuple[int, int, int], ...]  # (onset step, length in steps, degree -3..11)
    drum_pattern: tuple[int, ...]  # one bar of drum masks; silence without a kit
    fill: bool  # a snare fill ends the last bar


def compose(attrs: Attributes, rng: np.random.Generator) -> np.ndarray:
    """A four-bar piece in the style of ``attrs``, as a token sequence of length VOCAB.seq_len."""
    return compose_traced(attrs, rng)[0]


def compose_traced(attrs: Attributes, rng: np.random.Generator) -> tuple[np.ndarray, Composition]:
    """``compose`` that also returns what it drew (the same draws from ``rng``, so the same corpus)."""
    genre = GENRES[attrs.genre]
    progression = pick(genre.progressions, rng)
    form = FORMS[rng.integers(len(FORMS))]
    style = str(pick(genre.melody_styles, rng))
    center = CENTER_DEGREE[style] + int(pick(CENTER_SHIFTS, rng))
    motifs = {
        name: list(pick(HOOKS[genre.name, style], rng)) if rng.random() < HOOK_PROB else _motif(style, rng)
        for name in sorted(set(form))
    }
    bass_style = str(pick(genre.bass_styles, rng))
    drum_bar = pick(genre.drum_bars, rng)
    lead = np.full(N_STEPS, REST)
    bass = np.full(N_STEPS, REST)
    lead_notes, bass_notes = [], []
    for bar, name in enumerate(form):
        root = progression[bar]
        base = bar * STEPS_PER_BAR
        for onset, length, offset in motifs[name]:
            degree = int(np.clip(center + root + offset - (7 if center + root + offset > 12 else 0), -7, 14))
            lead[base + onset] = 2 + degree + 7
            lead[base + onset + 1 : base + onset + length] = HOLD
            lead_notes.append((base + onset, length, degree))
        if attrs.bass != "none":
            for onset, length, degree in _bass_bar(bass_style, root, rng):
                bass[base + onset] = 2 + int(np.clip(degree, -3, 11)) + 3
                bass[base + onset + 1 : base + onset + length] = HOLD
                bass_notes.append((base + onset, length, int(np.clip(degree, -3, 11))))
    drums = np.tile(np.array(drum_bar), N_BARS) if attrs.kit != "none" else np.zeros(N_STEPS, dtype=int)
    fill = bool(attrs.kit != "none" and rng.random() < 0.5)
    if fill:
        drums[-2:] = SNARE | (drums[-2:] & KICK)
    tokens = np.empty(VOCAB.seq_len, dtype=np.int64)
    tokens[:7] = (
        VOCAB.bos,
        VOCAB.tempo + attrs.tempo_bin,
        VOCAB.key + attrs.key,
        VOCAB.mode + MODES.index(attrs.mode),
        VOCAB.lead_instrument + LEADS.index(attrs.lead),
        VOCAB.bass_instrument + BASSES.index(attrs.bass),
        VOCAB.kit + KITS.index(attrs.kit),
    )
    tokens[7::3] = VOCAB.lead + lead
    tokens[8::3] = VOCAB.bass + bass
    tokens[9::3] = VOCAB.drum + drums
    composition = Composition(
        attrs=attrs,
        progression=tuple(progression),
        form=form,
        melody_style=style,
        lead_notes=tuple(lead_notes),
        bass_style=bass_style if attrs.bass != "none" else None,
        bass_notes=tuple(bass_notes),
        drum_pattern=tuple(drum_bar) if attrs.kit != "none" else (0,) * STEPS_PER_BAR,
        fill=fill,
    )
    return tokens, composition


HOOKS = _hooks()


# --- decoding and validity ------------------------------------------------------------------------


@dataclass(frozen=True)
class Piece:
    bpm: int
    key: int
    mode: str
    lead: str
    bass: str
    kit: str
    lead_steps: np.ndarray  # (N_STEPS,) REST / HOLD / 2 + degree index
    bass_steps: np.ndarray
    drum_steps: np.ndarray  # bit masks


def is_valid(tokens: np.ndarray) -> bool:
    """Well-formed: every token of the right kind, no hold after a rest, at least three lead notes."""
    tokens = np.asarray(tokens)
    if tokens.shape != (VOCAB.seq_len,):
        return False
    for t, (lo, hi) in zip(tokens, SLOT_RANGES, strict=True):
        if not lo <= t < hi:
            return False
    for track, start in ((tokens[7::3] - VOCAB.lead, 0), (tokens[8::3] - VOCAB.bass, 0)):
        prev = REST
        for t in track[start:]:
            if t == HOLD and prev == REST:
                return False
            prev = t
    return int(np.sum(tokens[7::3] - VOCAB.lead >= 2)) >= 3


SLOT_RANGES = VOCAB.slot_ranges()
SLOT_LO = np.array([lo for lo, _ in SLOT_RANGES])
SLOT_HI = np.array([hi for _, hi in SLOT_RANGES])


def decode(tokens: np.ndarray) -> Piece:
    """Tokens to a piece, leniently: a token of the wrong kind is read as silence (or the header default)."""
    tokens = np.asarray(tokens)[: VOCAB.seq_len]
    ok = (tokens >= SLOT_LO[: len(tokens)]) & (tokens < SLOT_HI[: len(tokens)])

    def header(i: int, names: tuple, default: int = 0) -> int:
        return int(tokens[i] - SLOT_LO[i]) if i < len(tokens) and ok[i] else default

    def track(offset: int, base: int) -> np.ndarray:
        out = np.zeros(N_STEPS, dtype=np.int64)
        vals = tokens[offset::3] - base
        good = ok[offset::3]
        out[: len(vals)] = np.where(good, vals, 0)
        return out

    return Piece(
        bpm=TEMPO_BPM[header(1, TEMPO_BPM, 5)],
        key=header(2, ()),
        mode=MODES[header(3, MODES)],
        lead=LEADS[header(4, LEADS, 2)],
        bass=BASSES[header(5, BASSES)],
        kit=KITS[header(6, KITS)],
        lead_steps=track(7, VOCAB.lead),
        bass_steps=track(8, VOCAB.bass),
        drum_steps=track(9, VOCAB.drum),
    )


def lead_midi(piece: Piece) -> np.ndarray:
    """MIDI pitch of every lead onset (empty if none)."""
    degrees = piece.lead_steps[piece.lead_steps >= 2] - 2 - 7
    key = piece.key if piece.key < 6 else piece.key - 12
    return np.array(
        [LEAD_BASE_MIDI[piece.lead] + key + _scale_semitones(piece.mode, int(d)) for d in degrees]
    )


LEAD_BASE_MIDI = {
    "distorted_guitar": 52,
    "acoustic_guitar": 55,
    "piano": 60,
    "strings": 62,
    "flute": 69,
    "saxophone": 55,
    "synth_lead": 60,
    "organ": 57,
    "soprano_voice": 62,
    "baritone_voice": 50,
}


# --- the dataset ------------------------------------------------------------------------------------


def is_held_out(text: str) -> bool:
    if text.lower() in {p.lower() for p in PAPER_PROMPTS}:
        return True
    return int(hashlib.sha1(text.lower().encode()).hexdigest(), 16) % 8 == 0


@dataclass
class TokenDataset:
    """Tokens (N, seq_len) and caption word ids (N, TEXT_LEN) with the caption texts."""

    tokens: np.ndarray
    text_ids: np.ndarray
    texts: list[str]

    def __len__(self) -> int:
        return len(self.tokens)


def build_split(n: int, seed: int, held_out: bool = False, caption_noise: float = 0.0) -> TokenDataset:
    """``n`` examples whose captions are in (held_out=True) or out of the held-out bucket; a fraction
    ``caption_noise`` of them is paired with a caption of an independent draw."""
    rng = np.random.default_rng(seed)
    tokens, texts = [], []
    while len(tokens) < n:
        attrs = sample_attributes(rng)
        prompt = sample_prompt(attrs, rng)
        if is_held_out(prompt.text) != held_out:
            continue
        music_attrs = sample_attributes(rng) if caption_noise and rng.random() < caption_noise else attrs
        tokens.append(compose(music_attrs, rng))
        texts.append(prompt.text)
    return TokenDataset(np.stack(tokens).astype(np.int16), encode_text(texts).astype(np.int16), texts)


def load_corpus(
    n_train: int,
    n_val: int,
    seed: int = 0,
    cache_dir: Path | None = Path("var/generation/corpus"),
    caption_noise: float = 0.0,
) -> tuple[TokenDataset, TokenDataset]:
    """Train and validation splits, cached as a compact versioned .npz (rebuilt if absent)."""
    path = None
    if cache_dir is not None:
        name = f"corpus-{CORPUS_VERSION}-seed{seed}-{n_train}-{n_val}-noise{caption_noise:g}.npz"
        path = Path(cache_dir) / name
        if path.exists():
            z = np.load(path, allow_pickle=False)
            return (
                TokenDataset(z["train_tokens"], z["train_text"], list(z["train_texts"])),
                TokenDataset(z["val_tokens"], z["val_text"], list(z["val_texts"])),
            )
    train = build_split(n_train, seed=seed * 1000 + 1, caption_noise=caption_noise)
    val = build_split(n_val, seed=seed * 1000 + 2, caption_noise=caption_noise)
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp.npz")
        np.savez_compressed(
            tmp,
            train_tokens=train.tokens,
            train_text=train.text_ids,
            train_texts=np.array(train.texts),
            val_tokens=val.tokens,
            val_text=val.text_ids,
            val_texts=np.array(val.texts),
        )
        tmp.replace(path)
    return train, val


PROMPT_SETS = ("dev", "test")  # the two sets of held-out captions


def prompt_set(text: str) -> str:
    """Which set a caption belongs to: "train" (the corpus may pair it with music), or, among held-out
    captions, "dev" (for early stopping and tuning) or "test" (for reported figures; the paper's prompts)."""
    if not is_held_out(text):
        return "train"
    if text.lower() in {p.lower() for p in PAPER_PROMPTS}:
        return "test"
    return PROMPT_SETS[int(hashlib.sha1(f"set:{text.lower()}".encode()).hexdigest(), 16) % 2]


def _draw_prompts(n: int, seed: int, keep: Callable[[str], bool], prefix: str) -> list[Prompt]:
    """``n`` distinct captions that ``keep`` accepts, the paper's two first when it accepts them."""
    rng = np.random.default_rng(seed * 1000 + 3)
    paper = [Prompt("Rock song", (("genre", "rock"),)), Prompt("Opera singer", (("lead", "soprano_voice"),))]
    prompts = [p for p in paper if keep(p.text)]
    seen = {p.text.lower() for p in prompts}
    while len(prompts) < n:
        prompt = sample_prompt(sample_attributes(rng), rng)
        if keep(prompt.text) and prompt.text.lower() not in seen:
            seen.add(prompt.text.lower())
            prompts.append(prompt)
    return [Prompt(p.text, p.spec, f"{prefix}{i:03d}") for i, p in enumerate(prompts[:n])]


def held_out_prompts(n: int, seed: int = 0) -> list[Prompt]:
    """``n`` distinct held-out captions (the paper's two first), never seen in training; dev and test alike."""
    return _draw_prompts(n, seed, is_held_out, "p")


def dev_prompts(n: int, seed: int = 0) -> list[Prompt]:
    """``n`` held-out captions for early stopping and tuning: never in training, never test prompts."""
    return _draw_prompts(n, seed, lambda text: prompt_set(text) == "dev", "d")


def test_prompts(n: int, seed: int = 0) -> list[Prompt]:
    """``n`` held-out captions for reported figures (the paper's two first): never in training or dev."""
    return _draw_prompts(n, seed, lambda text: prompt_set(text) == "test", "t")


test_prompts.__test__ = False  # type: ignore[attr-defined]  # a prompt set, not a test for pytest to collect


def corpus_samples(
    prompt: Prompt, k: int, rng: np.random.Generator, caption_noise: float = 0.0
) -> np.ndarray:
    """``k`` pieces the corpus itself would pair with this prompt (for the corpus's own diversity), with
    the same share of mismatched pairs as a corpus built with ``caption_noise``."""
    pieces = []
    for _ in range(k):
        noisy = caption_noise and rng.random() < caption_noise
        pieces.append(compose(sample_attributes(rng) if noisy else attributes_for(prompt, rng), rng))
    return np.stack(pieces)
