"""The report's figures, rendered to PNG bytes by matplotlib's Agg renderer.

Figures are built with ``matplotlib.figure.Figure`` rather than pyplot: no global state, so the staff
page can draw them in any web worker thread.
"""

from __future__ import annotations

import io
import math
from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd
from matplotlib import rcParams
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg, RendererAgg
from matplotlib.figure import Figure
from matplotlib.font_manager import FontProperties
from matplotlib.text import Text
from matplotlib.transforms import Bbox

from .tables import CRITERION_LABELS

COLOURS = {"acoustic_quality": "#1b6ca8", "text_adherence": "#d1495b", "musicality": "#2e8b57"}
DPI = 150
SCALE = (1.0, 5.0)


def _png(figure: Figure, *, tight: bool = True) -> bytes:
    """PNG bytes; ``tight`` crops to the drawn content (a constrained layout already fits it).

    The same pixels as ``savefig(bbox_inches="tight")``, drawn once: savefig draws the whole figure
    an extra time before the real draw whenever it has a layout engine or a tight box to find. Here
    the layout runs once, the tight box is measured from the artists' extents, and savefig, given a
    box and no engine, draws only to render.
    """
    canvas = FigureCanvasAgg(figure)
    figure.set_dpi(DPI)
    renderer = canvas.get_renderer()
    engine = figure.get_layout_engine()
    if engine is not None:
        engine.execute(figure)
        figure.set_layout_engine("none")
    box = figure.get_tightbbox(renderer).padded(rcParams["savefig.pad_inches"]) if tight else None
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=DPI, bbox_inches=box)
    return buffer.getvalue()


def _text_inches(renderer: RendererAgg, text: str, size: float) -> tuple[float, float]:
    """Width and height of one line of text as drawn at ``size`` points, in inches."""
    width, height, _ = renderer.get_text_width_height_descent(text, FontProperties(size=size), ismath=False)
    return width / renderer.dpi, height / renderer.dpi


def mos_plot(variants: pd.DataFrame) -> bytes:
    return _png(mos_figure(variants))


def mos_figure(variants: pd.DataFrame) -> Figure:
    """Mean opinion score per variant, one marker per criterion, with 95% t-interval bars (clipped to 1–5)."""
    order = list(dict.fromkeys(variants["variant"]))
    figure = Figure(figsize=(max(6.0, 1.2 * len(order) + 2), 4.2))
    axes = figure.subplots()
    offsets = np.linspace(-0.22, 0.22, len(CRITERION_LABELS))
    for offset, (criterion, label) in zip(offsets, CRITERION_LABELS.items(), strict=True):
        rows = _on_scale(variants[variants["criterion"] == criterion].set_index("variant").reindex(order))
        axes.errorbar(
            np.arange(len(order)) + offset,
            rows["mean"],
            yerr=_error(rows, "mean", "ci_low", "ci_high"),
            fmt="o",
            capsize=3,
            color=COLOURS[criterion],
            label=label,
            markersize=6,
        )
    for position, variant in enumerate(order):
        if variants.loc[variants["variant"] == variant, "mean"].isna().all():
            axes.text(
                position,
                0.5,
                "no ratings",
                transform=axes.get_xaxis_transform(),
                ha="center",
                color="#777777",
            )
    axes.set_xticks(
        np.arange(len(order)),
        order,
        rotation=20 if len(order) > 4 else 0,
        ha="right" if len(order) > 4 else "center",
    )
    low = np.nanmin(variants["ci_low"]) if variants["ci_low"].notna().any() else SCALE[0]
    high = np.nanmax(variants["ci_high"]) if variants["ci_high"].notna().any() else SCALE[1]
    # Room for the caps of a bar that stops at the end of the scale.
    axes.set_ylim(max(SCALE[0] - 0.15, low - 0.3), min(SCALE[1] + 0.15, high + 0.3))
    axes.set_ylabel("Mean opinion score (1–5)")
    axes.set_title("Quality per variant and criterion (95% CI over prompts)")
    axes.grid(axis="y", alpha=0.3)
    axes.legend(
        loc="upper center", bbox_to_anchor=(0.5, -0.18 if len(order) > 4 else -0.1), ncol=3, frameon=False
    )
    return figure


def _matrix(
    pairs: pd.DataFrame, order: Sequence[str], p_column: str
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Win rates of row over column, which cells are significant, and which pairs were compared at all."""
    index = {v: i for i, v in enumerate(order)}
    rates = np.full((len(order), len(order)), np.nan)
    significant = np.zeros_like(rates, dtype=bool)
    compared = np.zeros_like(rates, dtype=bool)
    for row in pairs.itertuples():
        i, j = index[row.a], index[row.b]
        rates[i, j], rates[j, i] = row.win_rate, 1 - row.win_rate
        p = getattr(row, p_column)
        # All-tie pairs have no test (p is None or NaN): not significant.
        significant[i, j] = significant[j, i] = p is not None and p < 0.05
        compared[i, j] = compared[j, i] = True
    return rates, significant, compared


def win_rate_plot(quality_pairs: pd.DataFrame, diversity_pairs: pd.DataFrame, order: Sequence[str]) -> bytes:
    return _png(win_rate_figure(quality_pairs, diversity_pairs, order), tight=False)


def win_rate_figure(
    quality_pairs: pd.DataFrame, diversity_pairs: pd.DataFrame, order: Sequence[str]
) -> Figure:
    """Row variant's win rate against the column variant, per criterion and for diversity."""
    panels = [
        (CRITERION_LABELS[c], quality_pairs[quality_pairs["criterion"] == c], "p_holm")
        for c in CRITERION_LABELS
        if len(quality_pairs) and (quality_pairs["criterion"] == c).any()
    ]
    if len(diversity_pairs):
        panels.append(("Diversity (more diverse)", diversity_pairs, "p_holm"))
    columns = min(2, len(panels))
    rows = -(-len(panels) // columns)
    title = (
        "Win rate W/(W+L) of the row variant over the column variant (* Holm p < 0.05; grey: not compared)"
    )
    # Laid out by hand, in inches, from the sizes of the longest names as drawn: a constrained layout
    # finds the same places by measuring every artist (an eighth of a second here).
    figure = Figure()
    renderer = FigureCanvasAgg(figure).get_renderer()
    shown = [v for v in order if any(v in set(p["a"]) | set(p["b"]) for _, p, _ in panels)] or [""]
    name_width, name_height = np.max([_text_inches(renderer, v, 8) for v in shown], axis=0)
    turned = math.radians(40)
    tick = 7 / 72  # tick length and its pad, 3.5 pt each
    left = name_width + tick + 0.1  # the row names
    below = name_width * math.sin(turned) + name_height * math.cos(turned) + tick + 0.1  # the column names
    above, gap, top = 0.32, 0.3, 0.45  # panel title; space between panels; the figure's title
    side = max(2.6, 0.55 * len(order) + 1.0)  # a heatmap's side
    bar = 1.1  # the colour bar, its ticks and its label
    content = columns * (left + side + gap) + bar
    width = max(content, _text_inches(renderer, title, 11)[0] + 0.3)
    margin = (width - content) / 2  # centres the panels under a title wider than they are
    height = top + rows * (above + side + below)
    figure.set_size_inches(width, height)
    image = None
    for index, (panel_title, pairs, p_column) in enumerate(panels):
        row, column = divmod(index, columns)
        x0 = margin + column * (left + side + gap) + left
        y0 = height - top - (row + 1) * (above + side + below) + below
        axes = figure.add_axes((x0 / width, y0 / height, side / width, side / height))
        variants = [v for v in order if v in set(pairs["a"]) | set(pairs["b"])]
        rates, significant, compared = _matrix(pairs, variants, p_column)
        image = axes.imshow(rates, cmap="RdBu", vmin=0, vmax=1)
        for i in range(len(variants)):
            for j in range(len(variants)):
                if np.isnan(rates[i, j]) and compared[i, j]:
                    axes.text(j, i, "all ties", ha="center", va="center", fontsize=8, color="#555555")
                elif compared[i, j]:
                    colour = "white" if abs(rates[i, j] - 0.5) > 0.3 else "black"
                    text = f"{rates[i, j]:.2f}" + ("*" if significant[i, j] else "")
                    axes.text(j, i, text, ha="center", va="center", fontsize=8, color=colour)
        axes.set_xticks(range(len(variants)), variants, rotation=40, ha="right", fontsize=8)
        axes.set_yticks(range(len(variants)), variants, fontsize=8)
        axes.set_title(panel_title, fontsize=10)
        axes.set_facecolor("#e4e4e4")
    if image is not None:
        span = height - top - below  # from the lowest panel's bottom to the highest panel's top
        bar_axes = figure.add_axes(
            (
                (margin + content - bar + 0.15) / width,
                (below + 0.1 * span) / height,
                0.2 / width,
                0.8 * span / height,
            )
        )
        figure.colorbar(image, cax=bar_axes, label="Win rate of row over column")
    figure.suptitle(title, fontsize=11, y=1 - 0.12 / height, va="top")
    return figure


# Where a label may sit around its point, in points, nearest first: the first that covers nothing is taken.
LABEL_OFFSETS = tuple(
    (sign_x * step, sign_y * step * 0.8)
    for step in (6, 14, 24)
    for sign_x, sign_y in ((1, 1), (1, -1), (-1, 1), (-1, -1))
) + ((0, 9), (0, -9), (0, 20), (0, -20))
# How much covering each kind of thing costs, per square pixel: another label or leaving the axes is
# worst, a point next, an error bar least (a label across a thin bar still reads).
COVER_COST = {"label": 20.0, "outside": 20.0, "point": 5.0, "bar": 1.0}


def _on_scale(frame: pd.DataFrame) -> pd.DataFrame:
    """MOS intervals (ci_low, ci_high) clipped to the rating scale: no bar is drawn past 1 or 5."""
    return frame.assign(ci_low=frame["ci_low"].clip(*SCALE), ci_high=frame["ci_high"].clip(*SCALE))


def _error(frame: pd.DataFrame, centre: str, low: str, high: str) -> np.ndarray:
    """Error-bar lengths below and above; none where the interval is missing or does not reach the point
    (a percentile bootstrap interval of very few prompts can lie to one side of the estimate)."""
    lengths = np.vstack([frame[centre] - frame[low], frame[high] - frame[centre]]).astype(float)
    return np.nan_to_num(lengths.clip(min=0.0), nan=0.0)


def _overlap(box: Bbox, other: Bbox) -> float:
    width = min(box.x1, other.x1) - max(box.x0, other.x0)
    height = min(box.y1, other.y1) - max(box.y0, other.y0)
    return max(0.0, width) * max(0.0, height)


def _label_points(
    axes: Axes,
    points: pd.DataFrame,
    x: str,
    y: str,
    bars: Sequence[tuple[str, str, str]] = (),
) -> None:
    """Name each point (the frame's index) where its label covers no other label, point or error bar.

    ``bars`` are (axis, low column, high column) of the error bars drawn through the points. Call it
    once the figure's layout is final: the search works in pixels.
    """
    renderer = axes.figure.canvas.get_renderer()
    to_pixels = axes.transData.transform
    obstacles: list[tuple[Bbox, float]] = []
    for _, row in points.iterrows():
        px, py = to_pixels((row[x], row[y]))
        obstacles.append((Bbox.from_extents(px - 4, py - 4, px + 4, py + 4), COVER_COST["point"]))
        for axis, low, high in bars:
            ends = (
                [(row[low], row[y]), (row[high], row[y])]
                if axis == "x"
                else [(row[x], row[low]), (row[x], row[high])]
            )
            (x0, y0), (x1, y1) = to_pixels(ends)
            box = Bbox.from_extents(
                min(x0, x1) - 1.5, min(y0, y1) - 1.5, max(x0, x1) + 1.5, max(y0, y1) + 1.5
            )
            obstacles.append((box, COVER_COST["bar"]))
    frame = axes.get_window_extent(renderer)
    for name, row in points.iterrows():
        best: tuple[float, Text] | None = None
        for dx, dy in LABEL_OFFSETS:
            label = axes.annotate(
                str(name),
                (row[x], row[y]),
                xytext=(dx, dy),
                textcoords="offset points",
                ha="left" if dx > 0 else "right" if dx < 0 else "center",
                va="bottom" if dy > 0 else "top" if dy < 0 else "center",
                fontsize=8,
            )
            box = label.get_window_extent(renderer)
            cost = COVER_COST["outside"] * (box.width * box.height - _overlap(box, frame))
            cost += sum(weight * _overlap(box, obstacle) for obstacle, weight in obstacles)
            if best is None or cost < best[0]:
                if best is not None:
                    best[1].remove()
                best = (cost, label)
            else:
                label.remove()
            if cost == 0:
                break
        obstacles.append((best[1].get_window_extent(renderer), COVER_COST["label"]))


def quality_diversity_plot(
    overall: pd.DataFrame,
    diversity_position: pd.DataFrame | None,
    automatic_metrics: Mapping[str, Mapping[str, float]] | None,
) -> bytes | None:
    figure = quality_diversity_figure(overall, diversity_position, automatic_metrics)
    return None if figure is None else _png(figure)


def quality_diversity_figure(
    overall: pd.DataFrame,
    diversity_position: pd.DataFrame | None,
    automatic_metrics: Mapping[str, Mapping[str, float]] | None,
) -> Figure | None:
    """Human quality against human diversity preference, and against the automatic metrics if given.

    ``diversity_position`` has variant, position, low, high: Bradley–Terry strength or a win rate.
    """
    panels = []
    quality = overall.dropna(subset=["mean"]).set_index("variant")
    if diversity_position is not None and set(diversity_position["variant"]) & set(quality.index):
        panels.append("human")
    automatic = pd.DataFrame.from_dict(automatic_metrics or {}, orient="index")
    if "diversity" in automatic.columns and set(automatic.index) & set(quality.index):
        panels.append("automatic_diversity")
    if {"diversity", "text_adherence"} <= set(automatic.columns):
        panels.append("automatic_plane")
    if not panels:
        return None
    figure = Figure(figsize=(5.2 * len(panels), 4.4))
    FigureCanvasAgg(figure)  # the label placement measures text with its renderer
    axes_row = figure.subplots(1, len(panels), squeeze=False)
    labels = []
    for axes, panel in zip(axes_row[0], panels, strict=True):
        if panel == "human":
            shared = _on_scale(diversity_position.set_index("variant").join(quality, how="inner"))
            axes.errorbar(
                shared["position"],
                shared["mean"],
                xerr=_error(shared, "position", "low", "high"),
                yerr=_error(shared, "mean", "ci_low", "ci_high"),
                fmt="o",
                capsize=3,
                color="#1b6ca8",
            )
            bars = [("x", "low", "high"), ("y", "ci_low", "ci_high")]
            labels.append((axes, shared, "position", "mean", bars))
            axes.set_xlabel(diversity_position.attrs.get("label", "Human diversity preference"))
            axes.set_ylabel("Human quality: MOS over all criteria")
            axes.set_title("Human quality vs human diversity")
        elif panel == "automatic_diversity":
            shared = _on_scale(automatic.join(quality, how="inner"))
            axes.errorbar(
                shared["diversity"],
                shared["mean"],
                yerr=_error(shared, "mean", "ci_low", "ci_high"),
                fmt="s",
                capsize=3,
                color="#2e8b57",
            )
            labels.append((axes, shared, "diversity", "mean", [("y", "ci_low", "ci_high")]))
            axes.set_xlabel("Automatic diversity (1 − mean cosine)")
            axes.set_ylabel("Human quality: MOS over all criteria")
            axes.set_title("Human quality vs automatic diversity")
        else:
            axes.plot(automatic["diversity"], automatic["text_adherence"], "D", color="#d1495b")
            labels.append((axes, automatic, "diversity", "text_adherence", []))
            axes.set_xlabel("Automatic diversity (1 − mean cosine)")
            axes.set_ylabel("Automatic text adherence (MuLan-style)")
            axes.set_title("Automatic quality–diversity plane")
        axes.grid(alpha=0.3)
        axes.margins(0.15)
    figure.tight_layout()
    for axes, points, x, y, bars in labels:
        _label_points(axes, points, x, y, bars)
    return figure
