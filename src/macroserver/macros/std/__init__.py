"""The standard macros, registered through the `macroserver.macros` entry point `std`."""

from macroserver.macros.std import ctscan, env, lists, metadata, motion, scan, stats

__all__ = ["ctscan", "env", "lists", "metadata", "motion", "scan", "stats"]
