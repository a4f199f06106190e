"""Reading the CSV files the platform imports: the header checked, every row whole."""

import csv
from pathlib import Path

from formats import validation

from .errors import ImportFailed


def read_csv(
    path: Path, expected: tuple[str, ...], what: str, *, exported: bool = False
) -> list[tuple[int, dict[str, str]]]:
    """The rows of a CSV file with the expected columns, each cell stripped and checked for control
    characters and length (formats.validation), as (line, {column: cell}). ``exported``: a file of
    the platform's own export format, whose formula-neutralised cells are read back as they were."""
    try:
        with path.open(newline="", encoding="utf-8-sig") as handle:
            reader = csv.DictReader(handle)
            header = tuple(reader.fieldnames or ())
            _check_header(header, expected, path.name, what)
            rows = []
            for row in reader:
                if None in row or any(value is None for value in row.values()):
                    raise ImportFailed(
                        f"{path.name} line {reader.line_num}: expected {len(expected)} columns"
                    )
                rows.append((reader.line_num, _cells(row, f"{path.name} line {reader.line_num}", exported)))
            return rows
    except FileNotFoundError:
        raise ImportFailed(f"{path}: no such file") from None
    except UnicodeDecodeError:
        raise ImportFailed(f"{path.name}: not a UTF-8 CSV file") from None
    except csv.Error as exc:
        raise ImportFailed(f"{path.name}: malformed CSV ({exc})") from None


def _check_header(header: tuple[str, ...], expected: tuple[str, ...], name: str, what: str) -> None:
    unknown = [column for column in header if column not in expected]
    missing = [column for column in expected if column not in header]
    if unknown:
        raise ImportFailed(
            f"{name}: unknown column(s) {', '.join(unknown)}; a {what} has {','.join(expected)}"
        )
    if missing:
        raise ImportFailed(
            f"{name}: missing column(s) {', '.join(missing)}; a {what} has {','.join(expected)}"
        )


def _cells(row: dict[str, str], where: str, exported: bool) -> dict[str, str]:
    cells = {}
    for column, value in row.items():
        value = value.strip()
        if exported:
            value = validation.unneutralise_formula(value)
        try:
            cells[column] = validation.text(value, name=column, allow_empty=True)
        except validation.Invalid as exc:
            raise ImportFailed(f"{where}: {exc}") from None
    return cells
