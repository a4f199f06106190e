"""Checks of untrusted input and escaping of untrusted output, as plain functions (no Django).

Everything that comes from a file or a URL passes through here before it reaches the database, so
SQLite and PostgreSQL refuse the same rows with the same one-line reason (PostgreSQL refuses a NUL
or a 300-character id with a traceback; SQLite stores them). Everything a researcher's spreadsheet
or Markdown viewer opens passes through the escaping helpers on the way out.
"""

from __future__ import annotations

import html
import re
import unicodedata
from datetime import datetime
from pathlib import Path

# PostgreSQL's integer column (and SQLite's, once the ORM checks it): the range every backend stores.
INT_COLUMN_MAX = 2_147_483_647
ID_MAX_LENGTH = 100  # prompt, variant and rater ids: their CharField(max_length=100)
TEXT_MAX_LENGTH = 2_000  # a prompt's text
PATH_MAX_LENGTH = 500  # Clip.source_path
# Characters that never belong in an id or a text: controls (NUL included), surrogates and line or
# paragraph separators; ids also refuse invisible format characters (bidi overrides, zero widths)
# that would make two ids look alike.
_TEXT_REFUSED = {"Cc", "Cs", "Zl", "Zp"}
_ID_REFUSED = _TEXT_REFUSED | {"Cf"}
# A spreadsheet runs a cell starting with one of these as a formula (OWASP's CSV injection list);
# a leading quote is what neutralising adds, so a cell already starting with one is quoted too,
# which keeps neutralise/unneutralise an exact round trip.
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r", "'")
_MARKDOWN_SPECIALS = re.compile(r"([\\`*_|~])")


class Invalid(ValueError):
    """A value refused; the message names it and says what is allowed, in one line."""


def _describe(character: str) -> str:
    return "NUL" if character == "\x00" else f"U+{ord(character):04X}"


def _checked(value: str, name: str, max_length: int, refused: set[str], allow_empty: bool) -> str:
    if not isinstance(value, str):
        raise Invalid(f"{name} must be text, not {type(value).__name__}")
    if not value and not allow_empty:
        raise Invalid(f"{name} is empty")
    if len(value) > max_length:
        raise Invalid(f"{name} is {len(value)} characters long; at most {max_length} are allowed")
    for character in value:
        if unicodedata.category(character) in refused:
            raise Invalid(f"{name} contains the control character {_describe(character)}")
    return value


def identifier(value: str, *, name: str, max_length: int = ID_MAX_LENGTH, allow_empty: bool = False) -> str:
    """An id (prompt, variant, rater, Prolific parameter): bounded, without control or format characters."""
    return _checked(value, name, max_length, _ID_REFUSED, allow_empty)


def text(value: str, *, name: str, max_length: int = TEXT_MAX_LENGTH, allow_empty: bool = False) -> str:
    """A free text (a prompt): bounded, without control characters."""
    return _checked(value, name, max_length, _TEXT_REFUSED, allow_empty)


def matching(value: str, *, name: str, pattern: str, described: str, max_length: int = ID_MAX_LENGTH) -> str:
    """An id that must also match ``pattern`` in full (``described`` says what that allows)."""
    identifier(value, name=name, max_length=max_length)
    if not re.fullmatch(pattern, value):
        raise Invalid(f"{name} must be {described}")
    return value


def whole_number(value: str | int, *, name: str, minimum: int = 0, maximum: int = INT_COLUMN_MAX) -> int:
    """An integer within [minimum, maximum], from text or a number (a bool or a float is refused)."""
    if isinstance(value, bool) or not isinstance(value, str | int):
        raise Invalid(f"{name} must be a whole number, not {value!r}")
    if isinstance(value, str):
        if not re.fullmatch(r"\s*[-+]?\d{1,30}\s*", value):
            raise Invalid(f"{name} {value[:40]!r} is not a whole number")
        value = int(value)
    if not minimum <= value <= maximum:
        raise Invalid(f"{name} must be between {minimum} and {maximum}, not {value}")
    return value


def moment(value: str, *, name: str) -> datetime:
    """An ISO 8601 date and time (``2026-02-01T10:00:00``, with or without a zone) that exists on the
    calendar; a naive result is the caller's to place in a zone."""
    identifier(value, name=name, max_length=40)
    if len(value) < 16 or value[10] not in "T ":
        raise Invalid(f"{name} {value!r} is not an ISO 8601 date and time (2026-02-01T10:00:00)")
    try:
        return datetime.fromisoformat(value)
    except ValueError as exc:
        raise Invalid(f"{name} {value!r} is not a valid date and time ({exc})") from None


def path_inside(folder: Path, relative: str, *, name: str = "path") -> Path:
    """The file ``relative`` names inside ``folder``, resolved after every symbolic link.

    A path that leaves the folder (``../``, an absolute path, or a link to a file elsewhere) is
    refused, so an import copies nothing from outside the folder it was given.
    """
    text(relative, name=name, max_length=PATH_MAX_LENGTH)
    if Path(relative).is_absolute():
        raise Invalid(f"{name} {relative!r} must be relative to the manifest's folder")
    root = Path(folder).resolve()
    resolved = (root / relative).resolve()
    if not resolved.is_relative_to(root):
        raise Invalid(f"{name} {relative!r} leads outside the manifest's folder")
    if not resolved.is_file():
        raise Invalid(f"{name} {relative!r}: no such file in the manifest's folder")
    if len(str(resolved)) > PATH_MAX_LENGTH:
        raise Invalid(f"{name} {relative!r} resolves to more than {PATH_MAX_LENGTH} characters")
    return resolved


def neutralise_formula(value: object) -> object:
    """A CSV cell a spreadsheet shows as text: a string starting with ``= + - @``, a tab, a carriage
    return or a quote gets a leading quote. Numbers stay numbers (``-2`` is a choice, not a formula)."""
    if isinstance(value, str) and value.startswith(FORMULA_STARTS):
        return "'" + value
    return value


def unneutralise_formula(value: str) -> str:
    """The cell as it was before :func:`neutralise_formula` (imports read exported files back)."""
    if value.startswith("'") and value[1:].startswith(FORMULA_STARTS):
        return value[1:]
    return value


def markdown_escape(value: str) -> str:
    """Text that Markdown (and the HTML a Markdown viewer makes of it) shows as typed, inside a line
    (a table cell, a list item): no tags, no emphasis or code, no table cell breaks, no link or image
    (``](`` is broken, so ``[2.5, 3.1]`` stays readable)."""
    escaped = _MARKDOWN_SPECIALS.sub(r"\\\1", html.escape(value, quote=False))
    return escaped.replace("](", "]\\(").replace("\r", " ").replace("\n", " ")


def html_escape(value: str) -> str:
    """Text safe inside an HTML element or a quoted attribute."""
    return html.escape(value, quote=True)
