"""Errors the user sees as one plain-English line (the CLI exits 2; the server answers 4xx)."""

from __future__ import annotations


class UnusableWorkbook(Exception):
    """The input cannot be used as a master workbook; the message says why, in one line."""
