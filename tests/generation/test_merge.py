import dataclasses

import numpy as np
import pytest
import torch

from generation.backend import load_backend
from generation.checkpoint import load_checkpoint, model_from_checkpoint, save_checkpoint
from generation.finetune import PRESETS, finetune
from generation.merge import Steering, check_mergeable, merge_checkpoints, merge_states
from generation.sampling import generate_for_prompts


@pytest.fixture(scope="module")
def parents(tiny_checkpoint, untrained_embeddings, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("merge")
    cfg = dataclasses.replace(PRESETS["tiny"], steps=2, eval_every=0)
    quality = finetune(cfg, tiny_checkpoint, untrained_embeddings, tmp / "q.pt")
    diverse = finetune(
        dataclasses.replace(cfg, beta=10.0), tiny_checkpoint, untrained_embeddings, tmp / "d.pt"
    )
    return quality, diverse


def test_lambda_0_and_1_return_the_parents_exactly(parents):
    a, b = parents
    for lam, parent in ((0.0, a), (1.0, b)):
        merged = merge_checkpoints(a, b, lam)
        assert all(torch.equal(merged["model_state"][k], v) for k, v in parent["model_state"].items())
        assert merged["checkpoint_id"] == parent["checkpoint_id"]


def test_a_merge_interpolates_and_records_both_parents_and_lambda(parents, tmp_path):
    a, b = parents
    merged = merge_checkpoints(a, b, 0.25)
    key = "head.weight"
    expected = 0.75 * a["model_state"][key] + 0.25 * b["model_state"][key]
    assert torch.allclose(merged["model_state"][key], expected, atol=1e-7)
    assert merged["merge"]["parents"] == [a["checkpoint_id"], b["checkpoint_id"]]
    assert merged["merge"]["lam"] == 0.25 and merged["init_id"] == a["init_id"]
    save_checkpoint(merged, tmp_path / "m.pt")
    assert load_checkpoint(tmp_path / "m.pt")["merge"]["lam"] == 0.25
    model_from_checkpoint(tmp_path / "m.pt")


def test_checkpoints_without_a_shared_initialisation_or_config_are_refused(parents):
    a, b = parents
    with pytest.raises(ValueError, match="initialisation"):
        check_mergeable(a, {**b, "init_id": "other-seed1-0000"})
    with pytest.raises(ValueError, match="initialisation"):
        merge_checkpoints(a, {**b, "finetuned_from": "0123456789abcdef"}, 0.5)
    with pytest.raises(ValueError, match="model config"):
        merge_checkpoints(a, {**b, "model_config": {**b["model_config"], "d_model": 64}}, 0.5)
    with pytest.raises(ValueError, match="lambda"):
        merge_states(a["model_state"], b["model_state"], 1.5)


def test_steering_merges_on_the_fly_caches_and_matches_a_stored_merge(parents):
    a, b = parents
    steering = Steering(a, b, cache_size=2)
    assert steering.model(0.5) is steering.model(0.5)
    stored = load_backend(merge_checkpoints(a, b, 0.5))
    texts = ["Rock song", "Opera singer"]
    on_the_fly, _ = steering.generate_for_prompts(texts, 2, lam=0.5, seed=3)
    expected, _ = generate_for_prompts(stored, texts, 2, seed=3)
    assert np.array_equal(on_the_fly, expected)
    steering.model(0.0), steering.model(1.0)
    assert len(steering._models) == 2


def test_a_worker_keeps_a_loaded_model_until_its_file_changes(parents, tmp_path):
    import os

    from generation.backend import cached_backend

    a, b = parents
    path = save_checkpoint(a, tmp_path / "served.pt")
    first = cached_backend(path)
    assert cached_backend(path) is first
    save_checkpoint(b, path)
    os.utime(path, ns=(1, 1))  # a new modification time, as a replaced checkpoint has
    reloaded = cached_backend(path)
    assert reloaded is not first and torch.equal(
        reloaded.state()["head.weight"], b["model_state"]["head.weight"]
    )
