"""The one writer of CSV meant for spreadsheets (Excel in Japan: UTF-8 with BOM).

Every CSV the portal hands out goes through here: the auditor's download, ``export_reports
--format csv`` and the ``revisions.csv`` inside an evidence bundle. Two rules:

* **Quoting** as PostgreSQL's ``COPY ... (FORMAT csv)`` writes it, so that the database can
  write pages itself and both paths give the same bytes: NULL is an empty cell, an empty
  string is ``""``, a value with a comma, quote, CR or LF is quoted, LF ends a line.
* **Formula injection** (OWASP "CSV Injection"): a text cell whose first character is
  ``=``, ``+``, ``-``, ``@``, a tab or a CR would be run by the spreadsheet as a formula
  (``=HYPERLINK("http://…")``). Such a cell gets a single quote ``'`` in front, which
  spreadsheets show as text. A text cell that already starts with ``'`` gets one too, so
  the change can be undone exactly (``text_from_cell``). Only *text* is touched: numbers
  (ids, coordinates, counts, a water level of -0.5 m) are written as numbers, so a negative
  number stays a number.

Evidence formats (JSON Lines, the bundle's records and events) are never written here:
they keep every text byte for byte.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

BOM = "\ufeff"
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
_ESCAPED_STARTS = (*FORMULA_STARTS, "'")


def text_cell(text: str) -> str:
    """A text value as it may safely stand in a spreadsheet cell."""
    return "'" + text if text.startswith(_ESCAPED_STARTS) else text


def text_from_cell(cell: str) -> str:
    """The text ``text_cell`` was given (for tools reading the CSV back)."""
    return cell[1:] if cell.startswith("'") else cell


# The same rule as a PostgreSQL regular expression. These are E'' literals: in the SQL text
# "\\t" reaches the regex as \t (a tab), "''" is a quote, and "\\1" is the matched character.
_SQL_PATTERN = r"E'^([-=+@\\t\\r''])'"
_SQL_REPLACEMENT = r"E'''\\1'"


def sql_text_cell(expression: str) -> str:
    """``text_cell`` in SQL (PostgreSQL), for pages that ``COPY`` writes: the same rule on
    the database's side, evaluating ``expression`` (text) once. NULL stays NULL."""
    return f"regexp_replace({expression}, {_SQL_PATTERN}, {_SQL_REPLACEMENT})"


def _quoted(text: str) -> str:
    if text == "" or any(c in text for c in ',"\r\n'):
        return '"' + text.replace('"', '""') + '"'
    return text


def cell(value: Any) -> str:
    """One cell: None is empty, text is neutralised and quoted, numbers are numbers."""
    if value is None:
        return ""
    if isinstance(value, str):
        return _quoted(text_cell(value))
    if isinstance(value, bool):  # callers spell booleans as text; never Python's repr
        return "true" if value else "false"
    if isinstance(value, float):
        return repr(value)
    return _quoted(str(value))


def line(row: Iterable[Any]) -> str:
    return ",".join(cell(v) for v in row) + "\n"


def header(columns: Iterable[str]) -> bytes:
    """The first bytes of a spreadsheet CSV: the BOM and the header line."""
    return (BOM + line(columns)).encode("utf-8")
