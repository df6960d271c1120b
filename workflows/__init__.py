"""Deterministic orchestration: no I/O, no clock, no randomness outside the workflow API."""
