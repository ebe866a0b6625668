"""tokenization: models."""
