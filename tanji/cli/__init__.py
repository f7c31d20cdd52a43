"""The `tanji` command line (see tanji.cli.app)."""
from tanji.cli.app import app

__all__ = ["app"]
