"""The Django-free checks of untrusted input and escaping of untrusted output."""

import csv
import io
import os
import subprocess
import sys
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from formats import validation as v
from formats.validation import Invalid

ROOT = Path(__file__).resolve().parents[2]


def test_the_module_imports_without_django():
    code = "import sys, formats.validation; print(any(m.startswith('django') for m in sys.modules))"
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True)
    assert result.stdout.strip() == "False", result.stderr


# --- ids and texts -------------------------------------------------------------------------------


def test_an_id_within_bounds_passes_unchanged():
    assert v.identifier("prompt-007 ü", name="prompt_id") == "prompt-007 ü"


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        ("a\x00b", "prompt_id contains the control character NUL"),
        ("a\x1bb", "prompt_id contains the control character U+001B"),
        ("a\u202eb", "prompt_id contains the control character U+202E"),  # right-to-left override
        ("a\u200bb", "prompt_id contains the control character U+200B"),  # zero-width space
        ("x" * 101, "prompt_id is 101 characters long; at most 100 are allowed"),
        ("", "prompt_id is empty"),
    ],
)
def test_an_id_with_control_characters_or_too_long_is_refused_with_a_one_line_reason(value, reason):
    with pytest.raises(Invalid) as refused:
        v.identifier(value, name="prompt_id")
    assert str(refused.value) == reason
    assert "\n" not in str(refused.value)


def test_a_text_may_carry_format_characters_but_no_controls_and_is_bounded():
    assert v.text("Rock song\u200d with a twist", name="prompt_text") == "Rock song\u200d with a twist"
    with pytest.raises(Invalid, match="NUL"):
        v.text("Rock\x00song", name="prompt_text")
    with pytest.raises(Invalid, match=r"U\+2028"):
        v.text("Rock\u2028song", name="prompt_text")
    with pytest.raises(Invalid, match="2001 characters long; at most 2000"):
        v.text("x" * 2001, name="prompt_text")


def test_matching_checks_the_pattern_after_the_characters():
    assert (
        v.matching("5f1e_A-9", name="PROLIFIC_PID", pattern=r"[A-Za-z0-9_-]+", described="letters")
        == "5f1e_A-9"
    )
    with pytest.raises(Invalid, match="PROLIFIC_PID must be letters"):
        v.matching("a b", name="PROLIFIC_PID", pattern=r"[A-Za-z0-9_-]+", described="letters")


# --- numbers and dates ---------------------------------------------------------------------------


def test_whole_numbers_are_bounded_to_what_every_database_stores():
    assert v.whole_number(" 42 ", name="sample_index") == 42
    assert v.whole_number(v.INT_COLUMN_MAX, name="sample_index") == 2_147_483_647
    with pytest.raises(Invalid, match="sample_index must be between 0 and 2147483647, not 1000000000000"):
        v.whole_number("1000000000000", name="sample_index")
    with pytest.raises(Invalid, match="between 0 and"):
        v.whole_number("-1", name="sample_index")
    with pytest.raises(Invalid, match="is not a whole number"):
        v.whole_number("1.5", name="sample_index")
    with pytest.raises(Invalid, match="is not a whole number"):
        v.whole_number("9" * 5000, name="sample_index")  # no quadratic int() on a huge string
    with pytest.raises(Invalid, match="must be a whole number"):
        v.whole_number(True, name="seed")
    with pytest.raises(Invalid, match="seed must be between 0 and 4294967295"):
        v.whole_number(10**26, name="seed", maximum=2**32 - 1)


def test_a_date_that_is_not_on_the_calendar_is_refused():
    with pytest.raises(Invalid) as refused:
        v.moment("2026-02-30T10:00:00", name="created_at")
    assert str(refused.value).startswith("created_at '2026-02-30T10:00:00' is not a valid date and time")


@pytest.mark.parametrize(
    "value", ["2026-02-01", "yesterday", "2026-02-01T25:00:00", "", "2026-02-01T10:00\x00"]
)
def test_a_malformed_date_and_time_is_refused(value):
    with pytest.raises(Invalid, match="created_at"):
        v.moment(value, name="created_at")


def test_iso_dates_with_and_without_a_zone_are_read():
    assert v.moment("2026-02-01T10:00:00", name="t") == datetime(2026, 2, 1, 10)
    assert v.moment("2026-02-01 10:00:00+02:00", name="t") == datetime(
        2026, 2, 1, 10, tzinfo=timezone(timedelta(hours=2))
    )
    assert v.moment("2026-02-01T10:00:00Z", name="t").utcoffset() == timedelta(0)


# --- paths ---------------------------------------------------------------------------------------


@pytest.fixture
def folders(tmp_path):
    inside, outside = tmp_path / "manifest", tmp_path / "elsewhere"
    (inside / "clips").mkdir(parents=True)
    outside.mkdir()
    (inside / "clips" / "a.wav").write_bytes(b"RIFF")
    (outside / "secret.wav").write_bytes(b"RIFF")
    return inside, outside


def test_a_path_inside_the_folder_resolves_to_the_file(folders):
    inside, _ = folders
    assert v.path_inside(inside, "clips/a.wav") == (inside / "clips" / "a.wav").resolve()
    assert v.path_inside(inside, "clips/../clips/a.wav") == (inside / "clips" / "a.wav").resolve()


def test_a_path_that_climbs_out_of_the_folder_is_refused(folders):
    inside, _ = folders
    with pytest.raises(Invalid, match="'../elsewhere/secret.wav' leads outside the manifest's folder"):
        v.path_inside(inside, "../elsewhere/secret.wav")


def test_an_absolute_path_is_refused(folders):
    inside, outside = folders
    with pytest.raises(Invalid, match="must be relative"):
        v.path_inside(inside, str(outside / "secret.wav"))


def test_a_symlink_to_a_file_outside_the_folder_is_refused(folders):
    inside, outside = folders
    os.symlink(outside / "secret.wav", inside / "clips" / "link.wav")
    os.symlink(outside, inside / "clips" / "dir")
    with pytest.raises(Invalid, match="leads outside"):
        v.path_inside(inside, "clips/link.wav")
    with pytest.raises(Invalid, match="leads outside"):
        v.path_inside(inside, "clips/dir/secret.wav")


def test_a_symlink_that_stays_inside_the_folder_is_followed(folders):
    inside, _ = folders
    os.symlink(inside / "clips" / "a.wav", inside / "same.wav")
    assert v.path_inside(inside, "same.wav") == (inside / "clips" / "a.wav").resolve()


def test_a_missing_file_or_a_nul_in_the_path_is_refused(folders):
    inside, _ = folders
    with pytest.raises(Invalid, match="no such file"):
        v.path_inside(inside, "clips/b.wav")
    with pytest.raises(Invalid, match="NUL"):
        v.path_inside(inside, "clips/a.wav\x00.txt")


# --- escaping ------------------------------------------------------------------------------------


@pytest.mark.parametrize("cell", ["=1+1", "+1", "-1+2", "@SUM(A1)", "\tx", "\rx", "'=x"])
def test_a_cell_a_spreadsheet_would_run_is_neutralised_and_reads_back_the_same(cell):
    neutral = v.neutralise_formula(cell)
    assert neutral == "'" + cell
    assert v.unneutralise_formula(neutral) == cell


def test_plain_cells_and_numbers_are_left_alone():
    assert v.neutralise_formula("base") == "base"
    assert v.neutralise_formula(-2) == -2
    assert v.unneutralise_formula("it's") == "it's"


def test_a_neutralised_csv_round_trips_through_the_csv_module():
    rows = [['=HYPERLINK("http://x")', -2, "base"]]
    buffer = io.StringIO()
    csv.writer(buffer).writerows([[v.neutralise_formula(c) for c in row] for row in rows])
    read = next(csv.reader(io.StringIO(buffer.getvalue())))
    assert read[0].startswith("'=")
    assert [v.unneutralise_formula(c) for c in read] == ['=HYPERLINK("http://x")', "-2", "base"]


def test_markdown_escaping_shows_markup_and_tags_as_typed():
    assert v.markdown_escape("<img src=x onerror=alert(1)>") == "&lt;img src=x onerror=alert(1)&gt;"
    assert v.markdown_escape("a|b") == "a\\|b"  # no extra table cell
    assert v.markdown_escape("**x** `y`") == "\\*\\*x\\*\\* \\`y\\`"
    assert v.markdown_escape("![pixel](http://tracker/x.png)") == "![pixel]\\(http://tracker/x.png)"
    assert v.markdown_escape("cfg-3.0 [2.5, 3.1]") == "cfg-3.0 [2.5, 3.1]"  # ordinary text stays readable
    assert v.markdown_escape("two\nlines") == "two lines"


def test_html_escaping_covers_attributes():
    assert v.html_escape('"><script>') == "&quot;&gt;&lt;script&gt;"
