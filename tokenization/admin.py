"""tokenization: admin."""
