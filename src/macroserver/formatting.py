"""How values read in tables: one rule for the scan table and the motion macros."""

from __future__ import annotations

from typing import Any

import numpy as np


def hms(seconds: float) -> str:
    """A duration as h:mm:ss, rounded to the second (progress lines, forecasts)."""
    whole = round(seconds)
    return f"{whole // 3600}:{whole % 3600 // 60:02d}:{whole % 60:02d}"


def format_cell(value: Any) -> str:
    """A value as shown in the table: `%g` numbers, shapes for arrays, `<nodata>` for None."""
    if isinstance(value, (int, np.integer)):
        return str(int(value))
    if isinstance(value, (float, np.floating)):
        return "%g" % value
    if isinstance(value, np.ndarray):
        return str(value.shape)
    if value is None:
        return "<nodata>"
    return str(value)
