"""The coordinator's fault points (test-only, off by default): see tanji/infra/faults.py."""
from tanji.infra.faults import POINTS, crash_point

__all__ = ["POINTS", "crash_point"]
