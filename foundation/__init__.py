"""The foundation every package of the product stands on: errors, settings,
artifact directories, GC pacing for loads beside serving, JSON logging.

It imports nothing of the product's own (tests/test_architecture.py checks).
"""
