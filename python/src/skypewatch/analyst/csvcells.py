"""CSV cells a spreadsheet cannot take for formulas (OWASP's "CSV injection" rule).

A log's text is the network's: a skype.log evidence string, a version or a hostname can be
``=cmd|' /C calc'!A0``, which Excel or LibreOffice would run as a formula when a responder
opens the CSV.  Every text cell that starts with ``=``, ``+``, ``-``, ``@``, a TAB or a CR is
written with a ``'`` in front (the spreadsheet shows the text as it was, minus nothing: the
quote marks it as text).  Numbers, times and empty cells are left as they are.

Rows end in CR LF (RFC 4180, what spreadsheets expect), so that Python's CSV writer quotes
every cell holding a CR or LF: a bare CR inside a cell would otherwise start a new row in a
spreadsheet, and ``abc<CR>=cmd|...`` would put a formula at the start of that row.
"""

from __future__ import annotations

import pandas as pd

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def neutralise(value: object) -> object:
    if isinstance(value, str) and value.startswith(FORMULA_STARTS):
        return "'" + value
    return value


def csv_text(df: pd.DataFrame) -> str:
    """*df* as CSV that a spreadsheet opens as data only."""
    return safe_for_spreadsheets(df).to_csv(index=False, lineterminator="\r\n")


def safe_for_spreadsheets(df: pd.DataFrame) -> pd.DataFrame:
    """*df* with its text cells neutralised (a copy when any column holds text)."""
    text = [
        c for c in df.columns if df[c].dtype == object or isinstance(df[c].dtype, pd.StringDtype)
    ]
    if not text:
        return df
    out = df.copy()
    for c in text:
        out[c] = df[c].map(neutralise, na_action="ignore")
    return out
