"""The HTTP API: asks workflows (start, update, query) and reads the projections they write."""
