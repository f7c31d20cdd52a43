"""tanji: the command line and the generated wire contract."""
