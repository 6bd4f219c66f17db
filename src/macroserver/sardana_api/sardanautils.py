"""`sardana.sardanautils`: the helper facility macros import from it."""

from __future__ import annotations

import decimal


def py2_round(value: float, ndigits: int = 0) -> float:
    """Round half away from zero (Python 2's `round`; Python 3 rounds half to even)."""
    quantum = decimal.Decimal(1).scaleb(-ndigits)
    rounded = decimal.Decimal(repr(value)).quantize(quantum, rounding=decimal.ROUND_HALF_UP)
    return float(rounded)


__all__ = ["py2_round"]
