"""tokenization: services."""
