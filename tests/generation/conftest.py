from pathlib import Path

import pytest
import torch

torch.set_num_threads(1)


@pytest.fixture(scope="session")
def tiny_checkpoint(tmp_path_factory) -> Path:
    from generation.train import PRESETS, pretrain

    path = tmp_path_factory.mktemp("tiny") / "base.pt"
    pretrain(PRESETS["tiny"], path, corpus_cache=None)
    return path


@pytest.fixture(scope="session")
def tiny_model(tiny_checkpoint):
    from generation.checkpoint import model_from_checkpoint

    return model_from_checkpoint(tiny_checkpoint)


@pytest.fixture(scope="session")
def tiny_backend(tiny_model):
    from generation.backend_builtin import BuiltinBackend

    return BuiltinBackend(tiny_model)


@pytest.fixture(scope="session")
def untrained_embeddings():
    from generation.embeddings import EMBEDDING_PRESETS, Embeddings, EncoderConfig, _build

    c = EMBEDDING_PRESETS["tiny"]
    torch.manual_seed(0)
    return Embeddings(
        *(_build(EncoderConfig(k, c.dim, c.hidden)) for k in ("text", "audio", "symbolic", "semitone"))
    )


def build_tiny_musicgen(path: Path) -> Path:
    """A randomly initialised MusicGen (tiny T5 text encoder, tiny EnCodec at 8 kHz with 2 codebooks of 32
    codes, a 2-layer decoder) and a word-level tokenizer over the corpus's caption words, saved with
    save_pretrained: what a real model folder looks like, built offline in a second."""
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import (
        EncodecConfig,
        MusicgenConfig,
        MusicgenDecoderConfig,
        MusicgenForConditionalGeneration,
        PreTrainedTokenizerFast,
        T5Config,
    )

    from generation.corpus import TEXT_VOCAB

    words = ["<pad>", "</s>", "<unk>"] + sorted(w for w in TEXT_VOCAB if not w.startswith("<"))
    word_level = Tokenizer(models.WordLevel({w: i for i, w in enumerate(words)}, unk_token="<unk>"))
    word_level.pre_tokenizer = pre_tokenizers.Whitespace()
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=word_level, pad_token="<pad>", unk_token="<unk>", eos_token="</s>"
    )
    text = T5Config(vocab_size=len(words), d_model=16, d_kv=4, d_ff=32, num_layers=1, num_heads=2)
    codec = EncodecConfig(
        sampling_rate=8000,
        num_filters=4,
        codebook_size=32,
        codebook_dim=16,
        hidden_size=16,
        upsampling_ratios=[4, 4],
        num_residual_layers=1,
        num_lstm_layers=1,
        target_bandwidths=[5.0],  # 2 codebooks at 500 frames/s
    )
    pad = 32  # MusicGen's convention: the start/pad id is the codebook size
    decoder = MusicgenDecoderConfig(
        vocab_size=32,
        hidden_size=16,
        num_hidden_layers=2,
        num_attention_heads=2,
        ffn_dim=32,
        num_codebooks=2,
        max_position_embeddings=512,
        initializer_factor=0.5,  # peaked distributions, so greedy decoding and CFG make visible choices
        pad_token_id=pad,
        bos_token_id=pad,
        decoder_start_token_id=pad,
    )
    config = MusicgenConfig(
        text_encoder=text.to_dict(), audio_encoder=codec.to_dict(), decoder=decoder.to_dict()
    )
    torch.manual_seed(0)
    model = MusicgenForConditionalGeneration(config).eval()
    for layer in model.audio_encoder.quantizer.layers:  # EnCodec starts with all-zero codebooks
        layer.codebook.embed.normal_()
    for name in ("decoder_start_token_id", "pad_token_id", "bos_token_id"):
        setattr(model.generation_config, name, pad)
    model.save_pretrained(path)
    tokenizer.save_pretrained(path)
    return path


@pytest.fixture(scope="session")
def tiny_musicgen_dir(tmp_path_factory) -> Path:
    pytest.importorskip("transformers")
    return build_tiny_musicgen(tmp_path_factory.mktemp("musicgen") / "tiny-musicgen")


@pytest.fixture(scope="session")
def audio_folder(tmp_path_factory) -> Path:
    """Ten rendered corpus clips, as a researcher's folder of audio."""
    from generation.corpus import build_split
    from generation.render import render_batch, write_wav

    folder = tmp_path_factory.mktemp("audio")
    for i, audio in enumerate(render_batch(build_split(10, seed=3).tokens)):
        write_wav(folder / f"clip{i}.wav", audio)
    return folder


@pytest.fixture(scope="session")
def audio_embeddings_path(audio_folder) -> Path:
    """Reward and held-out embeddings trained by ``python -m generation embeddings --audio DIR``."""
    from generation.__main__ import main

    out = audio_folder.parent / "audio-embeddings.pt"
    assert main(["embeddings", "--audio", str(audio_folder), "--out", str(out), "--preset", "tiny"]) == 0
    return out
