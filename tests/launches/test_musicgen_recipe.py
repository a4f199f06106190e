"""A recipe on a MusicGen folder: the same steps train, generate and measure through the backend."""

from pathlib import Path

import pytest

from generation import steps
from generation.steps import model_identity
from launches.recipe import RecipeError, recipe_parse
from tests.generation.conftest import build_tiny_musicgen

DEMO_EMBEDDINGS = Path(steps.CHECKPOINTS_DIR) / "demo-embeddings.pt"


@pytest.fixture(scope="module")
def musicgen_and_embeddings(tmp_path_factory):
    """A tiny random MusicGen folder, and embeddings trained on a folder of audio (MuLan pair borrowed)."""
    pytest.importorskip("transformers")
    from generation.__main__ import main
    from generation.corpus import build_split
    from generation.render import render_batch, write_wav

    root = tmp_path_factory.mktemp("musicgen-recipe")
    for i, audio in enumerate(render_batch(build_split(10, seed=3).tokens)):
        write_wav(root / "audio" / f"clip{i}.wav", audio)
    out = root / "embeddings.pt"
    command = ["embeddings", "--audio", str(root / "audio"), "--out", str(out), "--preset", "tiny"]
    assert main([*command, "--mulan-from", str(DEMO_EMBEDDINGS)]) == 0
    return build_tiny_musicgen(root / "tiny-musicgen"), out


def recipe_for(folder: Path, embeddings: Path | None, **variant) -> dict:
    return {
        "study": "mg",
        "model": str(folder),
        **({"embeddings": str(embeddings)} if embeddings else {}),
        "prompts": {"quality": {"set": "test", "count": 2}, "diversity": {"set": "test", "count": 2}},
        "samples_per_prompt": 2,
        "variants": [
            {"name": "base", "recipe": "base", "gamma": 3.0},
            {
                "name": "distilled",
                "recipe": "distill",
                "gamma": 3.0,
                "steps": 1,
                "constrain": False,
                **variant,
            },
        ],
        "diversity": "all-pairs",
    }


def parse(data: dict, runs: Path):
    return recipe_parse(data, base_dir=runs, model_identity=lambda name: model_identity(name, runs))


def test_a_model_folder_needs_embeddings_and_refuses_the_built_in_grammar(musicgen_and_embeddings, tmp_path):
    folder, _ = musicgen_and_embeddings
    with pytest.raises(RecipeError) as caught:
        parse(recipe_for(folder, None, constrain=True), tmp_path)
    assert [f.split(":")[0] for f in caught.value.faults] == [
        "variants[1] (distilled).constrain",
        "embeddings",
    ]
