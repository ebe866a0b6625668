"""disputes: models."""
