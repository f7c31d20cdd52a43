"""`python -m tanji` is the `tanji` command (used to start party processes with this interpreter)."""
if __name__ == "__main__":  # not when a spawned HE worker re-imports the main module
    from tanji.infra import lifeline

    lifeline.arm()

    from tanji.cli import app

    app()
