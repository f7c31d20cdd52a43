"""tanji node."""
