"""Command-line layer: the only modules that read argv or print."""
