"""CSV downloads that a spreadsheet cannot run: formula injection neutralised (OWASP, "CSV Injection").

A text cell starting with `=`, `+`, `-`, `@`, a tab or a carriage return is a formula to Excel, LibreOffice and
Google Sheets. Titles and sections of an uploaded corpus reach the downloads, so such a cell gets a leading `'`
(shown as text by the spreadsheet); quotes and separators are escaped by the CSV writer. Numbers stay numbers.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import pandas as pd

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def neutralise(value: object) -> object:
    """`value` with a leading `'` if it is text a spreadsheet would read as a formula."""
    if isinstance(value, str) and value.startswith(FORMULA_STARTS):
        return "'" + value
    return value


def safe_csv(frame: "pd.DataFrame") -> bytes:
    """The frame as UTF-8 CSV bytes without its index, every text cell and column name neutralised."""
    cleaned = frame.map(neutralise)
    cleaned.columns = [neutralise(str(c)) for c in frame.columns]
    return cleaned.to_csv(index=False).encode("utf-8")
