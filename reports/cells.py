"""CSV cells a spreadsheet will not run, shared by report files and the dashboard's exports.

Kept apart from `reports.render` (which loads matplotlib) so the web app can use it cheaply.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Final

# a cell starting with one of these is a formula to Excel, LibreOffice and Google Sheets
FORMULA_START: Final = ("=", "+", "-", "@", "\t", "\r")


def safe_cell(value: object) -> object:
    """A CSV cell a spreadsheet will not run: text starting like a formula gets a `'` first;
    times as ISO 8601, None as empty."""
    if value is None:
        return ""
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, str) and value.startswith(FORMULA_START):
        return "'" + value
    return value
