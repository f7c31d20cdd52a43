"""`python -m tanji` is the `tanji` command (used to start party processes with this interpreter)."""
from tanji.cli import app

app()
