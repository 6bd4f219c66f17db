"""Scan metadata: a validated schema of NeXus entry paths, the values gathered at scan
start with their provenance, the configuration's `[metadata]` table, and the catalogue
sidecar written after each scan."""
