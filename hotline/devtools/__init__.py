"""Tools for development, tests and benchmarks on one machine (not used by serving)."""
