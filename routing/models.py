"""routing: models."""
