"""Upstream feeds: one module per source, each a pure parse(bytes) plus what is needed to fetch it."""
