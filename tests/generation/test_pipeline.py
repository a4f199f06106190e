import csv
import subprocess
import sys

import numpy as np
import pytest
import soundfile

from formats import MANIFEST_COLUMNS
from generation.__main__ import main
from generation.evaluate import evaluate, to_markdown
from generation.pregenerate import pregenerate
from generation.sampling import SamplingConfig


def test_pregenerate_writes_wavs_and_an_import_clips_manifest(tiny_backend, tmp_path):
    pregenerate(tiny_backend, tmp_path, variant="base", n_prompts=2, samples=2)
    manifest = pregenerate(
        tiny_backend, tmp_path, variant="cfg3", n_prompts=2, samples=2, sampling=SamplingConfig(gamma=3.0)
    )
    with manifest.open() as f:
        rows = list(csv.DictReader(f))
    assert tuple(rows[0]) == MANIFEST_COLUMNS and len(rows) == 8
    assert rows[0]["prompt_text"] == "Rock song" and {r["variant"] for r in rows} == {"base", "cfg3"}
    audio, sr = soundfile.read(tmp_path / rows[-1]["path"])
    assert sr >= 16_000 and np.isfinite(audio).all()
    pregenerate(tiny_backend, tmp_path, variant="base", n_prompts=2, samples=2)
    with manifest.open() as f:
        assert len(list(csv.DictReader(f))) == 8


def test_evaluate_reports_every_gamma_with_tests_against_gamma_one(tiny_backend, untrained_embeddings):
    result = evaluate(
        tiny_backend,
        untrained_embeddings,
        gammas=(1.0, 2.0),
        n_prompts=4,
        samples=2,
        seeds=(0, 1),
        zero_shot_clips=10,
        log=lambda s: None,
    )
    assert set(result["variants"]) == {"corpus", "gamma=1", "gamma=2"}
    assert set(result["tests_vs_gamma1"]) == {"gamma=2"}
    assert "| gamma=2 |" in to_markdown(result)


def test_evaluate_tests_against_gamma_one_even_when_it_is_not_asked_for_first(
    tiny_backend, untrained_embeddings
):
    result = evaluate(
        tiny_backend,
        untrained_embeddings,
        gammas=(2.0, 1.5),
        n_prompts=3,
        samples=2,
        seeds=(0,),
        zero_shot_clips=10,
        log=lambda s: None,
    )
    assert result["protocol"]["gammas"][0] == 1.0 and "gamma=1" in result["variants"]
    assert set(result["tests_vs_gamma1"]) == {"gamma=2", "gamma=1.5"}
    assert result["base_vs_corpus"]["valid_rate"] == result["variants"]["gamma=1"]["valid_rate"]


@pytest.mark.parametrize(
    "command",
    [
        "pretrain",
        "sample",
        "evaluate",
        "pregenerate",
        "inspect",
        "train-embeddings",
        "embeddings",
        "finetune",
        "merge",
        "steer",
        "front",
    ],
)
def test_every_subcommand_has_help(command, capsys):
    with pytest.raises(SystemExit) as exc:
        main([command, "--help"])
    assert exc.value.code == 0 and "usage" in capsys.readouterr().out


def test_a_missing_checkpoint_is_a_one_line_error(capsys, tmp_path):
    out = tmp_path / "x.wav"
    assert (
        main(["sample", "--model", str(tmp_path / "nope.pt"), "--prompt", "Rock song", "--out", str(out)])
        == 2
    )
    err = capsys.readouterr().err
    assert "does not exist" in err and len(err.strip().splitlines()) == 1 and not out.exists()


def test_the_ml_code_imports_without_django():
    code = (
        "import sys, generation.train, generation.evaluate, generation.pregenerate, generation.inspect,"
        " generation.finetune, generation.front, generation.backend, generation.backend_musicgen;"
        "assert 'django' not in sys.modules, 'django imported';"
        "assert 'transformers' not in sys.modules, 'transformers imported before a MusicGen model is loaded'"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
