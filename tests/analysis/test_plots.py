"""Figures a paper can print: intervals stay on the 1–5 scale, point labels do not collide."""

from itertools import combinations

import numpy as np
import pandas as pd
import pytest
from matplotlib.collections import LineCollection

from analysis.plots import mos_figure, quality_diversity_figure, win_rate_figure
from analysis.tables import CRITERION_LABELS

VARIANTS = ["base", "cfg", "cfg_g2", "distilled", "lerp_25", "lerp_50", "lerp_75", "diversity_b15"]


def bar_ends(figure) -> np.ndarray:
    """Every end of every error bar drawn, in data coordinates."""
    segments = [
        segment
        for axes in figure.axes
        for collection in axes.collections
        if isinstance(collection, LineCollection)
        for segment in collection.get_segments()
    ]
    return np.concatenate(segments)


def test_mos_intervals_past_the_scale_are_drawn_clipped_to_it():
    variants = pd.DataFrame(
        [
            {"variant": v, "criterion": c, "mean": 4.8 if v == "a" else 1.2, "ci_low": 0.4, "ci_high": 5.6}
            for v in ("a", "b")
            for c in CRITERION_LABELS
        ]
    )
    ends = bar_ends(mos_figure(variants))
    assert ends[:, 1].min() == 1.0 and ends[:, 1].max() == 5.0


def crowded_overall() -> pd.DataFrame:
    rng = np.random.default_rng(0)
    means = 4.4 + rng.normal(0, 0.08, len(VARIANTS))
    return pd.DataFrame({"variant": VARIANTS, "mean": means, "ci_low": means - 0.6, "ci_high": means + 0.7})


def test_quality_diversity_intervals_are_clipped_and_labels_do_not_overlap():
    position = pd.DataFrame({"variant": VARIANTS, "position": np.linspace(-0.2, 0.2, len(VARIANTS))})
    position["low"], position["high"] = position["position"] - 0.3, position["position"] + 0.3
    metrics = {
        v: {"text_adherence": 0.3 + 0.002 * i, "diversity": 0.6 + 0.002 * i} for i, v in enumerate(VARIANTS)
    }
    figure = quality_diversity_figure(crowded_overall(), position, metrics)
    assert bar_ends(figure)[:, 1].max() <= 5.0
    renderer = figure.canvas.get_renderer()
    for axes in figure.axes:
        boxes = [text.get_window_extent(renderer) for text in axes.texts]
        assert sorted(text.get_text() for text in axes.texts) == sorted(VARIANTS)
        assert not [(a, b) for a, b in combinations(boxes, 2) if a.overlaps(b)]
        frame = axes.get_window_extent(renderer)
        assert all(frame.x0 <= box.x0 and box.x1 <= frame.x1 for box in boxes)


@pytest.mark.parametrize(
    "names", [["base", "cfg"], VARIANTS, ["base", "a_very_long_variant_name_lambda_0.75", "cfg"]]
)
@pytest.mark.parametrize("panels", [1, 3, 4])
def test_win_rate_panels_labels_and_colour_bar_fit_the_figure_without_overlapping(names, panels):
    criteria = list(CRITERION_LABELS)[: min(panels, 3)]
    pairs = pd.DataFrame(
        [
            {"a": a, "b": b, "criterion": c, "win_rate": 0.6, "p_holm": 0.01}
            for a, b in combinations(names, 2)
            for c in criteria
        ]
    )
    diversity = pairs[pairs["criterion"] == criteria[0]].drop(columns="criterion")
    quality = pairs if panels > 1 else pairs.iloc[:0]
    figure = win_rate_figure(quality, diversity if panels != 3 else diversity.iloc[:0], names)
    renderer = figure.canvas.get_renderer()
    whole = figure.bbox
    extents = [axes.get_tightbbox(renderer) for axes in figure.axes]
    assert len(figure.axes) == panels + 1  # and the colour bar
    for box in [*extents, figure._suptitle.get_window_extent(renderer)]:
        assert whole.x0 <= box.x0 and box.x1 <= whole.x1 and whole.y0 <= box.y0 and box.y1 <= whole.y1
    assert not [(a, b) for a, b in combinations(extents, 2) if a.overlaps(b)]
