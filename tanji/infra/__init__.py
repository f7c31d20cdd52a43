"""Runtime plumbing shared by the parties: channels and stores, object transfer, process lifelines, metrics."""
