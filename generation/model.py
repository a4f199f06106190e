"""A small decoder-only transformer over music tokens, conditioned on a caption given as a word prefix.

Sequence layout: TEXT_LEN caption word ids (left-padded, pads masked out of attention; the null prompt is a
lone <null> word), then the music tokens. One readable file: config, modules, a KV cache, and ``generate``
with classifier-free guidance that batches the conditional and unconditional rows in one forward pass.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import torch
import torch.nn.functional as F
from torch import nn

from generation.corpus import NULL_WORD, PAD_WORD, SLOT_RANGES, TEXT_LEN, TEXT_VOCAB, VOCAB
from generation.sampling import Generation, SamplingConfig, draw


@dataclass(frozen=True)
class ModelConfig:
    vocab_size: int = VOCAB.size
    text_vocab_size: int = len(TEXT_VOCAB)
    text_len: int = TEXT_LEN
    music_len: int = VOCAB.seq_len
    d_model: int = 128
    n_layer: int = 4
    n_head: int = 4
    dropout: float = 0.0

    @property
    def max_len(self) -> int:
        return self.text_len + self.music_len

    def to_dict(self) -> dict:
        return asdict(self)


class Block(nn.Module):
    def __init__(self, cfg: ModelConfig) -> None:
        super().__init__()
        self.n_head = cfg.n_head
        self.ln1 = nn.LayerNorm(cfg.d_model)
        self.qkv = nn.Linear(cfg.d_model, 3 * cfg.d_model)
        self.proj = nn.Linear(cfg.d_model, cfg.d_model)
        self.ln2 = nn.LayerNorm(cfg.d_model)
        self.fc = nn.Linear(cfg.d_model, 4 * cfg.d_model)
        self.out = nn.Linear(4 * cfg.d_model, cfg.d_model)
        self.dropout = cfg.dropout

    def forward(self, x: torch.Tensor, mask: torch.Tensor, cache: KVCache | None, layer: int) -> torch.Tensor:
        b, t, d = x.shape
        q, k, v = self.qkv(self.ln1(x)).view(b, t, 3, self.n_head, d // self.n_head).permute(2, 0, 3, 1, 4)
        if cache is not None:
            k, v = cache.append(layer, k, v)
        p = self.dropout if self.training else 0.0
        y = self.proj(
            F.scaled_dot_product_attention(q, k, v, attn_mask=mask, dropout_p=p)
            .transpose(1, 2)
            .reshape(b, t, d)
        )
        x = x + (F.dropout(y, p, True) if p else y)  # no dropout op at all when off: decoding is op-bound
        y = self.out(F.gelu(self.fc(self.ln2(x))))
        return x + (F.dropout(y, p, True) if p else y)


class KVCache:
    """Preallocated keys and values of every layer; ``length`` positions are filled."""

    def __init__(self, cfg: ModelConfig, batch: int, device: torch.device, dtype: torch.dtype) -> None:
        shape = (cfg.n_layer, batch, cfg.n_head, cfg.max_len, cfg.d_model // cfg.n_head)
        self.k = torch.empty(shape, device=device, dtype=dtype)
        self.v = torch.empty(shape, device=device, dtype=dtype)
        self.length = 0

    def append(self, layer: int, k: torch.Tensor, v: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        end = self.length + k.shape[2]
        self.k[layer, :, :, self.length : end] = k
        self.v[layer, :, :, self.length : end] = v
        return self.k[layer, :, :, :end], self.v[layer, :, :, :end]


class MusicTransformer(nn.Module):
    def __init__(self, cfg: ModelConfig) -> None:
        super().__init__()
        self.cfg = cfg
        self.text_emb = nn.Embedding(cfg.text_vocab_size, cfg.d_model)
        self.tok_emb = nn.Embedding(cfg.vocab_size, cfg.d_model)
        self.pos_emb = nn.Parameter(torch.zeros(cfg.max_len, cfg.d_model))
        self.blocks = nn.ModuleList(Block(cfg) for _ in range(cfg.n_layer))
        self.ln_f = nn.LayerNorm(cfg.d_model)
        self.head = nn.Linear(cfg.d_model, cfg.vocab_size, bias=False)
        self.apply(self._init)
        nn.init.normal_(self.pos_emb, std=0.02)
        for block in self.blocks:
            nn.init.normal_(block.out.weight, std=0.02 / math.sqrt(2 * cfg.n_layer))

    @staticmethod
    def _init(m: nn.Module) -> None:
        if isinstance(m, nn.Linear):
            nn.init.normal_(m.weight, std=0.02)
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, nn.Embedding):
            nn.init.normal_(m.weight, std=0.02)

    def num_params(self) -> int:
        return sum(p.numel() for p in self.parameters())

    def forward(
        self,
        text_ids: torch.Tensor,
        music_ids: torch.Tensor,
        cache: KVCache | None = None,
        key_mask: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """Logits over the music vocabulary at every music position, shape (B, T, vocab).

        Without a cache: ``text_ids`` (B, text_len) and ``music_ids`` (B, T) from the start.
        With a cache: pass the prefix first (text and any music), then one or more music tokens at a time
        (``text_ids`` may then be None); ``key_mask`` (B, max_len) marks the keys that may be attended,
        as booleans or as an additive bias (0 or -inf), the cheaper form for one-token decoding steps.
        """
        parts = []
        start = cache.length if cache is not None else 0
        if text_ids is not None:
            parts.append(self.text_emb(text_ids))
        parts.append(self.tok_emb(music_ids))
        x = torch.cat(parts, dim=1) if len(parts) > 1 else parts[0]
        t = x.shape[1]
        x = x + self.pos_emb[start : start + t]
        if key_mask is None:
            key_mask = self.key_mask(text_ids)
        if key_mask.dtype != torch.bool and t == 1:
            mask = key_mask[:, None, None, : start + 1]  # decoding: a precomputed additive bias, sliced
        else:
            keys = key_mask[:, : start + t] if key_mask.dtype == torch.bool else key_mask[:, : start + t] == 0
            causal = torch.ones(t, start + t, dtype=torch.bool, device=x.device).tril(diagonal=start)
            mask = (causal[None] & keys[:, None, :])[:, None]  # (B, 1, t, start + t)
        for i, block in enumerate(self.blocks):
            x = block(x, mask, cache, i)
        if cache is not None:
            cache.length += t
        n_music = music_ids.shape[1]
        return self.head(self.ln_f(x[:, -n_music:]))

    def key_mask(self, text_ids: torch.Tensor) -> torch.Tensor:
        music = torch.ones(text_ids.shape[0], self.cfg.music_len, dtype=torch.bool, device=text_ids.device)
        return torch.cat([text_ids != PAD_WORD, music], dim=1)


def grammar_bias(device: torch.device | str = "cpu") -> torch.Tensor:
    """(music_len, vocab): 0 where a token is of the kind its position takes, -inf elsewhere."""
    bias = torch.full((VOCAB.seq_len, VOCAB.size), float("-inf"), device=device)
    for i, (lo, hi) in enumerate(SLOT_RANGES):
        bias[i, lo:hi] = 0.0
    return bias


def null_text_like(text_ids: torch.Tensor) -> torch.Tensor:
    """The null prompt (a lone <null> word, left-padded) for every row of ``text_ids``."""
    null = torch.full_like(text_ids, PAD_WORD)
    null[:, -1] = NULL_WORD
    return null


def generate(
    model: MusicTransformer,
    text_ids: torch.Tensor,
    gamma: float = 1.0,
    temperature: float = 1.0,
    top_k: int = 0,
    top_p: float = 1.0,
    seed: int = 0,
    return_logprobs: bool = False,
    return_logits: bool = False,
    constrain: bool = False,
) -> Generation:
    """Sample one sequence per row of ``text_ids`` (B, text_len) with CFG strength ``gamma`` and a KV cache.

    gamma == 1 runs the conditional rows alone; otherwise conditional and null-prompt rows share each
    forward pass (batch 2B). Reproducible from ``seed`` whatever else runs in the process.
    ``constrain`` masks, at every position, the tokens of the wrong kind (the grammar of ``VOCAB``)
    after guidance: CFG amplifies differences in the far tail of the two distributions, where wrong-kind
    tokens live. The loop runs in inference mode (measurably less per-operation overhead than no_grad); the
    results are returned as ordinary tensors, usable in autograd (e.g. as inputs of a distillation loss).
    """
    sampling = SamplingConfig(gamma, temperature, top_k, top_p, constrain)
    with torch.inference_mode():
        model.eval()
        cfg = model.cfg
        device = next(model.parameters()).device
        b = text_ids.shape[0]
        guided = sampling.gamma != 1.0
        if guided:
            text_ids = torch.cat([text_ids, null_text_like(text_ids)])
        rows = text_ids.shape[0]
        gen = torch.Generator(device=device).manual_seed(seed)
        cache = KVCache(cfg, rows, device, next(model.parameters()).dtype)
        key_mask = model.key_mask(text_ids)
        attn_bias = torch.zeros(key_mask.shape, device=device).masked_fill(~key_mask, float("-inf"))
        tokens = torch.full((b, cfg.music_len), VOCAB.bos, dtype=torch.long, device=device)
        n_new = cfg.music_len - 1
        logprobs = torch.empty(b, n_new, device=device) if return_logprobs else None
        all_logits = torch.empty(b, n_new, cfg.vocab_size, device=device) if return_logits else None
        slot_bias = grammar_bias(device) if sampling.constrain else None
        step_in = torch.full((rows, 1), VOCAB.bos, dtype=torch.long, device=device)
        logits = model(text_ids, step_in, cache, key_mask)[:, -1]
        for t in range(n_new):
            bias = None if slot_bias is None else slot_bias[t + 1]
            nxt, logits = draw(logits, b, sampling, gen, bias)
            tokens[:, t + 1] = nxt[:, 0]
            if logprobs is not None:
                logprobs[:, t] = torch.log_softmax(logits, dim=-1).gather(1, nxt)[:, 0]
            if all_logits is not None:
                all_logits[:, t] = logits
            if t + 1 < n_new:
                step_in = nxt.repeat(2, 1) if guided else nxt
                logits = model(None, step_in, cache, attn_bias)[:, -1]
    return Generation(*(None if x is None else x.clone() for x in (tokens, logprobs, all_logits)))
