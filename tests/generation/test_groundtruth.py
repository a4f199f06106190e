from dataclasses import replace

import numpy as np
import pytest

from generation import corpus
from generation.corpus import (
    GENRES,
    PAPER_PROMPTS,
    VOCAB,
    Prompt,
    build_split,
    compose,
    compose_traced,
    corpus_samples,
    dev_prompts,
    is_held_out,
    prompt_set,
    sample_attributes,
    sample_prompt,
)
from generation.groundtruth import (
    COMPONENTS,
    SILENT,
    decode_truth,
    differences,
    parse_caption,
    score,
    score_tokens,
    truth_of_composition,
)

ROCK = Prompt("Rock song", (("genre", "rock"),))


def test_decoding_reads_back_exactly_what_the_corpus_drew_for_every_item():
    rng = np.random.default_rng(0)
    genres = set()
    for _ in range(2000):
        tokens, drawn = compose_traced(sample_attributes(rng), rng)
        assert decode_truth(tokens) == truth_of_composition(drawn)
        genres.add(drawn.attrs.genre)
    assert genres == set(GENRES)


def test_tracing_a_composition_draws_the_same_piece():
    a, b = np.random.default_rng(5), np.random.default_rng(5)
    for _ in range(50):
        attrs = sample_attributes(a)
        assert sample_attributes(b) == attrs
        assert np.array_equal(compose(attrs, a), compose_traced(attrs, b)[0])


def test_music_outside_every_genre_style_has_no_genre():
    rng = np.random.default_rng(1)
    rock = corpus_samples(ROCK, 1, rng)[0]
    assert decode_truth(rock).genre == "rock"
    piano = rock.copy()
    piano[4] = VOCAB.lead_instrument + corpus.LEADS.index("piano")  # no genre plays piano over rock drums
    assert decode_truth(piano).genre is None and decode_truth(piano).lead == "piano"
    broken_beat = rock.copy()
    broken_beat[9 + 3 * 8] = VOCAB.drum + corpus.RIDE  # the second bar's downbeat leaves the pattern
    assert decode_truth(broken_beat).drum_pattern is None and decode_truth(broken_beat).genre is None


def test_a_hold_after_a_rest_is_silence_as_the_renderer_plays_it():
    tokens = corpus_samples(ROCK, 1, np.random.default_rng(2))[0].copy()
    tokens[7::3][:3] = VOCAB.lead + np.array([2 + 7, corpus.REST, corpus.HOLD])
    assert decode_truth(tokens).melody[:3] == (0, SILENT, SILENT)


def test_captions_are_read_as_the_corpus_wrote_them():
    rng = np.random.default_rng(3)
    for _ in range(3000):
        prompt = sample_prompt(sample_attributes(rng), rng)
        assert parse_caption(prompt.text) == prompt.spec, prompt.text
    assert parse_caption(PAPER_PROMPTS[0]) == (("genre", "rock"),)
    assert parse_caption(PAPER_PROMPTS[1]) == (("lead", "soprano_voice"),)


def test_a_caption_stating_two_genres_is_rejected_with_the_attribute_named():
    with pytest.raises(ValueError, match="two values of genre"):
        parse_caption("rock song and jazz tune")
    with pytest.raises(ValueError, match="two values of lead"):
        parse_caption("Happy female opera singer with grand piano")


def test_satisfaction_is_the_share_of_samples_with_every_stated_attribute():
    rng = np.random.default_rng(4)
    jazz = corpus_samples(Prompt("jazz", (("genre", "jazz"),)), 1, rng)
    tokens = np.concatenate([corpus_samples(ROCK, 3, rng), jazz])[None]
    scores = score_tokens([ROCK.spec], tokens)
    assert scores.satisfaction.tolist() == [0.75]
    assert scores.sample_satisfied.tolist() == [[True, True, True, False]]
    both = (("genre", "rock"), ("mode", "minor"))
    modes = [decode_truth(t).mode for t in tokens[0]]
    assert score_tokens([both], tokens).satisfaction[0] == pytest.approx(modes[:3].count("minor") / 4)


def test_planted_differences_land_on_or_off_prompt_by_what_the_prompt_states():
    base = decode_truth(corpus_samples(ROCK, 1, np.random.default_rng(5))[0])
    states_lead = (("lead", base.lead),)
    other_lead = replace(base, lead="piano")
    other_tune = replace(base, melody=tuple(SILENT if m != SILENT else 0 for m in base.melody))
    same = score([states_lead], [[base, base]])
    assert same.on_prompt[0] == 0 and same.off_prompt[0] == 0
    lead = score([states_lead], [[base, other_lead]])
    assert lead.off_prompt[0] == 1 and lead.on_prompt[0] == 0
    tune = score([states_lead], [[base, other_tune]])
    assert tune.off_prompt[0] == 0
    assert tune.on_prompt[0] == pytest.approx(1 / (len(COMPONENTS) - 1))
    assert tune.on_parts["melody"][0] == 1 and tune.on_parts["rhythm"][0] == 0
    assert lead.on_parts["free_attributes"][0] == 0
    free_lead = score([(("genre", "rock"),)], [[base, other_lead]])  # the same change, now free
    assert free_lead.on_prompt[0] == pytest.approx(1 / (len(COMPONENTS) - 1)) and free_lead.off_prompt[0] == 0
    assert free_lead.on_parts["free_attributes"][0] == pytest.approx(1 / 5)  # lead, one of five unstated


def test_pair_differences_are_shares_of_steps_and_onsets():
    base = decode_truth(corpus_samples(ROCK, 1, np.random.default_rng(6))[0])
    half = replace(base, melody=base.melody[:16] + tuple(m + 1 for m in base.melody[16:]), rhythm=(0, 4))
    d = differences(replace(base, rhythm=(0, 2, 4, 6)), half)
    assert d["melody"] == pytest.approx(0.5) and d["rhythm"] == pytest.approx(1 - 2 / 4)
    assert d["genre"] == 0 and d["key"] == 0


def test_the_corpus_satisfies_its_exact_captions_and_varies_only_in_what_they_leave_free():
    rng = np.random.default_rng(7)
    prompts = corpus.test_prompts(12)
    scores = score_tokens([p.spec for p in prompts], np.stack([corpus_samples(p, 6, rng) for p in prompts]))
    assert np.all(scores.satisfaction == 1) and np.all(scores.off_prompt == 0)
    assert np.all(scores.on_prompt > 0.2) and np.all(scores.on_parts["melody"] > 0.5)


def test_ground_truth_diversity_needs_pairs():
    with pytest.raises(ValueError, match="at least 2 samples"):
        score([ROCK.spec], [[decode_truth(corpus_samples(ROCK, 1, np.random.default_rng(8))[0])]])


def test_dev_and_test_prompts_are_disjoint_from_each_other_and_from_training_captions():
    dev, test = dev_prompts(300), corpus.test_prompts(300)
    dev_texts, test_texts = {p.text.lower() for p in dev}, {p.text.lower() for p in test}
    assert len(dev_texts) == 300 and len(test_texts) == 300 and not dev_texts & test_texts
    training = {t.lower() for t in build_split(4000, seed=1).texts}
    assert not (dev_texts | test_texts) & training
    assert all(is_held_out(p.text) for p in dev + test)
    assert {prompt_set(p.text) for p in dev} == {"dev"} and {prompt_set(p.text) for p in test} == {"test"}
    assert [p.text for p in test[:2]] == list(PAPER_PROMPTS) and not set(PAPER_PROMPTS) & {
        p.text for p in dev
    }
    assert [p.text for p in corpus.test_prompts(300)] == [p.text for p in test]  # reproducible
    assert all(parse_caption(p.text) == p.spec for p in dev + test)


def test_on_prompt_diversity_of_satisfying_pairs_leaves_out_samples_that_miss_the_prompt():
    rng = np.random.default_rng(9)
    rock = [decode_truth(t) for t in corpus_samples(ROCK, 3, rng)]
    jazz = decode_truth(corpus_samples(Prompt("jazz", (("genre", "jazz"),)), 1, rng)[0])
    scores = score([ROCK.spec, ROCK.spec], [[*rock, jazz], [jazz, jazz, rock[0], jazz]])
    inside = score([ROCK.spec], [rock]).on_prompt[0]
    assert scores.on_prompt_satisfied[0] == pytest.approx(inside) and scores.on_prompt[0] > inside
    assert np.isnan(scores.on_prompt_satisfied[1])  # one rock sample: no pair inside the prompt


def test_a_genres_free_choices_have_a_signature_and_a_tail():
    from collections import Counter

    from generation.corpus import HOOKS, weights

    assert np.allclose(weights(3), [4 / 7, 2 / 7, 1 / 7])
    rng = np.random.default_rng(11)
    rock = [decode_truth(t) for t in corpus_samples(ROCK, 300, rng)]
    keys = Counter(t.key for t in rock)
    styles = Counter(t.melody_style for t in rock)
    # the signature (E, riffs) is the most common choice, and the tail is there: other keys and styles
    assert keys.most_common(1)[0][0] == GENRES["rock"].keys[0] and len(keys) >= 6
    assert styles.most_common(1)[0][0] == "riff" and len(styles) == len(GENRES["rock"].melody_styles)
    # half of a piece's motifs are one of its genre's two hooks per style, so the hooks' rhythms open about
    # 0.5 + 0.5 x 2/5 = 70% of riff pieces (40% if motifs were all composed afresh from the 5 riff rhythms)
    first_bars = Counter(tuple(s for s in t.rhythm if s < 8) for t in rock if t.melody_style == "riff")
    hook_rhythms = {tuple(onset for onset, _, _ in hook) for hook in HOOKS["rock", "riff"]}
    assert len(hook_rhythms) == 2
    assert sum(first_bars[r] for r in hook_rhythms) > 0.58 * sum(first_bars.values())
