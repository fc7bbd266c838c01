"""Performance harness: `python -m bench` (or `python bench/run.py`).

Not tests: it prints figures and writes JSON, and asserts nothing about time.
"""
