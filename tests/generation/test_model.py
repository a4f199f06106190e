import torch

from generation.corpus import PAD_WORD, VOCAB, encode_text
from generation.model import ModelConfig, MusicTransformer, generate
from generation.sampling import cfg_logits

CFG = ModelConfig(d_model=32, n_layer=2, n_head=2)


def _model() -> MusicTransformer:
    torch.manual_seed(0)
    return MusicTransformer(CFG).eval()


def _text(*captions: str) -> torch.Tensor:
    return torch.from_numpy(encode_text(list(captions)))


def test_forward_returns_logits_for_every_music_position():
    model = _model()
    tokens = torch.randint(0, VOCAB.size, (3, VOCAB.seq_len))
    assert model(_text("Rock song", "Opera singer", "a sad jazz tune"), tokens).shape == (
        3,
        VOCAB.seq_len,
        VOCAB.size,
    )


def test_padding_words_are_masked_out_of_attention():
    model = _model()
    text, tokens = _text("Rock song"), torch.randint(0, VOCAB.size, (1, VOCAB.seq_len))
    before = model(text, tokens)
    with torch.no_grad():
        model.text_emb.weight[PAD_WORD] += 5.0
    assert torch.allclose(before, model(text, tokens), atol=1e-5)


def test_future_tokens_do_not_change_earlier_logits():
    model = _model()
    text, tokens = _text("Rock song"), torch.randint(0, VOCAB.size, (1, VOCAB.seq_len))
    changed = tokens.clone()
    changed[0, 50:] = (changed[0, 50:] + 1) % VOCAB.size
    assert torch.allclose(model(text, tokens)[:, :50], model(text, changed)[:, :50], atol=1e-5)


def test_kv_cache_logits_equal_full_forward_logits():
    model = _model()
    text = _text("Rock song", "Opera singer")
    out = generate(model, text, gamma=1.0, seed=3, return_logits=True)
    full = model(text, out.tokens)[:, :-1]
    assert torch.allclose(out.logits, full, atol=1e-4)


def test_cfg_logits_in_generate_combine_conditional_and_null_passes():
    model = _model()
    text = _text("Rock song", "Opera singer")
    out = generate(model, text, gamma=2.5, seed=3, return_logits=True)
    null = torch.full_like(text, PAD_WORD)
    null[:, -1] = 1
    expected = cfg_logits(model(text, out.tokens), model(null, out.tokens), 2.5)[:, :-1]
    assert torch.allclose(out.logits, expected, atol=1e-4)


def test_cfg_at_gamma_one_equals_the_conditional_logits():
    cond, uncond = torch.randn(4, VOCAB.size), torch.randn(4, VOCAB.size)
    assert torch.allclose(cfg_logits(cond, uncond, 1.0), cond)
    model = _model()
    text = _text("Rock song")
    out = generate(model, text, gamma=1.0, seed=0, return_logits=True)
    assert torch.allclose(out.logits, model(text, out.tokens)[:, :-1], atol=1e-4)


def test_generation_is_seeded_and_returns_logprobs():
    model = _model()
    text = _text("Rock song", "Rock song")
    a = generate(model, text, gamma=2.0, seed=7, return_logprobs=True)
    b = generate(model, text, gamma=2.0, seed=7)
    assert torch.equal(a.tokens, b.tokens)
    assert a.tokens.shape == (2, VOCAB.seq_len) and (a.tokens[:, 0] == VOCAB.bos).all()
    assert a.logprobs.shape == (2, VOCAB.seq_len - 1) and (a.logprobs <= 0).all()
    assert not torch.equal(a.tokens, generate(model, text, gamma=2.0, seed=8).tokens)


def test_top_k_one_is_greedy():
    model = _model()
    out = generate(model, _text("Rock song"), top_k=1, seed=0, return_logits=True)
    greedy = out.logits.argmax(-1)
    assert torch.equal(out.tokens[:, 1:], greedy)


def test_grammar_constrained_sampling_only_emits_tokens_of_the_right_kind():
    from generation.corpus import SLOT_HI, SLOT_LO

    model = _model()  # untrained: unconstrained, it emits tokens of every kind anywhere
    tokens = generate(model, _text("Rock song", "Opera singer"), gamma=3.0, seed=0, constrain=True).tokens
    assert ((tokens >= torch.from_numpy(SLOT_LO)) & (tokens < torch.from_numpy(SLOT_HI))).all()


def test_generated_tensors_can_feed_a_training_loss():
    model = _model()
    text = _text("Rock song")
    out = generate(model, text, gamma=2.0, seed=0, return_logprobs=True, return_logits=True)
    model.train()
    student = model(text, out.tokens)[:, :-1].log_softmax(-1)
    loss = (student.exp() * (student - out.logits.log_softmax(-1))).sum() + out.logprobs.sum() * 0
    loss.backward()
    assert model.head.weight.grad is not None
