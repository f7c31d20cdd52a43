"""tanji audit."""
