"""MusicGen (Hugging Face transformers) as a backend.

- Loads a ``save_pretrained`` folder, or a model id already in the Hugging Face cache; never downloads.
- Finetuning touches the decoder (``network``: the codebook embeddings, the transformer and the LM heads);
  the T5 text encoder, its projection and the EnCodec codec stay frozen.
- Tokens are kept in the delayed layout the decoder sees, (codebooks K, steps L): codebook k is shifted right
  by k + 1 behind the start token, so a clip of F frames takes L = F + K steps, and the positions the delay
  pattern fills with the start/pad token are forced, not sampled. ``forced_logits`` and the log-probabilities
  score only the sampled positions, so the KL and the policy gradient never see a forced token.
- CFG is transformers' own: the null prompt is an all-zero text-encoder output with an all-zero attention
  mask, batched after the conditional rows; guided logits are l(.|null) + gamma * (l(.|c) - l(.|null)).
- bfloat16 on CUDA (text encoder and decoder; the codec decodes in float32), float32 on the CPU.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch

from generation.backend import Backend, Conditioning
from generation.sampling import Generation, SamplingConfig, draw

DEFAULT_SECONDS = 8.0


def resolve_pretrained(source: str) -> Path:
    """A local model folder: ``source`` itself, or its snapshot in the Hugging Face cache (offline)."""
    path = Path(source)
    if path.is_dir():
        if not (path / "config.json").is_file():
            raise ValueError(f"{path} has no config.json; save MusicGen there with save_pretrained()")
        return path
    from huggingface_hub import constants, snapshot_download

    try:
        return Path(snapshot_download(source, local_files_only=True))
    except Exception:  # noqa: BLE001 - every failure means the same thing offline: the weights are not here
        raise ValueError(
            f"no model at {source!r}: nothing is downloaded; put a save_pretrained() folder there, or the "
            f"model in the Hugging Face cache ({constants.HF_HUB_CACHE}, e.g. `huggingface-cli download "
            f"{source}` on a machine with network access)"
        ) from None


class MusicgenBackend(Backend):
    name = "musicgen"
    token_ndim = 2

    def __init__(self, model: Any, tokenizer: Any, source: str, seconds: float = DEFAULT_SECONDS) -> None:
        self.model = model.eval().requires_grad_(False)
        self.network = model.decoder
        self.network.requires_grad_(True)
        self.tokenizer = tokenizer
        self.init_from = source
        codec = model.audio_encoder.config
        self.sample_rate = int(codec.sampling_rate)
        self.hop_length = int(np.prod(codec.upsampling_ratios))
        self.num_codebooks = int(model.decoder.num_codebooks)
        self.start_id = int(model.generation_config.decoder_start_token_id)
        self.seconds = seconds
        self._default_seconds = seconds
        self.model_config = {"pretrained": source, "seconds": seconds}

    # --- loading -------------------------------------------------------------------------------------
    @classmethod
    def from_pretrained(cls, source: str, seconds: float = DEFAULT_SECONDS) -> MusicgenBackend:
        from transformers import AutoTokenizer, MusicgenForConditionalGeneration
        from transformers.utils import logging

        logging.disable_progress_bar()  # command lines answer in one line; a worker's log stays readable
        path = resolve_pretrained(source)
        model = MusicgenForConditionalGeneration.from_pretrained(
            path, local_files_only=True, dtype=torch.float32
        )
        if model.decoder.config.audio_channels != 1:
            raise ValueError(f"{source} is a stereo MusicGen; only mono checkpoints are supported")
        tokenizer = AutoTokenizer.from_pretrained(path, local_files_only=True)
        return cls(model, tokenizer, str(source), seconds)

    @classmethod
    def from_checkpoint(cls, ckpt: dict[str, Any]) -> MusicgenBackend:
        config = ckpt["model_config"]
        backend = cls.from_pretrained(config["pretrained"], config.get("seconds", DEFAULT_SECONDS))
        return backend.load_state(ckpt["model_state"])  # type: ignore[return-value]

    def to(self, device: torch.device | str) -> MusicgenBackend:
        device = torch.device(device)
        half = torch.bfloat16 if device.type == "cuda" else torch.float32
        self.model.to(device)
        for part in (self.model.text_encoder, self.network, getattr(self.model, "enc_to_dec_proj", None)):
            if part is not None:
                part.to(half)
        self.model.audio_encoder.to(torch.float32)
        return self

    # --- lengths -------------------------------------------------------------------------------------
    @property
    def frames(self) -> int:
        return max(1, round(self.seconds * self.sample_rate / self.hop_length))

    @property
    def steps(self) -> int:
        """Decoding steps after the start token: every codebook's frames, delayed."""
        return self.frames + self.num_codebooks - 1

    @property
    def clip_seconds(self) -> float:
        return self.frames * self.hop_length / self.sample_rate

    @property
    def tokens_per_sequence(self) -> int:
        return self.frames * self.num_codebooks

    @property
    def default_seconds(self) -> float:
        return self._default_seconds

    def set_seconds(self, seconds: float) -> None:
        if not 0 < seconds <= 60:
            raise ValueError(f"--seconds must be in (0, 60], not {seconds}")
        self.seconds = seconds
        self.model_config = {**self.model_config, "seconds": seconds}

    def delay_pattern(self, length: int) -> torch.Tensor:
        """(K, length): -1 where codebook k is sampled at a step, the start/pad id where the pattern forces
        it (transformers' ``build_delay_pattern_mask``)."""
        k = torch.arange(self.num_codebooks)[:, None]
        t = torch.arange(length)[None]
        sampled = (t > k) & (t <= k + length - self.num_codebooks)
        return torch.where(sampled, -1, self.start_id).to(self.device)

    # --- conditioning --------------------------------------------------------------------------------
    def encode(self, texts: list[str]) -> Conditioning:
        enc = self.tokenizer(list(texts), padding=True, return_tensors="pt").to(self.device)
        with torch.no_grad():
            hidden = self.model.text_encoder(
                input_ids=enc["input_ids"], attention_mask=enc["attention_mask"]
            ).last_hidden_state
            proj = getattr(self.model, "enc_to_dec_proj", None)
            if proj is not None and self.model.config.decoder.cross_attention_hidden_size is None:
                hidden = proj(hidden)
            mask = enc["attention_mask"]
            hidden = hidden * mask[..., None]  # as MusicgenForConditionalGeneration.forward does
        return Conditioning({"hidden": hidden, "mask": mask})

    def null_like(self, cond: Conditioning) -> Conditioning:
        return Conditioning({n: torch.zeros_like(t) for n, t in cond.tensors.items()})

    def _decoder(
        self, cond: Conditioning, input_ids: torch.Tensor, cache: Any = None, use_cache: bool = False
    ):
        return self.network(
            input_ids=input_ids,
            encoder_hidden_states=cond.tensors["hidden"],
            encoder_attention_mask=cond.tensors["mask"],
            cache=cache,
            use_cache=use_cache,
        )

    # --- sampling and scoring ------------------------------------------------------------------------
    def generate(
        self, cond: Conditioning, sampling: SamplingConfig, seed: int = 0, return_logprobs: bool = False
    ) -> Generation:
        if sampling.constrain:
            self.allowed_tokens(True)  # raises: no grammar here
        with torch.inference_mode():
            self.network.eval()
            b, k, n = len(cond), self.num_codebooks, self.steps
            guided = sampling.gamma != 1.0
            rows = self.with_null(cond) if guided else cond
            pattern = self.delay_pattern(n + 1)
            tokens = torch.full((b, k, n + 1), self.start_id, dtype=torch.long, device=self.device)
            logprobs = torch.zeros(b, k, n, device=self.device) if return_logprobs else None
            gen = torch.Generator(device=self.device).manual_seed(seed)
            step_in = torch.full((len(rows) * k, 1), self.start_id, dtype=torch.long, device=self.device)
            cache = None
            for t in range(n):
                out = self._decoder(rows, step_in, cache, use_cache=True)
                cache = out.cache
                logits = out.logits[:, -1].float()  # (rows * K, V): conditional rows first, then null rows
                nxt, dist = draw(logits, b * k, sampling, gen)
                forced = pattern[:, t + 1] != -1
                step = torch.where(forced, pattern[:, t + 1], nxt.view(b, k))
                tokens[:, :, t + 1] = step
                if logprobs is not None:
                    lp = torch.log_softmax(dist, dim=-1).gather(1, nxt)[:, 0].view(b, k)
                    logprobs[:, :, t] = lp.masked_fill(forced, 0.0)
                step_in = step.reshape(b * k, 1)
                if guided:
                    step_in = torch.cat([step_in, step_in])
        return Generation(tokens.clone(), None if logprobs is None else logprobs.clone())

    def scored_positions(self, length: int) -> torch.Tensor:
        """(K, length - 1) booleans: which next-token predictions of a (K, length) sequence were sampled."""
        return self.delay_pattern(length)[:, 1:] == -1

    def forced_logits(self, cond: Conditioning, tokens: torch.Tensor) -> torch.Tensor:
        b, k, length = tokens.shape
        out = self._decoder(cond, tokens[:, :, :-1].reshape(b * k, length - 1))
        logits = out.logits.view(b, k, length - 1, -1)
        return logits[:, self.scored_positions(length)]

    def targets(self, tokens: torch.Tensor) -> torch.Tensor:
        return tokens[:, :, 1:][:, self.scored_positions(tokens.shape[-1])]

    # --- audio ---------------------------------------------------------------------------------------
    def codes(self, tokens: torch.Tensor) -> torch.Tensor:
        """Delayed (B, K, L) tokens to the codec's (B, K, frames) codes: the delay pattern undone."""
        frames = tokens.shape[-1] - self.num_codebooks
        return torch.stack([tokens[:, i, i + 1 : i + 1 + frames] for i in range(self.num_codebooks)], dim=1)

    def decode(self, tokens: np.ndarray) -> np.ndarray:
        codes = self.codes(torch.as_tensor(np.asarray(tokens), device=self.device))
        with torch.inference_mode():
            audio = self.model.audio_encoder.decode(
                codes[None], audio_scales=[None] * len(codes)
            ).audio_values
        return audio.float().mean(1).cpu().numpy().astype(np.float32)
