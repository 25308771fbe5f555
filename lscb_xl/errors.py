"""Errors the user sees as one plain-English line (the CLI exits 2; the server answers 4xx)."""

from __future__ import annotations

from pathlib import Path


class UnusableWorkbook(Exception):
    """The input cannot be used as a master workbook; the message says why, in one line."""


class RefusedError(Exception):
    """lscb-xl will not touch the workbook; the message says why and what to do, in one line."""

    def __init__(self, message: str, path: Path | None = None):
        super().__init__(" ".join(message.split()))  # one line, whatever the caller passed
        self.path = path
