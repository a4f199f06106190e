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
        *(_build(EncoderConfig(k, c.dim, c.hidden)) for k in ("text", "audio", "symbolic", "audio"))
    )
