"""The standard macros, registered through the `macroserver.macros` entry point `std`."""

from macroserver.macros.std import (
    calibration,
    ctscan,
    env,
    groups,
    hooks,
    libraries,
    lists,
    metadata,
    motion,
    scan,
    simulate,
    snapshot,
    standard,
    stats,
    where,
)

__all__ = ["calibration", "ctscan", "env", "groups", "hooks", "libraries", "lists", "metadata",
           "motion", "scan", "simulate", "snapshot", "standard", "stats", "where"]
