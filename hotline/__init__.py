"""hotline-kb: shared foundation (settings, errors, artifacts) and the `hotline` CLI."""
__version__ = "0.1.0"
