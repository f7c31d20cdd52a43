"""tanji coordinator."""
