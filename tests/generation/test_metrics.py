import numpy as np
import pytest
import torch
import torch.nn.functional as F

from generation.metrics import diversity, mean_ci, paired_test, text_adherence


def test_diversity_of_identical_clips_is_zero_and_of_orthogonal_clips_is_one():
    same = F.normalize(torch.ones(2, 4, 8), dim=-1)
    assert diversity(same) == pytest.approx([0.0, 0.0], abs=1e-6)
    ortho = torch.eye(4)[None]
    assert diversity(ortho) == pytest.approx([1.0], abs=1e-6)


def test_diversity_of_planted_pairs_at_sixty_degrees_is_one_half():
    a = torch.tensor([1.0, 0.0])
    b = torch.tensor([0.5, np.sqrt(3) / 2], dtype=torch.float32)
    assert diversity(torch.stack([a, b])[None]) == pytest.approx([0.5], abs=1e-6)


def test_text_adherence_is_the_mean_cosine_per_prompt():
    text = torch.tensor([[1.0, 0.0], [0.0, 1.0]])
    audio = torch.tensor([[[1.0, 0.0], [0.0, 1.0]], [[0.0, 1.0], [0.0, 1.0]]])
    assert text_adherence(text, audio) == pytest.approx([0.5, 1.0])


def test_intervals_and_paired_tests():
    ci = mean_ci(np.array([1.0, 2.0, 3.0]))
    assert ci["mean"] == 2.0 and ci["ci_low"] < 2.0 < ci["ci_high"]
    base = np.linspace(0, 1, 30)
    test = paired_test(base, base + 0.1 + 0.01 * np.sin(np.arange(30)))
    assert test["mean_diff"] == pytest.approx(0.1, abs=0.01) and test["wilcoxon_p"] < 0.001
