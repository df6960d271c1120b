"""Plain data and rules of the crisis domain: no I/O, importable from workflows."""
