"""Bounded fuzzing (hypothesis): a fast variant in every run, a `slow` one with many more examples.

The fast variants are derandomised (the same examples every run, so CI does not flake on a new
find); the slow ones explore afresh each time: `.venv/bin/pytest -m slow tests/fuzz`.
"""
from hypothesis import HealthCheck, settings

#: the fast suite's budget: a fixed number of examples per property, no per-example deadline
FAST = settings(max_examples=60, deadline=None, derandomize=True, database=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.filter_too_much])
SLOW = settings(max_examples=3000, deadline=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.filter_too_much])
