"""Errors of our devices as Tango DevFailed, with a reason and description that say what."""

from __future__ import annotations

import logging

import tango

log = logging.getLogger(__name__)


def throw(exc: Exception, origin: str) -> None:
    """Re-raise as a DevFailed whose reason and description name the problem."""
    reason = getattr(exc, "reason", type(exc).__name__)
    log.warning("refused %s: %s: %s", origin, reason, exc)
    # (PyTango sends an exception's description as UTF-8 already)
    tango.Except.throw_exception(reason, str(exc), origin)
