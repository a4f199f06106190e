"""The formats the apps share, without Django: the rating scales, the CSV and manifest columns, and
how much of a clip counts as heard. ``ratings`` builds its model choices and forms from these, the
rater page's player script reads the listened fraction from the page, and ``generation`` and
``analysis`` can read and write the same files (MISSION.md §5)."""

# The three 1–5 scales of the quality study, in the order raters see them.
CRITERIA: dict[str, str] = {
    "acoustic_quality": "Acoustic quality",
    "text_adherence": "Text adherence",
    "musicality": "Musicality",
}
# What each scale asks, in one line, shown beside the scales on the task page.
CRITERIA_ABOUT: dict[str, str] = {
    "acoustic_quality": "How clean the sound is: no noise, clicks, distortion or muffled parts.",
    "text_adherence": "How well the clip matches the text above: its style, instruments and mood.",
    "musicality": "How musical it is: a coherent melody, harmony and rhythm that hold together.",
}
# The absolute category rating labels of the 1–5 scales.
ACR_LABELS: dict[int, str] = {5: "Excellent", 4: "Good", 3: "Fair", 2: "Poor", 1: "Bad"}
# The 5-point answer of a diversity comparison; negative favours pair A.
DIVERSITY_CHOICES: dict[int, str] = {
    -2: "A much more diverse",
    -1: "A somewhat more diverse",
    0: "About the same",
    1: "B somewhat more diverse",
    2: "B much more diverse",
}

MANIFEST_COLUMNS = ("prompt_id", "prompt_text", "variant", "sample_index", "path")
RATINGS_COLUMNS = ("rater_id", "prompt_id", "variant", "criterion", "score", "created_at")
DIVERSITY_COLUMNS = ("rater_id", "prompt_id", "variant_a", "variant_b", "choice", "created_at")
FLAG_COLUMNS = ("rater_id", "reason", "detail", "active", "created_at", "lifted_at")
PROMPT_COLUMNS = ("prompt_id", "prompt_text")
# The listening evidence of every submitted task, one row per clip as the page labelled it.
LISTENING_COLUMNS = (
    "rater_id",
    "kind",
    "prompt_id",
    "check_item",
    "clip_label",
    "plays",
    "seconds",
    "ended",
    "created_at",
    "submitted_at",
)

# A clip counts as played when the player reached its end having played this much of it (skips allowed).
HEARD_FRACTION = 0.9
