"""Helpers shared by test modules: builders, HTTP helpers and the stack the tests run against.

Test modules import from here (and fixtures from conftest and the `tests.fakes` plugins), never
from one another.
"""
