import pytest
import torch

from generation.finetune import FinetuneConfig
from generation.rewards import (
    REWARDS,
    PaperReward,
    PromptGatedReward,
    dissimilarities,
    gated_mean_dissimilarity,
    make_reward,
)


def planted() -> tuple[torch.Tensor, torch.Tensor]:
    """One prompt, four samples: three keep the prompt and differ a little from each other; the fourth leaves
    the prompt (its adherence is low) and is far from all of them."""
    keep = torch.nn.functional.normalize(
        torch.tensor([[1.0, 0.6, 0.0], [1.0, -0.2, 0.0], [1.0, 0.0, 0.1]]), dim=-1
    )
    leave = torch.tensor([[0.0, 0.0, -1.0]])
    return torch.cat([keep, leave])[None], torch.tensor([[0.55, 0.50, 0.52, 0.05]])


def test_the_paper_reward_ranks_the_sample_that_leaves_the_prompt_first():
    emb, _ = planted()
    rewards = gated_mean_dissimilarity(dissimilarities(emb))[0]
    assert int(rewards.argmax()) == 3


def test_the_prompt_gated_reward_ranks_it_last_and_keeps_the_order_among_prompt_keeping_samples():
    emb, adherence = planted()
    d = dissimilarities(emb)
    gated = gated_mean_dissimilarity(d, PromptGatedReward(threshold=0.3, width=0.05).gate(adherence))[0]
    assert int(gated.argmin()) == 3 and gated[3] < 0.01
    # among the three that keep the prompt, it orders them as their dissimilarity to each other does
    among = gated_mean_dissimilarity(d[:, :3, :3])[0]
    assert torch.equal(gated[:3].argsort(), among.argsort())
    # with every gate open it is the paper's reward
    assert torch.allclose(gated_mean_dissimilarity(d, torch.ones(1, 4)), gated_mean_dissimilarity(d))


def test_the_reward_is_chosen_by_name_and_an_unknown_one_is_refused():
    assert isinstance(make_reward("paper"), PaperReward)
    gated = FinetuneConfig(reward="prompt_gated", gate_threshold=0.4).make_reward()
    assert isinstance(gated, PromptGatedReward) and gated.threshold == 0.4
    assert set(REWARDS) == {"paper", "prompt_gated"}
    with pytest.raises(ValueError, match="reward 'median'"):
        FinetuneConfig(reward="median")
    with pytest.raises(ValueError, match="width"):
        PromptGatedReward(0.3, 0.0)
