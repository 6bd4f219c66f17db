"""The standard macros, registered through the `macroserver.macros` entry point `std`."""

from macroserver.macros.std import env, lists, motion, scan

__all__ = ["env", "lists", "motion", "scan"]
