"""Shared test set-up."""

from __future__ import annotations

import os

# The xlwings remote engine (xlwings PRO) needs a licence key; these tests are noncommercial use
# under PolyForm Noncommercial 1.0.0. Users choose their own licence (see the README).
os.environ.setdefault("XLWINGS_LICENSE_KEY", "noncommercial")
