"""The standard macros, registered through the `macroserver.macros` entry point `std`."""

from macroserver.macros.std import ctscan, env, lists, motion, scan

__all__ = ["ctscan", "env", "lists", "motion", "scan"]
