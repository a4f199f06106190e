"""Embeddings trained in the project: on its own corpus (``train_embeddings``), or, for any backend, on a
folder of audio (``train_audio_embeddings``, the reward and held-out similarity embeddings only).

- ``mulan``: a joint text-audio contrastive model (caption words vs the log-mel of the rendered clip); its
  cosine is the text-adherence (MuLan) score.
- ``reward``: a music-similarity embedding of the score as rendered per step (pitch classes, register,
  onsets, bass, drums, instruments, tempo), trained self-supervised with the first and last two bars of a
  clip as a positive pair. It needs no audio, so the diversity reward costs well under a millisecond a clip.
- ``heldout``: a music-similarity embedding the RL never sees, so evaluation uses it, independent of the reward
  one in every way the training allows: other clips (each corpus clip goes to one side by a hash of its
  tokens, ``clip_side``; the reward and MuLan train on side 0, it on side 1), another input (a semitone
  spectrogram of the rendered audio, not the score), another architecture (2-D convolutions over time and
  pitch, not 1-D over time), another objective (VICReg: invariance, variance and covariance terms, no
  negatives, instead of InfoNCE) and another seed. A bundle trained on a folder of audio keeps the older
  held-out kind (log-mel, 1-D convolutions, InfoNCE, another seed).

Audio inputs are resampled to the bundle's ``sample_rate`` (the built-in renderer's 16 kHz), so clips of any
backend are scored alike. The symbolic reward embedding reads the built-in model's tokens: a shortcut that
only the built-in backend can use; a bundle trained on audio has an audio reward embedding instead.
"""

from __future__ import annotations

import hashlib
import math
import time
from dataclasses import asdict, dataclass
from functools import lru_cache
from math import gcd
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from generation.corpus import (
    BASSES,
    KITS,
    LEADS,
    N_STEPS,
    PAD_WORD,
    TEXT_VOCAB,
    TokenDataset,
    build_split,
    decode,
    encode_text,
    lead_midi,
)
from generation.render import SAMPLE_RATE, render_batch

if TYPE_CHECKING:
    from generation.backend import Clips

FORMAT = "counterpoint.generation.embeddings/1"
N_MELS, N_FFT, HOP = 64, 1024, 512


# --- inputs -----------------------------------------------------------------------------------------


@lru_cache(maxsize=4)
def mel_filterbank(sr: int = SAMPLE_RATE, n_fft: int = N_FFT, n_mels: int = N_MELS) -> torch.Tensor:
    def hz_to_mel(f: np.ndarray) -> np.ndarray:
        return 2595 * np.log10(1 + f / 700)

    mels = np.linspace(hz_to_mel(np.array(30.0)), hz_to_mel(np.array(sr / 2)), n_mels + 2)
    hz = 700 * (10 ** (mels / 2595) - 1)
    bins = np.fft.rfftfreq(n_fft, 1 / sr)
    fb = np.zeros((n_mels, len(bins)))
    for i in range(n_mels):
        lo, mid, hi = hz[i], hz[i + 1], hz[i + 2]
        fb[i] = np.clip(np.minimum((bins - lo) / (mid - lo), (hi - bins) / (hi - mid)), 0, None)
    return torch.tensor(fb, dtype=torch.float32)


def resample(audio: np.ndarray, sr_from: int, sr_to: int) -> np.ndarray:
    """(..., samples) audio from ``sr_from`` to ``sr_to`` (polyphase, scipy); unchanged when equal."""
    if sr_from == sr_to:
        return np.asarray(audio)
    from scipy.signal import resample_poly

    g = gcd(int(sr_from), int(sr_to))
    return resample_poly(np.asarray(audio, dtype=np.float32), sr_to // g, sr_from // g, axis=-1).astype(
        np.float32
    )


def log_mel(audio: np.ndarray | torch.Tensor) -> torch.Tensor:
    """(B, samples) audio to (B, N_MELS, frames) log-mel, frames = samples // HOP."""
    x = torch.as_tensor(np.asarray(audio), dtype=torch.float32)
    spec = torch.stft(x, N_FFT, HOP, window=torch.hann_window(N_FFT), center=True, return_complex=True)
    power = spec.abs().pow(2)[..., : x.shape[-1] // HOP]
    return torch.log(mel_filterbank() @ power + 1e-6)


N_SYMBOLIC = 12 + 1 + 1 + 12 + 4 + len(LEADS) + len(BASSES) + len(KITS) + 2


def symbolic_features(tokens: np.ndarray) -> torch.Tensor:
    """(B, seq_len) tokens to (B, N_STEPS, N_SYMBOLIC): what sounds at each eighth note."""
    tokens = np.asarray(tokens)
    out = np.zeros((len(tokens), N_STEPS, N_SYMBOLIC), dtype=np.float32)
    for i, seq in enumerate(tokens):
        piece = decode(seq)
        midis = lead_midi(piece)
        onsets = np.flatnonzero(piece.lead_steps >= 2)
        current = None
        for s in range(N_STEPS):
            if s in onsets:
                current = midis[np.searchsorted(onsets, s)]
                out[i, s, 12] = 1.0
            elif piece.lead_steps[s] != 1:
                current = None
            if current is not None:
                out[i, s, int(current) % 12] = 1.0
                out[i, s, 13] = (current - 60) / 12
        bass = piece.bass_steps
        for s in range(N_STEPS):
            if bass[s] >= 2:
                out[i, s, 14 + (int(bass[s]) - 2 + piece.key) % 12] = 1.0
            out[i, s, 26:30] = [(int(piece.drum_steps[s]) >> b) & 1 for b in range(4)]
        col = 30
        out[i, :, col + LEADS.index(piece.lead)] = 1.0
        col += len(LEADS)
        out[i, :, col + BASSES.index(piece.bass)] = 1.0
        col += len(BASSES)
        out[i, :, col + KITS.index(piece.kit)] = 1.0
        col += len(KITS)
        out[i, :, col] = (piece.bpm - 110) / 30
        out[i, :, col + 1] = 1.0 if piece.mode == "minor" else -1.0
    return torch.from_numpy(out)


SEMITONE_FFT, SEMITONE_HOP = 2048, 1024
SEMITONE_LOW, N_SEMITONES = 36, 72  # MIDI C2 .. B7


@lru_cache(maxsize=4)
def semitone_filterbank(sr: int = SAMPLE_RATE) -> torch.Tensor:
    """(N_SEMITONES, bins): each band a triangle one semitone either side of its centre in log frequency
    (at least the nearest FFT bin, where bins are wider than semitones), normalised to sum 1."""
    bins = np.fft.rfftfreq(SEMITONE_FFT, 1 / sr)
    midi = 69 + 12 * np.log2(np.maximum(bins, 1e-3) / 440.0)
    fb = np.zeros((N_SEMITONES, len(bins)))
    for i in range(N_SEMITONES):
        centre = SEMITONE_LOW + i
        fb[i] = np.clip(1 - np.abs(midi - centre), 0, None)
        if fb[i].sum() == 0:
            fb[i, int(np.argmin(np.abs(midi - centre)))] = 1.0
        fb[i] /= fb[i].sum()
    return torch.tensor(fb, dtype=torch.float32)


def semitone_spectrogram(audio: np.ndarray | torch.Tensor) -> torch.Tensor:
    """(B, samples) audio to (B, frames, N_SEMITONES) log power per semitone, frames = samples // 1024: the
    held-out embedding's input (pitch on a musical scale, coarser in time than the log-mel)."""
    x = torch.as_tensor(np.asarray(audio), dtype=torch.float32)
    window = torch.hann_window(SEMITONE_FFT)
    spec = torch.stft(x, SEMITONE_FFT, SEMITONE_HOP, window=window, center=True, return_complex=True)
    power = spec.abs().pow(2)[..., : x.shape[-1] // SEMITONE_HOP]
    return torch.log(semitone_filterbank() @ power + 1e-4).transpose(1, 2).contiguous()


# --- encoders ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class EncoderConfig:
    kind: str  # "text" | "audio" (log-mel) | "symbolic" (the score) | "semitone" (semitone spectrogram)
    dim: int = 64
    hidden: int = 128


class SequenceEncoder(nn.Module):
    """Frames (B, T, C) -> convolutions over time -> mean and max pooling -> unit vector."""

    def __init__(self, cfg: EncoderConfig, in_channels: int) -> None:
        super().__init__()
        self.cfg = cfg
        stride = 2 if cfg.kind == "audio" else 1
        h = cfg.hidden
        self.register_buffer("shift", torch.zeros(in_channels))
        self.register_buffer("scale", torch.ones(in_channels))
        self.convs = nn.Sequential(
            nn.Conv1d(in_channels, h, 5, stride, 2),
            nn.GELU(),
            nn.Conv1d(h, h, 5, stride, 2),
            nn.GELU(),
            nn.Conv1d(h, h, 3, 1, 1),
            nn.GELU(),
        )
        self.proj = nn.Sequential(nn.Linear(2 * h, h), nn.GELU(), nn.Linear(h, cfg.dim))

    def forward(self, frames: torch.Tensor) -> torch.Tensor:
        x = ((frames - self.shift) / self.scale).transpose(1, 2)
        x = self.convs(x)
        return F.normalize(self.proj(torch.cat([x.mean(-1), x.amax(-1)], dim=-1)), dim=-1)


class SpectrogramConvEncoder(nn.Module):
    """Frames (B, T, F) as a one-channel image -> three strided 3x3 2-D convolutions over time and pitch ->
    mean and max pooling -> projection; ``raw`` gives the projection (what VICReg trains), ``forward`` the
    unit vector of the projection minus ``centre`` (its mean over the training clips, set after training:
    VICReg's projections share a large common offset, which left every cosine near 1 and squeezed the
    diversities into 0.03-0.08)."""

    def __init__(self, cfg: EncoderConfig, in_channels: int) -> None:
        super().__init__()
        self.cfg = cfg
        c = max(8, cfg.hidden // 4)
        self.register_buffer("shift", torch.zeros(in_channels))
        self.register_buffer("scale", torch.ones(in_channels))
        self.convs = nn.Sequential(
            nn.Conv2d(1, c, 3, 2, 1),
            nn.GELU(),
            nn.Conv2d(c, 2 * c, 3, 2, 1),
            nn.GELU(),
            nn.Conv2d(2 * c, 4 * c, 3, 2, 1),
            nn.GELU(),
        )
        self.proj = nn.Sequential(nn.Linear(8 * c, cfg.hidden), nn.GELU(), nn.Linear(cfg.hidden, cfg.dim))
        self.register_buffer("centre", torch.zeros(cfg.dim))

    def raw(self, frames: torch.Tensor) -> torch.Tensor:
        x = self.convs(((frames - self.shift) / self.scale)[:, None])
        return self.proj(torch.cat([x.mean((2, 3)), x.amax((2, 3))], dim=-1))

    def forward(self, frames: torch.Tensor) -> torch.Tensor:
        return F.normalize(self.raw(frames) - self.centre, dim=-1)


class TextEncoder(nn.Module):
    def __init__(self, cfg: EncoderConfig) -> None:
        super().__init__()
        self.cfg = cfg
        self.emb = nn.Embedding(len(TEXT_VOCAB), cfg.hidden)
        self.proj = nn.Sequential(
            nn.Linear(cfg.hidden, cfg.hidden), nn.GELU(), nn.Linear(cfg.hidden, cfg.dim)
        )

    def forward(self, text_ids: torch.Tensor) -> torch.Tensor:
        keep = (text_ids != PAD_WORD).float()[..., None]
        pooled = (self.emb(text_ids) * keep).sum(1) / keep.sum(1).clamp(min=1)
        return F.normalize(self.proj(pooled), dim=-1)


# --- the bundle used by metrics and rewards -----------------------------------------------------------


class Embeddings:
    """The trained embeddings: the MuLan pair (text and audio; absent from a bundle trained on a folder of
    audio), the reward and the held-out music-similarity encoders. Audio is given at ``sample_rate`` or
    resampled to it (``sr``)."""

    def __init__(
        self,
        text: TextEncoder | None,
        mulan_audio: SequenceEncoder | None,
        reward: SequenceEncoder,
        heldout: SequenceEncoder,
        report: dict[str, Any] | None = None,
        sample_rate: int = SAMPLE_RATE,
    ) -> None:
        self.text, self.mulan_audio, self.reward_encoder, self.heldout_encoder = (
            text,
            mulan_audio,
            reward,
            heldout,
        )
        self.report = report or {}
        self.sample_rate = sample_rate
        for m in (text, mulan_audio, reward, heldout):
            if m is not None:
                m.eval()

    @property
    def has_mulan(self) -> bool:
        return self.text is not None and self.mulan_audio is not None

    def require_mulan(self) -> None:
        if not self.has_mulan:
            raise ValueError(
                "these embeddings have no MuLan text-audio pair (trained on a folder of audio), so they score "
                "diversity only; pass a bundle with one for text adherence"
            )

    def _frames(self, audio: np.ndarray, sr: int | None, kind: str = "audio") -> torch.Tensor:
        audio = resample(audio, sr or self.sample_rate, self.sample_rate)
        if kind == "semitone":
            return semitone_spectrogram(audio)
        return log_mel(audio).transpose(1, 2)

    @torch.no_grad()
    def embed_text(self, texts: list[str]) -> torch.Tensor:
        self.require_mulan()
        return self.text(torch.from_numpy(encode_text(texts)))

    @torch.no_grad()
    def embed_mulan_audio(self, audio: np.ndarray, sr: int | None = None) -> torch.Tensor:
        self.require_mulan()
        return self.mulan_audio(self._frames(audio, sr))

    @torch.no_grad()
    def embed_reward(self, clips: Clips) -> torch.Tensor:
        """The RL reward embedding of clips: the mean of the two halves' embeddings, as trained. A symbolic
        reward embedding reads the built-in model's tokens (no rendering); an audio one, the decoded audio."""
        if self.reward_encoder.cfg.kind == "symbolic":
            if not clips.symbolic:
                raise ValueError(
                    "the reward embedding reads the built-in model's tokens; for this backend train an audio "
                    "one with `python -m generation embeddings --audio DIR`"
                )
            return _two_halves(self.reward_encoder, symbolic_features(clips.tokens))
        return _two_halves(self.reward_encoder, self._frames(clips.audio, clips.sample_rate))

    @torch.no_grad()
    def embed_heldout(self, audio: np.ndarray, sr: int | None = None) -> torch.Tensor:
        return _two_halves(self.heldout_encoder, self._frames(audio, sr, self.heldout_encoder.cfg.kind))

    def to_dict(self) -> dict[str, Any]:
        parts = {
            "text": self.text,
            "mulan_audio": self.mulan_audio,
            "reward": self.reward_encoder,
            "heldout": self.heldout_encoder,
        }
        return {
            "format": FORMAT,
            "report": self.report,
            "sample_rate": self.sample_rate,
            **{
                name: None if m is None else {"config": asdict(m.cfg), "state": m.state_dict()}
                for name, m in parts.items()
            },
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Embeddings:
        if d.get("format") != FORMAT:
            raise ValueError(f"not a Counterpoint embeddings checkpoint (format {d.get('format')!r})")
        mods: dict[str, Any] = {}
        for name in ("text", "mulan_audio", "reward", "heldout"):
            if d.get(name) is None:
                mods[name] = None
                continue
            mods[name] = _build(EncoderConfig(**d[name]["config"]))
            state = dict(d[name]["state"])
            if isinstance(mods[name], SpectrogramConvEncoder):
                state.setdefault("centre", mods[name].centre)  # bundles from before centring: uncentred
            mods[name].load_state_dict(state)
        return cls(
            mods["text"],
            mods["mulan_audio"],
            mods["reward"],
            mods["heldout"],
            d.get("report"),
            d.get("sample_rate", SAMPLE_RATE),
        )

    def save(self, path: str | Path) -> Path:
        from generation.checkpoint import save_checkpoint

        return save_checkpoint(self.to_dict(), path)

    @classmethod
    def load(cls, path: str | Path) -> Embeddings:
        if not Path(path).is_file():
            raise ValueError(
                f"no embeddings at {path}; train them with `python -m generation train-embeddings` or "
                "`python -m generation embeddings --audio DIR`"
            )
        return cls.from_dict(torch.load(Path(path), map_location="cpu", weights_only=True))


def _build(cfg: EncoderConfig) -> nn.Module:
    if cfg.kind == "text":
        return TextEncoder(cfg)
    if cfg.kind == "semitone":
        return SpectrogramConvEncoder(cfg, N_SEMITONES)
    return SequenceEncoder(cfg, N_MELS if cfg.kind == "audio" else N_SYMBOLIC)


def _two_halves(encoder: nn.Module, frames: torch.Tensor) -> torch.Tensor:
    half = frames.shape[1] // 2
    return F.normalize(encoder(frames[:, :half]) + encoder(frames[:, half : 2 * half]), dim=-1)


# --- training -----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class EmbeddingTrainConfig:
    n_clips: int = 3000
    n_val: int = 300
    steps: int = 400
    batch_size: int = 128
    lr: float = 2e-3
    temperature: float = 0.1
    seed: int = 0
    dim: int = 64
    hidden: int = 128
    threads: int = 1
    heldout_lr: float = 1e-3
    vicreg: tuple[float, float, float] = (25.0, 25.0, 1.0)  # invariance, variance, covariance weights


EMBEDDING_PRESETS = {
    "tiny": EmbeddingTrainConfig(n_clips=150, n_val=100, steps=15, batch_size=64, dim=32, hidden=32),
    "demo": EmbeddingTrainConfig(),
}


def info_nce(a: torch.Tensor, b: torch.Tensor, temperature: float) -> torch.Tensor:
    logits = a @ b.T / temperature
    target = torch.arange(len(a))
    return 0.5 * (F.cross_entropy(logits, target) + F.cross_entropy(logits.T, target))


def vicreg(a: torch.Tensor, b: torch.Tensor, weights: tuple[float, float, float]) -> torch.Tensor:
    """VICReg (Bardes et al. 2022): the two views agree (mean squared error), every dimension keeps a standard
    deviation of at least 1 over the batch, dimensions are decorrelated. No negative pairs."""
    invariance = F.mse_loss(a, b)

    def variance(z: torch.Tensor) -> torch.Tensor:
        return F.relu(1 - torch.sqrt(z.var(0) + 1e-4)).mean()

    def covariance(z: torch.Tensor) -> torch.Tensor:
        z = z - z.mean(0)
        cov = (z.T @ z) / (len(z) - 1)
        off = cov - torch.diag(torch.diag(cov))
        return off.pow(2).sum() / z.shape[1]

    w_inv, w_var, w_cov = weights
    return w_inv * invariance + w_var * (variance(a) + variance(b)) + w_cov * (covariance(a) + covariance(b))


def _random_crop(frames: torch.Tensor, length: int, rng: np.random.Generator) -> torch.Tensor:
    start = rng.integers(0, frames.shape[1] - length + 1, len(frames))
    idx = torch.from_numpy(start)[:, None] + torch.arange(length)[None]
    return torch.gather(frames, 1, idx[..., None].expand(-1, -1, frames.shape[2]))


def _fit(params: list[torch.Tensor], loss_fn, steps: int, lr: float) -> float:
    opt = torch.optim.AdamW(params, lr=lr, weight_decay=0.01)
    loss = torch.tensor(0.0)
    for step in range(steps):
        for g in opt.param_groups:
            g["lr"] = lr * 0.5 * (1 + math.cos(math.pi * step / steps))
        loss = loss_fn(step)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
    return float(loss.item())


@torch.no_grad()
def _half_to_half_report(enc: nn.Module, frames: torch.Tensor, n: int, final_loss: float) -> dict[str, float]:
    """A similarity encoder's training report: its final loss, and how often the embedding of a clip's
    first half finds its second half among the rows after the first ``n`` (top 1 and top 5)."""
    enc.eval()
    half = frames.shape[1] // 2
    with torch.no_grad():
        a, b = enc(frames[n:, :half]), enc(frames[n:, half : 2 * half])
    pool = min(100, len(a))
    return {
        "final_train_loss": final_loss,
        f"val_half_to_half_top1_of_{pool}": retrieval_accuracy(a, b, pool, 1),
        f"val_half_to_half_top5_of_{pool}": retrieval_accuracy(a, b, pool, min(5, pool)),
    }


def retrieval_accuracy(a: torch.Tensor, b: torch.Tensor, pool: int = 100, k: int = 1) -> float:
    """Share of rows of ``a`` whose own row of ``b`` is among the top-k, in pools of ``pool`` rows."""
    hits = total = 0
    for i in range(0, len(a) - pool + 1, pool):
        sims = a[i : i + pool] @ b[i : i + pool].T
        top = sims.topk(k, dim=1).indices
        hits += int((top == torch.arange(pool)[:, None]).any(1).sum())
        total += pool
    return hits / max(total, 1)


def _standardise(encoder: SequenceEncoder, frames: torch.Tensor) -> None:
    encoder.shift.copy_(frames.mean(dim=(0, 1)))
    encoder.scale.copy_(frames.std(dim=(0, 1)).clamp(min=1e-3))


def train_similarity(
    kind: str, frames: torch.Tensor, n: int, seed: int, crop: int, cfg: EmbeddingTrainConfig
) -> tuple[SequenceEncoder, dict[str, float]]:
    """A music-similarity encoder trained self-supervised on ``frames`` (N, T, C), the first ``n`` rows: a
    random crop of a clip's first half and one of its second half are a positive pair (InfoNCE). Reports
    half-to-half retrieval on the remaining rows."""
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    enc = SequenceEncoder(EncoderConfig(kind, cfg.dim, cfg.hidden), frames.shape[2])
    _standardise(enc, frames[:n])
    half = frames.shape[1] // 2

    def loss(step: int) -> torch.Tensor:
        idx = torch.from_numpy(rng.integers(0, n, cfg.batch_size))
        first = _random_crop(frames[idx, :half], crop, rng)
        second = _random_crop(frames[idx, half : 2 * half], crop, rng)
        return info_nce(enc(first), enc(second), cfg.temperature)

    final = _fit(list(enc.parameters()), loss, cfg.steps, cfg.lr)
    return enc, _half_to_half_report(enc, frames, n, final)


def train_heldout(
    frames: torch.Tensor, n: int, seed: int, crop: int, cfg: EmbeddingTrainConfig
) -> tuple[SpectrogramConvEncoder, dict[str, float]]:
    """The held-out similarity encoder: 2-D convolutions over semitone-spectrogram ``frames`` (N, T, F), the
    first ``n`` rows, trained with VICReg on a random crop of a clip's first half and one of its second
    half. Reports half-to-half retrieval on the remaining rows."""
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    enc = SpectrogramConvEncoder(EncoderConfig("semitone", cfg.dim, cfg.hidden), frames.shape[2])
    enc.shift.copy_(frames[:n].mean())  # one scale for every band: loud and quiet registers stay so
    enc.scale.copy_(frames[:n].std().clamp(min=1e-3))
    half = frames.shape[1] // 2

    def loss(step: int) -> torch.Tensor:
        idx = torch.from_numpy(rng.integers(0, n, cfg.batch_size))
        first = _random_crop(frames[idx, :half], crop, rng)
        second = _random_crop(frames[idx, half : 2 * half], crop, rng)
        return vicreg(enc.raw(first), enc.raw(second), cfg.vicreg)

    final = _fit(list(enc.parameters()), loss, cfg.steps, cfg.heldout_lr)
    enc.eval()
    with torch.no_grad():  # the centre: the mean projection of the training clips' halves
        halves = torch.cat([frames[:n, :half], frames[:n, half : 2 * half]])
        enc.centre.copy_(torch.cat([enc.raw(c) for c in halves.split(256)]).mean(0))
    return enc, _half_to_half_report(enc, frames, n, final)


def clip_side(tokens: np.ndarray) -> int:
    """Which embeddings a corpus clip may train: 0 the reward and MuLan, 1 the held-out one (a hash of its
    tokens, so a clip drawn twice lands on the same side)."""
    return hashlib.sha1(np.asarray(tokens, dtype=np.int16).tobytes()).digest()[0] & 1


def clips_digest(tokens: np.ndarray) -> str:
    """SHA-256 over the sorted SHA-1s of clips: names a set of training clips."""
    rows = sorted(hashlib.sha1(np.asarray(t, dtype=np.int16).tobytes()).hexdigest() for t in tokens)
    return hashlib.sha256("".join(rows).encode()).hexdigest()


def embedding_clips(cfg: EmbeddingTrainConfig) -> tuple[TokenDataset, TokenDataset]:
    """(reward and MuLan clips, held-out clips): ``n_clips + n_val`` each, disjoint by ``clip_side``, from one
    draw of the corpus (its own seed, exact captions)."""
    want = cfg.n_clips + cfg.n_val
    data = build_split(int(2.4 * want) + 40, seed=10_000 + cfg.seed)
    sides = np.array([clip_side(t) for t in data.tokens])
    out = []
    for side in (0, 1):
        idx = np.flatnonzero(sides == side)[:want]
        if len(idx) < want:
            raise ValueError(f"corpus draw too small for {want} clips on side {side}; raise the draw")
        out.append(TokenDataset(data.tokens[idx], data.text_ids[idx], [data.texts[i] for i in idx]))
    return out[0], out[1]


AUDIO_SUFFIXES = (".wav", ".flac", ".ogg")


def read_audio_folder(folder: str | Path, sample_rate: int = SAMPLE_RATE) -> list[np.ndarray]:
    """Every audio file under ``folder`` (recursively, sorted), mono, resampled to ``sample_rate``."""
    import soundfile

    paths = sorted(p for p in Path(folder).rglob("*") if p.suffix.lower() in AUDIO_SUFFIXES)
    clips = []
    for path in paths:
        audio, sr = soundfile.read(str(path), dtype="float32", always_2d=True)
        clips.append(resample(audio.mean(1), sr, sample_rate))
    return clips


def train_audio_embeddings(folder: str | Path, cfg: EmbeddingTrainConfig, log=print) -> Embeddings:
    """Reward and held-out music-similarity embeddings (two seeds) trained on a folder of audio, for a backend
    whose clips the built-in corpus does not resemble. Clips are cut to the shortest one's length (two halves
    of at least 1 s each); a tenth (at least 2 clips) is held out to report retrieval. No MuLan pair."""
    torch.set_num_threads(cfg.threads)
    t0 = time.perf_counter()
    clips = read_audio_folder(folder)
    if len(clips) < 8:
        raise ValueError(f"{folder} has {len(clips)} audio files (.wav, .flac, .ogg); at least 8 are needed")
    length = min(len(c) for c in clips)
    if length < 2 * SAMPLE_RATE:
        raise ValueError(
            f"the shortest clip in {folder} is {length / SAMPLE_RATE:.2f} s; at least 2 s are needed"
        )
    mel = log_mel(np.stack([c[:length] for c in clips])).transpose(1, 2).contiguous()
    n = len(clips) - max(2, len(clips) // 10)
    crop = max(1, int(0.8 * (mel.shape[1] // 2)))
    report: dict[str, Any] = {"folder": str(folder), "n_train_clips": n, "n_val_clips": len(clips) - n}
    report["clip_seconds"] = length / SAMPLE_RATE
    reward, report["reward"] = train_similarity("audio", mel, n, 1_000 + cfg.seed, crop, cfg)
    heldout, report["heldout"] = train_similarity("audio", mel, n, 2_000 + cfg.seed, crop, cfg)
    report["config"] = asdict(cfg)
    report["elapsed_s"] = time.perf_counter() - t0
    log(
        f"embeddings: {len(clips)} clips of {folder}: reward {report['reward']}, held-out {report['heldout']}"
    )
    return Embeddings(None, None, reward, heldout, report)


def train_embeddings(cfg: EmbeddingTrainConfig, log=print) -> Embeddings:
    """Train all three on fresh corpus draws (their own seeds); report retrieval accuracy on validation."""
    torch.set_num_threads(cfg.threads)
    t0 = time.perf_counter()
    data, held = embedding_clips(cfg)
    audio = render_batch(data.tokens)
    mel = log_mel(audio).transpose(1, 2).contiguous()  # (N, frames, mels)
    sym = symbolic_features(data.tokens)
    text = torch.from_numpy(data.text_ids.astype(np.int64))
    semitones = semitone_spectrogram(render_batch(held.tokens))
    n = cfg.n_clips
    log(
        f"embeddings: {len(data)} + {len(held)} clips rendered and featurised in {time.perf_counter() - t0:.1f}s"
    )
    report: dict[str, Any] = {"n_train_clips": n, "n_val_clips": cfg.n_val, "config": asdict(cfg)}
    report["train_clips_sha256"] = {"reward_and_mulan": clips_digest(data.tokens[:n])}
    report["train_clips_sha256"]["heldout"] = clips_digest(held.tokens[:n])

    reward, report["symbolic"] = train_similarity("symbolic", sym, n, 1_000 + cfg.seed, N_STEPS // 2 - 4, cfg)
    log(f"embeddings: symbolic similarity (reward) {report['symbolic']}")
    heldout, report["heldout"] = train_heldout(
        semitones, n, 4_000 + cfg.seed, semitones.shape[1] // 2 - 6, cfg
    )
    report["heldout"].update(
        input="semitone spectrogram",
        architecture="2-D convolutions",
        objective="VICReg",
        seed=4_000 + cfg.seed,
    )
    log(f"embeddings: held-out similarity {report['heldout']}")

    torch.manual_seed(3_000 + cfg.seed)
    rng = np.random.default_rng(3_000 + cfg.seed)
    text_enc = TextEncoder(EncoderConfig("text", cfg.dim, cfg.hidden))
    audio_enc = SequenceEncoder(EncoderConfig("audio", cfg.dim, cfg.hidden), N_MELS)
    _standardise(audio_enc, mel[:n])

    def mulan_loss(step: int) -> torch.Tensor:
        idx = torch.from_numpy(rng.integers(0, n, cfg.batch_size))
        return info_nce(text_enc(text[idx]), audio_enc(mel[idx]), cfg.temperature)

    final = _fit(list(text_enc.parameters()) + list(audio_enc.parameters()), mulan_loss, cfg.steps, cfg.lr)
    text_enc.eval()
    audio_enc.eval()
    with torch.no_grad():
        t_emb, a_emb = text_enc(text[n:]), audio_enc(mel[n:])
    same_caption = np.array([[x == y for y in data.texts[n:]] for x in data.texts[n:]])
    report["mulan"] = {
        "final_train_loss": final,
        "val_text_to_audio_top1_of_100": retrieval_accuracy(t_emb, a_emb, 100, 1),
        "val_text_to_audio_top10_of_100": retrieval_accuracy(t_emb, a_emb, 100, 10),
        "val_audio_to_text_top1_of_100": retrieval_accuracy(a_emb, t_emb, 100, 1),
        "val_matched_minus_mismatched_cosine": float(
            (t_emb * a_emb).sum(1).mean() - (t_emb @ a_emb.T)[~torch.from_numpy(same_caption)].mean()
        ),
    }
    log(f"embeddings: mulan {report['mulan']}")
    emb = Embeddings(text_enc, audio_enc, reward, heldout, report)
    report["mulan_zero_shot"] = zero_shot_accuracy(emb, data.tokens[n:], audio[n:])
    log(f"embeddings: mulan zero-shot {report['mulan_zero_shot']}")
    report["elapsed_s"] = time.perf_counter() - t0
    return emb


def zero_shot_accuracy(emb: Embeddings, tokens: np.ndarray, audio: np.ndarray) -> dict[str, float]:
    """Text adherence made concrete: classify validation clips by the nearest of a few short captions
    (each genre's first phrase; each lead's first phrase), against chance."""
    from generation.corpus import GENRE_PHRASES, GENRES, LEAD_PHRASES

    audio_emb = emb.embed_mulan_audio(audio)
    pieces = [decode(t) for t in tokens]
    genre_of_lead = {}
    for g in GENRES.values():
        for lead in g.leads:
            genre_of_lead.setdefault(lead, set()).add(g.name)
    leads = list(LEAD_PHRASES)
    lead_pred = (audio_emb @ emb.embed_text([LEAD_PHRASES[k][0] for k in leads]).T).argmax(1)
    lead_acc = float(np.mean([leads[int(i)] == p.lead for i, p in zip(lead_pred, pieces, strict=True)]))
    result = {"lead_instrument_accuracy": lead_acc, "lead_instrument_chance": 1 / len(leads)}
    kits = ("none", "acoustic", "electronic")
    kit_pred = (audio_emb @ emb.embed_text(["without drums", "live drums", "drum machine"]).T).argmax(1)
    result["drums_accuracy"] = float(
        np.mean([kits[int(i)] == p.kit for i, p in zip(kit_pred, pieces, strict=True)])
    )
    result["drums_chance"] = 1 / 3
    genres = list(GENRE_PHRASES)
    genre_pred = (audio_emb @ emb.embed_text([GENRE_PHRASES[g][0] for g in genres]).T).argmax(1)
    # the genre is not in the tokens; a prediction counts if the clip's lead instrument belongs to that genre
    result["genre_consistent_accuracy"] = float(
        np.mean([genres[int(i)] in genre_of_lead[p.lead] for i, p in zip(genre_pred, pieces, strict=True)])
    )
    return result
