import dataclasses

import numpy as np
import pytest
import torch

from generation.checkpoint import load_checkpoint, model_from_checkpoint, save_checkpoint
from generation.corpus import NULL_WORD, PAD_WORD, encode_text
from generation.train import PRESETS, drop_condition, pretrain


def test_condition_dropout_replaces_captions_by_the_null_prompt():
    text = torch.from_numpy(encode_text(["Rock song"] * 2000))
    dropped = drop_condition(text, 0.15, np.random.default_rng(0))
    is_null = (dropped[:, -1] == NULL_WORD) & (dropped[:, :-1] == PAD_WORD).all(1)
    assert 0.12 < is_null.float().mean() < 0.18
    assert all(p.cond_dropout > 0 for p in PRESETS.values())


def test_checkpoint_round_trip_keeps_weights_config_and_lineage(tiny_checkpoint, tmp_path):
    ckpt = load_checkpoint(tiny_checkpoint)
    assert (
        ckpt["step"] == PRESETS["tiny"].steps
        and ckpt["parent"] is None
        and ckpt["init_id"].startswith("tiny-")
    )
    assert ckpt["train_config"]["cond_dropout"] == PRESETS["tiny"].cond_dropout and ckpt["log"]
    save_checkpoint(ckpt, tmp_path / "copy.pt")
    a, b = model_from_checkpoint(tiny_checkpoint), model_from_checkpoint(tmp_path / "copy.pt")
    text, tokens = torch.from_numpy(encode_text(["Rock song"])), torch.zeros(1, 20, dtype=torch.long)
    assert torch.equal(a(text, tokens), b(text, tokens))
    assert load_checkpoint(tmp_path / "copy.pt")["checkpoint_id"] == ckpt["checkpoint_id"]


def test_an_interrupted_run_resumes_to_the_same_weights(tmp_path):
    cfg = dataclasses.replace(
        PRESETS["tiny"], steps=12, checkpoint_every=6, eval_every=6, n_train=300, n_val=50
    )

    def crash(step, total, metrics):
        if step == 8:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        pretrain(cfg, tmp_path / "run.pt", progress=crash, corpus_cache=None)
    assert load_checkpoint(tmp_path / "run.pt")["step"] == 6
    resumed = pretrain(cfg, tmp_path / "run.pt", corpus_cache=None)
    straight = pretrain(cfg, tmp_path / "straight.pt", corpus_cache=None)
    assert resumed["checkpoint_id"] == straight["checkpoint_id"] and resumed["init_id"] == straight["init_id"]
    assert pretrain(cfg, tmp_path / "run.pt", corpus_cache=None)["checkpoint_id"] == resumed["checkpoint_id"]


def test_tiny_pretraining_lowers_the_validation_loss(tiny_checkpoint):
    log = load_checkpoint(tiny_checkpoint)["log"]
    assert log[-1]["val_loss"] < log[0]["val_loss"] < np.log(102)


def test_train_config_is_typed_and_serialisable():
    d = PRESETS["demo"].to_dict()
    assert d["model"]["d_model"] == PRESETS["demo"].model.d_model and "corpus_version" in d
    assert dataclasses.is_dataclass(PRESETS["demo"].model)
